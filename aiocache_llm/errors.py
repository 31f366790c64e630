"""Every exception aiocache_llm raises.

Hierarchy::

    CacheError
    ├── ConfigurationError          (ValueError)  bad constructor / environment settings
    │   └── MissingDependencyError  (ImportError) a backend's optional extra is not installed
    ├── InvalidArgumentError        (ValueError)  bad input at a method boundary
    │   ├── InvalidKeyError         (TypeError)   a key that is not a non-empty str
    │   ├── InvalidTTLError                       a TTL that is not None or a positive number
    │   ├── InvalidControlError                   a bad per-call ``cache={...}`` control
    │   ├── InvalidRequestError         (TypeError)   LLM call arguments that cannot be sent
    │   └── SerializationError      (TypeError)   a value the codec cannot encode
    ├── ValueTooLargeError                        a value over a backend's hard size limit
    ├── CorruptEntryError                         stored bytes that are not a valid entry
    │   └── EntryTooLargeError                    an entry that inflates past the size limit
    ├── NotSupported                (NotImplementedError) an operation a backend cannot do safely
    └── BackendError                              a storage backend failed
        └── BackendUnavailable      (ConnectionError) unreachable, refused, or down
            └── BackendTimeout      (TimeoutError)    no answer within the deadline

Backends translate their client library's exceptions into these at the boundary, with the
original chained as ``__cause__``; callers never need to import redis, botocore or azure to
catch a cache failure.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "CacheError",
    "ConfigurationError",
    "CorruptEntryError",
    "EntryTooLargeError",
    "InvalidArgumentError",
    "InvalidControlError",
    "InvalidKeyError",
    "InvalidRequestError",
    "InvalidTTLError",
    "MissingDependencyError",
    "NotSupported",
    "SerializationError",
    "ValueTooLargeError",
]


class CacheError(Exception):
    """Base class of every error raised by aiocache_llm."""


class ConfigurationError(CacheError, ValueError):
    """Raised when a cache is built with settings that cannot work."""


class MissingDependencyError(ConfigurationError, ImportError):
    """Raised when a backend is requested whose optional extra is not installed."""

    def __init__(self, backend: str, extra: str, missing: str | None = None) -> None:
        self.backend = backend
        self.extra = extra
        #: the top-level module that failed to import (``aiobotocore``, ``redis``, ...)
        self.missing = missing.partition(".")[0] if missing else None
        needs = f"{self.missing} (the '{extra}' extra)" if self.missing else f"the '{extra}' extra"
        super().__init__(
            f"the {backend} backend needs {needs}: pip install 'aiocache-llm[{extra}]'"
        )


class InvalidArgumentError(CacheError, ValueError):
    """Raised when a method is called with an argument it cannot accept."""


class InvalidKeyError(InvalidArgumentError, TypeError):
    """Raised when a cache key is not a non-empty ``str``."""


class InvalidTTLError(InvalidArgumentError):
    """Raised when a TTL is neither ``None`` nor a positive, finite number of seconds."""


class InvalidControlError(InvalidArgumentError):
    """Raised when a per-call cache control is unknown or has the wrong type."""


class InvalidRequestError(InvalidArgumentError, TypeError):
    """Raised before anything is sent upstream when an LLM call's arguments have the wrong
    shape (``messages`` that is not a list, an embedding ``input`` that is a number, ...)."""


class SerializationError(InvalidArgumentError, TypeError):
    """Raised when a value cannot be serialised; nothing is stored."""


class ValueTooLargeError(CacheError):
    """Raised when a value exceeds a hard size limit of the backend; nothing is stored."""


class CorruptEntryError(CacheError):
    """Raised by the codec for bytes that are not a valid entry (backends read it as a miss)."""


class EntryTooLargeError(CorruptEntryError):
    """Raised by the codec for an entry whose payload inflates past the size limit (a miss)."""


class NotSupported(CacheError, NotImplementedError):
    """Raised when a backend cannot perform an operation safely (for example atomically)."""


class BackendError(CacheError):
    """Raised when a storage backend fails."""


class BackendUnavailable(BackendError, ConnectionError):
    """Raised when a backend cannot be reached, refuses the request, or is down."""


class BackendTimeout(BackendUnavailable, TimeoutError):
    """Raised when a backend does not answer within its deadline."""
