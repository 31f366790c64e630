"""The Lua scripts Redis runs for this library, and the version prefix of versioned entries.

Each script is one atomic step on the server:

* :data:`INCREMENT_SCRIPT`: increments, all or nothing, with each new key's TTL.
* :data:`SADD_SCRIPT`: SADD, with the TTL set only on a new set.
* :data:`SET_SCRIPT` / :data:`DELETE_SCRIPT`: versioned writes and deletes for a coherent L1
  (see :mod:`aiocache_llm.storage.dual`). The version is the server's clock in
  microseconds, or one more than the version the key holds if that is larger, so versions of
  a key only grow (through deletes too, since the clock moves on). It travels with the value
  as a prefix ``b"\\xa1V"`` + 16 decimal digits in front of the codec's envelope; a reader
  that knows nothing of versions (``RedisCache.async_get_cache``) strips it.
"""

from __future__ import annotations

__all__ = [
    "DELETE_SCRIPT",
    "INCREMENT_SCRIPT",
    "SADD_SCRIPT",
    "SET_SCRIPT",
    "VERSION_PREFIX",
    "split_version",
]

#: Increments, all or nothing: every key is read first, with one MGET per 4,000 keys (a value
#: that is not a number, or a key of another type, fails the whole call before anything is
#: written; only a key MGET finds absent costs an EXISTS, to tell it from another type), then
#: each gets INCRBYFLOAT with its TTL (ARGV[2i+1], milliseconds, 0 = none) set only when it
#: was new. ARGV[1] = "1" only checks; "2" sets every key's TTL (PERSIST for none), new or
#: not. One call serves a whole batch of keys of one slot.
INCREMENT_SCRIPT = """
local values = {}
for first = 1, #KEYS, 4000 do
  local chunk = redis.call('MGET', unpack(KEYS, first, math.min(first + 3999, #KEYS)))
  for i = 1, #chunk do values[first + i - 1] = chunk[i] end
end
local new = {}
for i, key in ipairs(KEYS) do
  local value = values[i]
  if value then
    if not tonumber(value) then
      return redis.error_reply('ERR the value at a key is not a valid float')
    end
  elseif new[key] == nil then
    if redis.call('EXISTS', key) == 1 then
      return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')
    end
    new[key] = true
  end
end
if ARGV[1] == '1' then return {} end
local refresh = ARGV[1] == '2'
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('INCRBYFLOAT', key, ARGV[2 * i])
  local ms = tonumber(ARGV[2 * i + 1])
  if refresh then
    if ms > 0 then redis.call('PEXPIRE', key, ms) else redis.call('PERSIST', key) end
  elseif new[key] then
    new[key] = false
    if ms > 0 then redis.call('PEXPIRE', key, ms) end
  end
end
return out
"""

#: SADD, with the TTL (ARGV[1], milliseconds, 0 = none) set only on a new set.
SADD_SCRIPT = """
local new = redis.call('EXISTS', KEYS[1]) == 0
local added = redis.call('SADD', KEYS[1], unpack(ARGV, 2))
if new and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return added
"""

VERSION_PREFIX = b"\xa1V"
_DIGITS = 16
_HEADER = len(VERSION_PREFIX) + _DIGITS

# The version this write or delete takes: the server clock (us), or one more than the key's.
_NEXT_VERSION = """
local held = redis.pcall('GETRANGE', KEYS[1], 0, 17)
local now = redis.call('TIME')
local version = tonumber(now[1]) * 1000000 + tonumber(now[2])
if type(held) == 'string' and string.sub(held, 1, 2) == '\\161V' then
  local previous = tonumber(string.sub(held, 3, 18))
  if previous and previous >= version then version = previous + 1 end
end
"""

#: SET KEYS[1] to ARGV[1] with a new version (ARGV[2]: PX milliseconds, 0 = none); returns it.
SET_SCRIPT = (
    _NEXT_VERSION
    + """
local data = '\\161V' .. string.format('%016.0f', version) .. ARGV[1]
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], data, 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], data)
end
return version
"""
)

#: UNLINK KEYS[1]; returns the version the deletion takes (newer than the deleted value's).
DELETE_SCRIPT = (
    _NEXT_VERSION
    + """
redis.call('UNLINK', KEYS[1])
return version
"""
)


def split_version(data: bytes) -> tuple[int, bytes]:
    """``(version, rest)`` of a stored value; ``0`` for a value written without a version."""
    if data[:2] == VERSION_PREFIX and len(data) >= _HEADER:
        try:
            return int(data[2:_HEADER]), data[_HEADER:]
        except ValueError:
            pass
    return 0, data
