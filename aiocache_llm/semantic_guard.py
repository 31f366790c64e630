"""The precision guard: a second check on a semantic hit, after the cosine threshold.

Sentence embeddings score a question and its near-miss as alike as two paraphrases ("convert
100 F to C" / "convert 100 C to F"), so a threshold alone serves wrong answers. The guard
compares what the two questions ask and rejects a candidate when they differ in:

* **numbers** — the multiset of numbers (digits or number words; "one pound" reads as "a pound");
* **units** — which units are the quantity given and which are asked for, so a swapped
  conversion is caught while "5 miles in km" still matches "how many km are in 5 miles";
* **negation** — one question negated and the other not ("not", "n't", "never", "without", ...);
* **contrast words** — one asks with a word whose opposite the other uses (start/end,
  increase/decrease, first/last, buy/sell, max/min, pros/cons, ...);
* **direction** — the same words in another order around "to", "from", "than", ...
  ("convert a string to an int" / "... an int to a string");
* **question kind** — "who" against "where", "when" or "why";
* **a swapped term** — the questions are word for word the same except for a short run of
  content words in the same place on each side ("can dogs eat chocolate" / "can cats ...",
  "capital of France" / "... of Germany"): that run is what is being asked about.

The rules are lexical and general (no list of entities) and written for English; in other
languages they find fewer features and reject less. They cost some recall on paraphrases that
swap one word for a synonym. ``benchmarks/bench_semantic.py`` measures both effects.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

__all__ = ["GuardVerdict", "PrecisionGuard", "QuestionFeatures", "features"]

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:/[a-z]+)?|n't|%|\$|€|£")

_NUMBER_WORDS = {
    word: i
    for i, word in enumerate(
        (  # noqa: SIM905
            "zero one two three four five six seven eight nine ten eleven twelve thirteen"
            " fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        ).split()
    )
}
_NUMBER_WORDS.update(
    {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "dozen": 12}
)

#: surface form -> canonical unit
_UNITS: dict[str, str] = {}
for _canon, _forms in {
    "celsius": "c celsius centigrade °c",
    "fahrenheit": "f fahrenheit °f",
    "kelvin": "k kelvin kelvins",
    "km": "km kms kilometer kilometers kilometre kilometres",
    "mile": "mi mile miles",
    "m": "m meter meters metre metres",
    "cm": "cm centimeter centimeters centimetre centimetres",
    "mm": "mm millimeter millimeters millimetre millimetres",
    "inch": "in. inch inches",
    "foot": "ft foot feet",
    "yard": "yd yard yards",
    "kg": "kg kgs kilo kilos kilogram kilograms kilogramme kilogrammes",
    "g": "g gram grams gramme grammes",
    "lb": "lb lbs pound pounds",
    "oz": "oz ounce ounces",
    "stone": "st stone stones",
    "ton": "ton tons tonne tonnes",
    "l": "l liter liters litre litres",
    "ml": "ml milliliter milliliters millilitre millilitres",
    "gallon": "gal gallon gallons",
    "quart": "qt quart quarts",
    "pint": "pt pint pints",
    "cup": "cup cups",
    "tbsp": "tbsp tablespoon tablespoons",
    "tsp": "tsp teaspoon teaspoons",
    "kmh": "km/h kmh kph",
    "mph": "mph",
    "usd": "usd dollar dollars $",
    "eur": "eur euro euros €",
    "gbp": "gbp sterling £",
    "jpy": "jpy yen",
    "cny": "cny yuan rmb",
    "inr": "inr rupee rupees",
    "chf": "chf franc francs",
    "btc": "btc bitcoin bitcoins",
    "percent": "% percent percentage",
    "second": "s sec secs second seconds",
    "minute": "min mins minute minutes",
    "hour": "h hr hrs hour hours",
    "day": "day days",
    "week": "week weeks",
    "month": "month months",
    "year": "year years",
    "byte": "byte bytes",
    "kb": "kb kib kilobyte kilobytes",
    "mb": "mb mib megabyte megabytes",
    "gb": "gb gib gigabyte gigabytes",
    "tb": "tb tib terabyte terabytes",
    "watt": "w watt watts",
    "kw": "kw kilowatt kilowatts",
    "hp": "hp horsepower",
    "calorie": "cal kcal calorie calories",
    "joule": "j joule joules",
    "acre": "acre acres",
    "hectare": "ha hectare hectares",
}.items():
    for _form in _forms.split():
        _UNITS[_form] = _canon
#: Short unit symbols that are ordinary words or letters elsewhere: units only next to a number.
_AMBIGUOUS_UNITS = frozenset(
    {"c", "f", "k", "m", "g", "l", "s", "h", "w", "j", "st", "in.", "pt", "cup", "cups"}
)
#: Time words are units only right after a number ("3 days", not "what year", "per day").
_TIME_UNITS = frozenset({"second", "minute", "hour", "day", "week", "month", "year"})
#: Words after which a unit is the quantity given ("in a pound", "per tablespoon").
_SOURCE_MARKERS = frozenset({"a", "an", "per", "each", "every", "one"})

_NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "n't",
        "without",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "isnt",
        "arent",
        "wont",
        "shouldnt",
        "didnt",
    }
)
#: Contractions whose negation the tokenizer splits off: "doesn't" -> "doesn" "n't" / "t".
_NEGATED_STEMS = frozenset(
    {
        "don",
        "doesn",
        "didn",
        "isn",
        "aren",
        "wasn",
        "weren",
        "won",
        "can",
        "couldn",
        "shouldn",
        "wouldn",
        "haven",
        "hasn",
        "hadn",
        "mustn",
    }
)

#: Groups of words with the same sense; each pair of groups below is a contrast.
_CONTRASTS: list[tuple[str, str]] = [
    (
        "start starts started starting begin begins began begun beginning commence outbreak",
        "end ends ended ending finish finishes finished finishing conclude concluded",
    ),
    ("open opens opened opening", "close closes closed closing"),
    ("sunrise dawn", "sunset dusk"),
    ("max maximum maximal highest high higher", "min minimum minimal lowest low lower"),
    (
        "advantage advantages benefit benefits pro pros",
        "disadvantage disadvantages drawback drawbacks downside downsides con cons",
    ),
    (
        "increase increases increased increasing raise enlarge grow bigger larger",
        "decrease decreases decreased decreasing reduce lower shrink smaller",
    ),
    ("win wins won winning winner winners victory", "lose loses lost losing loser losers defeat"),
    ("first earliest", "last latest final"),
    ("buy buys bought buying purchase", "sell sells sold selling"),
    ("import imports imported importing", "export exports exported exporting"),
    ("read reads reading reader", "write writes wrote writing writer"),
    ("hot hotter hottest warm warmest heat", "cold colder coldest cool coolest"),
    ("good better best healthy", "bad worse worst unhealthy harmful"),
    ("soft", "hard"),
    ("ascending asc increasing", "descending desc decreasing"),
    ("freeze freezes freezing frozen", "boil boils boiling melt melts melting"),
    ("north northern", "south southern"),
    ("east eastern", "west western"),
    ("up upward upwards", "down downward downwards"),
    ("before prior", "after"),
    ("early earlier", "late later"),
    ("more most", "less least fewer fewest"),
    ("largest biggest", "smallest tiniest"),
    ("tallest", "shortest"),
    ("longest", "shortest"),
    ("fastest quickest", "slowest"),
    ("upload uploads uploading", "download downloads downloading"),
    ("encrypt encryption encrypting", "decrypt decryption decrypting"),
    ("encode encoding", "decode decoding"),
    ("compress compression", "decompress decompression extract"),
    ("add adds adding", "remove removes removing delete deletes deleting"),
    ("enable enables enabling", "disable disables disabling"),
    ("install installs installing", "uninstall uninstalls uninstalling"),
    ("push pushes pushing", "pull pulls pulling"),
    ("input inputs", "output outputs"),
    ("send sends sending sent", "receive receives receiving received"),
    ("lend lends lending", "borrow borrows borrowing"),
    ("arrive arrives arrival arrivals", "depart departs departure departures leave"),
    ("positive", "negative"),
    ("true", "false"),
    ("legal", "illegal"),
    ("safe safer safest", "dangerous unsafe"),
    ("cheap cheaper cheapest", "expensive pricey"),
    ("rich richest wealthy", "poor poorest"),
    ("young younger youngest", "old older oldest"),
    ("male men man boys boy", "female women woman girls girl"),
    ("above over", "below under"),
    ("inside indoor indoors", "outside outdoor outdoors"),
    ("accept accepts accepted", "reject rejects rejected"),
    ("deposit deposits", "withdraw withdraws withdrawal"),
    ("pass passes passed", "fail fails failed failing"),
    ("morning", "evening night"),
    ("summer", "winter"),
    ("left", "right"),
    ("odd", "even"),
    ("plus add addition", "minus subtract subtraction"),
    ("multiply multiplication", "divide division"),
    ("uppercase upper", "lowercase lower"),
    ("serialize serialise serialization", "deserialize deserialise deserialization"),
    ("zip", "unzip"),
    ("lock locks", "unlock unlocks"),
    ("connect connects", "disconnect disconnects"),
    ("subscribe", "unsubscribe"),
    ("show shows", "hide hides"),
    ("login log", "logout"),
    ("enter entry", "exit"),
    ("love loves", "hate hates"),
    ("include includes including", "exclude excludes excluding"),
    ("gain gains gaining", "lose loses losing"),
    ("strengthen", "weaken"),
    ("wet", "dry"),
    ("full", "empty"),
    ("heavy heaviest", "lightest"),
    ("thick", "thin"),
    ("wide", "narrow"),
    ("strong strongest", "weak weakest"),
]
_CONTRAST_OF: dict[str, set[int]] = {}
for _i, (_a, _b) in enumerate(_CONTRASTS):
    for _w in _a.split():
        _CONTRAST_OF.setdefault(_w, set()).add(2 * _i)
    for _w in _b.split():
        _CONTRAST_OF.setdefault(_w, set()).add(2 * _i + 1)
#: Prepositions that make word order meaningful ("string to integer", "London to New York").
_DIRECTION_WORDS = frozenset({"to", "from", "into", "than", "over", "before", "after", "vs"})
#: Question words that ask for different kinds of answer; "what", "which", "how" are neutral.
_WH_KINDS = {
    "who": "person",
    "whom": "person",
    "whose": "person",
    "where": "place",
    "when": "time",
    "why": "reason",
}

_STOPWORDS = (
    frozenset(
        """a an the is are was were be been being am do does did doing done have has had having
    i me my we our you your he she it its they them their this that these those there here
    what which who whom whose when where why how whats hows wheres whos s t d ll re ve m
    of in on at by for with about as into onto through during than then so such
    and or but if because while can could would should will shall may might must
    to from
    please tell explain give show me know want need like just also really very much many
    way ways thing things kind sort type some any all each every other another
    simple simply quick quickly easy easily best good proper correct right exactly
    number amount value get got make makes use using used find out up
    vs versus etc e g ie eg""".split()  # noqa: SIM905
    )
    - _NEGATIONS
)


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _number(token: str) -> float | None:
    if token[0].isdigit():
        try:
            return float(token.replace(",", ""))
        except ValueError:
            return float(token.replace(",", "").split(".")[0])
    return _NUMBER_WORDS.get(token)


@dataclass(frozen=True, slots=True)
class QuestionFeatures:
    """What the guard compares, extracted once per question text."""

    tokens: tuple[str, ...]
    numbers: tuple[float, ...]
    source_units: frozenset[str]
    target_units: frozenset[str]
    unit_order: tuple[str, ...]
    negated: bool
    contrasts: frozenset[int]
    content: tuple[str, ...]
    asks: frozenset[str]


@lru_cache(maxsize=4096)
def features(text: str) -> QuestionFeatures:
    """The features of ``text`` (cached)."""
    raw = _TOKEN.findall(text.lower().replace("\u2019", "'").replace("°", " "))
    tokens: list[str] = []
    for i, tok in enumerate(raw):
        if tok == "t" and i and raw[i - 1] in _NEGATED_STEMS:
            tokens.append("n't")
        else:
            tokens.append(tok)
    numbers: list[float] = []
    sources: set[str] = set()
    targets: set[str] = set()
    order: list[str] = []
    negations = 0
    contrasts: set[int] = set()
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        value = _number(tok)
        unit = _UNITS.get(tok)
        prev_is_number = bool(prev) and _number(prev) is not None
        if unit in _TIME_UNITS and (not prev_is_number or prev == "one"):
            unit = None
        if unit is not None and tok in _AMBIGUOUS_UNITS:
            near_number = prev_is_number or (bool(nxt) and _number(nxt) is not None)
            near_conversion = prev in {"to", "into", "in"} and any(
                t in {"convert", "conversion", "converting"} or _number(t) is not None
                for t in tokens[:i]
            )
            if not (near_number or near_conversion):
                unit = None
        if value is not None and not (tok == "one" and _UNITS.get(nxt)):
            numbers.append(value)  # "one pound" reads like "a pound": a unit, not a count
        if unit is not None:
            order.append(unit)
            if prev_is_number or prev in _SOURCE_MARKERS:
                sources.add(unit)
            elif unit != "percent":
                targets.add(unit)
        if tok in _NEGATIONS:
            negations += 1
        contrasts.update(_CONTRAST_OF.get(tok, ()))
    content = tuple(_stem(t) for t in tokens if t not in _STOPWORDS and _number(t) is None)
    return QuestionFeatures(
        tokens=tuple(_UNITS.get(t, t) for t in tokens),
        numbers=tuple(sorted(numbers)),
        source_units=frozenset(sources),
        target_units=frozenset(targets - sources),
        unit_order=tuple(order),
        negated=negations % 2 == 1,
        contrasts=frozenset(contrasts),
        content=content,
        asks=frozenset(_WH_KINDS[t] for t in tokens if t in _WH_KINDS),
    )


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """The guard's answer: ``ok`` or the ``reason`` for a rejection."""

    ok: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.ok


_OK = GuardVerdict(True)


def _numbers(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    if Counter(a.numbers) != Counter(b.numbers):
        return "numbers differ"
    return None


def _units(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    units_a = a.source_units | a.target_units
    units_b = b.source_units | b.target_units
    if not units_a and not units_b:
        return None
    if units_a != units_b:
        return "units differ"
    if a.source_units and b.source_units:
        if a.source_units != b.source_units:
            return "conversion direction differs"
    elif a.unit_order != b.unit_order and not (a.source_units or b.source_units):
        return "conversion direction differs"
    return None


def _negation(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    return "negation differs" if a.negated != b.negated else None


def _contrast(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    only_a = a.contrasts - b.contrasts
    only_b = b.contrasts - a.contrasts
    for group in only_a:
        if group ^ 1 in only_b:
            return "opposite words"
    return None


def _order(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """The same words around "to"/"from"/"than"... in another order ("string to int")."""
    if a.content == b.content or Counter(a.content) != Counter(b.content):
        return None
    if _DIRECTION_WORDS & set(a.tokens) and _DIRECTION_WORDS & set(b.tokens):
        return "direction differs"
    return None


def _question_kind(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    if a.asks and b.asks and not a.asks & b.asks:
        return "asks for a different kind of answer"
    return None


def _content_run(tokens: Sequence[str]) -> list[str]:
    return [_stem(t) for t in tokens if t not in _STOPWORDS]


def _swapped_term(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """Word for word the same question, except one short run of content words.

    Runs separated only by function words count as one ("Pride and Prejudice" / "Sense and
    Sensibility"); any other added or dropped content word makes it a rewording, not a swap.
    """
    ta, tb = a.tokens, b.tokens
    matcher = SequenceMatcher(None, ta, tb, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    if matched * 2 < len(ta) or matched * 2 < len(tb):
        return None  # not the same sentence frame
    swaps: list[tuple[list[str], list[str], int]] = []
    joinable = False
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            joinable = joinable and not _content_run(ta[i1:i2])
            continue
        left, right = _content_run(ta[i1:i2]), _content_run(tb[j1:j2])
        if not left and not right:
            continue  # only function words differ
        if op != "replace" or not left or not right:
            return None  # words added or dropped: a rewording, not a swap
        gap = abs((i2 - i1) - (j2 - j1))
        if swaps and joinable:
            last_left, last_right, last_gap = swaps.pop()
            swaps.append((last_left + left, last_right + right, last_gap + gap))
        else:
            swaps.append((left, right, gap))
        joinable = True
    if len(swaps) != 1:
        return None
    left, right, length_gap = swaps[0]
    if length_gap > 1 or max(len(left), len(right)) > 3 or set(left) & set(right):
        return None
    return "a different term in the same question"


Rule = Callable[[QuestionFeatures, QuestionFeatures], "str | None"]
#: Every rule, by name, in the order they are tried.
RULES: dict[str, Rule] = {
    "numbers": _numbers,
    "units": _units,
    "negation": _negation,
    "contrast": _contrast,
    "order": _order,
    "question_kind": _question_kind,
    "swapped_term": _swapped_term,
}


class PrecisionGuard:
    """Rejects a semantic candidate whose question asks something different from the query.

    ``rules`` selects a subset of :data:`RULES` by name (default: all of them).
    """

    def __init__(self, rules: list[str] | None = None) -> None:
        names = list(RULES) if rules is None else rules
        unknown = [n for n in names if n not in RULES]
        if unknown:
            raise ValueError(f"unknown guard rules: {unknown}")
        self.rules = [(name, RULES[name]) for name in names]

    def check(self, query: str, candidate: str) -> GuardVerdict:
        """Whether ``candidate``'s answer may serve ``query``."""
        if query == candidate:
            return _OK
        a, b = features(query), features(candidate)
        for _name, rule in self.rules:
            reason = rule(a, b)
            if reason is not None:
                return GuardVerdict(False, reason)
        return _OK

    def __call__(self, query: str, candidate: str) -> bool:
        return self.check(query, candidate).ok

    def __repr__(self) -> str:
        return f"PrecisionGuard(rules={[n for n, _ in self.rules]})"
