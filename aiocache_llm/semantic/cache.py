"""SemanticCache: an exact-key store and a vector index, composed with an embedder and a guard.

A semantic cache is an ordinary exact-key cache (the whole :class:`BaseCache` contract, served
by its **store**: any backend) that also answers a request with the stored answer of a
*similar* request, found in its **index** (a :class:`~aiocache_llm.semantic.index.VectorIndex`):

1. The **question text** is extracted from the request (by default the last user turn; list /
   multimodal ``content`` parts are joined, images ignored) and embedded by the **embedder**.
2. Everything else that changes the answer — the other messages, the system prompt, the model,
   tools, response format, temperature and the other key parameters (exactly
   :func:`aiocache_llm.keys.relevant_arguments` minus the question text), the embedder, the
   namespace and the caller's identity — is an **exact-match filter** (:class:`Scope`), never
   part of the similarity. Another model's, tenant's or user's entry is never a candidate.
3. The nearest stored questions in that scope are candidates; one is a hit when its cosine
   similarity (in [0, 1]) is at least ``similarity_threshold`` **and** the precision **guard**
   (:class:`~aiocache_llm.semantic.guard.PrecisionGuard`, on by default) finds that both ask
   the same thing, **and**, below ``verify_below``, the optional ``verifier`` agrees.

An embedder or verifier that fails makes the lookup a miss (logged and counted in
``stats.errors``): the call goes upstream. A storage failure raises a :mod:`aiocache_llm.errors`
type, as every backend does. Deleting a key deletes its index entry too; flushing empties both.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..backends.base import USE_DEFAULT, BaseCache, TTLArg, check_number
from ..codec import decode, encode
from ..embeddings import CachedEmbedder, Embedder, LocalEmbedder, OpenAIEmbedder
from ..errors import ConfigurationError, CorruptEntryError
from ..keys import call_family, digest, make_key, relevant_arguments
from ..llm.requests import QueryExtractor, query_text, split_question
from .exact import ExactKeys
from .guard import PrecisionGuard
from .index import Match, Record, Scope, VectorIndex

__all__ = [
    "DEFAULT_SIMILARITY_THRESHOLD",
    "DEFAULT_VERIFY_BELOW",
    "Names",
    "Request",
    "SemanticCache",
    "SemanticHit",
    "Verifier",
    "make_embedder",
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

#: A request as the LLM layer passes it (the call's keyword arguments).
Request: TypeAlias = Mapping[str, Any]
#: The caller's scope: ``namespace`` and ``identity`` (either may be absent).
Names: TypeAlias = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """A stored answer served for a similar request."""

    value: Any
    similarity: float
    key: str


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


def _fraction(value: object, what: str) -> float:
    number = check_number(value, what)
    if not 0.0 <= number <= 1.0:
        raise ConfigurationError(f"{what} must be between 0 and 1")
    return float(number)


def _guard(guard: PrecisionGuard | bool | None) -> PrecisionGuard | None:
    if guard is True:
        return PrecisionGuard()
    if guard is False or guard is None:
        return None
    return guard


class SemanticCache(ExactKeys):
    """``store`` for exact keys, ``index`` for similar questions, ``embedder`` and ``guard``.

    ``guard``: a :class:`PrecisionGuard`, ``True`` (the default one) or ``False``/``None``
    (none). ``candidates``: how many nearest entries are considered per lookup. ``verifier``
    and ``verify_below``: a second opinion on hits whose similarity is below ``verify_below``.
    """

    backend_name = "semantic"

    def __init__(
        self,
        store: BaseCache,
        index: VectorIndex,
        embedder: Embedder | str | None = None,
        guard: PrecisionGuard | bool | None = True,
        *,
        similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        query_extractor: QueryExtractor | None = None,
        candidates: int = 4,
        embedding_cache_size: int = 10_000,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
    ) -> None:
        super().__init__(store)
        if not isinstance(index, VectorIndex):
            raise ConfigurationError("index must be a VectorIndex (upsert, search, delete, ...)")
        self.index = index
        self.similarity_threshold = _fraction(similarity_threshold, "similarity_threshold")
        inner = make_embedder(embedder)
        self.embedder = (
            inner
            if isinstance(inner, CachedEmbedder)
            else CachedEmbedder(inner, max_entries=embedding_cache_size)
        )
        self.precision_guard = _guard(guard)
        self.query_extractor: QueryExtractor = query_extractor or query_text
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ConfigurationError("candidates must be a positive int")
        self.candidates = candidates
        if verifier is not None and not callable(verifier):
            raise ConfigurationError("verifier must be a callable (query, candidate) -> bool")
        self.verifier = verifier
        self.verify_below = _fraction(verify_below, "verify_below")

    # -- what is matched ------------------------------------------------------------------
    def question_and_scope(
        self, call_type: str, request: Request, scope: Names
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
    def request_key(call_type: str, request: Request, scope: Names) -> str:
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
        self, call_type: str, request: Request, scope: Names
    ) -> SemanticHit | None:
        """The stored answer of the most similar request in the same scope, or ``None``."""
        question, entry_scope = self.question_and_scope(call_type, request, scope)
        if question is None:
            return None
        vector = await self._embed(question)
        if vector is None:
            return None
        found = await self.index.search(vector, entry_scope, self.candidates)
        for match in sorted(found, key=lambda m: m.similarity, reverse=True):
            if match.similarity < self.similarity_threshold:
                break
            if not await self._accepts(question, match):
                continue
            value = self._value(match)
            if value is not None:
                return SemanticHit(value, match.similarity, match.key)
        return None

    async def _accepts(self, question: str, match: Match) -> bool:
        """Whether the guard (and, for a borderline match, the verifier) lets ``match`` serve."""
        guard = self.precision_guard
        if guard is not None:
            verdict = guard.check(question, match.question)
            if not verdict.ok:
                logger.debug("precision guard rejected a candidate: %s", verdict.reason)
                return False
        if self.verifier is None or match.similarity >= self.verify_below:
            return True
        try:
            verdict_of = self.verifier(question, match.question)
            if inspect.isawaitable(verdict_of):
                verdict_of = await verdict_of
        except Exception as exc:  # a failing verifier makes the lookup a miss, never an error
            self.stats.errors += 1
            logger.warning("the verifier failed; the candidate is not served (%r)", exc)
            return False
        return bool(verdict_of)

    def _value(self, match: Match) -> Any:
        """The answer a match holds, or ``None`` if it expired or does not decode."""
        try:
            entry = decode(match.blob)
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            return None
        return None if entry.expired() else entry.value

    async def async_semantic_store(
        self, call_type: str, request: Request, scope: Names, value: Any, ttl: TTLArg = USE_DEFAULT
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
        expires_at = None if seconds is None else now + seconds
        blob = encode(value, created_at=now, expires_at=expires_at)
        record = Record(vector, entry_scope, question, key, blob, expires_at)
        await self.index.upsert(self.entry_id(key), record)

    async def async_semantic_delete(self, key: str) -> None:
        """Delete the index entry of the answer stored under the exact ``key`` (if any);
        ``async_delete_cache(key)`` does this too."""
        await self.index.delete(self.entry_id(key))

    async def async_drop_index(self) -> None:
        """Drop the index structure (its entries are dropped or kept as the index does)."""
        await self.index.drop()

    # -- the exact-key contract: the store's, with the index kept in step ----------------
    async def async_delete_cache(self, key: str) -> None:
        """Delete ``key`` and the index entry of the answer stored under it."""
        await super().async_delete_cache(key)
        await self.async_semantic_delete(key)

    async def async_flush_cache(self) -> None:
        """Remove every exact and semantic entry of this cache."""
        await super().async_flush_cache()
        await self.index.clear()

    async def async_test_connection(self) -> dict[str, Any]:
        """The store's report; unhealthy, with the reason, when the vector index cannot work
        (a Redis without the search module, say)."""
        report = dict(await super().async_test_connection())
        if report.get("status") != "healthy":
            return report
        try:
            await self.index.ping()
        except Exception as exc:  # a diagnostic: reported, not raised
            return {**report, "status": "unhealthy", "error": str(exc)}
        return report

    async def async_ping(self) -> bool:
        return await super().async_ping() and await self.index.ping()

    async def async_disconnect(self) -> None:
        await super().async_disconnect()
        await self.index.close()

    def _parts(self) -> str:
        """What :meth:`__repr__` names first: where the entries are."""
        return f"{self.store!r}, {self.index!r}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._parts()}, similarity_threshold="
            f"{self.similarity_threshold}, embedder={self.embedder.name!r})"
        )
