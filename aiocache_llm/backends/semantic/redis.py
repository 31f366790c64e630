"""RedisSemanticCache (kept importable here): see :mod:`aiocache_llm.semantic.redis`."""

from ...semantic.redis import DEFAULT_INDEX_NAME, RedisSemanticCache

__all__ = ["DEFAULT_INDEX_NAME", "RedisSemanticCache"]
