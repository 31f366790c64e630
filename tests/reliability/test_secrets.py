"""No password, token, API key or prompt text in logs, keys, exceptions, test_connection()
output, events or metrics labels — for succeeding and failing calls alike — and stored
answers encrypted at rest when a key is given."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.middleware.builders import EncryptedCache, generate_key
from tests.harness.redis import RedisServer, start_redis
from tests.harness.s3 import S3Server, start_s3

from .conftest import Echo, chat

PASSWORD = "pw-3f9c1e-never-print-me"
WRONG_PASSWORD = "pw-77aa02-also-secret"
API_KEY = "sk-live-5ecr3t-api-key-0042"
PROMPT = "PROMPT-the-vault-code-is-918273"
SECRETS = (PASSWORD, WRONG_PASSWORD, API_KEY, PROMPT, "918273", "5ecr3t", "never-print")


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("locked"), password=PASSWORD)
    try:
        yield server
    finally:
        server.process.resume()
        server.stop()


class Seen:
    """Everything a user, an operator or a metrics scraper could read."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *items: Any) -> None:
        self.texts.extend(str(item) for item in items)

    def add_error(self, exc: BaseException) -> None:
        self.add("".join(traceback.format_exception(exc)), repr(exc))

    def leaks(self) -> list[str]:
        return [s for s in SECRETS for text in self.texts if s in text]


async def use(cache: Cache, echo: Echo, seen: Seen) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    llm = cache.cached(echo.acompletion)
    for _ in range(2):
        try:
            await llm(**chat(PROMPT, api_key=API_KEY))  # the answer itself may quote it
        except Exception as exc:
            seen.add_error(exc)
    seen.add(json.dumps(await cache.async_test_connection(), default=str))
    seen.add(repr(cache), repr(cache.backend), repr(cache.guarded), cache.events.counters)
    seen.add(*events)


@pytest.mark.parametrize("policy", ["fail_open", "fail_closed"])
@pytest.mark.parametrize("situation", ["healthy", "wrong password", "paused"])
async def test_nothing_secret_reaches_logs_errors_reports_or_events(
    locked_redis: RedisServer, caplog: pytest.LogCaptureFixture, situation: str, policy: str
) -> None:
    caplog.set_level(logging.DEBUG)
    password = WRONG_PASSWORD if situation == "wrong password" else PASSWORD
    url = f"redis://:{password}@127.0.0.1:{locked_redis.port}/0"
    cache = Cache(
        type="redis",
        url=url,
        password=password,
        namespace="secrets",
        failure_policy=policy,
        backend_deadline=0.2,
    )
    seen = Seen()
    if situation == "paused":
        locked_redis.process.pause()
    try:
        await use(cache, Echo(), seen)
    finally:
        locked_redis.process.resume()
    await cache.async_disconnect()
    seen.add(*(record.getMessage() for record in caplog.records))
    seen.add(*(caplog.text,))
    assert seen.leaks() == []
    assert any("BackendUnavailable" in t or "status" in t for t in seen.texts)  # it did report


@pytest.fixture(scope="module")
def own_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(tmp_path_factory.mktemp("s3-secrets"))
    try:
        yield server
    finally:
        server.process.resume()
        server.stop()


@pytest.mark.parametrize("paused", [False, True])
async def test_object_store_credentials_never_leak(
    own_s3: S3Server, caplog: pytest.LogCaptureFixture, paused: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    params = {**own_s3.cache_params(), "s3_aws_secret_access_key": PASSWORD}
    cache = Cache(type="s3", **params, failure_policy="fail_closed", backend_deadline=0.3)
    seen = Seen()
    if paused:
        own_s3.process.pause()
    try:
        await use(cache, Echo(), seen)
    finally:
        own_s3.process.resume()
    await cache.async_disconnect()
    seen.add(caplog.text)
    assert seen.leaks() == []


async def test_stored_keys_hold_no_prompt_text(locked_redis: RedisServer) -> None:
    cache = Cache(type="redis", url=locked_redis.url, namespace="keys")
    await use(cache, Echo(), Seen())
    await cache.async_disconnect()
    with redis.Redis(port=locked_redis.port, password=PASSWORD) as client:
        # (one name is binary: the namespace's version counter, beside the entries)
        keys = [k.decode(errors="replace") for k in client.keys("keys:*")]
    assert keys and not [k for k in keys for s in SECRETS if s in k]


async def test_encrypted_entries_hold_no_readable_prompt_or_answer(
    locked_redis: RedisServer,
) -> None:
    cache = Cache(
        type="redis", url=locked_redis.url, namespace="sealed", encryption_key=generate_key()
    )
    echo = Echo()
    llm = cache.cached(echo.acompletion)
    await llm(**chat(PROMPT))
    assert (await llm(**chat(PROMPT)))["choices"][0]["message"]["content"].endswith(PROMPT)
    assert echo.calls == 1
    await cache.async_disconnect()
    with redis.Redis(port=locked_redis.port, password=PASSWORD) as client:
        stored = [client.get(k) or b"" for k in client.keys("sealed:*")]
    assert stored and not [v for v in stored if b"918273" in v or b"asked" in v]


async def test_an_entry_under_another_key_or_encryption_key_reads_as_a_miss(
    tmp_path: Path,
) -> None:
    from aiocache_llm.storage.disk import DiskCache

    disk = DiskCache(tmp_path)
    sealed = EncryptedCache(disk, generate_key())
    await sealed.async_set_cache("a", {"answer": PROMPT})
    await disk.async_set_cache("b", await disk.async_get_cache("a"))  # moved under another key
    assert await sealed.async_get_cache("a") == {"answer": PROMPT}
    assert await sealed.async_get_cache("b") is None
    assert await EncryptedCache(disk, generate_key()).async_get_cache("a") is None
    await disk.async_set_cache("c", b"\xe1garbage")
    assert await sealed.async_get_cache("c") is None
    # one stats sink for the stack: the other key's failed read of "a" counts there too
    assert sealed.stats.corrupt_reads == disk.stats.corrupt_reads == 3
    await disk.async_disconnect()


async def test_keys_rotate_the_first_encrypts_every_one_decrypts(tmp_path: Path) -> None:
    from aiocache_llm.storage.memory import InMemoryCache

    old, new = generate_key(), generate_key()
    store = InMemoryCache()
    await EncryptedCache(store, old).async_set_cache("k", "v")
    rotated = EncryptedCache(store, [new, old])
    assert await rotated.async_get_cache("k") == "v"
    await rotated.async_set_cache("k2", "v2")
    assert await EncryptedCache(store, new).async_get_cache("k2") == "v2"
    assert await EncryptedCache(store, old).async_get_cache("k2") is None


def test_update_cache_keeps_the_encryption_and_the_failure_policy(tmp_path: Path) -> None:
    from aiocache_llm.facade import disable_cache, enable_cache, update_cache
    from aiocache_llm.middleware.builders import GuardedCache

    first = enable_cache(
        type="disk",
        disk_cache_dir=tmp_path,
        encryption_key=generate_key(),
        failure_policy="fail_closed",
    )
    try:
        updated = update_cache(namespace="other")
        assert updated.backend is first.backend
        assert isinstance(updated.guarded, GuardedCache)
        assert updated.guarded.policy == "fail_closed"
        assert isinstance(updated.guarded.inner, EncryptedCache)
    finally:
        disable_cache()
        first.disconnect()
