"""The precision guard's rules and :class:`PrecisionGuard`, which applies them in order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from .features import QuestionFeatures, features, roots, stem
from .vocabulary import (
    DIRECTION_WORDS,
    FILLERS,
    IMPERSONAL,
    OPPOSITE_PREFIXES,
    PERSONAL,
    STOPWORDS,
)

__all__ = [
    "REPEAT_FLOOR",
    "RULES",
    "SYNONYM_SIMILARITY",
    "GuardVerdict",
    "PrecisionGuard",
    "Rule",
    "repeats",
]

#: How alike (cosine) a misspelt repeat of a question must still be to be served below the
#: similarity threshold: misspellings cost a sentence embedding much of its similarity
#: ("request a repeat prescription" / "reqest a repeat perscription": 0.42).
REPEAT_FLOOR = 0.5
#: From this similarity on, one term swapped for another in the same sentence is a synonym.
SYNONYM_SIMILARITY = 0.96


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


def _sides(tokens: Sequence[str], word: str) -> list[tuple[set[str], set[str]]]:
    """The content words before and after each ``word`` (a direction word) in ``tokens``."""
    return [
        (set(_content_run(tokens[:at])), set(_content_run(tokens[at + 1 :])))
        for at, token in enumerate(tokens)
        if token == word
    ]


def _order(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """Words on either side of "to"/"from"/"than"... the other way round ("Word to PDF" /
    "PDF to Word", "from savings to current account" / "from current account to savings",
    "transfer it from A to B" / "I want to move my B one over to A": any "to" may be the
    one that directs); a clause moved to the front ("to open an account, what ...") is the
    same question."""
    if a.content == b.content:
        return None
    for word in DIRECTION_WORDS & set(a.tokens) & set(b.tokens):
        for before_a, after_a in _sides(a.tokens, word):
            for before_b, after_b in _sides(b.tokens, word):
                if after_a & before_b and before_a & after_b:
                    return "direction differs"
    return None


def _opposite_prefix(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """A word on one side and the same word with an opposite prefix on the other
    ("refundable" / "non-refundable", "safe" / "unsafe", "employees" / "self-employed"), in
    any form of the word (:func:`roots`)."""
    words_a, words_b = set(a.content), set(b.content)
    for mine, theirs in ((words_a, words_b), (words_b, words_a)):
        others = set().union(*(roots(w) for w in theirs - mine))
        for word in mine - theirs:
            for prefix in OPPOSITE_PREFIXES:
                if word.startswith(prefix) and roots(word[len(prefix) :]) & others:
                    return "opposite words"
    return None


def _closed_class(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """Each question names another member of one closed class: a month, a day, a season, a
    meal, a colour, a rank (:data:`CLOSED_CLASSES`)."""
    only_a = {n for n, _ in a.classes - b.classes}
    only_b = {n for n, _ in b.classes - a.classes}
    return "another member of the same closed class" if only_a & only_b else None


def _question_kind(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    if a.asks and b.asks and not a.asks & b.asks:
        return "asks for a different kind of answer"
    return None


def _names(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """Each question names someone or something the other does not ("fly from Gatwick to
    Faro" / "flights out of Manchester to Faro"): proper names have no synonyms. A misspelt
    name or another form of it is the same name, and so is an acronym of the other's names
    ("UK" / "United Kingdom", "WWII" / "World War II")."""
    only_a, only_b = _unnamed(a.names, b), _unnamed(b.names, a)
    if not only_a or not only_b:
        return None
    for mine, theirs in ((only_a, only_b), (only_b, only_a)):
        initials = "".join(name[0] for name in theirs).lower()  # of the unmatched names
        if len(theirs) > 1 and any(name.isupper() and initials in name.lower() for name in mine):
            return None
    return "a different name"


def _unnamed(names: Sequence[str], other: QuestionFeatures) -> list[str]:
    """The ``names`` that the ``other`` question has in no form, as a name or any word."""
    words = set(other.tokens) | {name.lower() for name in other.names}
    return [
        name
        for name in names
        if name.lower() not in words
        and not any(_typo([name.lower()], [w]) or roots(name.lower()) & roots(w) for w in words)
    ]


def _content_run(tokens: Sequence[str]) -> list[str]:
    return [stem(t) for t in tokens if t not in STOPWORDS]


def _length(run: Sequence[str]) -> int:
    """A run's length in words, a coordinated name counted as one phrase ("Stocks and Shares"
    against "Lifetime" is one name for another, not a rewording)."""
    return sum(token not in ("and", "or", "&") for token in run)


def _typo(left: Sequence[str], right: Sequence[str], long_edits: int = 2) -> bool:
    """Whether two runs differ only by misspellings: as many words, each pair one edit apart
    (``long_edits`` for words of nine letters or more; two letters swapped count as one), with
    the same first letter and at least five letters (six for a changed letter: "house" /
    "horse" is no typo)."""
    if len(left) != len(right):
        return False
    for x, y in zip(left, right, strict=True):
        if x == y:
            continue
        longer = max(len(x), len(y))
        swapped = _transposed(x, y)
        if x[0] != y[0] or longer < (6 if len(x) == len(y) and not swapped else 5):
            return False
        if not swapped and _distance(x, y) > (long_edits if longer >= 9 else 1):
            return False
    return True


def _transposed(x: str, y: str) -> bool:
    """Whether ``y`` is ``x`` with two neighbouring letters swapped ("cancel" / "cancle")."""
    if len(x) != len(y):
        return False
    diff = [i for i, (cx, cy) in enumerate(zip(x, y, strict=True)) if cx != cy]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and x[diff[0]] == y[diff[1]]
        and (x[diff[1]] == y[diff[0]])
    )


def repeats(query: str, candidate: str) -> bool:
    """Whether two texts are the same words, up to case, punctuation, contractions and
    misspellings of one edit a word (:func:`_typo`; "Austria" / "Australia" are two words): a
    repeat, whatever the embedding makes of its typos."""
    a, b = features(query).tokens, features(candidate).tokens
    return bool(a) and _typo(a, b, long_edits=1)


def _same_lexemes(left: Sequence[str], right: Sequence[str]) -> bool:
    """Whether two runs name the same words in other forms: "wait" / "waiting", "quote" /
    "quotation", "agent" / "agency" (one word's root is the other's, after the derivational
    suffixes of :data:`DERIVATIONS`)."""
    return len(left) == len(right) and all(
        x == y or bool(roots(x) & roots(y)) for x, y in zip(left, right, strict=True)
    )


def _distance(x: str, y: str) -> int:
    """Levenshtein distance (words are short)."""
    previous = list(range(len(y) + 1))
    for i, cx in enumerate(x, start=1):
        current = [i]
        for j, cy in enumerate(y, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (cx != cy)))
        previous = current
    return previous[-1]


def _swapped_term(a: QuestionFeatures, b: QuestionFeatures) -> str | None:
    """Word for word the same question, except one short run of content words.

    Runs separated only by function words count as one ("Pride and Prejudice" / "Sense and
    Sensibility"); a misspelt word is not a swap. Also caught: the asker swapped for someone
    else ("can I ..." / "can my child ..."), and a qualifier of one to three content words
    added after the start ("gift" / "gift card", "symptoms of flu" / "... in babies").
    Any other added or dropped content word makes it a rewording, not a swap.
    """
    ta, tb = a.tokens, b.tokens
    matcher = SequenceMatcher(None, ta, tb, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    if matched * 2 < len(ta) or matched * 2 < len(tb):
        return None  # not the same sentence frame
    swaps: list[tuple[list[str], list[str], int]] = []
    joinable = False
    qualifier_runs = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            joinable = joinable and not _content_run(ta[i1:i2])
            continue
        left, right = _content_run(ta[i1:i2]), _content_run(tb[j1:j2])
        if not left and not right:
            continue  # only function words differ
        if not left or not right:
            added, at, other = (right, j1, a) if not left else (left, i1, b)
            mine, theirs = (ta[i1:i2], tb[j1:j2]) if not left else (tb[j1:j2], ta[i1:i2])
            pronouns = PERSONAL & set(mine)
            impersonal = IMPERSONAL & set(theirs)  # "is it possible to", "are needed"
            if op == "replace" and pronouns and len(added) <= 2 and not impersonal:
                return "asks about someone else"
            if set(added) <= FILLERS or all(w.endswith("ly") for w in added):
                continue  # "hi", "thanks", "um", "usually": nothing else asked
            elsewhere = set().union(*(roots(stem(t)) for t in other.tokens))
            moved = any(roots(w) & elsewhere for w in added)  # "need" / "is ... needed"
            if op != "replace" and at > 0 and len(added) <= 3 and not moved:
                qualifier_runs += 1
                continue
            return None  # words added or dropped: a rewording, not a swap
        gap = abs(_length(ta[i1:i2]) - _length(tb[j1:j2]))
        if swaps and joinable:
            last_left, last_right, last_gap = swaps.pop()
            swaps.append((last_left + left, last_right + right, last_gap + gap))
        else:
            swaps.append((left, right, gap))
        joinable = True
    if qualifier_runs:
        return "a qualifier added" if qualifier_runs == 1 and not swaps else None
    if len(swaps) != 1:
        return None
    left, right, length_gap = swaps[0]
    if length_gap > 1 or max(len(left), len(right)) > 3 or set(left) & set(right):
        return None
    if _typo(left, right) or _same_lexemes(left, right):
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
    "opposite_prefix": _opposite_prefix,
    "closed_class": _closed_class,
    "question_kind": _question_kind,
    "swapped_term": _swapped_term,
    "names": _names,
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

    def check(self, query: str, candidate: str, similarity: float | None = None) -> GuardVerdict:
        """Whether ``candidate``'s answer may serve ``query``. With the two questions'
        ``similarity`` at :data:`SYNONYM_SIMILARITY` or more, a swapped term is read as a
        synonym ("start" / "begin", "street" / "road"): the model finds the sentences alike
        that far only when the words mean the same there (antonyms, names and closed classes
        are still caught by their own rules)."""
        if query == candidate:
            return _OK
        a, b = features(query), features(candidate)
        synonyms = similarity is not None and similarity >= SYNONYM_SIMILARITY
        for name, rule in self.rules:
            if synonyms and name == "swapped_term":
                continue
            reason = rule(a, b)
            if reason is not None:
                return GuardVerdict(False, reason)
        return _OK

    def repeats(self, query: str, candidate: str) -> bool:
        """Whether ``candidate`` is ``query`` again, up to case, punctuation and misspellings
        (a semantic cache serves such a repeat down to :data:`REPEAT_FLOOR`)."""
        return repeats(query, candidate) and self.check(query, candidate).ok

    def __call__(self, query: str, candidate: str) -> bool:
        return self.check(query, candidate).ok

    def __repr__(self) -> str:
        return f"PrecisionGuard(rules={[n for n, _ in self.rules]})"
