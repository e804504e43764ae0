"""Reading a question without a language model: dates, what to search for, and what kind of answer is wanted.

Everything here is a pure function of the question text and "today" (in the session's time zone), so the
agent's plan is deterministic and testable. Names of people, teams and deals are matched later, against
what the asker's own tools return (agent/runner.py); here they are only candidate words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december",
)  # fmt: skip
_MONTH_ALT = "|".join(MONTHS + tuple(m[:3] for m in MONTHS if len(m) > 3) + ("sept",))

# Words that say nothing about which calls are meant: question words, glue, and the vocabulary of the domain
# itself ("calls", "customers" are true of every call).
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any anyone anything are around as ask asked at be
    because been before being below between both but by can could did do does doing done down during each either
    else ever every few find for from further get give go going got had has have having he her here hers him his
    how however i if in into is it its itself just know last let like list look made make many may me might mine
    more most much must my myself near need never new next no nor not now of off on once one only or other our
    ours out over own past please previous recent recently lately latest same say said saying says see seen
    several shall she should show since so some something such tell than that the their theirs them then there
    these they thing things this those through to too under until up upon us very via was we were what whats
    when where which while who whom whose why will with within without would yet you your yours yourselves
    summary summarize summarise overview happened happen happening
    call calls called calling meeting meetings conversation conversations recording recordings transcript
    transcripts customer customers client clients prospect prospects buyer buyers people person rep reps team
    teams deal deals opportunity opportunities talk talked talking discuss discussed discussing discussion
    mention mentioned mentions mentioning bring brought come came up raise raised think thought feel felt want
    wanted anybody somebody everyone someone key main top best worst good bad
    today yesterday week weeks month months quarter quarters year years day days
    score scores scored scoring scorecard scorecards rate rated rating ratings performance perform performing
    doing well
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "twelve": 12}  # fmt: skip
_QUOTED = re.compile('"([^"]{2,80})"|\u201c([^\u201d]{2,80})\u201d')
MAX_TERMS = 4
_LAST_N = (
    r"\b(?:in\s+the\s+)?(?:last|past|previous)\s+(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s+(day|week|month|year)s?\b"
)


@dataclass(frozen=True)
class Period:
    from_date: date
    to_date: date
    label: str  # how the question said it, e.g. "last week"

    def describe(self) -> str:
        if self.from_date == self.to_date:
            return f"{self.label} ({self.from_date.isoformat()})"
        return f"{self.label} ({self.from_date.isoformat()} to {self.to_date.isoformat()})"


@dataclass(frozen=True)
class Intent:
    question: str
    period: Period | None
    terms: list[str] = field(default_factory=list)  # what to search for, most telling first
    rest: str = ""  # the question without its date phrase, for matching names
    wants_count: bool = False
    wants_scorecards: bool = False
    wants_deals: bool = False
    own_calls: bool = False
    follow_up: bool = False


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    # Clamp to the month's length (e.g. 31 March - 1 month = 28/29 February).
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_first - timedelta(days=1)).day))


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _month_number(word: str) -> int:
    word = word.lower()
    if word == "sept":
        return 9
    return next(i for i, name in enumerate(MONTHS, start=1) if name.startswith(word[:3]))


def parse_period(text: str, *, today: date) -> tuple[Period | None, str]:
    """The date range a question names, relative to `today`, and the question with that phrase removed."""
    low = text.lower()
    rules: list[tuple[str, object]] = [
        (_LAST_N, "n"),
        (r"\btoday\b", "today"),
        (r"\byesterday\b", "yesterday"),
        (r"\bthis\s+week\b", "this week"),
        (r"\b(?:last|previous|past)\s+week\b", "last week"),
        (r"\bthis\s+month\b", "this month"),
        (r"\b(?:last|previous|past)\s+month\b", "last month"),
        (r"\bthis\s+quarter\b", "this quarter"),
        (r"\b(?:last|previous|past)\s+quarter\b", "last quarter"),
        (r"\bthis\s+year\b", "this year"),
        (r"\b(?:last|previous|past)\s+year\b", "last year"),
        (r"\b(?:in|during|from|for)\s+(" + _MONTH_ALT + r")\.?(?:\s+(\d{4}))?\b", "month"),
    ]  # fmt: skip
    for pattern, kind in rules:
        match = re.search(pattern, low)
        if match is None:
            continue
        rest = (text[: match.start()] + " " + text[match.end() :]).strip()
        period = _period(kind, match, today)
        if period is not None:
            return period, rest
    return None, text


def _period(kind: object, match: re.Match[str], today: date) -> Period | None:
    monday = today - timedelta(days=today.weekday())
    if kind == "n":
        raw, unit = match.group(1), match.group(2)
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        if n < 1:
            return None
        if unit == "day":
            start = today - timedelta(days=n - 1)
        elif unit == "week":
            start = today - timedelta(weeks=n) + timedelta(days=1)
        elif unit == "month":
            start = _add_months(today, -n) + timedelta(days=1)
        else:
            start = _add_months(today, -12 * n) + timedelta(days=1)
        return Period(start, today, f"the last {n} {unit}{'s' if n > 1 else ''}")
    if kind == "today":
        return Period(today, today, "today")
    if kind == "yesterday":
        day = today - timedelta(days=1)
        return Period(day, day, "yesterday")
    if kind == "this week":
        return Period(monday, today, "this week")
    if kind == "last week":
        return Period(monday - timedelta(days=7), monday - timedelta(days=1), "last week")
    if kind == "this month":
        return Period(_month_start(today), today, "this month")
    if kind == "last month":
        first = _month_start(today)
        return Period(_add_months(first, -1), first - timedelta(days=1), "last month")
    if kind == "this quarter":
        return Period(_quarter_start(today), today, "this quarter")
    if kind == "last quarter":
        first = _quarter_start(today)
        return Period(_add_months(first, -3), first - timedelta(days=1), "last quarter")
    if kind == "this year":
        return Period(date(today.year, 1, 1), today, "this year")
    if kind == "last year":
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), "last year")
    if kind == "month":
        month = _month_number(match.group(1))
        year = int(match.group(2)) if match.group(2) else (today.year if month <= today.month else today.year - 1)
        if not 1900 < year < 3000:
            return None
        first = date(year, month, 1)
        last = _add_months(first, 1) - timedelta(days=1)
        return Period(first, min(last, today) if first <= today else last, f"{MONTHS[month - 1].title()} {year}")
    return None


def _clean_token(token: str) -> str:
    token = token.replace("\u2019", "'")
    if token.lower().endswith("'s"):
        token = token[:-2]
    return token.strip("'-&")


def search_terms(text: str) -> list[str]:
    """What to search for, most telling first: quoted phrases, then names (capitalised words, runs of them
    joined: "Chorus Labs"), then the longer remaining words. Stop words and bare numbers are left out."""
    terms: list[str] = []
    for match in _QUOTED.finditer(text):
        phrase = " ".join((match.group(1) or match.group(2)).split())
        if phrase:
            terms.append(phrase)
    unquoted = _QUOTED.sub(" ", text)
    names: list[str] = []
    words: list[str] = []
    run: list[str] = []
    sentence_start = True
    for raw in re.finditer("[A-Za-z0-9][A-Za-z0-9&'\u2019\\-]*|[.?!;:]", unquoted):
        piece = raw.group(0)
        if piece in ".?!;:":
            if run:
                names.append(" ".join(run))
                run = []
            sentence_start = True
            continue
        word = _clean_token(piece)
        low = word.lower()
        first_of_sentence, sentence_start = sentence_start, False
        if not word or low in STOPWORDS or word.isdigit():
            if run:
                names.append(" ".join(run))
                run = []
            continue
        # A capital only marks a name where grammar does not require one.
        if word[0].isupper() and (not first_of_sentence or word.isupper() or any(c.isupper() for c in word[1:])):
            run.append(word)
            continue
        if run:
            names.append(" ".join(run))
            run = []
        if len(low) >= 3:
            words.append(low)
    if run:
        names.append(" ".join(run))
    words.sort(key=len, reverse=True)
    for term in [*names, *words]:
        if term.lower() not in {t.lower() for t in terms}:
            terms.append(term)
    return terms[:MAX_TERMS]


def stem(word: str) -> str | None:
    """A shorter form of a single word to retry a search with ("objections" -> "objection"); None if none."""
    if " " in word:
        return None
    low = word.lower()
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if low.endswith(suffix) and len(low) - len(suffix) + len(replacement) >= 4:
            return low[: len(low) - len(suffix)] + replacement
    return None


def parse(question: str, *, today: date, has_history: bool = False) -> Intent:
    """The plan's inputs for one question."""
    text = " ".join(question.split())
    period, rest = parse_period(text, today=today)
    low = rest.lower()
    follow_up = has_history and bool(
        re.search(r"\b(those|these|them|that call|this call|the same|above|previous answer|each of)\b", low)
    )
    return Intent(
        question=text,
        period=period,
        terms=search_terms(rest),
        rest=rest,
        wants_count=bool(re.search(r"\bhow\s+many\b|\bnumber\s+of\b|\bcount\b", low)),
        wants_scorecards=bool(re.search(r"\bscore(?:card)?s?\b|\bscored\b|\bscoring\b", low)),
        wants_deals=bool(re.search(r"\b(?:deals?|opportunit(?:y|ies)|pipeline)\b", low)),
        own_calls=bool(
            re.search(r"\bmy\s+(?:\w+\s+){0,2}(?:calls?|meetings?|conversations?|demos?|customers?)\b", low)
            or re.search(r"\b(?:did|have|had|was|were)\s+i\b|\bi\s+(?:had|spoke|talked|met|ran|did)\b", low)
        ),
        follow_up=follow_up,
    )
