"""Call wrappers (moved to :mod:`aiocache_llm.facade`; this path keeps working)."""

from .facade import cached, wrap_anthropic, wrap_openai

__all__ = ["cached", "wrap_anthropic", "wrap_openai"]
