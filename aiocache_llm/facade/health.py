"""A cache's health check: whether its store answers and takes a write and, for a semantic
cache, whether its embedding model and vector index work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..core.failures import describe_failure
from ..llm.requests import semantic_query
from ..semantic import semantic_backend
from ..storage.base import BaseCache

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["health_report"]

_HEALTH_KEY: Final = "aiocache-llm:health-probe"
_HEALTH_QUESTION: Final = "aiocache-llm health probe"


async def health_report(cache: Cache, store: BaseCache) -> dict[str, Any]:
    """``cache``'s health, probed through ``store`` (its strict stack). Keys: ``status``,
    ``ping_response``, ``set_cache_response``, ``semantic_response`` and, when unhealthy,
    ``error``."""
    report: dict[str, Any] = {"status": "healthy"}
    step = "ping"
    try:
        report["ping_response"] = bool(await store.async_ping())
        step = "set"
        await store.async_set_cache(_HEALTH_KEY, {"ping": True}, 60)
        report["set_cache_response"] = "success"
        await store.async_delete_cache(_HEALTH_KEY)
        if semantic_backend(cache.backend) is not None:
            step = "embedding"
            await cache.backend.embedder.aembed([_HEALTH_QUESTION])  # type: ignore[attr-defined]
            step = "semantic lookup"
            request = {"messages": [{"role": "user", "content": _HEALTH_QUESTION}]}
            query = semantic_query("acompletion", request, {})
            await store.async_semantic_lookup("acompletion", query, {})  # type: ignore[attr-defined]
            report["semantic_response"] = "success"
    except Exception as exc:  # a diagnostic: reported, not raised
        report["status"] = "unhealthy"
        report["error"] = f"{step} failed: {describe_failure(exc)}{_tls_hint(cache, exc)}"
    if report.get("ping_response") is False:
        report["status"] = "unhealthy"
    return report


def _tls_hint(cache: Cache, exc: Exception) -> str:
    """A hint for a timeout with ssl on: a server that does not speak TLS never answers."""
    store = getattr(cache.backend, "redis_cache", None) or cache.backend  # under an L1
    options = getattr(store, "settings", None)
    if isinstance(exc, TimeoutError) and isinstance(options, dict) and options.get("ssl"):
        return (
            " (with ssl on, a server that does not speak TLS never answers the"
            " handshake: a TLS mismatch? check ssl / REDIS_SSL)"
        )
    return ""
