"""Integrations with other libraries; each imports its library only when used."""

from __future__ import annotations

from typing import Any

__all__ = ["litellm_cache"]


def litellm_cache(type: str = "local", **settings: Any) -> Any:
    """A ``litellm.Cache`` whose storage is an aiocache_llm backend (see
    :func:`aiocache_llm.integrations.litellm.litellm_cache`)::

        litellm.cache = aiocache_llm.litellm_cache(type="redis", host="127.0.0.1", port=6379)
    """
    from .litellm import litellm_cache as build

    return build(type, **settings)
