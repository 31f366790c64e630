"""Conversations compared by meaning: whether a stored conversation's earlier turns say what the
asking one's do (see the rule in :mod:`aiocache_llm.semantic.cache`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from .guard import PrecisionGuard, features
from .query import StoredQuestion

__all__ = ["conversation_differs", "cosine"]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if not a or len(a) != len(b):
        return 0.0
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def conversation_differs(
    asked: StoredQuestion,
    stored: StoredQuestion,
    guard: PrecisionGuard | None,
    context_threshold: float,
    reply_threshold: float,
) -> str | None:
    """Why two conversations' earlier turns differ in meaning, or ``None``."""
    if asked.turns == stored.turns:
        return None
    if len(asked.turns) != len(stored.turns):
        return "another number of earlier turns"
    if cosine(asked.context_vector, stored.context_vector) < context_threshold:
        return "the earlier turns differ"
    if cosine(asked.reply_vector, stored.reply_vector) < reply_threshold:
        return "the replies the questions answer differ"
    if guard is not None:
        for role, mine, theirs in zip(asked.roles, asked.turns, stored.turns, strict=True):
            verdict = guard.check(mine, theirs)
            if not verdict.ok:
                return f"an earlier turn: {verdict.reason}"
            ours, their = features(mine), features(theirs)
            if ours.negations != their.negations:  # parity is for questions; a turn
                return "an earlier turn negates more"  # with more "not"s says other things
            words, other = ours.content, their.content
            if role == "assistant" and words != other and Counter(words) == Counter(other):
                # options offered in another order: "the second one" means another thing
                return "a reply offers the same things in another order"
    return None
