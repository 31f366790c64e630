"""Per-call controls: each does what it says; a bad one raises before any upstream call."""

from __future__ import annotations

from typing import Any

import pytest

from aiocache_llm.errors import InvalidControlError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.controls import Controls, parse_controls
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream
from tests.timing import live_then_gone

from ._support import ask


def test_no_controls_parse_to_the_shared_defaults() -> None:
    assert parse_controls() is parse_controls(None, None)
    assert parse_controls() == Controls()


def test_controls_parse_into_their_fields() -> None:
    parsed = parse_controls(
        {"no-cache": True, "no-store": False, "ttl": 60, "s-maxage": 0, "namespace": "a"}, True
    )
    assert parsed == Controls(True, False, 60.0, 0.0, "a", True)


@pytest.mark.parametrize(
    ("cache", "caching"),
    [
        ({"no_cache": True}, None),
        ({"no-cache": "yes"}, None),
        ({"ttl": -1}, None),
        ({"ttl": True}, None),
        ({"s-maxage": "10"}, None),
        ({"namespace": ""}, None),
        ({"ttl": 10**400}, None),
        ({"ttl": -(10**400)}, None),
        ({"ttl": 101 * 365.25 * 86400}, None),
        ({"s-maxage": 10**400}, None),
        ({"stale-if-error": 10**400}, None),
        ({"namespace": "acme\ud800"}, None),
        ("no-cache", None),
        (None, "yes"),
        ({"use-cache": False}, True),
    ],
)
def test_a_bad_control_raises_a_typed_error(cache: Any, caching: Any) -> None:
    with pytest.raises(InvalidControlError):
        parse_controls(cache, caching)


async def test_a_bad_control_raises_before_the_upstream_is_called(
    client: Any, llm_upstream: Upstream
) -> None:
    with pytest.raises(InvalidControlError):
        await client.chat.completions.create(model="m", messages=ask(), cache={"bogus": 1})
    assert llm_upstream.calls() == 0


@pytest.mark.parametrize(
    "control",
    [{"ttl": 10**400}, {"ttl": 200 * 365 * 86400}, {"namespace": "acme\udc00"}],
    ids=["ttl-1e400", "ttl-200-years", "namespace-lone-surrogate"],
)
async def test_an_out_of_range_ttl_or_unencodable_namespace_is_refused_before_the_upstream(
    client: Any, llm_upstream: Upstream, control: dict[str, Any]
) -> None:
    with pytest.raises(InvalidControlError):
        await client.chat.completions.create(model="m", messages=ask(), cache=control)
    assert llm_upstream.calls() == 0


async def test_no_cache_goes_upstream_and_still_stores_the_answer(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="m", messages=ask())
    fresh = await client.chat.completions.create(
        model="m", messages=ask(), cache={"no-cache": True}
    )
    assert cache_info(fresh)["cache_hit"] is False
    assert llm_upstream.calls() == 2
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is True


async def test_no_store_answers_without_storing(client: Any, llm_upstream: Upstream) -> None:
    await client.chat.completions.create(model="m", messages=ask(), cache={"no-store": True})
    await client.chat.completions.create(model="m", messages=ask())
    assert llm_upstream.calls() == 2


async def test_ttl_sets_the_life_of_this_entry(client: Any, llm_upstream: Upstream) -> None:
    question = {"text": ""}

    async def store(ttl: float) -> None:
        question["text"] = f"Asked with a {ttl} s TTL"
        await client.chat.completions.create(
            model="m", messages=ask(question["text"]), cache={"ttl": ttl}
        )

    async def served_from_the_cache() -> bool | None:
        answer = await client.chat.completions.create(model="m", messages=ask(question["text"]))
        return True if cache_info(answer)["cache_hit"] else None

    await live_then_gone(store, served_from_the_cache, True)


async def test_s_maxage_rejects_entries_older_than_given(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="m", messages=ask())
    young_enough = await client.chat.completions.create(
        model="m", messages=ask(), cache={"s-maxage": 3600}
    )
    assert cache_info(young_enough)["cache_hit"] is True
    too_old = await client.chat.completions.create(model="m", messages=ask(), cache={"s-maxage": 0})
    assert cache_info(too_old)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_a_namespace_isolates_entries(client: Any, llm_upstream: Upstream) -> None:
    await client.chat.completions.create(model="m", messages=ask(), cache={"namespace": "a"})
    other = await client.chat.completions.create(
        model="m", messages=ask(), cache={"namespace": "b"}
    )
    assert cache_info(other)["cache_hit"] is False
    assert cache_info(other)["cache_key"].startswith("b:llm:v1:")
    same = await client.chat.completions.create(model="m", messages=ask(), cache={"namespace": "a"})
    assert cache_info(same)["cache_hit"] is True
    assert llm_upstream.calls() == 2


async def test_caching_false_bypasses_the_cache(client: Any, llm_upstream: Upstream) -> None:
    await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask(), caching=False)
    assert llm_upstream.calls() == 2


async def test_default_off_caches_only_calls_that_opt_in(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    client = Cache(mode="default_off").wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    assert llm_upstream.calls() == 2
    await client.chat.completions.create(model="m", messages=ask(), cache={"use-cache": True})
    hit = await client.chat.completions.create(model="m", messages=ask(), caching=True)
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls() == 3


async def test_unsupported_call_types_go_straight_upstream(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    client = Cache(supported_call_types=["aembedding"]).wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    await client.embeddings.create(model="e", input="x")
    await client.embeddings.create(model="e", input="x")
    assert llm_upstream.calls("chat") == 2
    assert llm_upstream.calls("embeddings") == 1
