"""The Lua scripts Redis runs for this library, and the version prefix of versioned entries.

Each script is one atomic step on the server:

* :data:`INCREMENT_SCRIPT`: increments, all or nothing, with each new key's TTL.
* :data:`SADD_SCRIPT`: SADD, with the TTL set only on a new set.
* :data:`SET_SCRIPT` (:data:`SET_ONE_SCRIPT` for one value) / :data:`DELETE_SCRIPT`: versioned
  writes and deletes for a coherent L1 (see :mod:`aiocache_llm.storage.dual`), each with its
  announcement, in one step (one round trip, sent as ``EVALSHA``). Versions come from a
  counter (one ``INCRBY``) in the slot of the keys, so versions of a key only grow, through
  deletes too. A version travels with the value as a prefix ``b"\\xa1V"`` + 16 decimal digits
  in front of the codec's envelope; a reader that knows nothing of versions
  (``RedisCache.async_get_cache``) strips it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from .autopipeline import Command

__all__ = [
    "DELETE",
    "DELETE_SCRIPT",
    "INCREMENT_SCRIPT",
    "SADD_SCRIPT",
    "SET",
    "SET_ONE",
    "SET_ONE_SCRIPT",
    "SET_SCRIPT",
    "Script",
    "VERSION_PLACEHOLDER",
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
#: A version header whose digits a script writes over (see :data:`SET_ONE_SCRIPT`).
VERSION_PLACEHOLDER = VERSION_PREFIX + b"0" * _DIGITS

# The last of ``count`` new versions, from the version counter KEYS[1] (one INCRBY), as 16
# digits: a counter that is missing (new, or flushed with its namespace) starts from the
# server clock in microseconds, so it is ahead of every version taken before (each write takes
# at least a microsecond), and it has 16 digits until the year 2286 (no leading zero: the same
# text is the version in JSON).
_NEXT_VERSIONS = """
last = redis.call('INCRBY', KEYS[1], count)
if last < 1000000000000000 then
  local now = redis.call('TIME')
  last = tonumber(now[1]) * 1000000 + tonumber(now[2]) + count
  redis.call('SET', KEYS[1], string.format('%.0f', last))
end
"""

#: SET KEYS[2..] (KEYS[1]: the version counter of their slot) with new versions, and PUBLISH
#: the change on ARGV[2] unless it is empty, all in one step. ARGV[1]: PX milliseconds (0 =
#: none); ARGV[3], ARGV[4]: the message's head and tail; ARGV[5]: how many items take a
#: version; then per item its data, its key in JSON and "1" (versioned) or "0" (a counter:
#: stored as it is, announced with version 0). Returns the last version taken; the versioned
#: items took the ones before it, in order.
SET_SCRIPT = (
    "local count = tonumber(ARGV[5])\nlocal last = 0\nif count > 0 then"
    + _NEXT_VERSIONS
    + """end
local px, publish = ARGV[1], ARGV[2] ~= ''
if px == '0' then px = nil end
if #KEYS == 2 then
  local data, version = ARGV[6], '0'
  if count == 1 then
    version = string.format('%016.0f', last)
    data = '\\161V' .. version .. data
  end
  if px then redis.call('SET', KEYS[2], data, 'PX', px) else redis.call('SET', KEYS[2], data) end
  if publish then
    redis.call('PUBLISH', ARGV[2], ARGV[3] .. '[' .. ARGV[7] .. ',' .. version .. ']' .. ARGV[4])
  end
  return last
end
local next, parts = last - count + 1, {}
for i = 2, #KEYS do
  local at = 3 * i
  local data, version = ARGV[at], '0'
  if ARGV[at + 2] == '1' then
    version = string.format('%016.0f', next)
    next = next + 1
    data = '\\161V' .. version .. data
  end
  if px then redis.call('SET', KEYS[i], data, 'PX', px) else redis.call('SET', KEYS[i], data) end
  parts[i - 1] = '[' .. ARGV[at + 1] .. ',' .. version .. ']'
end
if publish then
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. table.concat(parts, ',') .. ARGV[4])
end
return last
"""
)

#: The one-value form of :data:`SET_SCRIPT`, with less to parse and no copy of the value in
#: Lua: SET KEYS[2] (KEYS[1]: the version counter of its slot) to ARGV[1], the data behind a
#: version header of zeros (:data:`VERSION_PLACEHOLDER`), with PX ARGV[2] milliseconds (0 =
#: none), write the new version over the zeros (SETRANGE), and PUBLISH ARGV[4] .. version ..
#: ARGV[5] on ARGV[3] unless it is empty. Returns the version.
SET_ONE_SCRIPT = (
    "local count, last = 1, 0"
    + _NEXT_VERSIONS
    + """if ARGV[2] == '0' then
  redis.call('SET', KEYS[2], ARGV[1])
else
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
local version = string.format('%d', last)
redis.call('SETRANGE', KEYS[2], 2, version)
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4] .. version .. ARGV[5]) end
return last
"""
)

#: UNLINK KEYS[2] (KEYS[1]: its version counter) and PUBLISH the change on ARGV[1] unless it is
#: empty (ARGV[2], ARGV[3]: the message's head and tail, ARGV[4]: the key in JSON); returns the
#: version the deletion takes (newer than the deleted value's).
DELETE_SCRIPT = (
    "local count, last = 1, 0"
    + _NEXT_VERSIONS
    + """redis.call('UNLINK', KEYS[2])
if ARGV[1] ~= '' then
  local change = '[' .. ARGV[4] .. ',' .. string.format('%.0f', last) .. ']'
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. change .. ARGV[3])
end
return last
"""
)


class Script:
    """A script sent by its SHA1 (``EVALSHA``), with its body at hand for a server that does
    not hold it yet (``NOSCRIPT``: see :meth:`loading`)."""

    __slots__ = ("body", "sha")

    def __init__(self, body: str) -> None:
        self.body = body
        self.sha = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()

    def command(self, keys: Sequence[Any], args: Sequence[Any]) -> Command:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def loading(self, command: Command) -> Command:
        """``command`` as an ``EVAL`` of the body, which also loads it into the server."""
        return ("EVAL", self.body, *command[2:])


SET = Script(SET_SCRIPT)
SET_ONE = Script(SET_ONE_SCRIPT)
DELETE = Script(DELETE_SCRIPT)


def split_version(data: bytes) -> tuple[int, bytes]:
    """``(version, rest)`` of a stored value; ``0`` for a value written without a version."""
    if data[:2] == VERSION_PREFIX and len(data) >= _HEADER:
        try:
            return int(data[2:_HEADER]), data[_HEADER:]
        except ValueError:
            pass
    return 0, data
