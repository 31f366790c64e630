"""Object names encode keys reversibly: namespaces ``acme:eu`` and ``acme/eu`` (and any two
keys) never share an object, on S3 (moto), GCS (its emulator) and Azure Blob (Azurite)."""

from __future__ import annotations

from typing import Any

from aiocache_llm.llm.keys import make_key
from aiocache_llm.storage._object_store import ObjectStoreCache

from .conftest import object_names

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "Capital of France?"}]}


async def test_namespaces_with_colon_and_slash_never_share_an_entry(
    store: ObjectStoreCache[Any],
) -> None:
    colon = make_key("acompletion", REQUEST, namespace="acme:eu")
    slash = make_key("acompletion", REQUEST, namespace="acme/eu")
    await store.async_set_cache(colon, "colon's answer")
    assert await store.async_get_cache(slash) is None
    await store.async_set_cache(slash, "slash's answer")
    assert await store.async_get_cache(colon) == "colon's answer"
    assert await store.async_get_cache(slash) == "slash's answer"
    assert len(await object_names(store)) == 2


async def test_keys_that_differ_only_in_escapes_stay_apart(store: ObjectStoreCache[Any]) -> None:
    keys = ["a:b", "a/b", "a%2Fb", "a%252Fb", "a%3Ab"]
    for key in keys:
        await store.async_set_cache(key, key)
    assert [await store.async_get_cache(key) for key in keys] == keys
    assert len(set(await object_names(store))) == len(keys)
