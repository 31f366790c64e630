"""Serialisation of stored values: an envelope around orjson (or raw bytes).

Layout of an encoded entry (network byte order)::

    magic  b"\\xa1L"   2 bytes
    version            1 byte   (FORMAT_VERSION)
    flags              1 byte   (bit 0: zlib-compressed, bit 1: raw bytes payload)
    created_at         float64  wall-clock seconds since the epoch
    expires_at         float64  wall-clock seconds since the epoch, 0.0 for "never"
    crc32              uint32   of the payload as stored
    key digest         8 bytes  the start of sha256 of the name the entry is stored under
    payload            the rest

The creation time serves ``s-maxage``; the expiry lets stores without native TTLs (disk, object
stores) treat an expired entry as a miss; the checksum turns a torn or foreign value into a
:class:`~aiocache_llm.errors.CorruptEntryError`, which backends read as a miss. The key digest
binds an entry to its name: an entry copied or moved under another name reads as a miss. A
payload inflates to at most ``max_size`` bytes (:data:`DEFAULT_MAX_ENTRY_SIZE`), checked while
it inflates: a larger one is an :class:`~aiocache_llm.errors.EntryTooLargeError` (a miss too).
Entries of an older format version are misses, never errors.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import CorruptEntryError, EntryTooLargeError, SerializationError

__all__ = [
    "DEFAULT_MAX_ENTRY_SIZE",
    "FORMAT_VERSION",
    "Entry",
    "decode",
    "dumps_json",
    "encode",
    "has_non_finite",
    "key_digest",
    "loads_json",
]

FORMAT_VERSION = 2
_MAGIC = b"\xa1L"
_HEADER = struct.Struct("!2sBBddI8s")
_DIGEST = 8
_FLAG_ZLIB = 1
_FLAG_BYTES = 2
_KNOWN_FLAGS = _FLAG_ZLIB | _FLAG_BYTES
#: Payloads at least this long are compressed when that makes them smaller.
DEFAULT_COMPRESS_THRESHOLD = 16 * 1024
#: The largest payload an entry may inflate to when read (32 MiB); a larger one is a miss.
DEFAULT_MAX_ENTRY_SIZE = 32 * 1024 * 1024


#: Digests of recent names (a name is written and read again and again): a dict lookup costs
#: a fraction of a SHA-256 call. Emptied when it reaches :data:`_DIGESTS_KEPT` names.
_digests: dict[str, bytes] = {}
_DIGESTS_KEPT = 4096


def key_digest(key: str) -> bytes:
    """The 8-byte digest of ``key`` an entry stored under it carries."""
    digest = _digests.get(key)
    if digest is None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:_DIGEST]
        if len(_digests) >= _DIGESTS_KEPT:
            _digests.clear()
        _digests[key] = digest
    return digest


@dataclass(slots=True)
class Entry:
    """A decoded entry: the value and the times it carries.

    Every read makes a new one, so changing it changes nothing stored. (Not frozen: a frozen
    dataclass takes five times as long to make, and entries are made on every read.)"""

    value: Any
    created_at: float
    expires_at: float | None

    def expired(self, now: float | None = None) -> bool:
        """Whether the entry's expiry has passed (``now`` defaults to the wall clock)."""
        return self.expires_at is not None and self.expires_at <= (
            time.time() if now is None else now
        )

    def age(self, now: float | None = None) -> float:
        """Seconds since the entry was created."""
        return (time.time() if now is None else now) - self.created_at


def _seconds(value: Any) -> float:
    """orjson fallback: a ``timedelta`` is stored as its seconds (as LiteLLM stores it)."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps_json(value: Any) -> bytes:
    """Serialise ``value`` with orjson, raising :class:`SerializationError` if it cannot.

    ``datetime.timedelta`` values become their seconds. NaN and infinities are refused: JSON
    has no spelling for them, and orjson would silently write ``null``. Only output that
    contains ``null`` is searched for them (``rfind`` scans bytes about twice as fast as ``in``).
    """
    try:
        data = orjson.dumps(value, default=_seconds)
    except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
        raise SerializationError(f"value cannot be serialised: {exc}") from exc
    if data.rfind(b"null") >= 0 and has_non_finite(value):
        raise SerializationError("value cannot be serialised: NaN and infinity are not JSON")
    return data


def has_non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or an infinite float anywhere inside."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def loads_json(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON bytes with orjson."""
    return orjson.loads(data)


def encode(
    value: Any,
    *,
    expires_at: float | None = None,
    created_at: float | None = None,
    compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
    key: str = "",
) -> bytes:
    """Encode ``value`` into an entry for the name ``key``. ``bytes`` are stored raw, anything
    else as JSON."""
    flags = 0
    if isinstance(value, (bytes, bytearray, memoryview)):
        payload = bytes(value)
        flags |= _FLAG_BYTES
    else:
        payload = dumps_json(value)
    if compress_threshold is not None and len(payload) >= compress_threshold:
        packed = zlib.compress(payload, 1)
        if len(packed) < len(payload):
            payload = packed
            flags |= _FLAG_ZLIB
    header = _HEADER.pack(
        _MAGIC,
        FORMAT_VERSION,
        flags,
        time.time() if created_at is None else created_at,
        0.0 if expires_at is None else expires_at,
        zlib.crc32(payload),
        key_digest(key),
    )
    return header + payload


def _inflate(payload: memoryview, max_size: int) -> bytes:
    """``payload`` inflated, stopping as soon as it passes ``max_size`` bytes."""
    inflater = zlib.decompressobj()
    raw = inflater.decompress(payload, max_size + 1)
    if len(raw) > max_size or inflater.unconsumed_tail:
        raise EntryTooLargeError(f"entry inflates past the limit of {max_size} bytes")
    if not inflater.eof:
        raise CorruptEntryError("entry payload is a truncated zlib stream")
    return raw


def decode(
    data: bytes | bytearray | memoryview,
    *,
    key: str | None = None,
    max_size: int = DEFAULT_MAX_ENTRY_SIZE,
) -> Entry:
    """Decode an entry made by :func:`encode` for the name ``key`` (``None``: any name); raise
    :class:`CorruptEntryError` otherwise (:class:`EntryTooLargeError` for a payload over
    ``max_size`` bytes)."""
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise CorruptEntryError("entry shorter than its header")
    magic, version, flags, created_at, expires_at, crc, bound = _HEADER.unpack_from(view)
    if magic != _MAGIC or version != FORMAT_VERSION or flags & ~_KNOWN_FLAGS:
        raise CorruptEntryError("not an aiocache_llm entry, or an unknown format version")
    if key is not None and bound != key_digest(key):
        raise CorruptEntryError("entry stored under another key")
    payload = view[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise CorruptEntryError("entry checksum mismatch")
    try:
        if flags & _FLAG_ZLIB:
            raw: bytes | memoryview = _inflate(payload, max_size)
        elif len(payload) > max_size:
            raise EntryTooLargeError(f"entry is larger than the limit of {max_size} bytes")
        else:
            raw = payload
        value = bytes(raw) if flags & _FLAG_BYTES else orjson.loads(raw)
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise CorruptEntryError(f"entry payload cannot be decoded: {exc}") from exc
    return Entry(value, created_at, expires_at or None)
