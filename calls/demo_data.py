"""Deterministic generators for demo data: people, companies, call titles, transcripts and insights.

Everything here is a pure function of a `random.Random` and plain arguments, so a seed gives the
same text on every machine and every run; `manage.py seed_demo` turns the results into rows.
Nothing here reads the clock: dates inside transcripts are phrased without an anchor
("by March 14th", "within 6 weeks") so the text does not change from one day to the next.

A transcript is assembled from blocks (opening, agenda, kind-specific topics, next steps,
closing). Every line of a block picks one of several templates and fills slots from the call's
facts (budget, seat count, decision date, competitor, CRM, security requirement, ...), with
optional lead-ins, tails and back-channel turns, so that no two calls read the same.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, Literal

CallKind = Literal["discovery", "demo", "negotiation", "renewal", "internal"]
Sentiment = Literal["positive", "neutral", "negative"]

EXTERNAL_KINDS: Final[tuple[CallKind, ...]] = ("discovery", "demo", "negotiation", "renewal")
KIND_LABELS: Final[dict[CallKind, str]] = {
    "discovery": "Discovery",
    "demo": "Demo",
    "negotiation": "Negotiation",
    "renewal": "Renewal",
    "internal": "Internal",
}
SENTIMENTS: Final[tuple[Sentiment, ...]] = ("positive", "neutral", "negative")
SENTIMENT_LABELS: Final[dict[Sentiment, str]] = {"positive": "Positive", "neutral": "Neutral", "negative": "Negative"}

# Fictional vendors only.
COMPETITORS: Final[tuple[str, ...]] = ("Gongly", "Chorus Labs", "Clari-o", "Salesloop", "Outreachly", "Revvio")

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Aisha", "Alejandro", "Amara", "Anders", "Ana", "Arjun", "Astrid", "Ben", "Bianca", "Carlos",
    "Chen", "Chloe", "Daniel", "Dara", "David", "Deepa", "Elena", "Emeka", "Emma", "Fatima",
    "Felix", "Fiona", "Gabriel", "Grace", "Hannah", "Hiro", "Ibrahim", "Ines", "Isaac", "Jamal",
    "Jana", "Javier", "Jin", "Jonas", "Julia", "Kai", "Karin", "Kenji", "Laila", "Lars",
    "Leah", "Liam", "Lucia", "Luis", "Maya", "Marco", "Maria", "Mateo", "Mei", "Miguel",
    "Mia", "Nadia", "Naomi", "Nikhil", "Nina", "Noah", "Olivia", "Omar", "Oscar", "Priya",
    "Rafael", "Rania", "Ravi", "Rosa", "Ryan", "Sakura", "Samuel", "Sara", "Sean", "Sofia",
    "Stefan", "Tariq", "Tessa", "Thomas", "Tomas", "Valentina", "Victor", "Wei", "Yara", "Yusuf",
    "Zara", "Zoe", "Adam", "Beatriz", "Connor", "Dmitri", "Eva", "Farah", "Georg", "Helena",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Abbott", "Adeyemi", "Alvarez", "Andersson", "Bakker", "Banerjee", "Becker", "Bennett", "Brooks", "Carvalho",
    "Castillo", "Chandra", "Chen", "Cohen", "Dubois", "Duarte", "Eriksen", "Evans", "Fernandes", "Fischer",
    "Foster", "Garcia", "Gupta", "Hansen", "Hartmann", "Hayes", "Hoffmann", "Holm", "Ibrahim", "Ito",
    "Jansen", "Jensen", "Kaur", "Keller", "Khan", "Kim", "Klein", "Kowalski", "Larsen", "Laurent",
    "Lee", "Lindqvist", "Lopez", "Martin", "Meyer", "Mendes", "Moreau", "Murphy", "Nakamura", "Nguyen",
    "Novak", "Okafor", "Olsen", "Osei", "Patel", "Petrov", "Quinn", "Ramos", "Reyes", "Richter",
    "Rossi", "Russo", "Sato", "Schmidt", "Schneider", "Shah", "Silva", "Singh", "Sorensen", "Suzuki",
    "Tanaka", "Thompson", "Torres", "Vogel", "Wagner", "Walsh", "Weber", "Williams", "Wong", "Yamamoto",
    "Young", "Zhang", "Zimmermann", "Costa", "Dahl", "Ekström", "Farouk", "Greco", "Haddad", "Ivanova",
)  # fmt: skip
COMPANY_PREFIXES: Final[tuple[str, ...]] = (
    "Northwind", "Bluepeak", "Harbor", "Ironwood", "Silverline", "Redstone", "Brightpath", "Cobalt", "Evergreen",
    "Summit", "Falcon", "Granite", "Lumen", "Meridian", "Nimbus", "Orchard", "Pinnacle", "Quarry", "Riverbend",
    "Sagebrush", "Tidewater", "Vantage", "Westfield", "Yellowtail", "Zephyr", "Aurora", "Beacon", "Cascade",
    "Driftwood", "Ember", "Foxglove", "Highland", "Juniper", "Keystone", "Lakeshore", "Maple", "Northstar",
    "Oakridge", "Polaris", "Quill", "Rainier", "Seaview", "Trident", "Upland", "Valence", "Willow", "Alder",
    "Bramble", "Crescent", "Deltaview", "Everline", "Fjord", "Helix", "Indigo", "Kestrel", "Larkspur", "Mosaic",
    "Novalis", "Onyx", "Prism", "Sable", "Terra", "Verdant", "Wren", "Atlas", "Birchwood", "Copperleaf", "Dunmore",
)  # fmt: skip
COMPANY_SUFFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("Logistics", "Logistics"), ("Freight", "Logistics"), ("Health", "Healthcare"), ("Medical", "Healthcare"),
    ("Bank", "Financial Services"), ("Capital", "Financial Services"), ("Insurance", "Insurance"),
    ("Analytics", "Software"), ("Software", "Software"), ("Systems", "Software"), ("Cloud", "Software"),
    ("Labs", "Software"), ("Security", "Cybersecurity"), ("Energy", "Energy"), ("Solar", "Energy"),
    ("Foods", "Consumer Goods"), ("Brands", "Consumer Goods"), ("Retail", "Retail"), ("Outfitters", "Retail"),
    ("Manufacturing", "Manufacturing"), ("Robotics", "Manufacturing"), ("Industries", "Manufacturing"),
    ("Telecom", "Telecommunications"), ("Networks", "Telecommunications"), ("Media", "Media"),
    ("Studios", "Media"), ("Education", "Education"), ("Learning", "Education"), ("Realty", "Real Estate"),
    ("Properties", "Real Estate"), ("Pharma", "Life Sciences"), ("Biotech", "Life Sciences"),
    ("Travel", "Travel & Hospitality"), ("Hotels", "Travel & Hospitality"), ("Payments", "Fintech"),
    ("Pay", "Fintech"), ("Consulting", "Professional Services"), ("Partners", "Professional Services"),
    ("Mobility", "Automotive"), ("Motors", "Automotive"),
)  # fmt: skip
COUNTRIES: Final[dict[str, tuple[str, ...]]] = {
    "EMEA": ("United Kingdom", "Germany", "France", "Netherlands", "Sweden", "Spain", "Ireland", "Austria"),
    "North America": ("United States", "United States", "United States", "Canada"),
}
PROSPECT_TITLES: Final[tuple[str, ...]] = (
    "VP of Sales", "Head of Revenue Operations", "Sales Enablement Lead", "Chief Revenue Officer",
    "Director of Sales", "IT Security Manager", "Procurement Manager", "RevOps Analyst",
    "Head of Customer Success", "Sales Manager", "Director of Sales Operations", "Head of Inside Sales",
)  # fmt: skip
PRODUCT_AREAS: Final[tuple[str, ...]] = (
    "call recording", "AI call summaries", "deal boards", "forecasting", "coaching scorecards", "CRM sync",
    "conversation search", "talk-track analytics", "pipeline inspection", "the ask-anything assistant",
)  # fmt: skip
CRMS: Final[tuple[str, ...]] = ("Salesforce", "HubSpot", "Microsoft Dynamics", "Pipedrive")
CONFERENCING: Final[tuple[str, ...]] = ("Zoom", "Microsoft Teams", "Google Meet", "Webex")
IDPS: Final[tuple[str, ...]] = ("Okta", "Azure AD", "Google Workspace", "OneLogin", "JumpCloud")
SECURITY_ITEMS: Final[tuple[tuple[str, str], ...]] = (
    ("a SOC 2 Type II report", "a current SOC 2 Type II report, renewed every year"),
    ("SSO via SAML", "SAML SSO on every plan, and SCIM provisioning on enterprise"),
    ("a signed DPA for GDPR", "a standard DPA with the EU SCCs that legal can countersign"),
    ("EU data residency", "a Frankfurt region, so recordings and transcripts never leave the EU"),
    ("a penetration test summary", "an annual third-party pen test and we share the executive summary"),
    ("ISO 27001 certification", "ISO 27001 certification, and the certificate is in our trust pack"),
    ("SCIM provisioning", "SCIM for Okta and Azure AD, so leavers lose access the moment IT removes them"),
    ("encryption at rest with our own keys", "AES-256 at rest and customer-managed keys on enterprise"),
)  # fmt: skip
NON_COMPETITOR_TOOLS: Final[tuple[str, ...]] = (
    "spreadsheets", "a homegrown tool", "the native recording in our meeting tool", "nothing formal",
    "a shared notes doc", "manual notes in the CRM",
)  # fmt: skip
PAINS: Final[tuple[tuple[str, str], ...]] = (
    ("Forecast calls take forever because nobody trusts the data in {crm}.", "an untrusted forecast"),
    ("New hires take {ramp} months to ramp and managers can't listen to every call.", "slow rep ramp-up"),
    ("We lose deals late in the cycle and only find out why after the fact.", "late-stage deal slippage"),
    ("Managers spend their Fridays updating {crm} instead of coaching.", "manual CRM updates"),
    ("We never hear about competitors on calls until we've already lost.", "no competitive visibility"),
    ("Every manager coaches differently, so there's no consistent playbook.", "inconsistent coaching"),
    ("Handoffs from sales to customer success lose half the context.", "poor sales-to-CS handoffs"),
    ("Reps spend about {admin_hours} hours a week on call notes and admin.", "rep admin overhead"),
)  # fmt: skip
DIFFERENTIATORS: Final[tuple[str, ...]] = (
    "how quickly reps actually adopt it", "transcript accuracy on accented speech",
    "that forecasting and coaching live in one place", "that the {crm} sync writes back to the opportunity",
    "the price per seat once you pass a hundred seats", "that admins can scope visibility by team",
)  # fmt: skip
MONTHS: Final[tuple[str, ...]] = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip
WEEKDAYS: Final[tuple[str, ...]] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
SHARE_CODE_ALPHABET: Final[str] = string.ascii_letters + string.digits + "-_"

TOPIC_NAMES: Final[dict[str, str]] = {
    "current_process": "Current process",
    "pain": "Pain points",
    "stakeholders": "Decision process",
    "budget": "Budget",
    "timeline": "Timeline",
    "tech_stack": "Integrations",
    "competitor": "Competition",
    "success": "Success criteria",
    "demo_area": "Product walkthrough",
    "integrations": "Integrations",
    "security": "Security review",
    "adoption": "Adoption concerns",
    "pricing": "Pricing",
    "discount": "Discounting",
    "contract": "Contract terms",
    "legal": "Legal review",
    "procurement": "Procurement",
    "usage": "Usage review",
    "expansion": "Expansion",
    "price_increase": "Price increase",
    "new_features": "New features",
    "pipeline": "Pipeline review",
    "deal_review": "Deal review",
    "coaching": "Coaching",
    "forecast": "Forecast",
    "qa": "Product questions",
}


@dataclass(frozen=True, slots=True)
class Person:
    first_name: str
    last_name: str
    email: str = ""
    title: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    domain: str
    industry: str
    country: str
    region: str
    employees: int


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Facts a call states out loud; they differ per call so questions over transcripts have answers."""

    seats: int
    price_per_seat: int  # per seat per month, USD
    budget: int  # USD per year
    discount_pct: int
    contract_years: int
    decision: str  # "by March 14th", "within 6 weeks", ...
    go_live: str
    competitor: str | None
    current_tool: str
    crm: str
    conferencing: str
    idp: str
    security: str
    security_answer: str
    pain: str
    pain_short: str
    area: str
    area2: str
    followup_day: str
    followup_time: str
    usage_pct: int
    add_seats: int
    increase_pct: int
    sentiment: Sentiment

    @property
    def annual_total(self) -> int:
        return self.seats * self.price_per_seat * 12


@dataclass(frozen=True, slots=True)
class Segment:
    speaker: str
    start_s: float
    end_s: float
    text: str
    topic: str


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: list[Segment]
    topics: list[str]
    duration_s: int

    @property
    def text(self) -> str:
        return "\n".join(f"{s.speaker}: {s.text}" for s in self.segments)


@dataclass(frozen=True, slots=True)
class InsightText:
    summary: str
    action_items: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Small helpers


def rng_uuid(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from `rng`, so ids repeat with the seed."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def share_code(rng: random.Random, length: int = 12) -> str:
    return "".join(rng.choice(SHARE_CODE_ALPHABET) for _ in range(length))


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def money(amount: int) -> str:
    return f"${amount:,}"


def slug_words(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in out.split("-") if part)


def _ascii_local(text: str) -> str:
    table = str.maketrans({"ö": "o", "ä": "a", "å": "a", "ü": "u", "é": "e", "ø": "o"})
    return "".join(ch for ch in text.lower().translate(table) if ch.isalnum())


# ---------------------------------------------------------------------------------------------
# People and companies


def person_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def people(rng: random.Random, count: int, *, domain: str, taken: set[str] | None = None) -> list[Person]:
    """`count` people with distinct names and `first.last@domain` emails not in `taken`."""
    taken = set() if taken is None else taken
    result: list[Person] = []
    while len(result) < count:
        first, last = person_name(rng)
        email = f"{_ascii_local(first)}.{_ascii_local(last)}@{domain}"
        if email in taken:
            continue
        taken.add(email)
        result.append(Person(first_name=first, last_name=last, email=email))
    return result


def company(rng: random.Random) -> Company:
    prefix = rng.choice(COMPANY_PREFIXES)
    suffix, industry = rng.choice(COMPANY_SUFFIXES)
    name = f"{prefix} {suffix}"
    region = "EMEA" if rng.random() < 0.45 else "North America"
    return Company(
        name=name,
        domain=f"{slug_words(name)}.example",
        industry=industry,
        country=rng.choice(COUNTRIES[region]),
        region=region,
        employees=rng.choice((80, 150, 240, 400, 650, 900, 1500, 2500, 4000, 7500, 12000)),
    )


def companies(rng: random.Random, count: int) -> list[Company]:
    """Up to `count` companies with distinct names (there are ~2,800 possible names)."""
    count = min(count, len(COMPANY_PREFIXES) * len(COMPANY_SUFFIXES))
    seen: set[str] = set()
    result: list[Company] = []
    while len(result) < count:
        c = company(rng)
        if c.name not in seen:
            seen.add(c.name)
            result.append(c)
    return result


def company_contacts(rng: random.Random, comp: Company, count: int) -> list[Person]:
    """The people of a customer company who show up on its calls, each with a job title."""
    titles = list(PROSPECT_TITLES)
    rng.shuffle(titles)
    contacts = people(rng, count, domain=comp.domain)
    return [
        Person(first_name=p.first_name, last_name=p.last_name, email=p.email, title=titles[i % len(titles)])
        for i, p in enumerate(contacts)
    ]


# ---------------------------------------------------------------------------------------------
# Per-call facts and titles


def _decision_phrase(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return f"by {rng.choice(MONTHS)} {ordinal(rng.randint(1, 28))}"
    if roll < 0.75:
        return f"within {rng.randint(2, 12)} weeks"
    return f"by the end of Q{rng.randint(1, 4)}"


def _go_live_phrase(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return f"in {rng.choice(MONTHS)}"
    if roll < 0.7:
        return f"by the start of Q{rng.randint(1, 4)}"
    return f"{rng.randint(2, 8)} weeks after signature"


def call_facts(
    rng: random.Random,
    *,
    competitor_probability: float = 0.4,
    seats: int | None = None,
    price_per_seat: int | None = None,
    sentiment: Sentiment | None = None,
) -> CallFacts:
    """Draw the facts of one call; a deal's calls pass the deal's seats and price so they agree."""
    if seats is None:
        seats = max(8, min(1500, round(rng.lognormvariate(4.0, 0.8))))
    if price_per_seat is None:
        price_per_seat = rng.choice((59, 65, 69, 75, 79, 85, 89, 95, 99, 110, 120, 129))
    annual = seats * price_per_seat * 12
    budget = max(5_000, round(annual * rng.uniform(0.7, 1.15), -3))
    competitor = rng.choice(COMPETITORS) if rng.random() < competitor_probability else None
    # Some prospects are already on the competitor; the others use something that is no vendor.
    on_competitor = competitor is not None and rng.random() < 0.4
    current_tool = competitor if competitor is not None and on_competitor else rng.choice(NON_COMPETITOR_TOOLS)
    security, security_answer = rng.choice(SECURITY_ITEMS)
    pain, pain_short = rng.choice(PAINS)
    area, area2 = rng.sample(PRODUCT_AREAS, 2)
    mood: Sentiment = sentiment if sentiment is not None else rng.choices(SENTIMENTS, weights=(45, 35, 20))[0]
    return CallFacts(
        seats=seats,
        price_per_seat=price_per_seat,
        budget=int(budget),
        discount_pct=rng.choice((5, 8, 10, 12, 15, 18, 20, 25)),
        contract_years=rng.choice((1, 1, 2, 3)),
        decision=_decision_phrase(rng),
        go_live=_go_live_phrase(rng),
        competitor=competitor,
        current_tool=current_tool,
        crm=rng.choice(CRMS),
        conferencing=rng.choice(CONFERENCING),
        idp=rng.choice(IDPS),
        security=security,
        security_answer=security_answer,
        pain=pain,
        pain_short=pain_short,
        area=area,
        area2=area2,
        followup_day=rng.choice(WEEKDAYS),
        followup_time=rng.choice(("9:00", "9:30", "10:00", "11:00", "13:30", "14:00", "15:30", "16:00")),
        usage_pct=rng.randint(38, 96),
        add_seats=rng.choice((5, 10, 12, 15, 20, 25, 40, 60)),
        increase_pct=rng.choice((3, 4, 5, 6, 7, 8, 9)),
        sentiment=mood,
    )


_TITLES: Final[dict[CallKind, tuple[str, ...]]] = {
    "discovery": (
        "{company} <> {org} | Discovery",
        "Intro call: {company}",
        "{company} - discovery with {p_full}",
        "{org} / {company} intro",
        "Discovery: {company} ({industry})",
        "{company} first call - {pain_short}",
    ),
    "demo": (
        "{company} - {area} demo",
        "Product demo for {company}",
        "{company} <> {org} | Demo",
        "{company}: demo for the {p_title}",
        "{company} technical deep dive",
        "Demo: {area} and {area2} for {company}",
    ),
    "negotiation": (
        "{company} - pricing & contract review",
        "{company} proposal walkthrough",
        "{company} <> {org} | Commercials",
        "Contract negotiation: {company}",
        "{company} - {seats} seat proposal",
        "{company} procurement & legal sync",
    ),
    "renewal": (
        "{company} renewal check-in",
        "QBR: {company}",
        "{company} - renewal & expansion",
        "{company} <> {org} | Renewal",
        "{company} account review",
        "{company} adoption and renewal planning",
    ),
    "internal": (
        "Weekly pipeline review",
        "Deal strategy: {company}",
        "Forecast call - {team}",
        "Coaching 1:1: {r_full} / {c_full}",
        "{company} account planning",
        "Competitive huddle: {comp}",
        "{team} team sync",
    ),
}


def call_title(rng: random.Random, *, kind: CallKind, slots: dict[str, str]) -> str:
    options = [t for t in _TITLES[kind] if _fields(t) <= slots.keys()]
    return rng.choice(options).format_map(slots)


# ---------------------------------------------------------------------------------------------
# Transcript phrase banks
#
# A block is a list of lines; a line is (role, alternatives). Roles: R = the call owner,
# C = an internal colleague (falls back to R), P = the main prospect (internal calls: a second
# colleague), Q = another prospect (falls back to P). A template whose slots the call cannot fill
# (no colleague, no competitor, ...) is skipped; a line with no usable template is dropped.

Line = tuple[str, tuple[str, ...]]
Block = tuple[str, tuple[Line, ...]]  # (topic key, lines)

_OPENING: Final[tuple[Line, ...]] = (
    (
        "R",
        (
            "Hi {p}, thanks for making the time today.",
            "Hey {p}, good to see you again. How was your week?",
            "Morning {p}! Can you hear me okay?",
            "Hi everyone, thanks for joining. I know it's a busy week at {company}.",
            "Hi {p}, hi {q}. Thanks both for jumping on.",
        ),
    ),
    (
        "P",
        (
            "Yeah, loud and clear. Thanks for setting this up.",
            "Hi {r}. Sure, happy to be here.",
            "No problem. We've got about {mins} minutes, I have a hard stop after that.",
            "Hey {r}, sorry I'm a couple of minutes late, it's back-to-back today.",
            "Good, thanks. Busy, we're in the middle of planning for next quarter.",
        ),
    ),
    (
        "R",
        (
            "No worries at all. I've got {c} from our solutions team with me as well.",
            "Great. Quick intro first: I'm {r}, I look after {industry} accounts here at {org}.",
            "Perfect, I'll keep us on time.",
            "Totally understand. {c} is joining too, {c} runs our technical side.",
        ),
    ),
    (
        "O",
        (
            "Hi all, nice to meet you.",
            "Hey, good to meet everyone. I'll mostly listen and jump in on technical questions.",
            "Hi! Looking forward to it.",
        ),
    ),
)

_AGENDA: Final[dict[CallKind, tuple[Line, ...]]] = {
    "discovery": (
        (
            "R",
            (
                "So the plan for today: I'd love to understand how your team handles {area} now, "
                "where it hurts, and whether it makes sense to go further. Anything you'd add?",
                "I'd like to spend most of the time on your side: your process, your goals, and what's "
                "prompted you to look at this now. Then we can agree whether a demo is worth it.",
            ),
        ),
        (
            "P",
            (
                "That works. The main thing for us is {pain_short}.",
                "Sounds good. I'd also like to understand how you price this.",
                "Works for me. I've got some questions from {q} as well.",
            ),
        ),
    ),
    "demo": (
        (
            "R",
            (
                "Today I want to show you {area} and {area2}, mapped to what you told us last time about "
                "{pain_short}. Stop me any time.",
                "Agenda: a quick recap, then a live demo focused on {area}, then questions and next steps.",
            ),
        ),
        (
            "P",
            (
                "Great. {q} will have questions on the {crm} side.",
                "Sounds good, please keep it practical, the team has seen a lot of slideware.",
                "Perfect. I mostly want to see what a manager sees day to day.",
            ),
        ),
    ),
    "negotiation": (
        (
            "R",
            (
                "Thanks for getting back to us on the proposal. I'd like to walk through the open points "
                "on pricing, terms and the security review, and agree a path to signature.",
                "Goal for today is to close out the commercial questions so we can hit your date.",
            ),
        ),
        (
            "P",
            (
                "Yes, there are a few things we need to resolve before I take this to our {buyer_title}.",
                "Sure. Procurement has some comments and so does legal.",
            ),
        ),
    ),
    "renewal": (
        (
            "R",
            (
                "Since your renewal is coming up I wanted to review how the last year went, look at "
                "adoption, and talk about what's next.",
                "Plan for today: usage review, what's working, what isn't, and the renewal itself.",
            ),
        ),
        (
            "P",
            (
                "Sounds good. I have some feedback from the managers too.",
                "Sure. I'll be honest, budgets are tighter this year.",
            ),
        ),
    ),
    "internal": (
        (
            "R",
            (
                "Okay, let's get started. I want to go through the pipeline for {team} and then talk about {company}.",
                "Thanks all. Same format as usual: commits first, then deals at risk, then coaching.",
            ),
        ),
    ),
}

_BODY: Final[dict[CallKind, tuple[Block, ...]]] = {
    "discovery": (
        (
            "current_process",
            (
                (
                    "R",
                    (
                        "Can you walk me through how your reps handle {area} today?",
                        "How are you keeping track of what happens on customer calls right now?",
                    ),
                ),
                (
                    "P",
                    (
                        "Honestly it's mostly {current_tool}. Reps take notes, some log things in {crm}, most don't.",
                        "We're on {current_tool} at the moment, and nobody really goes back to it.",
                        "Right now it's {current_tool} plus a lot of manual work in {crm}.",
                    ),
                ),
                (
                    "R",
                    (
                        "And roughly how many people are on customer calls every week?",
                        "How many reps would that cover?",
                    ),
                ),
                (
                    "P",
                    (
                        "We have about {seats} people who are customer-facing, spread across {n_regions} regions.",
                        "{seats} seats, give or take. We're hiring another {hires} this quarter.",
                        "It would be {seats} users to start with.",
                    ),
                ),
            ),
        ),
        (
            "pain",
            (
                ("R", ("What's the biggest headache with that setup?", "Where does it break down for you?")),
                ("P", ("{pain}", "The honest answer? {pain}")),
                (
                    "Q",
                    (
                        "And from my side, reps spend about {admin_hours} hours a week on admin they hate.",
                        "I'd add that our win rate dropped to around {win_rate}% last half.",
                    ),
                ),
                (
                    "R",
                    (
                        "That's really common in {industry}. What does that cost you, roughly?",
                        "What's the impact on the number when that happens?",
                    ),
                ),
                (
                    "P",
                    (
                        "Last year we missed the number by about {miss_pct}%, and a good part of that was "
                        "deals slipping that we should have seen coming.",
                        "Hard to say exactly, but ramp time alone costs us a quarter of productivity per hire.",
                    ),
                ),
            ),
        ),
        (
            "stakeholders",
            (
                (
                    "R",
                    (
                        "Who else would be involved in a decision like this?",
                        "Walk me through how a purchase like this gets approved at {company}.",
                    ),
                ),
                (
                    "P",
                    (
                        "I'd be the champion, but our {buyer_title} signs off on anything over {sign_limit}.",
                        "It'll be me, {q}, and someone from IT security. They'll want to run their review.",
                        "Our {buyer_title} has the final say. I'd run the evaluation.",
                    ),
                ),
                ("R", ("And procurement, legal, security: what does that usually look like?",)),
                (
                    "P",
                    (
                        "Procurement needs {proc_weeks} weeks minimum, and security will want {sec}.",
                        "Security will ask for {sec} before anything else, then legal takes a couple of weeks.",
                    ),
                ),
            ),
        ),
        (
            "budget",
            (
                (
                    "R",
                    (
                        "Have you set aside budget for this, or would it come out of something else?",
                        "Do you have a rough budget range in mind?",
                    ),
                ),
                (
                    "P",
                    (
                        "We have roughly {budget} approved this year for sales tooling.",
                        "Budget's around {budget} a year. It could stretch if the business case is strong.",
                        "Finance gave us about {budget}, and that has to cover {seats} seats.",
                    ),
                ),
                (
                    "R",
                    (
                        "Okay, that's helpful. For {seats} seats that's in the right ballpark.",
                        "Good to know. I'll make sure the proposal fits inside {budget}.",
                    ),
                ),
            ),
        ),
        (
            "timeline",
            (
                ("R", ("When would you ideally want this live?", "What's driving the timing on your side?")),
                (
                    "P",
                    (
                        "We want to make a decision {decision} and go live {golive}.",
                        "Our fiscal year ends in {fy_month}, so we need a decision {decision}.",
                        "Sales kickoff is coming, so ideally we decide {decision} and roll out {golive}.",
                    ),
                ),
                (
                    "R",
                    (
                        "Got it, so a decision {decision} and rollout {golive}. I'll work backwards from that.",
                        "That's doable if we get the security review started early.",
                    ),
                ),
            ),
        ),
        (
            "tech_stack",
            (
                ("R", ("Which CRM and meeting tools are you on?", "What does the rest of your stack look like?")),
                (
                    "Q",
                    (
                        "{crm} for CRM, {conf} for meetings, and SSO through {idp}.",
                        "Mostly {conf} for calls, {crm} as the system of record, {idp} for identity.",
                    ),
                ),
                (
                    "C",
                    (
                        "Great, we integrate natively with all three. The {crm} sync writes call outcomes "
                        "to the opportunity within a few minutes.",
                        "That's our most common setup. Connecting {conf} takes an admin about ten minutes.",
                    ),
                ),
            ),
        ),
        (
            "success",
            (
                ("R", ("If we fast-forward six months, what would make this a success?",)),
                (
                    "P",
                    (
                        "If managers could review {n_calls} calls a week without listening end to end, "
                        "and forecast accuracy goes up, that's a win.",
                        "Ramp time down from {ramp} months to something like {ramp_target}. That's the metric.",
                    ),
                ),
            ),
        ),
    ),
    "demo": (
        (
            "demo_area",
            (
                (
                    "R",
                    (
                        "I'll share my screen. This is the home view a manager sees every morning.",
                        "Let me share. Can you see my screen okay?",
                    ),
                ),
                ("P", ("Yep, got it.", "Okay, I can see it.")),
                (
                    "C",
                    (
                        "Here's {area}. Every call from {conf} lands here a few minutes after it ends, "
                        "with the transcript and a summary.",
                        "This is {area}. You can filter by team, by rep, or by deal stage.",
                    ),
                ),
                (
                    "P+",
                    (
                        "How accurate are the transcripts?",
                        "Can a manager jump straight to the pricing part of a call?",
                    ),
                ),
                (
                    "C+",
                    (
                        "Typically above {accuracy}% on clear audio, and we support {n_langs} languages.",
                        "Yes, the summary links every topic to the moment it came up, so you click and it plays.",
                    ),
                ),
            ),
        ),
        (
            "demo_area",
            (
                (
                    "R",
                    (
                        "Let me jump to {area2}, because that ties back to {pain_short}.",
                        "Now the part I think matters most for you: {area2}.",
                    ),
                ),
                (
                    "C+",
                    (
                        "So here the system picks up risk signals, like no next step or a competitor mention, "
                        "and flags the deal.",
                        "And every call from {conf}, your dialer or an upload goes through the same pipeline.",
                    ),
                ),
                ("Q+", ("Can we customise what counts as a risk?", "Does that include calls from our dialer?")),
                (
                    "C+",
                    (
                        "Yes, admins define labels and scorecards per team.",
                        "Yes, dialer recordings get the same transcription, summaries and risk signals.",
                    ),
                ),
            ),
        ),
        (
            "integrations",
            (
                ("Q+", ("How does it connect to {crm}?", "Does it need admin rights in {crm}?")),
                (
                    "C+",
                    (
                        "It's an OAuth connection. You map fields once and we write summaries and next steps "
                        "to the opportunity.",
                        "A read-write integration user is enough; we never touch fields you haven't mapped.",
                    ),
                ),
                ("Q+", ("And provisioning through {idp}?", "Can we control which teams sync?")),
                ("C+", ("Yes, SSO and SCIM through {idp} are supported.", "Yes, sync is configured per team.")),
            ),
        ),
        (
            "security",
            (
                (
                    "Q",
                    (
                        "Our security team will ask about {sec}.",
                        "Before we go further, security needs {sec}. Is that available?",
                    ),
                ),
                (
                    "C",
                    (
                        "We have {sec_answer}. I'll send our trust pack right after the call.",
                        "Good question. We have {sec_answer}.",
                    ),
                ),
                ("P", ("Perfect, that'll save us weeks.", "Okay, please send that to {q} directly.")),
            ),
        ),
        (
            "adoption",
            (
                (
                    "P",
                    (
                        "My worry is adoption. We rolled out {current_tool} and half the team never logged in.",
                        "Reps are sceptical of anything that feels like surveillance. How do you handle that?",
                    ),
                ),
                (
                    "R",
                    (
                        "Totally fair. We position it as a tool for reps first: notes and follow-up emails "
                        "written for them. Customers usually see {adoption}% weekly usage after a month.",
                        "That's the number one objection we hear. Private calls and team-based visibility help "
                        "a lot, and we run the enablement sessions with you.",
                    ),
                ),
            ),
        ),
        (
            "pricing",
            (
                (
                    "P",
                    (
                        "What does pricing look like for {seats} seats?",
                        "Rough numbers: what are we talking about for {seats} users?",
                    ),
                ),
                (
                    "R",
                    (
                        "List is {pps} per seat per month, so for {seats} seats roughly {total} a year "
                        "before any discount.",
                        "We'd be around {total} annually at list for {seats} seats, and there's room "
                        "on a multi-year term.",
                    ),
                ),
                ("P", ("Okay. That's above what I had in mind.", "Fine, that's within range.")),
            ),
        ),
    ),
    "negotiation": (
        (
            "pricing",
            (
                (
                    "R",
                    (
                        "So the proposal is {seats} seats at {pps} per seat per month on a {years}-year term, "
                        "which comes to {total} a year.",
                        "To recap the numbers: {seats} seats, {pps} per seat per month, {total} annually.",
                    ),
                ),
                (
                    "P",
                    (
                        "We need to get closer to {budget}. Is there flexibility?",
                        "That's over the {budget} we have approved. What can you do?",
                    ),
                ),
            ),
        ),
        (
            "discount",
            (
                (
                    "R",
                    (
                        "If you can sign {decision}, I can get approval for {discount}% off and lock the price "
                        "for {years} years.",
                        "There's room if we do a {years}-year term: {discount}% off list, fixed for the term.",
                    ),
                ),
                (
                    "P+",
                    (
                        "{discount}% gets us close. I'd need that in writing for our {buyer_title}.",
                        "That helps, but we'd want price protection on added seats too.",
                    ),
                ),
                (
                    "R+",
                    (
                        "I'll send a revised order form today with {discount}% and the price lock.",
                        "Added seats would co-term at the same rate, I can put that in the order form.",
                    ),
                ),
            ),
        ),
        (
            "contract",
            (
                (
                    "P+",
                    (
                        "Could we pay quarterly instead of annually upfront?",
                        "We'd want the right to reduce seats by ten percent at the anniversary.",
                    ),
                ),
                (
                    "R+",
                    (
                        "Quarterly is possible with a {uplift}% uplift; annual upfront is standard.",
                        "I can't do reductions mid-term, but I can give you a ramp: {ramp_seats} seats for the "
                        "first six months, then the full {seats}.",
                    ),
                ),
            ),
        ),
        (
            "legal",
            (
                (
                    "Q+",
                    (
                        "Legal is reviewing the MSA. The main redline is the liability cap.",
                        "Our counsel flagged the auto-renewal clause and the data processing terms.",
                    ),
                ),
                (
                    "R+",
                    (
                        "We usually accept a cap at twelve months of fees; I'll confirm with legal.",
                        "Send the redlines over and I'll get our legal team on a call this week.",
                    ),
                ),
                ("Q", ("And security signed off on {sec}, that part's done.", "Security still needs {sec}.")),
            ),
        ),
        (
            "procurement",
            (
                (
                    "P",
                    (
                        "Procurement needs the vendor onboarding form and your bank details.",
                        "Procurement wants three quotes on file, so they'll also ask {comp} for one.",
                    ),
                ),
                (
                    "R",
                    (
                        "I'll fill the form out today. Who should I send it to?",
                        "Understood. Happy to be measured on value, not just price. Who should get our vendor form?",
                    ),
                ),
                (
                    "P",
                    (
                        "Send it to me and copy {q}. Our {buyer_title} is out until {day}, then we can sign.",
                        "Send it to me. Once that's in, signature {decision} is realistic.",
                    ),
                ),
            ),
        ),
    ),
    "renewal": (
        (
            "usage",
            (
                (
                    "R",
                    (
                        "Over the last quarter, {usage}% of your {seats} seats were active weekly, and managers "
                        "reviewed {reviewed} calls.",
                        "Quick look at the numbers: {usage}% weekly active across {seats} seats, {reviewed} "
                        "calls reviewed by managers.",
                    ),
                ),
                (
                    "P",
                    (
                        "That's higher than I thought.",
                        "Honestly I expected more. Some teams barely use it.",
                        "Okay, that matches what I hear from the managers.",
                    ),
                ),
            ),
        ),
        (
            "expansion",
            (
                (
                    "P",
                    (
                        "We're adding a team of {add_seats} in {region}. What would that look like?",
                        "We might bring the {add_seats} people in customer success onto it as well.",
                    ),
                ),
                (
                    "R",
                    (
                        "We could add them at your current rate of {pps} per seat per month and co-term them.",
                        "That's great to hear. I'd add them at the same price so it stays simple.",
                    ),
                ),
            ),
        ),
        (
            "price_increase",
            (
                (
                    "P",
                    (
                        "The renewal quote has a {increase}% increase. That's going to be hard to get through.",
                        "Finance pushed back on the {increase}% uplift. Can we hold pricing flat?",
                    ),
                ),
                (
                    "R",
                    (
                        "I hear you. If we do a {years}-year renewal I can hold the price flat.",
                        "Let me see what I can do. Adding the {add_seats} seats would give me room on the rate.",
                    ),
                ),
            ),
        ),
        (
            "new_features",
            (
                (
                    "R",
                    (
                        "Since you signed we've launched {area2}, and it's included in your tier.",
                        "One thing you may not have switched on yet is {area2}.",
                    ),
                ),
                ("P", ("Oh, I didn't know that. Can you show the team?", "Interesting, send me a short video.")),
            ),
        ),
        (
            "competitor",
            (
                (
                    "P",
                    (
                        "{comp} reached out to our CRO offering a free pilot.",
                        "I should mention {comp} is pitching us pretty hard right now.",
                    ),
                ),
                (
                    "R",
                    (
                        "I appreciate you telling me. Your managers have {reviewed} reviewed calls and a year "
                        "of history here; switching resets all of that.",
                        "Fair enough. Let's put together the value summary so your CRO has the full picture.",
                    ),
                ),
            ),
        ),
    ),
    "internal": (
        (
            "pipeline",
            (
                (
                    "C",
                    (
                        "We're at {coverage}x coverage for the quarter. Commit is {commit}, best case {best_case}.",
                        "Pipeline's at {coverage}x. I'm calling {commit} commit.",
                    ),
                ),
                (
                    "R",
                    (
                        "What's in commit that worries you?",
                        "Okay. Which deals moved since last week?",
                    ),
                ),
                (
                    "P",
                    (
                        "{company} slipped a week, everything else is on track.",
                        "Two deals moved to best case, {company} being the big one.",
                    ),
                ),
            ),
        ),
        (
            "deal_review",
            (
                ("R", ("Where are we with {company}?", "Give me the latest on {company}.")),
                (
                    "C",
                    (
                        "Champion is {p_full}, {p_title}. They have {budget} budget for {seats} seats and "
                        "want to decide {decision}.",
                        "Strong champion in {p_full}. {seats} seats, about {total} a year, decision {decision}.",
                    ),
                ),
                (
                    "R+",
                    (
                        "Who's the economic buyer, and have we met them?",
                        "Is security engaged yet? They'll want {sec}.",
                    ),
                ),
                (
                    "C+",
                    (
                        "Their {buyer_title}. Not yet, {p} is setting it up for {day}.",
                        "Security has it, they asked for {sec} and we sent it.",
                    ),
                ),
            ),
        ),
        (
            "competitor",
            (
                (
                    "C",
                    (
                        "{comp} is in there, they're pushing a {comp_gap}% discount.",
                        "Heads up, {comp} offered them a free pilot.",
                    ),
                ),
                (
                    "R",
                    (
                        "Let's not race to the bottom. Anchor on {pain_short} and the {crm} sync.",
                        "Get our solutions team to do a side-by-side with {comp} on their own calls.",
                    ),
                ),
            ),
        ),
        (
            "coaching",
            (
                (
                    "R",
                    (
                        "I listened to your call with {company}. Great job on discovery; next time confirm "
                        "the decision process before you show pricing.",
                        "On the {company} call you talked {talk_pct}% of the time. Let's aim for under 50.",
                    ),
                ),
                (
                    "C",
                    (
                        "Fair. I rushed the pricing part because we were out of time.",
                        "Yeah, I noticed that too when I watched the recording.",
                    ),
                ),
            ),
        ),
        (
            "forecast",
            (
                ("P", ("What are we calling for the quarter?", "Where do you land on the forecast?")),
                (
                    "R",
                    (
                        "I'm calling {commit} with upside to {best_case} if {company} closes.",
                        "Commit stays at {commit}. I'm not moving {company} until the paperwork is out.",
                    ),
                ),
            ),
        ),
    ),
}

# Generic question-and-answer exchanges used to reach a call's target length.
_QA_EXTERNAL: Final[tuple[Block, ...]] = (
    (
        "qa",
        (
            ("Q", ("Can reps delete a recording if a call goes sideways?",)),
            ("C", ("Owners can mark a call private or archive it; deletion follows your retention policy.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("How do you charge for people who only listen to calls?",)),
            ("R", ("Listener seats are free. You only pay for people who record.",)),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("Can it join calls automatically, or does the rep have to invite it?",)),
            ("C", ("It joins every calendar meeting with an external guest by default; reps can opt out per call.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("What do your customers in {industry} use most?",)),
            ("R", ("The summaries and the deal boards, then scorecards once managers trust the data.",)),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("Can we search across all calls for something like a pricing objection?",)),
            ("C", ("Yes, full-text search over every transcript, filtered by team, rep, label or date.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Do you have references we could talk to?",)),
            ("R", ("Yes, I can connect you with two {industry} customers of about your size.",)),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("Can we control who sees which calls?",)),
            (
                "C",
                (
                    "Yes, visibility follows your team structure, and private calls are visible only to the "
                    "owner, the participants and admins.",
                ),
            ),
        ),
    ),
    (
        "qa",
        (
            ("P", ("How long do you keep recordings?",)),
            ("R", ("Default retention is {retention} months, configurable per workspace.",)),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("Where is the data hosted?",)),
            ("C", ("We have US and EU regions; for {company} we'd use {data_region}.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("What does onboarding look like?",)),
            (
                "R",
                (
                    "A {onboard_weeks}-week rollout: admin setup in week one, manager training, then the reps.",
                    "Usually {onboard_weeks} weeks. You get a named onboarding manager.",
                ),
            ),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("What's your uptime commitment?",)),
            ("C", ("{sla}% monthly uptime in the SLA, with service credits below that.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Is there an API if we want to pull data into our warehouse?",)),
            ("C", ("Yes, a REST API and an MCP server, so your own tools and assistants can query calls.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Can it flag when a competitor comes up?",)),
            ("C", ("Yes, competitor mentions are a built-in label, and you can alert on them per deal.",)),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("How do scorecards work?",)),
            (
                "C",
                (
                    "You define items with a 1 to 5 scale and criteria for each level, and the AI scores calls "
                    "that match the scorecard's filters. Managers can override.",
                ),
            ),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Do the summaries work in other languages?",)),
            ("C", ("Yes, {n_langs} languages today, and the summary can be written in a different language.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("What happens with calls where a customer asks not to be recorded?",)),
            ("R", ("The rep stops the bot with one click, and the partial recording is deleted.",)),
        ),
    ),
    (
        "qa",
        (
            ("Q", ("Does it work for phone calls from our dialer?",)),
            ("C", ("Yes, we ingest dialer recordings and run the same transcription and analysis.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("How do you measure ROI for customers like us?",)),
            (
                "R",
                (
                    "Mostly ramp time and win rate. A {industry} customer of ours cut ramp by {ramp_cut} weeks "
                    "in the first two quarters.",
                ),
            ),
        ),
    ),
)
_QA_INTERNAL: Final[tuple[Block, ...]] = (
    (
        "qa",
        (
            ("P", ("Are we still seeing {comp} in most deals?",)),
            ("R", ("In about a third of them. The battlecard is in the enablement folder.",)),
        ),
    ),
    (
        "qa",
        (
            ("R", ("How's the new hire ramp going?",)),
            ("C", ("Two of them have booked their first meetings. The other one needs more call shadowing.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Can we get legal to turn redlines faster? We lost a week on the last one.",)),
            ("R", ("I'll raise it with the deal desk. Flag anything over five days to me directly.",)),
        ),
    ),
    (
        "qa",
        (
            ("R", ("Who needs help from a solutions engineer this week?",)),
            ("C", ("I do, for a security questionnaire. About {q_count} questions, mostly about {sec}.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Are discounts above {discount}% still going to the deal desk?",)),
            ("R", ("Yes, anything above that needs approval, and multi-year terms come first.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Do we have a mutual action plan with {company}?",)),
            ("C", ("Drafted, not shared yet. I'll send it {day}.",)),
        ),
    ),
    (
        "qa",
        (
            ("R", ("Any deals without a next step on the calendar?",)),
            ("C", ("Three. I'll chase them today.",)),
        ),
    ),
    (
        "qa",
        (
            ("P", ("Are we multi-threaded on {company}?",)),
            ("C", ("We have {p} and their {buyer_title}. We need someone in IT.",)),
        ),
    ),
    (
        "qa",
        (
            ("R", ("What's the average deal size this quarter?",)),
            ("P", ("About {avg_deal}, up a bit from last quarter.",)),
        ),
    ),
)

_NEXT_STEPS: Final[tuple[Line, ...]] = (
    (
        "R",
        (
            "So next steps: I'll send {deliverable} by {day}, and we'll meet again {day2} at {time}.",
            "Let me recap. I'm sending {deliverable}, and we have a follow-up on {day2} at {time}.",
            "To wrap up: {deliverable} from us by {day}, and a follow-up {day2} at {time} with {q} as well.",
        ),
    ),
    (
        "P",
        (
            "Works. I'll loop in our {buyer_title} for the next one.",
            "Sounds good. I'll get {q} to join too.",
            "Okay. I'll also start the security questionnaire on our side.",
            "Fine. I'll share this internally and come back to you.",
        ),
    ),
    (
        "R",
        (
            "And since you want to decide {decision}, I'll build a mutual plan around that date.",
            "I'll also put your decision date, {decision}, in the plan so we stay honest.",
            "Great, and I'll keep the timeline in mind: decision {decision}, go-live {golive}.",
        ),
    ),
)
_INTERNAL_NEXT_STEPS: Final[tuple[Line, ...]] = (
    (
        "R",
        (
            "Action items: {c} updates {crm} for {company} by {day}, and we review again {day2}.",
            "Okay: update the forecast in {crm} by {day}, and bring the {company} plan next week.",
        ),
    ),
    ("C", ("Will do.", "Got it, on it today.")),
)
_CLOSING: Final[dict[Sentiment, tuple[Line, ...]]] = {
    "positive": (
        (
            "P",
            (
                "This was really helpful, thanks {r}. I'm optimistic.",
                "Great session. I think this is exactly what we need.",
                "Thanks, this looks great. Let's keep the momentum.",
            ),
        ),
        ("R", ("Thanks everyone, talk on {day2}.", "Appreciate it, have a great rest of your day.")),
    ),
    "neutral": (
        (
            "P",
            (
                "Thanks. Let me digest this with the team.",
                "Okay, thanks. A lot to think about.",
                "Thanks {r}, we'll come back to you.",
            ),
        ),
        ("R", ("Sounds good, thanks for your time.", "Thanks all, speak soon.")),
    ),
    "negative": (
        (
            "P",
            (
                "To be honest, I'm not sure the timing is right for us. But send the info over.",
                "I'll be upfront: price is a real problem. We'll see.",
                "I have some doubts, especially on adoption. Let's talk after we regroup.",
            ),
        ),
        ("R", ("Understood, I appreciate the honesty. I'll follow up.", "Fair enough. Thanks for your time.")),
    ),
}
_INTERNAL_CLOSING: Final[tuple[Line, ...]] = (("R", ("Thanks all.", "Okay, that's time. Thanks everyone.")),)

_LEAD_INS: Final[tuple[str, ...]] = (
    "Yeah. ", "Okay. ", "Sure. ", "Right. ", "Got it. ", "Mm-hm. ", "Fair enough. ", "Understood. ", "Okay, yeah. ",
    "Yes. ", "Look, ", "I mean, ",
)  # fmt: skip
# Only after a question.
_ANSWER_LEAD_INS: Final[tuple[str, ...]] = ("Good question. ", "Great question. ", "So, ", "Honestly? ", "Yeah, so ")
_REP_TAILS: Final[tuple[str, ...]] = (
    " Does that make sense?", " Happy to go deeper on that.", " I can send that over in writing.",
    " Let me know if I'm missing something.", " That's the short version anyway.", " Stop me if that's off.",
)  # fmt: skip
_PROSPECT_TAILS: Final[tuple[str, ...]] = (
    " If that makes sense.", " At least that's my view.", " {q} might see it differently.",
    " That's the main thing for us.", " Anyway.", " We'd need to check internally.",
)  # fmt: skip
_BACKCHANNELS: Final[tuple[str, ...]] = (
    "Mm-hm.", "Right.", "Okay.", "Got it.", "Makes sense.", "Yeah.", "Sure, sure.", "Interesting.", "Okay, noted.",
)  # fmt: skip
_DELIVERABLES: Final[tuple[str, ...]] = (
    "a recap with the pricing", "the security documentation", "a revised order form", "a short demo recording",
    "the mutual action plan", "two customer references in {industry}", "the ROI model for {seats} seats",
)  # fmt: skip


# Used when a call still needs lines after the Q&A bank: fresh slots (prefixed x_) on every use.
_EXTRA_EXTERNAL: Final[Block] = (
    "qa",
    (
        (
            "P",
            (
                "Can you show me how {x_area} works for a manager?",
                "Quick question on {x_area}: is that in the standard tier?",
                "How would our {x_team} team use {x_area}?",
            ),
        ),
        (
            "C",
            (
                "Sure. {x_area_cap} is in every plan; admins switch it on per team.",
                "{x_area_cap} works off the same transcripts, so there's nothing extra to set up.",
                "Most {industry} customers turn on {x_area} in the first month. It's a quick win.",
            ),
        ),
    ),
)
_EXTRA_INTERNAL: Final[Block] = (
    "deal_review",
    (
        ("R", ("What about {x_company}?", "And {x_company}, where is that one?", "Quick one on {x_company}?")),
        (
            "C",
            (
                "{x_company} is at {x_stage}, {x_amount}. Next step is a call on {x_day}.",
                "{x_company}: {x_amount}, waiting on legal. I'd keep it in best case.",
                "{x_company} went quiet. Last touch was {x_weeks} weeks ago, so I'm not confident.",
                "{x_company} is moving: {x_seats} seats, {x_amount}, and the champion just got budget approved.",
            ),
        ),
        (
            "R",
            (
                "Okay, keep me posted.",
                "What's the risk there?",
                "Let's get a manager on the next call.",
                "Fine. Update the close date in {crm}.",
            ),
        ),
    ),
)


def _without_stutters(lines: list[tuple[str, str, str, bool]]) -> list[tuple[str, str, str, bool]]:
    """Drop a back-channel ("Mm-hm.") said right before the same person speaks again."""
    return [line for i, line in enumerate(lines) if not (line[3] and i + 1 < len(lines) and lines[i + 1][0] == line[0])]


def _extra_slots(rng: random.Random) -> dict[str, str]:
    area = rng.choice(PRODUCT_AREAS)
    return {
        "x_area": area,
        "x_area_cap": area[0].upper() + area[1:],
        "x_team": rng.choice(("SDR", "enterprise", "mid-market", "customer success", "renewals", "partner")),
        "x_company": company(rng).name,
        "x_stage": rng.choice(("discovery", "demo", "proposal", "negotiation")),
        "x_amount": money(rng.randrange(12, 400) * 1000),
        "x_day": rng.choice(WEEKDAYS),
        "x_weeks": str(rng.randint(2, 6)),
        "x_seats": str(rng.randrange(10, 400, 5)),
    }


# Blocks that state the call's facts (budget, seats, decision date, competitor) are never dropped.
_REQUIRED_TOPICS: Final[dict[CallKind, frozenset[str]]] = {
    "discovery": frozenset({"current_process", "budget", "timeline", "competitor"}),
    "demo": frozenset({"pricing", "competitor"}),
    "negotiation": frozenset({"pricing", "discount", "competitor"}),
    "renewal": frozenset({"usage", "expansion", "competitor"}),
    "internal": frozenset({"deal_review", "competitor"}),
}


_INTERJECTIONS: Final[frozenset[str]] = frozenset(
    {"yeah", "yes", "yep", "okay", "sure", "right", "honestly", "good", "got", "so", "no", "hi", "hey", "great"}
)


def _may_lead_in(text: str, lead_in: str) -> bool:
    """A lead-in ("Okay. ") reads well before a statement that does not already start with one.

    Lead-ins that run into the sentence ("So, we ...") also need a first word that may be lower-cased.
    """
    if text.endswith("?"):
        return False
    first = text.split(" ", 1)[0].strip(".,!?:")
    if first.lower() in _INTERJECTIONS:
        return False
    if lead_in.endswith((". ", "? ")):
        return True
    return first.lower() in _LOWERABLE


_LOWERABLE: Final[frozenset[str]] = frozenset(
    {"we", "we're", "we'd", "we've", "it", "it's", "that", "that's", "there's", "the", "our", "they", "they're",
     "this", "most", "mostly", "every", "yes", "a"}
)  # fmt: skip


@lru_cache(maxsize=4096)
def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def call_slots(
    rng: random.Random,
    *,
    kind: CallKind,
    org_name: str,
    comp: Company,
    rep: Person,
    colleagues: Sequence[Person],
    prospects: Sequence[Person],
    facts: CallFacts,
    team_name: str,
) -> dict[str, str]:
    """The values templates may use for one call; optional ones (colleague, competitor, ...) may be absent."""
    commit = rng.randrange(200, 3000) * 1000
    slots: dict[str, str] = {
        "org": org_name,
        "product": f"{org_name} Revenue Cloud",
        "company": comp.name,
        "industry": comp.industry,
        "region": comp.region,
        "team": team_name,
        "r": rep.first_name,
        "r_full": rep.name,
        "area": facts.area,
        "area2": facts.area2,
        "crm": facts.crm,
        "conf": facts.conferencing,
        "idp": facts.idp,
        "sec": facts.security,
        "sec_answer": facts.security_answer,
        "pain_short": facts.pain_short,
        "budget": money(facts.budget),
        "seats": str(facts.seats),
        "pps": money(facts.price_per_seat),
        "total": money(facts.annual_total),
        "discount": str(facts.discount_pct),
        "years": str(facts.contract_years),
        "decision": facts.decision,
        "golive": facts.go_live,
        "current_tool": facts.current_tool,
        "day": facts.followup_day,
        "day2": rng.choice(WEEKDAYS),
        "time": facts.followup_time,
        "usage": str(facts.usage_pct),
        "add_seats": str(facts.add_seats),
        "increase": str(facts.increase_pct),
        "fy_month": rng.choice(MONTHS),
        "buyer_title": rng.choice(("CFO", "CRO", "COO", "VP of Sales", "CEO")),
        "sign_limit": rng.choice(("$25k", "$50k", "$75k", "$100k")),
        "proc_weeks": str(rng.randint(2, 8)),
        "mins": str(rng.choice((25, 30, 40, 45))),
        "hires": str(rng.randint(3, 40)),
        "n_regions": str(rng.randint(2, 6)),
        "ramp": str(rng.randint(4, 9)),
        "ramp_target": f"{rng.randint(2, 3)} months",
        "ramp_cut": str(rng.randint(3, 8)),
        "admin_hours": str(rng.randint(3, 9)),
        "win_rate": str(rng.randint(14, 32)),
        "miss_pct": str(rng.randint(4, 22)),
        "n_calls": str(rng.choice((10, 15, 20, 30, 50))),
        "accuracy": str(rng.choice((92, 93, 94, 95, 96))),
        "n_langs": str(rng.choice((28, 32, 40))),
        "adoption": str(rng.randint(70, 92)),
        "reviewed": f"{rng.randint(40, 2400):,}",
        "uplift": str(rng.choice((3, 4, 5))),
        "ramp_seats": str(max(5, facts.seats // 2)),
        "retention": str(rng.choice((12, 18, 24, 36))),
        "data_region": "the EU region in Frankfurt" if comp.region == "EMEA" else "the US region in Virginia",
        "onboard_weeks": str(rng.randint(2, 6)),
        "sla": rng.choice(("99.9", "99.95")),
        "coverage": f"{rng.uniform(1.8, 4.2):.1f}",
        "commit": money(commit),
        "best_case": money(commit + rng.randrange(50, 900) * 1000),
        "comp_gap": str(rng.randint(10, 35)),
        "talk_pct": str(rng.randint(55, 78)),
        "avg_deal": money(rng.randrange(18, 140) * 1000),
        "q_count": str(rng.randrange(60, 320, 10)),
    }
    slots["pain"] = facts.pain.format_map(slots)
    slots["deliverable"] = rng.choice(_DELIVERABLES).format_map(slots)
    if colleagues:
        slots["c"] = colleagues[0].first_name
        slots["c_full"] = colleagues[0].name
    if prospects:
        slots["p"] = prospects[0].first_name
        slots["p_full"] = prospects[0].name
        slots["p_title"] = prospects[0].title or "champion"
    if len(prospects) > 1:
        slots["q"] = prospects[1].first_name
    if facts.competitor:
        slots["comp"] = facts.competitor
        slots["diff"] = rng.choice(DIFFERENTIATORS).format_map(slots)
    return slots


def _competitor_block(kind: CallKind) -> Block:
    if kind in ("renewal", "internal"):
        return next(b for b in _BODY[kind] if b[0] == "competitor")
    return (
        "competitor",
        (
            ("R", ("Are you looking at other options?", "Is anyone else in the mix?")),
            (
                "P",
                (
                    "We've had a couple of calls with {comp}. They were pretty aggressive on price.",
                    "Yes, {comp} is in the running. Some of the team used it at a previous company.",
                    "We're currently on {current_tool}, and we're also talking to {comp}.",
                ),
            ),
            (
                "R",
                (
                    "That's fair, we see {comp} a lot. What customers tell us makes the difference is {diff}.",
                    "Makes sense. Compared with {comp}, the thing to test is {diff}.",
                ),
            ),
            ("P", ("Okay. I'd want to see that side by side.", "Noted. Send me something on that.")),
        ),
    )


def transcript(
    rng: random.Random,
    *,
    kind: CallKind,
    slots: dict[str, str],
    facts: CallFacts,
    rep: Person,
    colleagues: Sequence[Person],
    prospects: Sequence[Person],
    target_segments: int | None = None,
) -> Transcript:
    """A multi-speaker transcript of 20-80 segments for one call.

    For internal calls `prospects` is empty and `colleagues` holds the other internal speakers.
    """
    # Up to 76: required blocks and a last Q&A exchange may add a few lines; the result stays <= 80.
    # Internal meetings run shorter.
    longest = 50 if kind == "internal" else 76
    target = target_segments if target_segments is not None else rng.randint(20, longest)
    required = _REQUIRED_TOPICS[kind]
    internal = kind == "internal"
    # O: the colleague's own lines (greetings), dropped when nobody joined the owner.
    speakers: dict[str, list[Person]] = {"R": [rep], "C": list(colleagues[:1]) or [rep], "O": list(colleagues[:1])}
    if internal:
        speakers["P"] = list(colleagues[1:]) or speakers["C"]
        speakers["Q"] = speakers["P"]
    else:
        speakers["P"] = list(prospects[:1])
        speakers["Q"] = list(prospects[1:]) or speakers["P"]
    customer_side = {"P", "Q"} if not internal else set()

    # The blocks keep their natural order (the first one always opens the conversation), with a
    # few neighbours swapped so calls of one kind do not all follow the same script.
    body = [b for b in _BODY[kind] if b[0] != "competitor"]
    for i in range(1, len(body) - 1):
        if rng.random() < 0.3:
            body[i], body[i + 1] = body[i + 1], body[i]
    if facts.competitor:
        body.insert(rng.randint(1, len(body)), _competitor_block(kind))
    qa = list(_QA_INTERNAL if internal else _QA_EXTERNAL)
    rng.shuffle(qa)

    head: list[Block] = [("opening", () if internal else _OPENING), ("agenda", _AGENDA[kind])]
    tail: list[Block] = [
        ("next_steps", _INTERNAL_NEXT_STEPS if internal else _NEXT_STEPS),
        ("closing", _INTERNAL_CLOSING if internal else _CLOSING[facts.sentiment]),
    ]

    last_text = [""]

    def render(block: Block, extra: dict[str, str] | None = None) -> list[tuple[str, str, str, bool]]:
        """(speaker, text, topic, is_backchannel) for each line of `block` the call can fill."""
        topic, lines = block
        values = slots | extra if extra else slots
        out: list[tuple[str, str, str, bool]] = []
        # Lines marked "+" are question/answer pairs: they take the same alternative index.
        variant = rng.randrange(64)
        for marked_role, alternatives in lines:
            role = marked_role.rstrip("+")
            usable = [t for t in alternatives if _fields(t) <= values.keys()]
            if not usable:
                return []  # half an exchange (an answer without its question) is worse than none
            if not speakers[role]:
                continue
            speaker = rng.choice(speakers[role])
            paired = alternatives[variant % len(alternatives)]
            template = paired if marked_role.endswith("+") and paired in usable else rng.choice(usable)
            text = template.format_map(values)
            roll = rng.random()
            framed = topic in ("opening", "closing")
            if roll < 0.22:
                bank = _ANSWER_LEAD_INS if last_text[0].endswith("?") and rng.random() < 0.5 else _LEAD_INS
                lead_in = rng.choice(bank)
                if not framed and _may_lead_in(text, lead_in):
                    text = lead_in + (text if lead_in.endswith((". ", "? ")) else text[0].lower() + text[1:])
            elif roll < 0.34:
                tails = _PROSPECT_TAILS if role in customer_side else _REP_TAILS
                tail_text = rng.choice(tails)
                if not framed and _fields(tail_text) <= values.keys() and not text.endswith("?"):
                    text += tail_text.format_map(values)
            out.append((speaker.name, text, topic, False))
            last_text[0] = text
            if rng.random() < 0.12:
                others = [p for p in (*speakers["R"], *speakers["P"]) if p.name != speaker.name]
                if others:
                    out.append((rng.choice(others).name, rng.choice(_BACKCHANNELS), topic, True))
        return out

    rendered_head = [line for b in head for line in render(b)]
    rendered_tail = [line for b in tail for line in render(b)]
    budget = max(0, target - len(rendered_head) - len(rendered_tail))
    middle: list[tuple[str, str, str, bool]] = []
    for block in body:
        lines = render(block)
        # Blocks that carry the call's facts stay even past the target; optional ones are dropped.
        if len(middle) + len(lines) > budget and block[0] not in required:
            continue
        middle.extend(lines)
    for block in qa:
        if len(middle) >= budget:
            break
        middle.extend(render(block))
    extra_block = _EXTRA_INTERNAL if internal else _EXTRA_EXTERNAL
    lines_all = _without_stutters(rendered_head + middle + rendered_tail)
    while len(lines_all) < target:
        middle.extend(render(extra_block, _extra_slots(rng)))
        lines_all = _without_stutters(rendered_head + middle + rendered_tail)
    segments: list[Segment] = []
    clock = round(rng.uniform(1.0, 15.0), 1)
    for speaker_name, text, topic, _ in lines_all:
        words = text.count(" ") + 1
        length = max(0.8, words / rng.uniform(2.2, 3.0))
        start = clock
        end = round(start + length, 1)
        segments.append(Segment(speaker=speaker_name, start_s=start, end_s=end, text=text, topic=topic))
        clock = round(end + rng.uniform(0.2, 1.8), 1)
    duration = int(segments[-1].end_s + rng.uniform(3, 45)) + 1 if segments else 0
    topics: list[str] = []
    for seg in segments:
        name = TOPIC_NAMES.get(seg.topic)
        if name and name not in topics:
            topics.append(name)
    return Transcript(segments=segments, topics=topics, duration_s=duration)


# ---------------------------------------------------------------------------------------------
# Insights


def insight(
    rng: random.Random, *, kind: CallKind, slots: dict[str, str], facts: CallFacts, topics: list[str]
) -> InsightText:
    """Summary, action items, next steps and topics consistent with the call's transcript."""
    s = slots
    comp_sentence = (
        f"{facts.competitor} is also being evaluated." if facts.competitor else "No competing vendor came up."
    )
    who = s.get("p_full", "the customer")
    if kind == "discovery":
        summary = (
            f"Discovery call with {s['company']} ({s['industry']}): {who} described {facts.pain_short}. "
            f"They have about {s['budget']} budgeted for {s['seats']} seats and plan to decide {s['decision']}. "
            f"{comp_sentence}"
        )
    elif kind == "demo":
        summary = (
            f"{s['r_full']} demoed {facts.area} and {facts.area2} to {s['company']}. "
            f"Questions focused on the {facts.crm} integration and {facts.security}. {comp_sentence}"
        )
    elif kind == "negotiation":
        summary = (
            f"{s['company']} reviewed the proposal for {s['seats']} seats at {s['pps']} per seat per month "
            f"({s['total']} a year) against a budget of {s['budget']}. A {s['discount']}% discount was offered "
            f"for signature {s['decision']}. {comp_sentence}"
        )
    elif kind == "renewal":
        summary = (
            f"Renewal review with {s['company']}: {s['usage']}% weekly active across {s['seats']} seats. "
            f"They may add {s['add_seats']} seats and pushed back on the {s['increase']}% price increase. "
            f"{comp_sentence}"
        )
    else:
        summary = (
            f"Internal {s['team']} meeting: pipeline and forecast review, with {s['company']} "
            f"({s['seats']} seats, {s['budget']} budget, decision {s['decision']}) discussed in detail. "
            f"{comp_sentence}"
        )
    c_first = s.get("c", s["r"])
    p_first = s.get("p", "Customer")
    pool = [
        f"{s['r']}: send {s['deliverable']} by {s['day']}",
        f"{c_first}: share {facts.security} with the security team",
        f"{s['r']}: update the {facts.crm} opportunity with the decision date ({s['decision']})",
        f"{s['r']}: prepare pricing for {s['seats']} seats",
    ]
    if kind != "internal":
        pool.append(f"{p_first}: confirm the approval process with the {s['buyer_title']}")
    if facts.competitor:
        pool.append(f"{c_first}: prepare a side-by-side comparison with {facts.competitor}")
    action_items = rng.sample(pool, k=min(len(pool), rng.randint(2, 4)))
    next_steps = [f"Follow-up on {s['day2']} at {s['time']}", f"Decision expected {s['decision']}"]
    if kind in ("discovery", "demo", "negotiation"):
        next_steps.append(f"Target go-live {s['golive']}")
    return InsightText(
        summary=summary, action_items=action_items, next_steps=next_steps[: rng.randint(1, 3)], topics=topics
    )
