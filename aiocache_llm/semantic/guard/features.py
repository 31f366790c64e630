"""What the precision guard compares of a question: its numbers, units, negation, contrast
words, content words and question kind, extracted once per text (:func:`features`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .vocabulary import (
    AMBIGUOUS_UNITS,
    AUXILIARY_OF,
    CLOSED_CLASSES,
    CONTRAST_OF,
    DERIVATIONS,
    NEGATED_STEMS,
    NEGATIONS,
    NUMBER_WORDS,
    ROMAN_NUMERALS,
    SOURCE_MARKERS,
    STOPWORDS,
    TIME_UNITS,
    UNITS,
    WH_KINDS,
)

__all__ = ["QuestionFeatures", "features", "names", "number", "roots", "stem"]

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:/[a-z]+)?|n't|%|\$|€|£")


_POSSESSIVE = re.compile(r"'s\b")
#: A Roman numeral written onto an acronym: "WWII" reads as "WW II" (before lowercasing).
_ACRONYM_NUMERAL = re.compile(r"\b([A-Z]*[A-HJ-UWYZ])(II|III|IV|VI|VII|VIII|IX)\b")
#: Words as written, and the marks that end a sentence (the next word opens one).
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|[.?!:;]")
#: "self-employed" is one word, the opposite of "employed" (see the opposite-prefix rule).
_SELF = re.compile(r"\bself-(?=[a-z])")
#: Contractions of a pronoun and a verb: "I'm" reads as "I am" (not "I" and a metre "m").
_CONTRACTIONS = (
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
)


def stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def roots(word: str) -> frozenset[str]:
    """``word`` and what it reads as without a derivational suffix (roots of four letters or
    more): ``roots("quotation") >= {"quote"}``, ``roots("agency") >= {"agent"}``."""
    found = {word}
    for suffix, replacement in DERIVATIONS:
        if word.endswith(suffix) and len(word) - len(suffix) + len(replacement) >= 4:
            found.add(word[: -len(suffix)] + replacement)
    return frozenset(found)


def number(token: str) -> float | None:
    """The value of a number written in digits, in words ("fifteen") or in Roman numerals of
    two letters or more ("III"; a lone "i", "v" or "x" is a word or a letter)."""
    if token[0].isdigit():
        try:
            return float(token.replace(",", ""))
        except ValueError:
            return float(token.replace(",", "").split(".")[0])
    value = NUMBER_WORDS.get(token)
    return ROMAN_NUMERALS.get(token) if value is None else value


def _spelled(token: str) -> str:
    """One form per number ("15", "fifteen" and "XV" read alike), other tokens as they are."""
    value = number(token)
    return token if value is None else f"{value:g}"


@dataclass(frozen=True, slots=True)
class QuestionFeatures:
    """What the guard compares, extracted once per question text."""

    tokens: tuple[str, ...]
    numbers: tuple[float, ...]
    source_units: frozenset[str]
    target_units: frozenset[str]
    unit_order: tuple[str, ...]
    negated: bool
    negations: int
    contrasts: frozenset[int]
    content: tuple[str, ...]
    asks: frozenset[str]
    names: tuple[str, ...] = ()
    classes: frozenset[tuple[int, str]] = frozenset()


def names(text: str) -> tuple[str, ...]:
    """The proper names of ``text``: capitalised words not opening a sentence ("Does Jet2 fly
    from Gatwick to Faro?" -> Jet2, Gatwick, Faro), as written ("UK" stays upper case), without
    a possessive "'s"; unit symbols ("F", "C") are no names."""
    found: list[str] = []
    opening = True
    for word in _WORD.findall(text):
        if word in ".?!:;":
            opening = True
            continue
        word = word.removesuffix("'s")
        if not opening and word[0].isupper() and word != "I" and word.lower() not in UNITS:
            found.append(word)
        opening = False
    return tuple(found)


def _before_a_noun(raw: list[str], i: int) -> bool:
    """Whether ``raw[i]`` ("one", "single") stands before a noun it counts as an article would:
    the next word is a content word, not a unit ("one pound" is handled as a unit), a number,
    "of" ("one of them") or the end ("the cheapest one")."""
    if i + 1 >= len(raw):
        return False
    nxt = raw[i + 1]
    if raw[i] == "single" and not (i and raw[i - 1] in ("a", "an", "one")):
        return False  # "single rooms" is a kind of room, "a single room" one room
    return nxt not in STOPWORDS and nxt not in UNITS and number(nxt) is None


@lru_cache(maxsize=4096)
def features(text: str) -> QuestionFeatures:
    """The features of ``text`` (cached)."""
    original = text
    text = _ACRONYM_NUMERAL.sub(r"\1 \2", text)
    text = _POSSESSIVE.sub("", text.lower().replace("\u2019", "'").replace("°", " "))
    text = _SELF.sub("self", text)
    for contraction, expanded in _CONTRACTIONS:
        text = contraction.sub(expanded, text)
    raw = _TOKEN.findall(text)  # "router's" reads as "router", not "router s(econds)"
    tokens: list[str] = []
    for i, tok in enumerate(raw):
        if tok == "t" and i and raw[i - 1] in NEGATED_STEMS:
            tokens[-1] = AUXILIARY_OF.get(tokens[-1], tokens[-1])
            tokens.append("n't")
        elif tok in ("cannot", "not"):  # "cannot", "can not" and "can't" read alike
            tokens.extend(("can", "n't") if tok == "cannot" else ("n't",))
        elif tok in ("am", "pm") and i and raw[i - 1][0].isdigit():
            tokens.append(tok + ".")  # a time of day, not the verb "am"
        elif tok in ("one", "single") and _before_a_noun(raw, i):
            # "one egg", "a single egg" and "an egg" ask the same: the article, not a count
            if not (tokens and tokens[-1] in ("a", "an", "one")):
                tokens.append("a")
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
        value = number(tok)
        unit = UNITS.get(tok)
        prev_is_number = bool(prev) and number(prev) is not None
        if unit in TIME_UNITS and (not prev_is_number or prev == "one" or nxt == "old"):
            unit = None  # "what year", "per day", and an age: "an 18-year-old" is "aged 18"
        if unit is not None and tok in AMBIGUOUS_UNITS:
            near_number = prev_is_number or (bool(nxt) and number(nxt) is not None)
            near_conversion = prev in {"to", "into", "in"} and any(
                t in {"convert", "conversion", "converting"} or number(t) is not None
                for t in tokens[:i]
            )
            if not (near_number or near_conversion):
                unit = None
        pronoun = tok == "one" and (not nxt or (nxt in STOPWORDS and nxt != "of"))
        if value is not None and not (tok == "one" and UNITS.get(nxt)) and not pronoun:
            # "one pound" reads like "a pound": a unit, not a count; "the cheapest one", "quick
            # one: how do I ..." use "one" as a pronoun
            numbers.append(value)
        if unit is not None:
            order.append(unit)
            if prev_is_number or prev in SOURCE_MARKERS:
                sources.add(unit)
            elif unit != "percent":
                targets.add(unit)
        if tok in NEGATIONS:
            negations += 1
        contrasts.update(CONTRAST_OF.get(tok, ()))
    content = tuple(stem(t) for t in tokens if t not in STOPWORDS and number(t) is None)
    return QuestionFeatures(
        tokens=tuple(UNITS.get(t, _spelled(t)) for t in tokens),
        numbers=tuple(sorted(numbers)),
        source_units=frozenset(sources),
        target_units=frozenset(targets - sources),
        unit_order=tuple(order),
        negated=negations % 2 == 1,
        negations=negations,
        contrasts=frozenset(contrasts),
        content=content,
        asks=frozenset(WH_KINDS[t] for t in tokens if t in WH_KINDS),
        names=names(original),
        classes=frozenset((CLOSED_CLASSES[w], w) for w in map(stem, tokens) if w in CLOSED_CLASSES),
    )
