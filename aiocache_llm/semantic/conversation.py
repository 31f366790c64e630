"""Conversations compared by meaning: whether a stored conversation's earlier turns say what the
asking one's do, so that the same follow-up question gets the same answer.

The rule (:func:`conversation_differs`; the last user questions are compared before it, by
similarity and the precision guard):

1. **Identical earlier turns** match.
2. **A follow-up that is not a question** ("yes please", "go ahead", "the second one", "ok
   freeze it") answers the exact words of the turn before it, so it only matches after
   identical earlier turns.
3. Otherwise the two conversations are compared **as a whole**, so a reworded conversation,
   one with extra small talk or with more turns still matches:

   * **meaning** — the earlier turns joined into one text are alike (cosine at least
     ``context_threshold``);
   * **facts** — the numbers (amounts, dates, times, counts; digits or number words) and the
     names (capitalised words inside a sentence, such as products, places and people) said
     anywhere in one conversation are all said in the other (one set contains the other: small
     talk may add a name or a number, a swapped one differs);
   * **turn by turn** — every pair of turns (of the same role) at least ``turn_threshold``
     alike is compared fact by fact: the numbers and the capitalised words of one are all in
     the other (so facts said in other turns cannot stand in for them: "pick up at Edinburgh
     Airport" / "... Edinburgh Waverley" when both talks mention both), and two user turns
     that are nearly the same text (cosine 0.9 or more) must pass the precision guard (a
     swapped term, negation, contrast word, ... : "monthly" / "weekly" paid staff);
   * **the turn the question answers** — the last assistant turns do not offer the same
     options in another order ("the second one" then means another thing).

So "cancel it" after a talk about one subscription never gets the answer given after a talk
about another, while "how long does it take?" after the same talk with a friendly preamble
does. The rule is lexical where it checks facts and written for English, as the guard is.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Sequence

from .guard import PrecisionGuard, features
from .guard.vocabulary import STOPWORDS
from .query import StoredQuestion

__all__ = ["conversation_differs", "cosine", "is_question", "names"]

#: Two user turns at least this alike that are not the same text go through the guard.
NEAR_SAME_TURN = 0.9

_WORD = re.compile(r"[A-Za-z][A-Za-z'*&-]*")
_LOWER = re.compile(r"\b[a-z][a-z'*&-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;()\"\n]\s*|\s-\s)(?=[A-Za-z])")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if not a or len(a) != len(b):
        return 0.0
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def is_question(text: str) -> bool:
    """Whether ``text`` asks something (a question mark or a question word), rather than
    answering the turn before it ("yes please", "go ahead", "the first one")."""
    return "?" in text or bool(features(text).asks)


def _capitalised(text: str) -> set[str]:
    """Words written with a capital inside a sentence, or with an inner capital (lower-cased)."""
    starts = {m.end() for m in _SENTENCE_START.finditer(text)}
    found: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word == "I" or word.startswith("I'"):
            continue
        inner = any(ch.isupper() for ch in word[1:])
        if inner or (word[0].isupper() and match.start() not in starts):
            found.add(word.lower().removesuffix("'s").replace("'", ""))
    return found


def names(texts: Sequence[str], ordinary: set[str] | None = None) -> set[str]:
    """The names said in ``texts``: capitalised words that are neither stopwords nor written in
    lower case anywhere in ``texts`` or ``ordinary`` (so "Standard" is a plan's name where
    "standard" never appears, and a capital after an emoticon is not a name)."""
    lower = set(ordinary or ())
    for text in texts:
        lower.update(_LOWER.findall(text))
    found: set[str] = set()
    for text in texts:
        found |= _capitalised(text)
    return {w for w in found if w not in STOPWORDS and w not in lower}


def _numbers(texts: Sequence[str]) -> set[float]:
    out: set[float] = set()
    for text in texts:
        out.update(features(text).numbers)
    return out


def _nested(a: set[str] | set[float], b: set[str] | set[float]) -> bool:
    return a <= b or b <= a


def _options_reordered(mine: str, theirs: str) -> bool:
    ours, their = features(mine).content, features(theirs).content
    return ours != their and Counter(ours) == Counter(their)


def _similarities(
    mine: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]]
) -> list[list[float]]:
    """Cosine similarity of every turn vector of ``mine`` with every one of ``theirs`` (numpy
    when it is installed, as with the local embedder; else plain Python)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with the local embedder
        units = [[x / (math.sqrt(sum(y * y for y in v)) or 1.0) for x in v] for v in theirs]
        return [
            [
                sum(map(operator.mul, u, w)) / (math.sqrt(sum(x * x for x in u)) or 1.0)
                for w in units
            ]
            for u in mine
        ]
    a, b = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return [[float(x) for x in row] for row in a @ b.T]


def _pairs(
    asked: StoredQuestion, stored: StoredQuestion, threshold: float
) -> list[tuple[float, int, int]]:
    """Turns of the same role paired greedily, most alike first, each turn at most once."""
    alike = _similarities(asked.turn_vectors, stored.turn_vectors)
    scored = sorted(
        (
            (alike[i][j], i, j)
            for i, role in enumerate(asked.roles)
            for j, other in enumerate(stored.roles)
            if role == other
        ),
        reverse=True,
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for similarity, i, j in scored:
        if similarity < threshold:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((similarity, i, j))
    return pairs


def conversation_differs(
    asked: StoredQuestion,
    stored: StoredQuestion,
    guard: PrecisionGuard | None,
    context_threshold: float,
    turn_threshold: float,
) -> str | None:
    """Why two conversations' earlier turns differ in meaning (see the module doc), or ``None``.

    Both need their ``roles``, ``context_vector`` and ``turn_vectors`` (one per turn)."""
    if asked.turns == stored.turns:
        return None
    if not asked.turns or not stored.turns:
        return "one conversation has earlier turns, the other none"
    if not (is_question(asked.question) and is_question(stored.question)):
        return "a follow-up that is not a question needs the same earlier turns"
    for side in (asked, stored):
        if len(side.roles) != len(side.turns) or len(side.turn_vectors) != len(side.turns):
            return "the earlier turns' roles or vectors are not known"
    if cosine(asked.context_vector, stored.context_vector) < context_threshold:
        return "the earlier turns differ"
    if not _nested(_numbers(asked.turns), _numbers(stored.turns)):
        return "the earlier turns give other numbers"
    every = list(asked.turns) + list(stored.turns)
    lower: set[str] = set()
    for text in every:
        lower.update(_LOWER.findall(text))
    if not _nested(names(asked.turns, lower), names(stored.turns, lower)):
        return "the earlier turns name other things"
    for similarity, i, j in _pairs(asked, stored, turn_threshold):
        mine, theirs = asked.turns[i], stored.turns[j]
        if mine == theirs:
            continue
        if not _nested(_numbers([mine]), _numbers([theirs])):
            return "a turn gives other numbers"
        if not _nested(_capitalised(mine) - STOPWORDS, _capitalised(theirs) - STOPWORDS):
            return "a turn names other things"
        if guard is not None and similarity >= NEAR_SAME_TURN and asked.roles[i] == "user":
            verdict = guard.check(mine, theirs)
            if not verdict.ok:
                return f"an earlier turn: {verdict.reason}"
    mine_last, theirs_last = _last_reply(asked), _last_reply(stored)
    if mine_last and theirs_last and _options_reordered(mine_last, theirs_last):
        return "the reply offers the same things in another order"
    return None


def _last_reply(side: StoredQuestion) -> str:
    """The last assistant turn (the one the question answers), or ``""``."""
    pairs = zip(side.turns[::-1], side.roles[::-1], strict=True)
    return next((text for text, role in pairs if role == "assistant"), "")
