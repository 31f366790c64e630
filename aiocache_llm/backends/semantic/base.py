"""The shared contract of semantic caches: text to embed, exact-match scope, vector search,
threshold, precision guard.

A semantic cache is an ordinary exact-key backend (the whole :class:`BaseCache` contract) that
also answers a request with the stored answer of a *similar* request:

1. The **question text** is extracted from the request (by default the last user turn; list /
   multimodal ``content`` parts are joined, images ignored) and embedded.
2. Everything else that changes the answer — the other messages, the system prompt, the model,
   tools, response format, temperature and the other key parameters (exactly
   :func:`aiocache_llm.keys.relevant_arguments` minus the question text), the embedder, the
   namespace and the caller's identity — is an **exact-match filter** (:class:`Scope`), never
   part of the similarity. Another model's, tenant's or user's entry is never a candidate.
3. The nearest stored questions in that scope are candidates; one is a hit when its cosine
   similarity (in [0, 1]) is at least ``similarity_threshold`` **and** the precision guard
   (:class:`~aiocache_llm.semantic_guard.PrecisionGuard`, on by default) finds that both ask
   the same thing.

An embedder that fails makes the lookup a miss (logged and counted in ``stats.errors``): the
call goes upstream. A storage failure raises a :mod:`aiocache_llm.errors` type, as every backend
does. Entries keep the question text (to run the guard) next to the vector and the value.
"""

from __future__ import annotations

import abc
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ...embeddings import CachedEmbedder, Embedder, LocalEmbedder, OpenAIEmbedder
from ...errors import ConfigurationError
from ...keys import call_family, digest, make_key, relevant_arguments
from ...llm.requests import QueryExtractor, query_text, split_question
from ...semantic_guard import PrecisionGuard
from ..base import USE_DEFAULT, BaseCache, TTLArg, check_number

__all__ = [
    "DEFAULT_SIMILARITY_THRESHOLD",
    "DEFAULT_VERIFY_BELOW",
    "Verifier",
    "Candidate",
    "QueryExtractor",
    "Scope",
    "SemanticCache",
    "SemanticHit",
    "make_embedder",
    "query_text",
    "split_question",
]

logger = logging.getLogger("aiocache_llm.semantic")

#: Recommended by ``benchmarks/bench_semantic.py`` for the local all-MiniLM-L6-v2 embedder with
#: the precision guard on: the lowest threshold that keeps precision >= 0.95 on the labelled set.
DEFAULT_SIMILARITY_THRESHOLD = 0.8

#: ``(query, candidate question) -> whether the candidate's answer serves the query`` (sync or
#: async): a second opinion on borderline hits, e.g. a cross-encoder or a judge model.
Verifier: TypeAlias = Callable[[str, str], "bool | Awaitable[bool]"]
#: Hits below this similarity go to the verifier (when one is set); above it they are served.
DEFAULT_VERIFY_BELOW = 0.9


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """A stored answer served for a similar request."""

    value: Any
    similarity: float
    key: str


@dataclass(frozen=True, slots=True)
class Scope:
    """The exact-match filter of an entry: three hex digests (safe as tags and payload)."""

    context: str
    namespace: str
    identity: str

    def as_dict(self) -> dict[str, str]:
        return {"ctx": self.context, "ns": self.namespace, "uid": self.identity}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored entry found near a query vector."""

    similarity: float
    key: str
    question: str
    value: Any


def make_embedder(embedder: Embedder | str | None, default_model: str | None = None) -> Embedder:
    """An embedder from an instance, a model name (``"local"`` for :class:`LocalEmbedder`,
    anything else an OpenAI-compatible model), or ``None`` (``default_model``)."""
    if embedder is None:
        embedder = default_model or "text-embedding-3-small"
    if isinstance(embedder, str):
        if embedder == "local" or embedder.startswith("local:"):
            return LocalEmbedder()
        return OpenAIEmbedder(embedder)
    if not isinstance(embedder, Embedder):
        raise ConfigurationError(
            "embedder must have name, dimension and an async aembed(texts) method"
        )
    return embedder


class SemanticCache(BaseCache):
    """Base of the semantic backends: scope, embedding, threshold and guard; subclasses store.

    Subclasses call :meth:`_init_semantic` from their ``__init__`` and implement
    :meth:`_search` (nearest entries in a scope) and :meth:`_upsert` (store one entry), plus
    the exact-key contract.
    """

    embedder: CachedEmbedder
    similarity_threshold: float
    precision_guard: PrecisionGuard | None
    query_extractor: QueryExtractor
    candidates: int
    verifier: Verifier | None
    verify_below: float

    def _init_semantic(
        self,
        *,
        embedder: Embedder | str | None,
        similarity_threshold: float,
        precision_guard: PrecisionGuard | bool | None,
        query_extractor: QueryExtractor | None,
        candidates: int = 4,
        embedding_cache_size: int = 10_000,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
    ) -> None:
        threshold = check_number(similarity_threshold, "similarity_threshold")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigurationError("similarity_threshold must be between 0 and 1")
        self.similarity_threshold = float(threshold)
        inner = make_embedder(embedder)
        self.embedder = (
            inner
            if isinstance(inner, CachedEmbedder)
            else CachedEmbedder(inner, max_entries=embedding_cache_size)
        )
        if precision_guard is True:
            self.precision_guard = PrecisionGuard()
        elif precision_guard is False or precision_guard is None:
            self.precision_guard = None
        else:
            self.precision_guard = precision_guard
        self.query_extractor = query_extractor or query_text
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ConfigurationError("candidates must be a positive int")
        self.candidates = candidates
        if verifier is not None and not callable(verifier):
            raise ConfigurationError("verifier must be a callable (query, candidate) -> bool")
        below = check_number(verify_below, "verify_below")
        if not 0.0 <= below <= 1.0:
            raise ConfigurationError("verify_below must be between 0 and 1")
        self.verifier, self.verify_below = verifier, float(below)

    # -- what is matched ------------------------------------------------------------------
    def question_and_scope(
        self, call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]
    ) -> tuple[str | None, Scope]:
        """The text to embed and the exact-match filter of a request."""
        question, rest = split_question(request)
        if self.query_extractor is not query_text:
            question = self.query_extractor(call_type, request)
        context = digest(
            {
                "call": call_family(call_type),
                "args": relevant_arguments(call_type, rest),
                "embedder": self.embedder.name,
            }
        )
        return question or None, Scope(
            context=context,
            namespace=digest(scope.get("namespace") or ""),
            identity=digest(scope.get("identity") or ""),
        )

    @staticmethod
    def request_key(call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]) -> str:
        """The exact cache key of ``request`` (the key the LLM layer stores its answer under)."""
        return make_key(
            call_type, request, namespace=scope.get("namespace"), identity=scope.get("identity")
        )

    @staticmethod
    def entry_id(key: str) -> str:
        """The id of the index entry of the answer stored under the exact ``key`` (storing
        the same request again overwrites it; deleting ``key`` deletes it)."""
        return digest({"key": key})

    async def semantic_warm(self) -> None:
        """Load the embedding model now (the LLM layer calls this before its first lookup,
        outside any deadline, so a cold model never makes a lookup time out)."""
        warm = getattr(self.embedder, "warm", None)
        if warm is not None:
            await warm()

    async def _embed(self, text: str) -> list[float] | None:
        try:
            [vector] = await self.embedder.aembed([text])
        except Exception as exc:  # a failing embedder is a miss, never a failed call
            self.stats.errors += 1
            logger.warning("embedding failed, treating the lookup as a miss: %r", exc)
            return None
        return vector

    # -- the semantic API -----------------------------------------------------------------
    async def async_semantic_lookup(
        self, call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]
    ) -> SemanticHit | None:
        """The stored answer of the most similar request in the same scope, or ``None``."""
        question, entry_scope = self.question_and_scope(call_type, request, scope)
        if question is None:
            return None
        vector = await self._embed(question)
        if vector is None:
            return None
        found = await self._search(vector, entry_scope, self.candidates)
        for candidate in sorted(found, key=lambda c: c.similarity, reverse=True):
            if candidate.similarity < self.similarity_threshold:
                break
            guard = self.precision_guard
            if guard is not None:
                verdict = guard.check(question, candidate.question)
                if not verdict.ok:
                    logger.debug("precision guard rejected a candidate: %s", verdict.reason)
                    continue
            borderline = self.verifier is not None and candidate.similarity < self.verify_below
            if borderline and not await self._verify(question, candidate.question):
                continue
            return SemanticHit(candidate.value, candidate.similarity, candidate.key)
        return None

    async def _verify(self, question: str, candidate: str) -> bool:
        """The verifier's verdict on a borderline candidate (a failing verifier rejects it)."""
        assert self.verifier is not None
        try:
            verdict = self.verifier(question, candidate)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        except Exception as exc:  # a failing verifier makes the lookup a miss, never an error
            self.stats.errors += 1
            logger.warning("the verifier failed; the candidate is not served (%r)", exc)
            return False
        return bool(verdict)

    async def async_semantic_store(
        self,
        call_type: str,
        request: Mapping[str, Any],
        scope: Mapping[str, str],
        value: Any,
        ttl: TTLArg = USE_DEFAULT,
    ) -> None:
        """Store ``value`` as the answer of ``request`` for later similar requests."""
        seconds = self.resolve_ttl(ttl)
        question, entry_scope = self.question_and_scope(call_type, request, scope)
        if question is None:
            return
        vector = await self._embed(question)
        if vector is None:
            return
        key = self.request_key(call_type, request, scope)
        now = time.time()
        await self._upsert(
            self.entry_id(key),
            vector,
            entry_scope,
            question=question,
            key=key,
            value=value,
            seconds=seconds,
            now=now,
        )

    @abc.abstractmethod
    async def async_semantic_delete(self, key: str) -> None:
        """Delete the semantic entry of the answer stored under the exact ``key`` (if any);
        ``async_delete_cache(key)`` does this too."""

    # -- storage, per backend -------------------------------------------------------------
    @abc.abstractmethod
    async def _search(self, vector: list[float], scope: Scope, limit: int) -> list[Candidate]:
        """Up to ``limit`` unexpired entries of ``scope`` nearest to ``vector``."""

    @abc.abstractmethod
    async def _upsert(
        self,
        entry_id: str,
        vector: list[float],
        scope: Scope,
        *,
        question: str,
        key: str,
        value: Any,
        seconds: float | None,
        now: float,
    ) -> None:
        """Store (or replace) one entry that expires ``seconds`` after ``now`` (``None``: never)."""


def similarity_from_cosine_distance(distance: float) -> float:
    """Cosine similarity in [0, 1] from a cosine distance (``1 - cos``)."""
    return min(1.0, max(0.0, 1.0 - distance))
