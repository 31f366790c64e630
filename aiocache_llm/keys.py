"""Cache keys (moved to :mod:`aiocache_llm.llm.keys`; this path keeps working)."""

from .llm.keys import (
    KEY_SCHEMA_VERSION,
    call_family,
    canonical_json,
    digest,
    file_digest,
    make_key,
    relevant_arguments,
    scoped_custom_key,
)

__all__ = [
    "KEY_SCHEMA_VERSION",
    "call_family",
    "canonical_json",
    "digest",
    "file_digest",
    "make_key",
    "relevant_arguments",
    "scoped_custom_key",
]
