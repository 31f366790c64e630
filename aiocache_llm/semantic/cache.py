"""SemanticCache: an exact-key store and a vector index, composed with an embedder and a guard.

A semantic cache is an ordinary exact-key cache (the whole :class:`BaseCache` contract, served
by its **store**: any backend) that also answers a request with the stored answer of a
*similar* request, found in its **index** (a :class:`~aiocache_llm.semantic.index.VectorIndex`;
the in-process :class:`~aiocache_llm.semantic.memory_index.InProcessIndex` by default). The LLM
layer hands it a :class:`~aiocache_llm.semantic.query.SemanticQuery` (it never reads a request):

1. The **question** (the last user turn), the earlier turns joined and each earlier turn
   are embedded by the **embedder** in one batch; a text is embedded once.
2. What must be equal — the call family, model, system prompt, tools, parameters, whether
   there are earlier turns, tool calls and non-text parts (``query.exact``), the embedder,
   the namespace and the caller's identity — is an **exact-match filter** (:class:`Scope`).
   Another model's, tenant's or user's entry is never a candidate.
3. The nearest stored questions in that scope are candidates. One is a hit when:

   * its question's cosine similarity (in [0, 1]) is at least the threshold (the entry's own,
     learned online, when ``max_error_rate`` is set; else ``similarity_threshold``;
     ``REPEAT_FLOOR`` for a misspelt repeat), and the precision **guard** (``PrecisionGuard``,
     on by default) finds that both questions ask the same thing;
   * **conversations** match by meaning and facts (:mod:`aiocache_llm.semantic.conversation`):
     "cancel it" after a talk about one subscription never gets the answer given after a
     talk about another; a reworded talk, or one with extra small talk, still matches;
   * below ``verify_below``, the optional ``verifier`` agrees.

**Error budget** (``max_error_rate``): each entry learns its own threshold from feedback (the
``verifier``'s verdicts on a sample of borderline hits, :meth:`SemanticCache.report_wrong`); see
:mod:`aiocache_llm.semantic.budget`. Without feedback nothing changes.

An embedder or verifier that fails makes the lookup a miss (logged and counted in
``stats.errors``): the call goes upstream. A storage failure raises a :mod:`aiocache_llm.errors`
type, as every backend does. Deleting a key deletes its index entry too; flushing empties both.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeAlias

from ..core.codec import decode, encode
from ..errors import ConfigurationError, CorruptEntryError
from ..storage.base import USE_DEFAULT, BaseCache, TTLArg, check_number
from .backend import SemanticBackend
from .budget import ErrorBudget, sampled
from .conversation import conversation_differs
from .embedders import CachedEmbedder, Embedder, make_embedder
from .exact import ExactKeys
from .guard import REPEAT_FLOOR, PrecisionGuard, make_guard
from .index import Match, Record, Scope, VectorIndex
from .query import (
    SemanticHit,
    SemanticQuery,
    StoredQuestion,
    digest,
    entry_binding,
    pack_question,
    unpack_question,
)

__all__ = [
    "DEFAULT_CONTEXT_THRESHOLD",
    "DEFAULT_TURN_THRESHOLD",
    "DEFAULT_SIMILARITY_THRESHOLD",
    "DEFAULT_VERIFY_BELOW",
    "Names",
    "SemanticCache",
    "SemanticHit",
    "Verifier",
    "make_embedder",
]

logger = logging.getLogger("aiocache_llm.semantic")

#: Chosen by ``benchmarks/bench_semantic.py`` for the local all-MiniLM-L6-v2 embedder with
#: the precision guard on (fow-cache questions and the project's own pair sets).
DEFAULT_SIMILARITY_THRESHOLD = 0.8
#: How alike two conversations' earlier turns must be (cosine of the joined turns).
DEFAULT_CONTEXT_THRESHOLD = 0.7
#: How alike two earlier turns must be to be compared fact by fact (numbers, the guard).
DEFAULT_TURN_THRESHOLD = 0.8

#: ``(query, candidate question) -> whether the candidate's answer serves the query`` (sync or
#: async): a second opinion on borderline hits, e.g. a cross-encoder or a judge model.
Verifier: TypeAlias = Callable[[str, str], "bool | Awaitable[bool]"]
#: Hits below this similarity go to the verifier (when one is set); above it they are served.
DEFAULT_VERIFY_BELOW = 0.9

#: The caller's scope: ``namespace`` and ``identity`` (either may be absent).
Names: TypeAlias = Mapping[str, str]


def _fraction(value: object, what: str) -> float:
    number = check_number(value, what)
    if not 0.0 <= number <= 1.0:
        raise ConfigurationError(f"{what} must be between 0 and 1")
    return float(number)


class SemanticCache(ExactKeys, SemanticBackend):
    """``store`` for exact keys, ``index`` for similar questions, ``embedder`` and ``guard``.

    ``guard``: a :class:`PrecisionGuard`, ``True`` (the default one) or ``False``/``None``
    (none). ``candidates``: how many nearest entries are considered per lookup. ``verifier``
    and ``verify_below``: a second opinion on hits whose similarity is below ``verify_below``.
    ``context_threshold`` / ``turn_threshold``: see :mod:`.conversation`. ``max_error_rate``
    (with ``verify_sample``, the share of borderline hits verified): the error budget.
    ``query_extractor``: a ``(call_type, request) -> text`` used instead of the LLM layer's
    rule (the whole conversation then matches exactly).
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
        context_threshold: float = DEFAULT_CONTEXT_THRESHOLD,
        turn_threshold: float = DEFAULT_TURN_THRESHOLD,
        query_extractor: Callable[[str, Mapping[str, Any]], str | None] | None = None,
        candidates: int = 4,
        embedding_cache_size: int = 10_000,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
        max_error_rate: float | None = None,
        verify_sample: float = 1.0,
    ) -> None:
        super().__init__(store)
        if not isinstance(index, VectorIndex):
            raise ConfigurationError("index must be a VectorIndex (upsert, search, delete, ...)")
        self.index = index
        self.similarity_threshold = _fraction(similarity_threshold, "similarity_threshold")
        self.context_threshold = _fraction(context_threshold, "context_threshold")
        self.turn_threshold = _fraction(turn_threshold, "turn_threshold")
        inner = make_embedder(embedder)
        self.embedder = (
            inner
            if isinstance(inner, CachedEmbedder)
            else CachedEmbedder(inner, max_entries=embedding_cache_size)
        )
        self.precision_guard = make_guard(guard)
        if query_extractor is not None and not callable(query_extractor):
            raise ConfigurationError("query_extractor must be a callable (call_type, request)")
        self.query_extractor = query_extractor
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ConfigurationError("candidates must be a positive int")
        self.candidates = candidates
        if verifier is not None and not callable(verifier):
            raise ConfigurationError("verifier must be a callable (query, candidate) -> bool")
        self.verifier = verifier
        self.verify_below = _fraction(verify_below, "verify_below")
        self.verify_sample = _fraction(verify_sample, "verify_sample")
        self.budget = (
            None
            if max_error_rate is None
            else ErrorBudget(_fraction(max_error_rate, "max_error_rate"), self.similarity_threshold)
        )

    @property
    def max_error_rate(self) -> float | None:
        return None if self.budget is None else self.budget.max_error_rate

    # -- what is matched ------------------------------------------------------------------
    def scope_of(self, query: SemanticQuery, names: Names) -> Scope:
        """The exact-match filter of ``query`` for a caller of ``names``."""
        return Scope(
            context=digest(query.exact, self.embedder.name),
            namespace=digest(names.get("namespace") or ""),
            identity=digest(names.get("identity") or ""),
        )

    @staticmethod
    def entry_binding(key: str, question: str) -> str:
        """What an index entry's answer is bound to: the exact key it is stored under and the
        question it answers. An answer moved to another entry (another key or question) does
        not decode there (the codec's key digest; with encryption, the associated data)."""
        return entry_binding(key, question)

    def semantic_binding(self, call_type: str, query: SemanticQuery, scope: Names) -> str | None:
        """The binding of the entry ``query`` is stored as: its key and question text."""
        return self.entry_binding(query.key, query.question)

    @staticmethod
    def entry_id(key: str) -> str:
        """The id of the index entry of the answer stored under the exact ``key`` (storing
        the same request again overwrites it; deleting ``key`` deletes it)."""
        return digest("entry", key)

    async def semantic_warm(self) -> None:
        """Load the embedding model now (the LLM layer calls this before its first lookup,
        outside any deadline, so a cold model never makes a lookup time out)."""
        warm = getattr(self.embedder, "warm", None)
        if warm is not None:
            await warm()

    async def _embed(self, query: SemanticQuery) -> tuple[StoredQuestion, list[float]] | None:
        """The query's question, turns joined and each turn with their vectors (one batch)."""
        context = query.context_text
        turns = tuple(t.text for t in query.context)
        texts = [query.question] + ([context, *turns] if context else [])
        try:
            vectors = await self.embedder.aembed(texts)
        except Exception as exc:  # a failing embedder is a miss, never a failed call
            self.stats.errors += 1
            logger.warning("embedding failed, treating the lookup as a miss: %r", exc)
            return None
        if not context:
            return StoredQuestion(query.question), vectors[0]
        roles, each = tuple(t.role for t in query.context), tuple(map(tuple, vectors[2:]))
        return StoredQuestion(query.question, turns, roles, tuple(vectors[1]), each), vectors[0]

    # -- the semantic API -----------------------------------------------------------------
    async def async_semantic_lookup(
        self, call_type: str, query: SemanticQuery, scope: Names
    ) -> SemanticHit | None:
        """The stored answer of the most similar request in the same scope, or ``None``."""
        embedded = await self._embed(query)
        if embedded is None:
            return None
        asked, vector = embedded
        found = await self.index.search(vector, self.scope_of(query, scope), self.candidates)
        floor = min(REPEAT_FLOOR, self.similarity_threshold)  # a misspelt repeat: down to it
        if self.budget is not None:
            floor = self.budget.base_threshold - 0.1
        for match in sorted(found, key=lambda m: m.similarity, reverse=True):
            if match.similarity < floor:
                break
            if not await self._accepts(asked, match):
                continue
            value = self._value(match)
            if value is not None:
                return SemanticHit(
                    value, match.similarity, match.key, unpack_question(match.question).question
                )
        return None

    def _threshold(self, key: str) -> float:
        return self.similarity_threshold if self.budget is None else self.budget.threshold(key)

    async def _conversation_differs(
        self, asked: StoredQuestion, stored: StoredQuestion
    ) -> str | None:
        """Why two conversations differ, or ``None`` (an index keeps the stored turns' texts:
        they are embedded here, or found in the embedder's cache)."""
        if asked.turns and stored.turns and asked.turns != stored.turns:
            try:
                vectors = await self.embedder.aembed(list(stored.turns))
            except Exception as exc:  # a failing embedder is a miss, never a failed call
                self.stats.errors += 1
                logger.warning("embedding failed, the candidate is not served: %r", exc)
                return "the stored turns could not be embedded"
            stored = replace(stored, turn_vectors=tuple(tuple(v) for v in vectors))
        return conversation_differs(
            asked, stored, self.precision_guard, self.context_threshold, self.turn_threshold
        )

    async def _accepts(self, asked: StoredQuestion, match: Match) -> bool:
        """Whether the guard, the conversation rule (and the verifier) let ``match`` serve."""
        stored, guard = unpack_question(match.question), self.precision_guard
        repeat = guard and not self.budget and guard.repeats(asked.question, stored.question)
        if match.similarity < self._threshold(match.key) and not repeat:
            return False
        if guard is not None:
            verdict = guard.check(asked.question, stored.question, match.similarity)
            if not verdict.ok:
                logger.debug("precision guard rejected a candidate: %s", verdict.reason)
                return False
        reason = await self._conversation_differs(asked, stored)
        if reason is not None:
            logger.debug("conversation rule rejected a candidate: %s", reason)
            return False
        if self.verifier is None or match.similarity >= self.verify_below:
            return True
        if not sampled(self.verify_sample, asked.question, match.key):
            return True
        try:
            verdict_of = self.verifier(asked.question, stored.question)
            if inspect.isawaitable(verdict_of):
                verdict_of = await verdict_of
        except Exception as exc:  # a failing verifier makes the lookup a miss, never an error
            self.stats.errors += 1
            logger.warning("the verifier failed; the candidate is not served (%r)", exc)
            return False
        if self.budget is not None:
            self.budget.record(match.key, match.similarity, bool(verdict_of))
        return bool(verdict_of)

    def report_wrong(self, hit: SemanticHit | str, similarity: float | None = None) -> None:
        """Tell the cache that a served hit's answer was wrong (``hit``: the
        :class:`SemanticHit`, or the exact key of the entry served with ``similarity``): the
        entry never serves again at that similarity or below, and with ``max_error_rate`` set
        the shared threshold learns from it."""
        key = hit.key if isinstance(hit, SemanticHit) else hit
        sim = hit.similarity if isinstance(hit, SemanticHit) else similarity
        if not isinstance(key, str) or sim is None:
            raise ConfigurationError("report_wrong needs a SemanticHit, or a key and a similarity")
        if self.budget is None:
            self.budget = ErrorBudget(1.0, self.similarity_threshold)
        self.budget.record(key, _fraction(sim, "similarity"), False)

    def report_right(self, hit: SemanticHit) -> None:
        """Tell the cache that a served hit's answer was right (evidence for the budget)."""
        if self.budget is not None:
            self.budget.record(hit.key, hit.similarity, True)

    def _value(self, match: Match) -> Any:
        """The answer a match holds, or ``None`` if it expired or does not decode, or was found
        under the id of another key's entry (moved there)."""
        if match.entry_id is not None and match.entry_id != self.entry_id(match.key):
            self.stats.corrupt_reads += 1
            return None
        try:
            question = unpack_question(match.question).question
            entry = decode(match.blob, key=self.entry_binding(match.key, question))
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            return None
        return None if entry.expired() else entry.value

    async def async_semantic_store(
        self,
        call_type: str,
        query: SemanticQuery,
        scope: Names,
        value: Any,
        ttl: TTLArg = USE_DEFAULT,
    ) -> None:
        """Store ``value`` as the answer of ``query`` for later similar requests."""
        seconds = self.resolve_ttl(ttl)
        embedded = await self._embed(query)
        if embedded is None:
            return
        stored, vector = embedded
        now = time.time()
        expires_at = None if seconds is None else now + seconds
        blob = encode(
            value,
            created_at=now,
            expires_at=expires_at,
            key=self.entry_binding(query.key, query.question),
        )
        record = Record(
            vector, self.scope_of(query, scope), pack_question(stored), query.key, blob, expires_at
        )
        await self.index.upsert(self.entry_id(query.key), record)

    async def async_semantic_delete(self, key: str) -> None:
        """Delete the index entry of the answer stored under the exact ``key`` (if any)."""
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
