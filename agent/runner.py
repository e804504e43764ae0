"""The super agent's work on one question: a deterministic plan over the asker's own read tools.

The agent holds no privileges of its own. Every piece of data it uses comes from a read tool of the catalog,
called through the registry's own call path (`registry.call_tool`) with the asker's Actor: scope checks,
visibility and not_found apply exactly as if the person had called the tools themselves. Tools that are not
registered (or not read-only) are simply skipped, so the agent grows with the catalog.

The plan: read the question (agent/planner.py), match names of the asker's people, teams and deals against
list_reps / list_teams / list_deals, search calls (search_calls, one search per term, merged and ranked),
read the best calls (ask_attention when registered, else get_call_details), add deal and scorecard figures
when asked, and compose an answer whose references are the calls it used.

Before every tool call the agent calls `checkpoint()`, which records a heartbeat and raises JobStopped when
the job was cancelled or deleted meanwhile: nothing more runs and nothing is stored.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accounts.permissions import Actor
from agent import planner
from mcpgateway import registry

logger = logging.getLogger(__name__)

# Calls read in depth and cited; calls gathered per search; pages followed when counting.
TOP_CALLS = 5
SEARCH_PAGE = 10
COUNT_PAGES = 5
PEOPLE_PAGES = 4
EXCERPT_CHARS = 400
ESSENTIAL_TOOLS = frozenset({"search_calls", "get_call_details", "ask_attention"})
MAX_ANSWER_CHARS = 8000


class JobStopped(Exception):
    """The job was cancelled, deleted or taken over: stop at once and store nothing."""


def call_read_tool(actor: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """One read tool, through the registry's call path with the asker's actor; None when it is not available.

    The single place the agent reaches data (tests wrap it to slow a step down).
    """
    spec = registry.tools().get(name)
    if spec is None or not spec.read_only:
        return None
    # Only arguments the tool declares: tools built later may name theirs differently.
    args = {k: v for k, v in arguments.items() if k in spec.arg_names and v is not None}
    return registry.call_tool(spec, actor, args)


@dataclass
class Answer:
    content: str
    references: list[dict[str, Any]]


@dataclass
class Hit:
    id: str
    title: str
    started_at: str
    owner: str
    terms: set[str] = field(default_factory=set)
    matches: list[dict[str, Any]] = field(default_factory=list)
    order: int = 0  # position in the first search that found it (relevance or date)

    def first_match_start(self) -> float | None:
        for match in self.matches:
            start = match.get("start_s")
            if isinstance(start, int | float):
                return float(start)
        return None


@dataclass
class Reading:
    """What the agent learnt about one call."""

    text: str
    start_s: float | None


def _fmt_ts(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _short(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _list_of_dicts(data: Any, *keys: str) -> list[dict[str, Any]]:
    """The first list of objects in a tool result, preferring the named keys (shapes of tools built elsewhere)."""
    if not isinstance(data, dict):
        return []
    for key in keys:
        value = data.get(key)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
    for value in data.values():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
    return []


def _date_of(iso: str) -> str:
    return iso[:10] if iso else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _fmt_number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


class Agent:
    def __init__(self, *, actor: Actor, checkpoint: Callable[[], None]) -> None:
        self.actor = actor
        self.checkpoint = checkpoint
        self.errors: list[str] = []
        self.successes = 0
        self.more_calls = False  # a search had further pages: totals are lower bounds

    # --- tools ---------------------------------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        spec = registry.tools().get(name)
        return spec is not None and spec.read_only

    def tool(self, name: str, **arguments: Any) -> dict[str, Any] | None:
        """Structured result of one read tool, or None (not registered, or an error result, which is noted).

        A tool that raises (a bug, the database down) fails the job when the answer rests on it (search and
        call reading), rather than produce an answer that is wrong ("no calls found"); an enrichment that
        raises (names, deals, scorecards) is left out.
        """
        self.checkpoint()
        if not self.has(name):
            return None
        try:
            result = call_read_tool(self.actor, name, arguments)
        except JobStopped:
            raise
        except Exception:
            if name in ESSENTIAL_TOOLS:
                raise
            logger.exception("super agent: tool %s raised; answering without it", name)
            self.errors.append("error")
            return None
        if result is None:
            return None
        body = result.get("structuredContent")
        if result.get("isError"):
            self.errors.append(str(body.get("error") if isinstance(body, dict) else "error"))
            return None
        self.successes += 1
        return body if isinstance(body, dict) else None

    def tool_accepts(self, name: str, argument: str, value: str | None = None) -> bool:
        spec = registry.tools().get(name)
        if spec is None or argument not in spec.arg_names:
            return False
        if value is None:
            return True
        schema = spec.input_schema.get("properties", {}).get(argument, {})
        return value in str(schema)

    # --- the plan ------------------------------------------------------------------------------------------------

    def answer(self, *, question: str, tz_name: str, previous: list[dict[str, Any]] | None = None) -> Answer:
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            # Validated when set through the tools; a session edited by hand must not sink the job.
            zone = ZoneInfo("UTC")
        today = datetime.now(zone).date()
        intent = planner.parse(question, today=today, has_history=bool(previous))
        notes: list[str] = []
        filters: dict[str, Any] = {}
        if intent.period is not None:
            filters["from_date"] = intent.period.from_date.isoformat()
            filters["to_date"] = intent.period.to_date.isoformat()
            notes.append(f"period: {intent.period.describe()}")
        terms = list(intent.terms)

        people = self._match_people(intent.rest)
        if people:
            filters["rep_ids"] = [pid for pid, _ in people]
            notes.append("reps: " + ", ".join(name for _, name in people))
            terms = _without(terms, [name for _, name in people])
        elif intent.own_calls and self.actor.user_id is not None:
            filters["rep_ids"] = [str(self.actor.user_id)]
            notes.append("your own calls")
        teams = self._match_teams(intent.rest)
        if teams:
            filters["team_ids"] = [tid for tid, _ in teams]
            notes.append("teams: " + ", ".join(name for _, name in teams))
            terms = _without(terms, [name for _, name in teams])
        deal_lines: list[str] = []
        deal = self._match_deal(terms, wanted=intent.wants_deals)
        if deal is not None:
            filters["deal_id"] = deal["id"]
            notes.append(f"deal: {deal['name']}")
            terms = _without(terms, [deal["term"], str(deal.get("name") or "")])
            deal_lines = self._describe_deal(deal)

        score_lines: list[str] = []
        if intent.wants_scorecards:
            score_lines, titles = self._scorecards(intent, filters)
            terms = _without(terms, titles)

        # ask_attention ranks passages by the question's words; with none left (names became filters), the
        # calls' own summaries say more.
        ask = bool(terms)
        if intent.follow_up and previous:
            hits = self._previous_calls(previous)
            notes.append("the calls of my previous answer")
            ask = bool(intent.terms)
            terms = []
        elif score_lines and not terms:
            # The scorecard figures answer the question; a list of arbitrary calls would only be noise.
            hits = {}
        else:
            hits = self._find_calls(terms, filters, counting=intent.wants_count)
        total = len(hits)
        if terms:
            notes.insert(0, "searched for: " + ", ".join(f'"{t}"' for t in terms))
        ranked = sorted(hits.values(), key=lambda h: (-len(h.terms), -len(h.matches), h.order))
        top = ranked[:TOP_CALLS]
        readings = self._read(top, intent.question, ask=ask)
        top = [h for h in top if h.id in readings]  # a call the asker cannot read is not cited
        if intent.follow_up and previous:
            # Not len(hits): a call of the previous answer that is no longer visible must not even be counted.
            total = len(top)
        return self._compose(intent, terms, notes, total, top, readings, deal_lines, score_lines)

    # --- names -----------------------------------------------------------------------------------------------

    def _match_people(self, text: str) -> list[tuple[str, str]]:
        if not self.has("list_reps"):
            return []
        people: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(PEOPLE_PAGES):
            page = self.tool("list_reps", page_size=50, cursor=cursor)
            if page is None:
                break
            people.extend(_list_of_dicts(page, "reps", "users"))
            cursor = page.get("next_cursor")
            if not cursor:
                break
        found: dict[str, str] = {}
        for person in people:
            first, last = str(person.get("first_name") or ""), str(person.get("last_name") or "")
            full = f"{first} {last}".strip()
            if full and " " in full and re.search(rf"\b{re.escape(full)}\b", text, re.IGNORECASE):
                found[str(person["id"])] = full
        if found:
            return list(found.items())
        # A first name alone counts only when it is written as a name and nobody else shares it.
        by_first: dict[str, list[dict[str, Any]]] = {}
        for person in people:
            first = str(person.get("first_name") or "")
            if len(first) >= 3 and first[0].isupper() and re.search(rf"\b{re.escape(first)}\b", text):
                by_first.setdefault(first, []).append(person)
        for first, matches in by_first.items():
            if len(matches) == 1 and first.lower() not in planner.STOPWORDS:
                person = matches[0]
                found[str(person["id"])] = f"{first} {person.get('last_name') or ''}".strip()
        return list(found.items())

    def _match_teams(self, text: str) -> list[tuple[str, str]]:
        if not self.has("list_teams"):
            return []
        data = self.tool("list_teams")
        found: list[tuple[str, str]] = []
        for team in _list_of_dicts(data, "teams"):
            if team.get("archived"):
                continue
            name = re.sub(r"^\[[^\]]*\]\s*", "", str(team.get("name") or "")).strip()
            if len(name) < 2:
                continue
            quoted = re.escape(name)
            said_team = re.search(rf"\b{quoted}\s+team\b|\bteam\s+{quoted}\b", text, re.IGNORECASE)
            # Written as a name (as the team spells it), not the same word used in passing.
            as_name = name[0].isupper() and re.search(rf"(?<![\w-]){quoted}(?![\w-])", text)
            if said_team or as_name:
                found.append((str(team["id"]), name))
        return found

    def _match_deal(self, terms: list[str], *, wanted: bool) -> dict[str, Any] | None:
        if not self.has("list_deals"):
            return None
        candidates = [t for t in terms if t[:1].isupper()] or (terms[:1] if wanted else [])
        for term in candidates[:2]:
            page = self.tool("list_deals", query=term, page_size=5)
            deals = [d for d in _list_of_dicts(page, "deals") if term.lower() in str(d.get("name", "")).lower()]
            # Several deals of one company: searching by the company's name covers them all.
            if len(deals) == 1 and deals[0].get("id"):
                return {**deals[0], "term": term}
        return None

    def _describe_deal(self, deal: dict[str, Any]) -> list[str]:
        detail = self.tool("get_deal", deal_id=str(deal["id"])) or {}
        nested = detail.get("deal")
        source: dict[str, Any] = nested if isinstance(nested, dict) else detail
        merged = {**deal, **{k: v for k, v in source.items() if v not in (None, "", [])}}
        parts = [f'Deal "{merged.get("name", deal.get("name"))}"']
        if merged.get("stage"):
            parts.append(f"stage {merged['stage']}")
        amount = _number(merged.get("amount"))
        if amount is not None:
            parts.append(f"amount {_fmt_number(amount)}")
        owner = merged.get("owner")
        owner_name = owner.get("name") if isinstance(owner, dict) else owner
        if owner_name:
            parts.append(f"owner {owner_name}")
        return [", ".join(parts) + "."]

    # --- calls -----------------------------------------------------------------------------------------------

    def _search(
        self, query: str | None, filters: dict[str, Any], *, pages: int, page_size: int
    ) -> list[dict[str, Any]]:
        args: dict[str, Any] = {**filters, "page_size": page_size}
        if query:
            args["query"] = query
            if self.tool_accepts("search_calls", "sort", "relevance"):
                args["sort"] = "relevance"
        out: list[dict[str, Any]] = []
        for _ in range(pages):
            page = self.tool("search_calls", **args)
            if page is None:
                break
            out.extend(_list_of_dicts(page, "calls"))
            cursor = page.get("next_cursor")
            if not cursor:
                break
            args["cursor"] = cursor
        else:
            self.more_calls = True
        return out

    def _find_calls(self, terms: list[str], filters: dict[str, Any], *, counting: bool) -> dict[str, Hit]:
        pages, size = (COUNT_PAGES, 50) if counting else (1, SEARCH_PAGE)
        hits: dict[str, Hit] = {}

        def take(calls: list[dict[str, Any]], term: str | None) -> None:
            for position, call in enumerate(calls):
                call_id = str(call.get("id") or "")
                if not call_id:
                    continue
                hit = hits.get(call_id)
                if hit is None:
                    owner = call.get("owner")
                    hit = hits[call_id] = Hit(
                        id=call_id,
                        title=str(call.get("title") or ""),
                        started_at=str(call.get("started_at") or ""),
                        owner=str(owner.get("name") if isinstance(owner, dict) else owner or ""),
                        order=position,
                    )
                if term is not None:
                    hit.terms.add(term)
                    hit.matches.extend(m for m in call.get("matches") or [] if isinstance(m, dict))

        if not terms:
            take(self._search(None, filters, pages=pages, page_size=size), None)
            return hits
        for term in terms:
            found = self._search(term, filters, pages=pages, page_size=size)
            shorter = planner.stem(term)
            if not found and shorter:
                found = self._search(shorter, filters, pages=pages, page_size=size)
            take(found, term)
        if counting and len(terms) > 1:
            every = {k: h for k, h in hits.items() if len(h.terms) == len(terms)}
            return every or hits
        return hits

    def _previous_calls(self, previous: list[dict[str, Any]]) -> dict[str, Hit]:
        hits: dict[str, Hit] = {}
        for position, ref in enumerate(previous[:TOP_CALLS]):
            call_id = str(ref.get("call_id") or "")
            try:
                uuid.UUID(call_id)
            except ValueError:
                continue
            # Titles are taken again from the tools below (the call may have changed or become invisible).
            hits[call_id] = Hit(id=call_id, title="", started_at="", owner="", order=position)
        return hits

    def _read(self, top: list[Hit], question: str, *, ask: bool) -> dict[str, Reading]:
        readings: dict[str, Reading] = {}
        if not top:
            return readings
        if ask and self.has("ask_attention"):
            data = self.tool(
                "ask_attention", prompt=question[:2000], conversation_ids=[h.id for h in top], include_timestamps=True
            )
            for row in _list_of_dicts(data, "results", "calls", "conversations"):
                call_id = str(row.get("conversation_id") or row.get("call_id") or "")
                if not call_id or row.get("error"):
                    continue
                output = str(row.get("output") or "").strip()
                segments = [s for s in row.get("segments") or [] if isinstance(s, dict)]
                start = _number(segments[0].get("start_sec", segments[0].get("start_s"))) if segments else None
                hit = next((h for h in top if h.id == call_id), None)
                if not output or hit is None:
                    continue
                if not hit.title and row.get("title"):
                    hit.title = str(row["title"])
                quote = _match_line(hit)
                if quote and not output.startswith(quote.split("]", 1)[0]):
                    # Lead with where the searched words were said; the passages answering the question follow.
                    readings[call_id] = Reading(text=f"{quote} | {output}", start_s=hit.first_match_start())
                else:
                    readings[call_id] = Reading(text=output, start_s=start)
        for hit in top:
            if hit.id in readings and hit.title:
                continue
            details = self.tool("get_call_details", call_id=hit.id, include_transcript=False)
            if details is None:
                readings.pop(hit.id, None)
                continue
            hit.title = str(details.get("title") or hit.title)
            hit.started_at = hit.started_at or str(details.get("started_at") or "")
            owner = details.get("owner")
            hit.owner = hit.owner or str(owner.get("name") if isinstance(owner, dict) else "")
            if hit.id in readings:
                continue
            passage = _match_line(hit)
            summary = str(details.get("summary") or "")
            if passage:
                text = passage
            elif summary:
                text = summary
            else:
                topics = [str(t) for t in details.get("topics") or []]
                text = ("Topics: " + ", ".join(topics)) if topics else "No summary is available for this call."
            readings[hit.id] = Reading(text=text, start_s=hit.first_match_start())
        return readings

    # --- scorecards --------------------------------------------------------------------------------------------

    def _scorecards(self, intent: planner.Intent, filters: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Lines summarising the scorecards the question names (else the first two), and the titles it named."""
        if not (self.has("get_scorecards") and self.has("get_scorecard_summary")):
            return [], []
        cards = _list_of_dicts(self.tool("get_scorecards"), "scorecards")
        if not cards:
            return [], []
        words = {w for w in re.findall(r"[a-z]+", intent.question.lower()) if w not in planner.STOPWORDS}
        chosen = [c for c in cards if words & set(re.findall(r"[a-z]+", str(c.get("title", "")).lower()))]
        lines: list[str] = []
        for card in (chosen or cards)[:2]:
            summary = self.tool(
                "get_scorecard_summary",
                scorecard_id=str(card.get("id")),
                from_date=filters.get("from_date"),
                to_date=filters.get("to_date"),
                user_ids=filters.get("rep_ids"),
                team_ids=filters.get("team_ids"),
            )
            if summary is not None:
                lines.extend(_render_scorecard(str(card.get("title") or "Scorecard"), summary))
        named = [str(c.get("title")) for c in chosen if c.get("title")]
        return lines, named

    # --- the answer -----------------------------------------------------------------------------------------------

    def _compose(
        self,
        intent: planner.Intent,
        terms: list[str],
        notes: list[str],
        total: int,
        top: list[Hit],
        readings: dict[str, Reading],
        deal_lines: list[str],
        score_lines: list[str],
    ) -> Answer:
        lines: list[str] = []
        if self.successes == 0 and "insufficient_scope" in self.errors:
            return Answer(
                content="I could not look anything up: the credential you asked with may not read calls "
                "(it lacks the mcp:read scope).",
                references=[],
            )
        about = " mentioning " + " or ".join(f'"{t}"' for t in terms) if terms else ""
        when = f" {intent.period.describe()}" if intent.period else ""
        if not top and not deal_lines and not score_lines:
            lines.append(f"I found no calls you can see{about}{when}.")
        elif intent.wants_count:
            more = "At least " if self.more_calls else ""
            lines.append(f"{more}{total} call{'s' if total != 1 else ''} you can see{about}{when}.")
        elif top:
            of = f"at least {total}" if self.more_calls else f"{total}"
            lead = f"the {len(top)} most relevant of {of}" if total > len(top) else f"{len(top)}"
            lines.append(f"From {lead} call{'s' if total != 1 else ''} you can see{about}{when}:")
        lines.extend(deal_lines)
        if score_lines:
            lines.append("Scorecards:")
            lines.extend(score_lines)
        references: list[dict[str, Any]] = []
        for n, hit in enumerate(top, start=1):
            reading = readings[hit.id]
            where = f" at {_fmt_ts(reading.start_s)}" if reading.start_s is not None else ""
            meta = ", ".join(p for p in (_date_of(hit.started_at), hit.owner) if p)
            lines.append(f'{n}. "{hit.title}"' + (f" ({meta})" if meta else "") + f"{where}: {_short(reading.text)}")
            references.append({"call_id": hit.id, "title": hit.title, "start_s": reading.start_s})
        if notes:
            lines.append("")
            lines.append("How I looked: " + "; ".join(notes) + ".")
        content = "\n".join(lines)
        if len(content) > MAX_ANSWER_CHARS:
            content = content[: MAX_ANSWER_CHARS - 1] + "…"
        return Answer(content=content, references=references)


def _match_line(hit: Hit) -> str:
    """The first passage where a searched word was said, as "[mm:ss] Speaker: words"."""
    for match in hit.matches:
        text = str(match.get("text") or "").strip()
        if not text:
            continue
        start = _number(match.get("start_s"))
        speaker = str(match.get("speaker") or "")
        stamp = f"[{_fmt_ts(start)}] " if start is not None else ""
        return f"{stamp}{speaker}: {text}" if speaker else f"{stamp}{text}"
    return ""


def _without(terms: list[str], names: list[str]) -> list[str]:
    """Terms that are not (part of) a matched name: the name became a filter, searching it again would narrow."""
    lowered = [n.lower() for n in names]
    return [t for t in terms if not any(t.lower() in n or n in t.lower() for n in lowered)]


_LABEL_KEYS = ("title", "name", "item_title", "rep_name", "user_name", "email")
# Most telling first: a 0-100 figure reads the same on every item's scale.
_SCORE_KEYS = ("overall_score", "average_percent", "average_score", "average", "avg", "mean", "score")
_HEADLINE_KEYS = ("overall_score", "calls_scored")


def _first_number(row: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, float] | None:
    for key in keys:
        raw = row.get(key)
        value = None if isinstance(raw, str) else _number(raw)
        if value is not None:
            return key, value
    return None


def _render_scorecard(title: str, summary: dict[str, Any]) -> list[str]:
    """A few lines from a scorecard summary: headline figures, then the score per item and per rep."""
    headline = [
        f"{key.replace('_', ' ')} {_fmt_number(value)}"
        for key in _HEADLINE_KEYS
        if (found := _first_number(summary, (key,))) is not None
        for _, value in (found,)
    ]
    lines = [f'- "{title}"' + (": " + ", ".join(headline) if headline else "")]
    for key, value in summary.items():
        if not isinstance(value, list):
            continue
        for row in [v for v in value if isinstance(v, dict)][:6]:
            label = next((str(row[k]) for k in _LABEL_KEYS if row.get(k)), "")
            if not label:
                person = row.get("user") or row.get("rep") or row.get("owner")
                label = str(person.get("name") or "") if isinstance(person, dict) else ""
            score = _first_number(row, _SCORE_KEYS)
            if label and score is not None:
                unit = "/100" if score[0] in ("overall_score", "average_percent") else ""
                lines.append(f"  - {key.replace('_', ' ')}: {label} {_fmt_number(score[1])}{unit}")
    return lines
