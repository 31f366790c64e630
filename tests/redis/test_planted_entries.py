"""Entries planted in a real Redis by someone with write access (redis-py, raw bytes) are
counted misses, never errors and never another key's answer: an entry copied under another key,
an entry of an older format, an entry that inflates past the size limit, an answer of another
kind, a type name outside the closed table, and semantic answers swapped between entries."""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from aiocache_llm.core.codec import decode, encode, key_digest
from aiocache_llm.facade import Cache
from aiocache_llm.llm.entries import make_entry
from aiocache_llm.llm.requests import semantic_query
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.middleware.builders import EncryptedCache, generate_key
from aiocache_llm.semantic.embedders import FunctionEmbedder
from aiocache_llm.semantic.redis import RedisSemanticCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer

pytestmark = pytest.mark.redis


async def test_an_entry_copied_under_another_key_is_a_counted_miss(
    cache: RedisCache, raw: aioredis.Redis
) -> None:
    await cache.async_set_cache("everest", {"answer": "8849 m"})
    stored = await raw.get(cache.object_name("everest"))
    await raw.set(cache.object_name("france"), stored)
    before = cache.stats.corrupt_reads
    assert await cache.async_get_cache("france") is None
    assert await cache.async_batch_get_cache(["france", "everest"]) == [None, {"answer": "8849 m"}]
    assert cache.stats.corrupt_reads == before + 2


async def test_an_entry_of_the_older_format_is_a_counted_miss(
    cache: RedisCache, raw: aioredis.Redis
) -> None:
    payload = orjson.dumps({"answer": "old"})
    old = struct.pack("!2sBBddI", b"\xa1L", 1, 0, 1.0, 0.0, zlib.crc32(payload)) + payload
    await raw.set(cache.object_name("old"), old)
    before = cache.stats.corrupt_reads
    assert await cache.async_get_cache("old") is None
    assert cache.stats.corrupt_reads == before + 1


def _deflate_bomb(inflated: int) -> bytes:
    """zlib data of a JSON string of ``inflated`` bytes, made without compressing them all:
    after a full flush deflate starts afresh, so every further MiB of "a" compresses to the
    same bytes, repeated here; the checksum is computed over the data as zlib's would be."""
    chunk = b"a" * (1 << 20)
    count, rest = divmod(inflated - 2, len(chunk))
    if count < 2:
        return zlib.compress(b'"' + b"a" * (inflated - 2) + b'"', 9)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(b'"' + chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = b"a" * rest + b'"'
    last = deflate.compress(tail) + deflate.flush()
    checksum = zlib.adler32(b'"')
    for _ in range(count):
        checksum = zlib.adler32(chunk, checksum)
    checksum = zlib.adler32(tail, checksum)
    return b"\x78\xda" + first + again * (count - 1) + last + struct.pack("!I", checksum)


def _bomb(name: str, inflated: int) -> bytes:
    """A valid entry for ``name`` whose compressed payload inflates to ``inflated`` bytes."""
    payload = _deflate_bomb(inflated)
    header = struct.pack(
        "!2sBBddI8s", b"\xa1L", 2, 1, 1.0, 0.0, zlib.crc32(payload), key_digest(name)
    )
    return header + payload


async def test_an_entry_that_inflates_past_the_limit_is_a_counted_miss(
    cache: RedisCache, raw: aioredis.Redis
) -> None:
    name = cache.object_name("bomb")
    bomb = _bomb(name, 64 * 1024 * 1024)
    assert len(bomb) < 128 * 1024
    await raw.set(name, bomb)
    before = cache.stats.corrupt_reads
    assert await cache.async_get_cache("bomb") is None
    assert cache.stats.corrupt_reads == before + 1


async def test_the_inflation_limit_is_a_setting(
    redis_server: RedisServer, raw: aioredis.Redis, namespace: str
) -> None:
    small = RedisCache(url=redis_server.url, namespace=namespace, env={}, max_entry_size=4096)
    try:
        await raw.set(small.object_name("fits"), _bomb(small.object_name("fits"), 4000))
        await raw.set(small.object_name("over"), _bomb(small.object_name("over"), 5000))
        assert await small.async_get_cache("fits") == "a" * 3998
        assert await small.async_get_cache("over") is None
        assert small.stats.corrupt_reads == 1
    finally:
        await small.async_flush_cache()
        await small.async_disconnect()


def test_the_codec_stops_inflating_at_the_limit() -> None:
    entry = _bomb("k", 1 << 30)  # 1 GiB, were it inflated whole
    with pytest.raises(Exception, match="limit"):
        decode(entry, key="k", max_size=1 << 20)


@pytest.fixture
async def llm_cache(redis_server: RedisServer, namespace: str) -> AsyncIterator[Cache]:
    cache = Cache(backend=RedisCache(url=redis_server.url, namespace=namespace, env={}))
    try:
        yield cache
    finally:
        await cache.backend.async_flush_cache()
        await cache.backend.async_disconnect()


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    async def aembedding(self, **kwargs: Any) -> Any:
        self.calls += 1
        return {
            "object": "list",
            "model": "e",
            "data": [{"object": "embedding", "index": 0, "embedding": [1.0, 2.0]}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }

    async def acompletion(self, **kwargs: Any) -> Any:
        self.calls += 1
        return {
            "id": "c",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris"},
                    "finish_reason": "stop",
                }
            ],
        }


async def _plant(raw: aioredis.Redis, cache: Cache, key: str, entry: Any) -> None:
    backend = cache.backend
    assert isinstance(backend, RedisCache)
    name = backend.object_name(key)
    await raw.set(name, encode(entry, key=name))


async def test_an_answer_of_another_kind_under_an_embedding_key_is_a_counted_miss(
    llm_cache: Cache, raw: aioredis.Redis
) -> None:
    upstream = Upstream()
    request = {"model": "e", "input": "x"}
    first = await llm_cache.async_call("aembedding", upstream.aembedding, dict(request))
    key = cache_info(first)["cache_key"]
    chat = make_entry("response", {"choices": [{"message": {"content": "hi"}}]}, None)
    for planted in (chat, make_entry("chunks", [], None)):
        await _plant(raw, llm_cache, key, planted)
        before = llm_cache.backend.stats.corrupt_reads
        again = await llm_cache.async_call("aembedding", upstream.aembedding, dict(request))
        assert again["data"][0]["embedding"] == [1.0, 2.0]
        assert llm_cache.backend.stats.corrupt_reads == before + 1
    assert upstream.calls == 3


@pytest.mark.parametrize(
    "type_name",
    ["xml.dom.minidom:Node", "openai.lib.azure:AzureOpenAI", "litellm.proxy.proxy_server:app", 7],
)
async def test_a_type_name_outside_the_closed_table_is_a_counted_miss_and_imports_nothing(
    llm_cache: Cache, raw: aioredis.Redis, type_name: Any
) -> None:
    upstream = Upstream()
    request = {"model": "m", "messages": [{"role": "user", "content": "France?"}]}
    first = await llm_cache.async_call("acompletion", upstream.acompletion, dict(request))
    key = cache_info(first)["cache_key"]
    module = type_name.partition(":")[0] if isinstance(type_name, str) else None
    was_loaded = module in sys.modules
    await _plant(raw, llm_cache, key, make_entry("response", dict(first), type_name))
    before = llm_cache.backend.stats.corrupt_reads
    again = await llm_cache.async_call("acompletion", upstream.acompletion, dict(request))
    assert again["choices"][0]["message"]["content"] == "Paris"
    assert upstream.calls == 2
    assert llm_cache.backend.stats.corrupt_reads == before + 1
    assert (module in sys.modules) == was_loaded


def _words(texts: list[str]) -> list[list[float]]:
    """A toy embedding: France questions and Everest questions point different ways."""
    return [[1.0, 0.0] if "France" in text else [0.0, 1.0] for text in texts]


def _chat(question: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": question}]}


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
@pytest.mark.parametrize("fields", [("val",), ("key", "val"), ("q", "key", "val")])
async def test_semantic_answers_swapped_between_entries_read_as_misses(
    redis_server: RedisServer,
    raw: aioredis.Redis,
    namespace: str,
    encrypted: bool,
    fields: tuple[str, ...],
) -> None:
    semantic = RedisSemanticCache(
        url=redis_server.url,
        env={},
        namespace=namespace,
        embedder=FunctionEmbedder(_words),
        redis_semantic_cache_index_name=f"swap{namespace}",
        precision_guard=False,
    )
    stack: Any = EncryptedCache(semantic, generate_key()) if encrypted else semantic
    scope = {"namespace": namespace}
    france = semantic_query("acompletion", _chat("What is the capital of France?"), scope)
    everest = semantic_query("acompletion", _chat("How high is Everest?"), scope)
    try:
        await stack.async_semantic_store("acompletion", france, scope, {"a": "Paris"})
        await stack.async_semantic_store("acompletion", everest, scope, {"a": "8849 m"})
        hit = await stack.async_semantic_lookup("acompletion", france, scope)
        assert hit is not None and hit.value == {"a": "Paris"}
        names = sorted(await raw.keys(semantic.entry_prefix + "*"))
        assert len(names) == 2
        one, other = [await raw.hgetall(name) for name in names]
        for field in fields:  # swap the fields between the two entries
            await raw.hset(names[0], field, other[field.encode()])
            await raw.hset(names[1], field, one[field.encode()])
        before = semantic.stats.corrupt_reads
        for request in (france, everest):
            assert await stack.async_semantic_lookup("acompletion", request, scope) is None
        assert semantic.stats.corrupt_reads >= before + 2
    finally:
        await stack.async_flush_cache()
        await stack.async_drop_index()
        await stack.async_disconnect()
