"""Which passages of one call's transcript answer a question: pure-Python retrieval, no external service.

Each call is ranked on its own, with its own segments as the corpus:

- words are lower-cased, stop words dropped and a light English stemmer applied, so "prices",
  "priced" and "pricing" meet;
- every segment gets a BM25 score (term frequency saturates, long segments are normalised); the
  corpus is padded with a few pseudo-segments that hold none of the words (IDF smoothing), so a
  word found in every segment of a short call still counts;
- a segment that covers more of the question's words beats one that repeats a single word, and
  the question's words side by side ("renewal budget") earn a bonus;
- the kind of question gives a cue: "how much/how many" wants a number or an amount, "when" a
  date, "who" a person or a role, "why" a reason; segments that carry one are lifted;
- a segment that is itself a question is lowered, and the reply that follows from another speaker
  inherits most of its relevance: the answer to "what's your budget?" rarely repeats "budget";
- the best segments grow into passages (the question they answer, the answer they ask for), and
  neighbouring windows merge.

Everything here is bounded by its inputs: callers cap the segments per call and the characters
per segment, and `select_passages` fits the result into a character budget.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

Cue = Literal["quantity", "time", "person", "reason"]

# BM25's usual constants.
K1: Final[float] = 1.2
B: Final[float] = 0.75
# Pseudo-segments without any query word added to each call's corpus (IDF smoothing).
PSEUDO_SEGMENTS: Final[int] = 8
# A prompt of 2,000 characters stays cheap to match: only its first distinct words count.
MAX_QUERY_TERMS: Final[int] = 40
# How much of a question's relevance the reply to it inherits, and what a question keeps itself.
ANSWER_INHERITANCE: Final[float] = 0.85
QUESTION_WEIGHT: Final[float] = 0.5
CUE_BOOST: Final[float] = 1.8
# Weight of a related word ("cost" for "price") against the word itself.
RELATED_WEIGHT: Final[float] = 0.5
# How far after a question its reply may come (back-channel in between).
REPLY_REACH: Final[int] = 3
# Segments this short with no query word are back-channel ("Mm-hmm.", "Right."), not answers.
BACKCHANNEL_WORDS: Final[int] = 3
MAX_PASSAGES: Final[int] = 4
MAX_PASSAGE_SEGMENTS: Final[int] = 4
# Seeds below this share of the best segment's score are noise, not supporting passages.
MIN_RELATIVE_SCORE: Final[float] = 0.3

_STOP_WORDS_TEXT: Final[str] = """
    a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
    him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
    mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't
    she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
    there there's these they they'd they'll they're they've this those through to too under until up very was
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's
    whom why why's will with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
    also just like yeah yes okay ok oh um uh well really actually get got go going gonna want wanna kind sort
    thing things lot bit maybe pretty sure right now much many
    say says said saying tell tells told mention mentions mentioned discuss discussed discussing talk talked
    talking ask asked asking think thought know knew anything something everything anyone someone does
    please give show find list summarize summarise explain describe let s
    make makes made making take takes took taking come comes came coming look looks looked looking
    need needs needed use uses used using
"""
STOP_WORDS: Final[frozenset[str]] = frozenset(_STOP_WORDS_TEXT.split())

# A few sales-call words with near-synonyms, by stem; matched at RELATED_WEIGHT.
RELATED: Final[dict[str, tuple[str, ...]]] = {
    "pric": ("cost",),
    "cost": ("pric",),
    "budget": ("spend", "fund"),
    "spend": ("budget",),
    "decision": ("decid",),
    "decid": ("decision",),
    "competitor": ("competition", "alternativ"),
    "competition": ("competitor",),
    "contract": ("agreement",),
    "agreement": ("contract",),
    "discount": ("reduction",),
    "seat": ("licens", "user"),
    "licens": ("seat",),
    "deadline": ("timelin",),
    "timelin": ("deadline",),
    "integration": ("integrat",),
    "integrat": ("integration",),
}

# Words (a possessive 's is left out: "customer's" -> "customer") and numbers.
_TOKEN = re.compile(r"[a-z]+(?:'(?!s\b)[a-z]+)*|\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d)")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

_QUESTION_CUES: Final[tuple[tuple[Cue, re.Pattern[str]], ...]] = (
    (
        "quantity",
        re.compile(
            r"\bhow (much|many|big|large|long|often)\b|\b(price|prices|pricing|cost|costs|budget|budgets|amount|"
            r"number|discount|percent|percentage|fee|fees|rate|total|spend|seats|licenses|headcount|size)\b"
        ),
    ),
    (
        "time",
        re.compile(
            r"\bwhen\b|\bwhat (date|day|time|month|year|quarter)\b|\bhow soon\b|\b(deadline|timeline|timeframe|"
            r"date|schedule|go[- ]live)\b"
        ),
    ),
    ("person", re.compile(r"\bwho(m|se)?\b|\bdecision[- ]makers?\b|\b(which|what) (person|people|stakeholders?)\b")),
    ("reason", re.compile(r"\bwhy\b|\breasons?\b|\bcauses?\b")),
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_ANSWER_CUES: Final[dict[Cue, re.Pattern[str]]] = {
    "quantity": re.compile(
        r"[$\u20ac\u00a3\u00a5%]|\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
        r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen|half|"
        r"double|euros?|dollars?|pounds?|usd|eur|gbp|percent|grand)\b"
    ),
    "time": re.compile(
        rf"\b({_MONTHS}|{_WEEKDAYS}|today|tomorrow|tonight|yesterday|weeks?|months?|quarters?|q[1-4]|years?|"
        r"days?|morning|afternoon|evening|noon|deadline|eod|eow|eoq|eoy)\b|\b\d{1,2}(st|nd|rd|th)\b|"
        r"\b\d{1,2}:\d{2}\b|\b(19|20)\d\d\b|\b\d{1,2} ?(am|pm)\b"
    ),
    "person": re.compile(
        r"\b(ceo|cfo|cto|coo|cro|ciso|cio|vp|vice president|head of|director|manager|champion|owner|founder|"
        r"president|procurement|legal|board|sponsor|approver|signs?|signer)\b"
    ),
    "reason": re.compile(r"\b(because|since|due to|so that|reason|that's why|that is why|as a result|caused)\b"),
}


def normalize(text: str) -> str:
    low = text.lower()
    # translate() costs more than three searches, and typographic apostrophes are the exception.
    return low.translate(_APOSTROPHES) if "\u2019" in low or "\u2018" in low or "`" in low else low


def _has_vowel(word: str) -> bool:
    return any(ch in "aeiouy" for ch in word)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer (plurals, -ed, -ing, -ly, final y and e), in the spirit of Porter's step 1.

    Stems only ever drop letters from the end, except that a final y (or ies) becomes i; so
    `match_key(stem(w))` is a prefix of every word that has that stem, which the substring
    pre-filter relies on.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    w = word
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "i"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed"):
        if w.endswith(suffix):
            base = w[: -len(suffix)]
            if len(base) >= 3 and _has_vowel(base):
                w = base
                # running -> runn -> run; but keep "fill", "miss", "buzz"
                if w[-1] == w[-2] and w[-1] not in "lsz":
                    w = w[:-1]
            break
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    if w.endswith("y") and len(w) > 3 and w[-2] not in "aeiou":
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    return w


def match_key(term: str) -> str:
    """A substring every surface form of `term` contains (numbers are matched with thousands separators removed)."""
    return term[:-1] if term.endswith("i") and len(term) > 3 else term


def _words(text: str) -> list[str]:
    """Words and numbers of normalised text ("48,000" -> "48000", "what's" -> "what", "s")."""
    if "," in text:
        text = _THOUSANDS.sub("", text)
    words: list[str] = _TOKEN.findall(text)
    return words


def content_terms(text: str) -> list[str]:
    """Stems of the words that carry meaning, in order (`text` already normalised)."""
    return [stem(w) for w in _words(text) if w not in STOP_WORDS]


@dataclass(frozen=True, slots=True)
class Query:
    """A prompt as the ranking sees it: weighted stems, adjacent pairs and the kind of answer it wants."""

    weights: dict[str, float]
    bigrams: frozenset[tuple[str, str]]
    cue: Cue | None
    keys: tuple[str, ...]  # substrings a matching segment must contain (see match_key)
    numbers: bool  # the query has numbers, matched in text without thousands separators

    @property
    def empty(self) -> bool:
        return not self.weights


def parse_query(prompt: str) -> Query:
    """Turn a question into a Query. A prompt of stop words only ("what is it?") keeps its words."""
    text = normalize(prompt)
    terms = content_terms(text)
    if not terms:
        terms = [stem(w) for w in _words(text)]
    distinct = list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]
    weights = dict.fromkeys(distinct, 1.0)
    for term in distinct:
        for related in RELATED.get(term, ()):
            weights.setdefault(related, RELATED_WEIGHT)
    bigrams = frozenset((a, b) for a, b in itertools.pairwise(terms) if a != b)
    cue = next((kind for kind, pattern in _QUESTION_CUES if pattern.search(text)), None)
    keys = tuple(dict.fromkeys(match_key(t) for t in weights))
    numbers = any(t[0].isdigit() for t in weights)
    return Query(weights=weights, bigrams=bigrams, cue=cue, keys=keys, numbers=numbers)


@dataclass(frozen=True, slots=True)
class Line:
    """One transcript segment (its text possibly cut)."""

    speaker: str
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """One call's segments in order, as parallel sequences: scanning tens of thousands of texts stays cheap."""

    speakers: Sequence[str]
    starts: Sequence[float]
    ends: Sequence[float]
    texts: Sequence[str]

    @classmethod
    def of(cls, lines: Sequence[Line]) -> Transcript:
        return cls(
            [x.speaker for x in lines], [x.start_s for x in lines], [x.end_s for x in lines], [x.text for x in lines]
        )

    def __len__(self) -> int:
        return len(self.texts)

    def line(self, i: int) -> Line:
        return Line(self.speakers[i], self.starts[i], self.ends[i], self.texts[i])


@dataclass(frozen=True, slots=True)
class Passage:
    """Consecutive segments of one call that answer the question; `lines` are excerpts, in order."""

    lines: tuple[Line, ...]
    score: float
    best: int = 0  # index in `lines` of the segment that scored best


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?")


def _word_count(text: str) -> int:
    return text.count(" ") + 1


@dataclass(slots=True)
class _Scored:
    final: dict[int, float]  # segments with any relevance, own or inherited
    source: dict[int, int]  # the question a segment answers (it inherited that question's relevance)
    answer: dict[int, int]  # the reply to a question segment


def _matches(query: Query, texts: Sequence[str]) -> dict[int, tuple[Counter[str], list[str]]]:
    """Query-term counts and content stems of the segments that contain any query term."""
    keys = query.keys
    matched: dict[int, tuple[Counter[str], list[str]]] = {}
    for i, text in enumerate(texts):
        low = text.lower()
        if query.numbers:
            low = low.replace(",", "")
        # Cheap C-level substring tests first: most segments share no word with the question.
        if not any(map(low.__contains__, keys)):
            continue
        stems = content_terms(normalize(text))
        counts = Counter(t for t in stems if t in query.weights)
        if counts:
            matched[i] = (counts, stems)
    return matched


def _score(query: Query, transcript: Transcript) -> _Scored:
    texts, speakers = transcript.texts, transcript.speakers
    n = len(texts)
    matched = _matches(query, texts)
    if not matched:
        return _Scored(final={}, source={}, answer={})
    df: Counter[str] = Counter()
    for counts, _ in matched.values():
        df.update(counts.keys())
    avg_length = max(1.0, sum(map(len, texts)) / n)
    size = n + PSEUDO_SEGMENTS
    idf = {t: query.weights[t] * math.log(1 + (size - d + 0.5) / (d + 0.5)) for t, d in df.items()}
    present = sum(idf.values())
    mean_idf = present / len(idf)
    own: dict[int, float] = {}
    for i, (counts, stems) in matched.items():
        norm = K1 * (1 - B + B * len(texts[i]) / avg_length)
        bm25 = sum(idf[t] * tf * (K1 + 1) / (tf + norm) for t, tf in counts.items())
        coverage = sum(idf[t] for t in counts) / present
        # Distinct pairs: saying "renewal budget" three times is no more an answer than saying it once.
        pairs = len({pair for pair in itertools.pairwise(stems) if pair in query.bigrams})
        own[i] = bm25 * (0.35 + 0.65 * coverage) + 0.5 * mean_idf * min(pairs, 3)

    source: dict[int, int] = {}
    answer: dict[int, int] = {}
    inherited: dict[int, float] = {}
    for i in matched:
        if not _is_question(texts[i]):
            continue
        # The reply: the next segment of another speaker, skipping back-channel ("Mm-hmm.").
        for j in range(i + 1, min(n, i + 1 + REPLY_REACH)):
            if speakers[j] == speakers[i]:
                break
            if _word_count(texts[j]) <= BACKCHANNEL_WORDS and j not in matched:
                continue
            if _is_question(texts[j]):
                break  # answering a question with a question is no answer
            answer[i] = j
            if ANSWER_INHERITANCE * own[i] > inherited.get(j, 0.0):
                inherited[j] = ANSWER_INHERITANCE * own[i]
                source[j] = i
            break

    base: dict[int, float] = {}
    for i in own.keys() | inherited.keys():
        weight = QUESTION_WEIGHT if _is_question(texts[i]) else 1.0
        base[i] = own.get(i, 0.0) * weight + inherited.get(i, 0.0)
    final = dict(base)
    if query.cue:
        cue = _ANSWER_CUES[query.cue]
        # Only a segment that could reach the seed threshold with the boost is worth the regex.
        floor = MIN_RELATIVE_SCORE * max(base.values()) / CUE_BOOST
        for i, score in base.items():
            if score >= floor and not _is_question(texts[i]) and cue.search(normalize(texts[i])):
                final[i] = score * CUE_BOOST
    return _Scored(final=final, source=source, answer=answer)


def rank_passages(query: Query, transcript: Transcript | Sequence[Line]) -> list[Passage]:
    """The passages of one transcript that answer `query`, best first (full segment texts)."""
    if not isinstance(transcript, Transcript):
        transcript = Transcript.of(transcript)
    if not len(transcript) or query.empty:
        return []
    scored = _score(query, transcript)
    order = sorted((i for i, s in scored.final.items() if s > 0), key=lambda i: (-scored.final[i], i))
    if not order:
        return []
    best = scored.final[order[0]]
    windows: list[tuple[int, int, float, int]] = []
    for i in order[: MAX_PASSAGES * 2]:
        if scored.final[i] < MIN_RELATIVE_SCORE * best:
            break
        windows.append((scored.source.get(i, i), scored.answer.get(i, i), scored.final[i], i))
    windows.sort()
    # low, high, best score, the best seed; a passage is as good as its best segment (a reply already
    # inherited its question's relevance, so adding the question's score would count it twice).
    merged: list[tuple[int, int, float, int]] = []
    for low, high, score, seed in windows:
        if merged:
            m_low, m_high, m_top, m_seed = merged[-1]
            # Windows that share a segment (a question and its answer) become one passage; windows that only
            # touch stay apart, so that the best passage is not diluted by a weaker neighbour.
            if low <= m_high and max(high, m_high) - m_low < MAX_PASSAGE_SEGMENTS:
                top, top_seed = (score, seed) if score > m_top else (m_top, m_seed)
                merged[-1] = (m_low, max(high, m_high), top, top_seed)
                continue
        merged.append((low, high, score, seed))
    passages = [
        Passage(lines=tuple(transcript.line(i) for i in range(low, high + 1)), score=top, best=seed - low)
        for low, high, top, seed in merged
    ]
    passages.sort(key=lambda p: -p.score)
    return passages[:MAX_PASSAGES]


def excerpt(text: str, query: Query, limit: int) -> str:
    """`text` cut to at most `limit` characters around its sentences that match the query best ("…" marks cuts)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    sentences = _SENTENCE_END.split(text)
    cue = _ANSWER_CUES[query.cue] if query.cue else None

    def weight(sentence: str) -> float:
        low = normalize(sentence)
        hits = sum(query.weights.get(t, 0.0) for t in content_terms(low))
        return hits + (0.5 if cue is not None and cue.search(low) else 0.0)

    scores = [weight(s) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    low, high = best, best
    room = limit - 2  # the two ellipses
    # Grow towards the better neighbour while the excerpt still fits.
    while True:
        options = [i for i in (low - 1, high + 1) if 0 <= i < len(sentences)]
        if not options:
            break
        nxt = max(options, key=lambda i: scores[i])
        size = sum(len(s) + 1 for s in sentences[min(low, nxt) : max(high, nxt) + 1])
        if size > room:
            break
        low, high = min(low, nxt), max(high, nxt)
    body = " ".join(sentences[low : high + 1])
    cut_start, cut_end = low > 0, high < len(sentences) - 1
    if len(body) > room:
        start = _match_start(body, query, room)
        cut_start, cut_end = cut_start or start > 0, cut_end or start + room < len(body)
        body = body[start : start + room].strip()
    return ("\u2026" if cut_start else "") + body + ("\u2026" if cut_end else "")


def _match_start(sentence: str, query: Query, room: int) -> int:
    """Where to start a window of `room` characters so that it shows the first matching word with some context."""
    low = normalize(sentence)
    positions = [low.find(key) for key in query.keys if key in low]
    first = min(positions) if positions else 0
    return max(0, min(first - room // 3, len(sentence) - room))


def select_passages(query: Query, passages: Sequence[Passage], *, budget: int, segment_limit: int) -> list[Passage]:
    """The best passages that fit `budget` characters (each segment's text counts twice: answer and evidence).

    The best passage is always kept; when it alone is too big, the segments furthest from its best
    segment are dropped and, if need be, that segment is cut shorter.
    """
    chosen: list[Passage] = []
    used = 0
    for passage in passages:
        lines = tuple(
            Line(line.speaker, line.start_s, line.end_s, excerpt(line.text, query, segment_limit))
            for line in passage.lines
        )
        cut = Passage(lines=lines, score=passage.score, best=passage.best)
        if not chosen:
            cut = _shrink(cut, query, budget)
        cost = sum(_cost(line) for line in cut.lines)
        if chosen and used + cost > budget:
            continue
        chosen.append(cut)
        used += cost
    return chosen


def _cost(line: Line) -> int:
    # Text in the answer and in the evidence, the speaker twice, timestamps and JSON keys.
    return 2 * (len(line.text) + len(line.speaker)) + 80


def _shrink(passage: Passage, query: Query, budget: int) -> Passage:
    lines, best = passage.lines, passage.best
    while len(lines) > 1 and sum(_cost(line) for line in lines) > budget:
        if len(lines) - 1 - best >= best:
            lines = lines[:-1]
        else:
            lines, best = lines[1:], best - 1
    if len(lines) == 1 and _cost(lines[0]) > budget:
        only = lines[0]
        speaker = only.speaker[:100]
        room = max(40, (budget - 80) // 2 - len(speaker))
        lines = (Line(speaker, only.start_s, only.end_s, excerpt(only.text, query, room)),)
    return Passage(lines=lines, score=passage.score, best=best)


def timestamp(seconds: float) -> str:
    """[mm:ss], or [h:mm:ss] from the first hour on."""
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{whole // 60:02d}:{whole % 60:02d}"
