"""The contract for awkward input: one behaviour per input class, the same on every backend.

Each test here was a disagreement between backends once; the ``api`` fixture runs it on every
backend through the async and the blocking API.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from aiocache_llm import InvalidArgumentError, InvalidKeyError, InvalidTTLError, SerializationError

from .conftest import BY_REFERENCE, Api

LONE_SURROGATE = "key-\ud800"


@pytest.mark.parametrize("operation", ["set_cache", "get_cache", "delete_cache", "get_ttl"])
async def test_a_key_with_a_lone_surrogate_is_an_invalid_key(api: Api, operation: str) -> None:
    args: tuple[Any, ...] = (LONE_SURROGATE, "v") if operation == "set_cache" else (LONE_SURROGATE,)
    with pytest.raises(InvalidKeyError):
        await getattr(api, operation)(*args)


@pytest.mark.parametrize("key", [["k"], None, 7])
async def test_delete_with_a_key_that_is_not_a_str_is_an_invalid_key(api: Api, key: Any) -> None:
    with pytest.raises(InvalidKeyError):
        await api.delete_cache(key)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, {"score": math.nan}, [1.0, -math.inf], {"a": [{"b": math.inf}]}]
)
async def test_nan_and_infinity_are_a_serialisation_error_and_store_nothing(
    backend_name: str, api: Api, value: Any
) -> None:
    if backend_name in BY_REFERENCE:
        pytest.skip(f"{backend_name} keeps values by reference, unserialised")
    with pytest.raises(SerializationError):
        await api.set_cache("k", value)
    assert await api.get_cache("k") is None


async def test_none_inside_a_value_is_still_stored(api: Api) -> None:
    await api.set_cache("k", {"logprobs": None, "score": 0.5})
    assert await api.get_cache("k") == {"logprobs": None, "score": 0.5}


@pytest.mark.parametrize("ttl", [1e16, 10**400, -(10**400), 200 * 365 * 86400])
async def test_a_ttl_beyond_a_century_is_an_invalid_ttl(api: Api, ttl: Any) -> None:
    with pytest.raises(InvalidTTLError):
        await api.set_cache("k", "v", ttl=ttl)
    with pytest.raises(InvalidTTLError):
        await api.set_cache_pipeline([("k", "v")], ttl=ttl)
    with pytest.raises(InvalidTTLError):
        await api.increment_cache("n", 1, ttl=ttl)
    assert await api.batch_get_cache(["k", "n"]) == [None, None]


async def test_a_ttl_of_ninety_years_is_accepted(api: Api) -> None:
    await api.set_cache("k", "v", ttl=90 * 365 * 86400)
    assert await api.get_cache("k") == "v"


async def test_an_increment_by_a_huge_int_is_accepted_or_refused_typed(api: Api) -> None:
    with pytest.raises(InvalidArgumentError):
        await api.increment_cache("n", math.nan)
    assert await api.increment_cache("n", 10**6) == 10**6


@pytest.mark.parametrize(
    "by", [10**400, -(10**400), 2**63, -(2**63) - 1], ids=["1e400", "-1e400", "2^63", "-2^63-1"]
)
async def test_an_increment_by_an_int_past_64_bits_is_refused_typed_and_stores_nothing(
    api: Api, by: int
) -> None:
    with pytest.raises(InvalidArgumentError):
        await api.increment_cache("n", by)
    with pytest.raises(InvalidArgumentError):
        await api.increment_pipeline([("a", 1), ("n", by)])
    assert await api.get_cache("n") is None
    assert await api.get_cache("a") is None


@pytest.mark.parametrize("stored", [5, 2.5, 0])
async def test_a_number_stored_with_set_cache_can_be_incremented(api: Api, stored: Any) -> None:
    await api.set_cache("n", stored)
    assert await api.increment_cache("n", 1) == pytest.approx(stored + 1)
    assert await api.get_cache("n") == pytest.approx(stored + 1)


async def test_a_stored_number_keeps_its_ttl_when_incremented(api: Api) -> None:
    await api.set_cache("n", 5, ttl=100)
    await api.increment_cache("n", 1)
    remaining = await api.get_ttl("n")
    assert remaining is not None and 90 < remaining <= 100
    entry = await api.get_entry("n")
    assert entry.value == 6 and entry.expires_at is not None


@pytest.mark.parametrize("create", ["set_cache", "increment_cache"])
async def test_a_refreshing_increment_resets_the_ttl_of_an_existing_key(
    api: Api, create: str
) -> None:
    await getattr(api, create)("n", 5, ttl=100)
    assert await api.increment_cache("n", 1, ttl=1000, refresh_ttl=True) == 6
    remaining = await api.get_ttl("n")
    assert remaining is not None and 500 < remaining <= 1000


async def test_an_increment_without_refresh_keeps_the_ttl_of_an_existing_key(api: Api) -> None:
    await api.increment_cache("n", 5, ttl=100)
    assert await api.increment_cache("n", 1, ttl=1000, refresh_ttl=False) == 6
    assert await api.increment_cache("n", 1, ttl=1000) == 7
    remaining = await api.get_ttl("n")
    assert remaining is not None and remaining <= 100


async def test_a_refreshing_increment_with_ttl_none_makes_the_key_unexpiring(api: Api) -> None:
    await api.increment_cache("n", 5, ttl=100)
    assert await api.increment_cache("n", 1, ttl=None, refresh_ttl=True) == 6
    assert await api.get_ttl("n") is None
    assert await api.get_cache("n") == 6


async def test_an_increment_pipeline_with_one_bad_item_applies_nothing(api: Api) -> None:
    await api.set_cache("text", "not a number")
    await api.increment_cache("a", 1)
    with pytest.raises(InvalidArgumentError):
        await api.increment_pipeline([("a", 1), ("b", 1), ("text", 1), ("c", 1)])
    assert await api.batch_get_cache(["a", "b", "c", "text"]) == [1, None, None, "not a number"]


async def test_an_increment_pipeline_with_one_bad_key_applies_nothing(api: Api) -> None:
    with pytest.raises(InvalidKeyError):
        await api.increment_pipeline([("a", 1), (LONE_SURROGATE, 1)])
    assert await api.get_cache("a") is None


async def test_an_increment_pipeline_may_name_one_key_twice(api: Api) -> None:
    assert await api.increment_pipeline([("a", 1, 60), ("a", 2, 60)]) == [1, 3]
    remaining = await api.get_ttl("a")
    assert remaining is not None and 50 < remaining <= 60
