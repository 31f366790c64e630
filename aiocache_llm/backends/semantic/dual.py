"""DualSemanticCache (kept importable here): see :mod:`aiocache_llm.semantic.dual`."""

from ...semantic.dual import DualSemanticCache

__all__ = ["DualSemanticCache"]
