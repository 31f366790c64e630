"""The cached-call path (moved to :mod:`aiocache_llm.llm.handler`; this path keeps working)."""

from .llm.context import CallContext, call_upstream
from .llm.handler import Handler

__all__ = ["CallContext", "Handler", "call_upstream"]
