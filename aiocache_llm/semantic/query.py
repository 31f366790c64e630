"""What the LLM layer hands the semantic layer: a question, its conversation, what is exact.

The semantic layer never reads a request: the LLM layer (:mod:`aiocache_llm.llm.requests`)
turns one into a :class:`SemanticQuery`:

* ``question`` — the text compared by meaning: the last user turn;
* ``context`` — the earlier user and assistant turns (:class:`Turn`: role and text), also
  compared by meaning, so a follow-up in an equivalent conversation matches while the same
  follow-up in another conversation does not (the rule:
  :func:`~aiocache_llm.semantic.conversation.conversation_differs`);
* ``exact`` — a digest of everything that must be equal: the call family, the model, the
  system prompt / instructions, tools, response format, the other key parameters, whether
  there are earlier turns, tool calls and results and the non-text parts of every turn;
* ``key`` — the exact cache key the LLM layer stores the answer under.

How a stored entry keeps its conversation: :func:`pack_question` writes the question, the
turns, their roles and the joined turns' vector into the index's question field, so every
index (Redis, Qdrant, in-process) carries it without a schema of its own;
:func:`unpack_question` reads it back (a plain question reads as one without context).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SemanticHit",
    "SemanticQuery",
    "StoredQuestion",
    "Turn",
    "digest",
    "entry_binding",
    "pack_question",
    "unpack_question",
]


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier turn of a conversation: ``role`` (``"user"`` or ``"assistant"``) and text."""

    role: str
    text: str


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    """A request as the semantic layer sees it (see the module doc)."""

    question: str
    context: tuple[Turn, ...]
    exact: str
    key: str

    @property
    def context_text(self) -> str:
        """The earlier turns as one text, one turn a line (empty without context)."""
        return context_text(self.context)


def context_text(turns: Sequence[Turn]) -> str:
    return "\n".join(f"{t.role}: {t.text}" for t in turns)


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    """What an index entry says of the question it answers: the question, the earlier turns'
    texts and roles, the vector of the turns joined (``context_vector``) and, computed when a
    candidate is compared, not stored, one vector per turn (``turn_vectors``)."""

    question: str
    turns: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    context_vector: tuple[float, ...] = ()
    turn_vectors: tuple[tuple[float, ...], ...] = ()


_MARK = "\x00aiocache-llm-q1\x00"


def _pack_vector(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}e", *vector)).decode("ascii")


def _unpack_vector(text: str) -> tuple[float, ...]:
    raw = base64.b64decode(text)
    return struct.unpack(f"<{len(raw) // 2}e", raw)


def pack_question(stored: StoredQuestion) -> str:
    """The text an index keeps for ``stored`` (the bare question when it has no context)."""
    if not stored.turns:
        return stored.question
    body = {
        "q": stored.question,
        "t": list(stored.turns),
        "ro": list(stored.roles),
        "cv": _pack_vector(stored.context_vector),
    }
    return _MARK + json.dumps(body, separators=(",", ":"))


def unpack_question(text: str) -> StoredQuestion:
    """The inverse of :func:`pack_question`."""
    if not text.startswith(_MARK):
        return StoredQuestion(text)
    try:
        body = json.loads(text[len(_MARK) :])
        return StoredQuestion(
            question=str(body["q"]),
            turns=tuple(str(t) for t in body["t"]),
            roles=tuple(str(r) for r in body.get("ro", ())),
            context_vector=_unpack_vector(body["cv"]),
        )
    except (ValueError, KeyError, TypeError, struct.error):
        return StoredQuestion(text)


def digest(*parts: str) -> str:
    """One hex digest of ``parts`` (joined unambiguously)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def entry_binding(key: str, question: str) -> str:
    """What an index entry's answer is bound to: the exact key it is stored under and the
    question it answers. An answer moved to another entry (another key or question) does not
    decode there (the codec's key digest; with encryption, the associated data)."""
    return digest("semantic", key, question)


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """A stored answer served for a similar request (stored under ``key`` for ``question``)."""

    value: Any
    similarity: float
    key: str
    question: str = ""

    @property
    def binding(self) -> str:
        """What the stored answer is bound to (see :func:`entry_binding`)."""
        return entry_binding(self.key, self.question)
