"""Serialisation of stored values: an envelope around orjson (or raw bytes).

Layout of an encoded entry (network byte order)::

    magic  b"\\xa1L"   2 bytes
    version            1 byte   (FORMAT_VERSION)
    flags              1 byte   (bit 0: zlib-compressed, bit 1: raw bytes payload)
    created_at         float64  wall-clock seconds since the epoch
    expires_at         float64  wall-clock seconds since the epoch, 0.0 for "never"
    crc32              uint32   of the payload as stored
    payload            the rest

The creation time serves ``s-maxage``; the expiry lets stores without native TTLs (disk, object
stores) treat an expired entry as a miss; the checksum turns a torn or foreign value into a
:class:`~aiocache_llm.errors.CorruptEntryError`, which backends read as a miss.
"""

from __future__ import annotations

import datetime
import math
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import CorruptEntryError, SerializationError

__all__ = [
    "FORMAT_VERSION",
    "Entry",
    "decode",
    "dumps_json",
    "encode",
    "has_non_finite",
    "loads_json",
]

FORMAT_VERSION = 1
_MAGIC = b"\xa1L"
_HEADER = struct.Struct("!2sBBddI")
_FLAG_ZLIB = 1
_FLAG_BYTES = 2
_KNOWN_FLAGS = _FLAG_ZLIB | _FLAG_BYTES
#: Payloads at least this long are compressed when that makes them smaller.
DEFAULT_COMPRESS_THRESHOLD = 16 * 1024


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
) -> bytes:
    """Encode ``value`` into an entry. ``bytes`` are stored raw, anything else as JSON."""
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
    )
    return header + payload


def decode(data: bytes | bytearray | memoryview) -> Entry:
    """Decode an entry made by :func:`encode`; raise :class:`CorruptEntryError` otherwise."""
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise CorruptEntryError("entry shorter than its header")
    magic, version, flags, created_at, expires_at, crc = _HEADER.unpack_from(view)
    if magic != _MAGIC or version != FORMAT_VERSION or flags & ~_KNOWN_FLAGS:
        raise CorruptEntryError("not an aiocache_llm entry, or an unknown format version")
    payload = view[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise CorruptEntryError("entry checksum mismatch")
    try:
        raw = zlib.decompress(payload) if flags & _FLAG_ZLIB else payload
        value = bytes(raw) if flags & _FLAG_BYTES else orjson.loads(raw)
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise CorruptEntryError(f"entry payload cannot be decoded: {exc}") from exc
    return Entry(value, created_at, expires_at or None)
