"""What hits save: tokens and money, per namespace and identity, in events, stats and metrics."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent
from tests.harness.upstream import Upstream

from ._support import ask

PRICES = {"m": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}}


def tenant(kwargs: Any) -> str | None:
    user = kwargs.get("user")
    return user if isinstance(user, str) else None


async def test_a_hit_reports_the_tokens_and_money_it_saved(openai_client: AsyncOpenAI) -> None:
    cache = Cache(namespace="team", prices=PRICES)
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    client = cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    (hit,) = [e for e in events if e.kind == "hit"]
    usage = first.usage
    assert hit.saving is not None
    assert (hit.saving.prompt_tokens, hit.saving.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    expected = usage.prompt_tokens * 0.001 + usage.completion_tokens * 0.002
    assert hit.saving.cost == pytest.approx(expected)
    assert (hit.saving.namespace, hit.saving.identity, hit.saving.model) == ("team", None, "m")
    assert cache.stats()["savings"] == [
        {
            "namespace": "team",
            "identity": None,
            "hits": 1,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost": pytest.approx(expected),
        }
    ]
    assert cache.stats()["events"]["hit"] == 1


async def test_savings_are_totalled_per_identity_and_per_namespace(
    openai_client: AsyncOpenAI,
) -> None:
    cache = Cache(identity=tenant, prices=PRICES)
    client = cache.wrap_openai(openai_client)
    for user, times in (("alice", 3), ("bob", 2)):
        for _ in range(times):
            await client.chat.completions.create(model="m", messages=ask(), user=user)
    for _ in range(2):
        await client.chat.completions.create(
            model="m", messages=ask(), user="alice", cache={"namespace": "eval"}
        )
    hits = {(row["namespace"], row["identity"]): row["hits"] for row in cache.stats()["savings"]}
    assert hits == {(None, "alice"): 2, (None, "bob"): 1, ("eval", "alice"): 1}


async def test_without_a_table_litellms_cost_map_prices_the_model(
    openai_client: AsyncOpenAI,
) -> None:
    litellm = pytest.importorskip("litellm")
    cache = Cache()
    client = cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(model="gpt-4o-mini", messages=ask())
    await client.chat.completions.create(model="gpt-4o-mini", messages=ask())
    row = litellm.model_cost["gpt-4o-mini"]
    expected = (
        first.usage.prompt_tokens * row["input_cost_per_token"]
        + first.usage.completion_tokens * row["output_cost_per_token"]
    )
    (saved,) = cache.stats()["savings"]
    assert saved["cost"] == pytest.approx(expected) and expected > 0


async def test_an_unpriced_model_saves_tokens_and_no_known_cost(
    openai_client: AsyncOpenAI,
) -> None:
    cache = Cache(prices={})
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    client = cache.wrap_openai(openai_client)
    for _ in range(2):
        await client.chat.completions.create(model="unpriced", messages=ask())
    (hit,) = [e for e in events if e.kind == "hit"]
    assert hit.saving is not None and hit.saving.cost is None and hit.saving.tokens > 0
    assert cache.stats()["savings"][0]["cost"] == 0.0


@pytest.mark.parametrize(
    "prices",
    [["m"], {"m": 0.1}, {"m": {"input_cost_per_token": -1}}, {"m": {"input_cost_per_token": "1"}}],
)
def test_a_bad_price_table_is_a_configuration_error(prices: Any) -> None:
    with pytest.raises(ConfigurationError, match="prices"):
        Cache(prices=prices)


async def test_the_proxy_metrics_count_savings_per_namespace_and_identity(
    openai_client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    metrics_module = pytest.importorskip("aiocache_llm.proxy.metrics")
    metrics = metrics_module.ProxyMetrics()
    cache = Cache(namespace="team", identity=tenant, prices=PRICES)
    cache.add_callback(metrics.on_event)
    client = cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(model="m", messages=ask(), user="alice")
    await client.chat.completions.create(model="m", messages=ask(), user="alice")
    labels = {"namespace": "team", "identity": "alice"}
    sample = metrics.registry.get_sample_value
    assert sample("aiocache_llm_saved_tokens_total", {**labels, "kind": "prompt"}) == float(
        first.usage.prompt_tokens
    )
    assert sample("aiocache_llm_saved_cost_usd_total", labels) == pytest.approx(
        first.usage.prompt_tokens * 0.001 + first.usage.completion_tokens * 0.002
    )
    assert llm_upstream.calls() == 1


async def test_the_savings_report_is_the_same_whether_or_not_anyone_listens() -> None:
    prices = {**PRICES, "served-by": {"input_cost_per_token": 0.01, "output_cost_per_token": 0.0}}

    async def acompletion(model: str, messages: Any, **_: Any) -> dict[str, Any]:
        served = "served-by" if model == "alias" else model
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        return {"model": served, "choices": [], "usage": usage}

    reports = []
    for listening in (False, True):
        cache = Cache(identity=tenant, prices=prices)
        if listening:
            cache.add_callback(lambda event: None)
        fn = cache.cached(acompletion)
        for model, user in (("m", "alice"), ("alias", "alice"), ("unpriced", "bob")):
            for _ in range(3):
                await fn(model=model, messages=ask(), user=user)
        first = cache.stats()["savings"]
        await fn(model="m", messages=ask(), user="alice")
        reports.append((first, cache.stats()["savings"]))
    assert reports[0] == reports[1]
    (first, later) = reports[0]
    by_identity = {row["identity"]: row for row in later}
    assert by_identity["alice"]["hits"] == 5 and by_identity["bob"]["hits"] == 2
    # "alias" is not priced: the stored answer's model is (2 hits x 3 prompt tokens x 0.01)
    assert by_identity["alice"]["cost"] == pytest.approx(3 * (3 * 0.001 + 2 * 0.002) + 0.06)
    assert by_identity["bob"]["cost"] == 0.0
    assert {row["identity"]: row["hits"] for row in first} == {"alice": 4, "bob": 2}
