"""Conversation-aware matching, the typed query the LLM layer builds, the in-process index,
batched embeddings and the error budget, on the real all-MiniLM-L6-v2 model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.llm.requests import semantic_query
from aiocache_llm.semantic import InProcessIndex, Record, Scope, semantic_backend
from aiocache_llm.semantic.embedders import CachedEmbedder, FunctionEmbedder, LocalEmbedder
from aiocache_llm.semantic.local import LocalSemanticCache
from aiocache_llm.semantic.query import (
    SemanticHit,
    StoredQuestion,
    pack_question,
    unpack_question,
)

from .conftest import query

SCOPE = {"namespace": "app"}
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Done."}}]}


def talk(*turns: str, model: str = "gpt-4o-mini", **kwargs: Any) -> dict[str, Any]:
    """A chat request whose turns alternate user / assistant, ending with a user turn."""
    roles = ["user", "assistant"]
    messages = [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return {"model": model, "messages": messages, **kwargs}


def local(cached_embedder: CachedEmbedder, **kwargs: Any) -> LocalSemanticCache:
    return LocalSemanticCache(embedder=cached_embedder, **kwargs)


# -- the rule per call shape --------------------------------------------------------------
def test_chat_context_is_compared_by_meaning_and_the_system_prompt_exactly() -> None:
    system = {"role": "system", "content": "Be brief."}
    request = talk("I have a Flixora plan.", "Would you like to cancel it?", "yes please")
    request["messages"].insert(0, system)
    found = query("acompletion", request, SCOPE)
    assert found.question == "yes please"
    assert [(t.role, t.text) for t in found.context] == [
        ("user", "I have a Flixora plan."),
        ("assistant", "Would you like to cancel it?"),
    ]
    reworded = talk("My plan is with Flixora.", "Shall I cancel it?", "yes please")
    reworded["messages"].insert(0, system)
    assert query("acompletion", reworded, SCOPE).exact == found.exact  # only text differs
    other_system = talk("I have a Flixora plan.", "Would you like to cancel it?", "yes please")
    other_system["messages"].insert(0, {"role": "system", "content": "Be verbose."})
    assert query("acompletion", other_system, SCOPE).exact != found.exact
    assert query("acompletion", {**request, "model": "gpt-4o"}, SCOPE).exact != found.exact
    tools = [{"type": "function", "function": {"name": "cancel", "parameters": {}}}]
    assert query("acompletion", {**request, "tools": tools}, SCOPE).exact != found.exact
    shorter = talk("yes please")
    shorter["messages"].insert(0, system)
    assert query("acompletion", shorter, SCOPE).exact != found.exact  # no earlier turns
    longer = talk("Hi!", "Hello.", "I have a Flixora plan.", "Cancel it?", "yes please")
    longer["messages"].insert(0, system)
    assert query("acompletion", longer, SCOPE).exact == found.exact  # more turns: by meaning


def test_responses_and_anthropic_shapes() -> None:
    responses = {
        "model": "gpt-4o-mini",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Hi, I use Flixora."}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "How can I help?"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "cancel it"}]},
        ],
    }
    found = query("aresponses", responses, SCOPE)
    assert found.question == "cancel it"
    assert [t.text for t in found.context] == ["Hi, I use Flixora.", "How can I help?"]
    other = {**responses, "instructions": "Be verbose."}
    assert query("aresponses", other, SCOPE).exact != found.exact
    assert query("aresponses", {"model": "m", "input": "cancel it"}, SCOPE).context == ()
    anthropic: dict[str, Any] = {
        "model": "claude-3-5-haiku",
        "system": "Be brief.",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "I use Flixora."}]},
            {"role": "assistant", "content": "How can I help?"},
            {"role": "user", "content": "cancel it"},
        ],
    }
    found = query("anthropic_messages", anthropic, SCOPE)
    assert found.question == "cancel it" and len(found.context) == 2
    other = {**anthropic, "system": "Be verbose."}
    assert query("anthropic_messages", other, SCOPE).exact != found.exact


def test_a_custom_extractor_keeps_the_whole_conversation_exact() -> None:
    request = talk("I have a Flixora plan.", "Cancel it?", "yes please")
    found = semantic_query("acompletion", request, SCOPE, lambda _t, _r: "yes please")
    assert found is not None and found.context == ()
    reworded = talk("My plan is Flixora.", "Cancel it?", "yes please")
    again = semantic_query("acompletion", reworded, SCOPE, lambda _t, _r: "yes please")
    assert again is not None and again.exact != found.exact


def test_a_stored_question_round_trips() -> None:
    stored = StoredQuestion("yes", ("a", "b"), ("user", "assistant"), (0.5, -0.25))
    assert unpack_question(pack_question(stored)) == stored
    assert unpack_question(pack_question(replace(stored, turn_vectors=((1.0,), (0.0,))))) == (
        stored  # one vector per turn is computed when compared, never stored
    )
    assert unpack_question("plain question") == StoredQuestion("plain question")
    assert pack_question(StoredQuestion("plain")) == "plain"


# -- matching conversations by meaning ---------------------------------------------------
async def test_a_follow_up_in_an_equivalent_conversation_hits(
    cached_embedder: CachedEmbedder,
) -> None:
    cache = local(cached_embedder)
    stored = talk(
        "What's the cheapest Flixora plan?",
        "Standard with Ads, at £5.99 a month.",
        "does it have downloads?",
    )
    await cache.async_semantic_store(
        "acompletion", query("acompletion", stored, SCOPE), SCOPE, ANSWER
    )
    asked = talk(
        "Which Flixora plan is the cheapest one?",
        "Standard with Ads, at £5.99 a month.",
        "does it have downloads?",
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", asked, SCOPE), SCOPE
    )
    assert hit is not None and hit.value == ANSWER


async def test_the_same_follow_up_in_another_conversation_misses(
    cached_embedder: CachedEmbedder,
) -> None:
    cache = local(cached_embedder)
    stored = talk(
        "I've got a Flixora subscription I barely use anymore.",
        "Your Flixora Standard plan renews on the 14th at £10.99. Cancel or change plan?",
        "cancel it",
    )
    await cache.async_semantic_store(
        "acompletion", query("acompletion", stored, SCOPE), SCOPE, ANSWER
    )
    for asked in (
        talk(
            "My PulseFit gym membership is costing me too much.",
            "Your PulseFit membership is £24.99 a month with 30 days' notice. Cancel or freeze?",
            "cancel it",
        ),
        talk(  # the same talk but another detail: a number
            "I've got a Flixora subscription I barely use anymore.",
            "Your Flixora Premium plan renews on the 14th at £17.99. Cancel or change plan?",
            "cancel it",
        ),
        talk("cancel it"),  # no earlier turns at all
    ):
        found = query("acompletion", asked, SCOPE)
        assert await cache.async_semantic_lookup("acompletion", found, SCOPE) is None


async def test_an_identical_conversation_hits_and_single_questions_still_match(
    cached_embedder: CachedEmbedder,
) -> None:
    cache = local(cached_embedder)
    first = query("acompletion", talk("What is the capital of France?"), SCOPE)
    await cache.async_semantic_store("acompletion", first, SCOPE, ANSWER)
    asked = query("acompletion", talk("France's capital city?"), SCOPE)
    assert await cache.async_semantic_lookup("acompletion", asked, SCOPE) is not None


# -- conversations compared as a whole: small talk, more turns, swapped facts --------------
UPGRADE = (
    "I'm on a 24-month Kestrel contract and want to upgrade my phone",
    "You're 22 months into your 24-month contract, so you can upgrade with no fee.",
    "how much is the Vela S?",
    "The Vela S is £28 a month for the device, plus your £18 airtime.",
)


async def lookup_after(
    cache: LocalSemanticCache, stored: dict[str, Any], asked: dict[str, Any]
) -> SemanticHit | None:
    await cache.async_semantic_store(
        "acompletion", query("acompletion", stored, SCOPE), SCOPE, ANSWER
    )
    return await cache.async_semantic_lookup(
        "acompletion", query("acompletion", asked, SCOPE), SCOPE
    )


async def test_a_conversation_with_extra_small_talk_and_more_turns_hits(
    cached_embedder: CachedEmbedder,
) -> None:
    stored = talk(*UPGRADE, "so how much a month in total?")
    asked = talk(
        "Hiya! Bit nervous, I'm rubbish with phones. I'm on a 24-month Kestrel contract and"
        " want to upgrade my phone",
        "No worries! You're 22 months into your 24-month contract, so you can upgrade with no fee.",
        "phew. is the weather nice where you are? it's pouring here",
        "I'm a chat assistant, so no window, sadly! Hope it clears up.",
        "how much is the Vela S?",
        "The Vela S is £28 a month for the device, plus your £18 airtime.",
        "So how much a month in total?",
    )
    hit = await lookup_after(local(cached_embedder), stored, asked)
    assert hit is not None and hit.value == ANSWER


async def test_a_reworded_conversation_with_the_same_facts_hits(
    cached_embedder: CachedEmbedder,
) -> None:
    stored = talk(
        "I'm going away for a month, can I freeze my PulseFit membership?",
        "Yes, freezes are £5 a month and can last 1 to 3 months.",
        "how do I set it up?",
    )
    asked = talk(
        "Can PulseFit memberships be frozen? I'll be away for a month",
        "You can: a freeze costs £5 a month and lasts between 1 and 3 months.",
        "How do I set that up?",
    )
    assert await lookup_after(local(cached_embedder), stored, asked) is not None


@pytest.mark.parametrize(
    "asked",
    [
        pytest.param(  # one number changed in the first turn
            talk(
                "I'm on a 12-month Kestrel contract and want to upgrade my phone",
                *UPGRADE[1:],
                "so how much a month in total?",
            ),
            id="another-number",
        ),
        pytest.param(  # the same numbers, said of other things
            talk(
                "I'm on a 22-month Kestrel contract and want to upgrade my phone",
                "You're 24 months into your 22-month contract, so you can upgrade with no fee.",
                *UPGRADE[2:],
                "so how much a month in total?",
            ),
            id="numbers-swapped-between-turns",
        ),
        pytest.param(  # another product named
            talk(*UPGRADE[:2], "how much is the Orion 12?", UPGRADE[3], "so how much in total?"),
            id="another-name",
        ),
        pytest.param(  # a talk about something else
            talk(
                "My PulseFit gym membership costs too much",
                "Your PulseFit Off-Peak membership is £24.99 a month.",
                "so how much a month in total?",
            ),
            id="another-talk",
        ),
        pytest.param(  # "yes please" answers an offer: only after the same turns
            talk(*UPGRADE, "yes please"),
            id="an-answer-to-an-offer",
        ),
    ],
)
async def test_the_same_follow_up_after_other_facts_misses(
    cached_embedder: CachedEmbedder, asked: dict[str, Any]
) -> None:
    last = asked["messages"][-1]["content"]
    stored = talk(
        *UPGRADE, "yes please" if last == "yes please" else "so how much a month in total?"
    )
    if last == "yes please":
        stored["messages"][-2]["content"] = "Shall I switch you to the Vela S now?"
        asked["messages"][-2]["content"] = "Shall I cancel your contract instead?"
    assert await lookup_after(local(cached_embedder), stored, asked) is None


async def test_a_fact_said_elsewhere_in_the_talk_does_not_stand_in_for_a_swapped_one(
    cached_embedder: CachedEmbedder,
) -> None:
    def hire(branch: str, other: str) -> dict[str, Any]:
        return talk(
            "Morning, I'm picking up my hire car on Saturday",
            f"Morning! Yes, a Ford Focus from our Edinburgh {branch} branch on 17 October.",
            "we had a long wait for a car last time",
            f"Sorry about that, our {other} desk gets very busy at weekends.",
            "so what time does that branch open on Saturday?",
        )

    stored, asked = hire("Airport", "Waverley"), hire("Waverley", "Airport")
    assert await lookup_after(local(cached_embedder), stored, asked) is None
    again = await lookup_after(local(cached_embedder), stored, hire("Airport", "Waverley"))
    assert again is not None


async def test_an_answer_to_the_same_offer_after_the_same_turns_hits(
    cached_embedder: CachedEmbedder,
) -> None:
    turns = (*UPGRADE[:3], "Shall I switch you to the Vela S now?")
    hit = await lookup_after(
        local(cached_embedder), talk(*turns, "yes please"), talk(*turns, "Yes please.")
    )
    assert hit is not None


async def test_options_offered_in_another_order_miss(cached_embedder: CachedEmbedder) -> None:
    first = "Would you like a refund to your card, or store credit with a 10% bonus?"
    second = "Would you like store credit with a 10% bonus, or a refund to your card?"
    stored = talk("I want to return my boots", first, "how long does the first one take?")
    asked = talk("I want to return my boots", second, "how long does the first one take?")
    assert await lookup_after(local(cached_embedder), stored, asked) is None


# -- the in-process index ---------------------------------------------------------------
def _record(
    vector: Sequence[float], scope: Scope, key: str, expires_at: float | None = None
) -> Record:
    return Record(list(vector), scope, key, key, b"blob", expires_at)


async def test_the_in_process_index_searches_deletes_evicts_and_filters_by_scope() -> None:
    index = InProcessIndex(max_entries=3)
    here, there = Scope("c", "n", "u"), Scope("c", "n", "other")
    await index.upsert("a", _record([1.0, 0.0], here, "a"))
    await index.upsert("b", _record([0.6, 0.8], here, "b"))
    await index.upsert("x", _record([1.0, 0.0], there, "x"))
    found = await index.search([1.0, 0.0], here, 5)
    assert [m.key for m in found] == ["a", "b"]
    assert found[0].similarity == pytest.approx(1.0) and found[1].similarity == pytest.approx(0.6)
    await index.delete("a")
    assert [m.key for m in await index.search([1.0, 0.0], here, 5)] == ["b"]
    await index.upsert("c", _record([0.0, 1.0], here, "c"))
    await index.upsert("d", _record([0.0, 1.0], here, "d"))  # the 4th entry: "b" is evicted
    assert len(index) == 3
    assert {m.key for m in await index.search([1.0, 0.0], here, 5)} == {"c", "d"}
    await index.upsert("e", _record([0.0, 1.0], here, "e", expires_at=1.0))  # long expired
    assert "e" not in {m.key for m in await index.search([0.0, 1.0], here, 5)}
    with pytest.raises(ConfigurationError):
        await index.upsert("f", _record([1.0, 0.0, 0.0], here, "f"))
    await index.clear()
    assert await index.search([1.0, 0.0], here, 5) == []


# -- one text embedded once, concurrent lookups in one batch ------------------------------
async def test_concurrent_lookups_are_embedded_in_one_batch(local_embedder: LocalEmbedder) -> None:
    batches: list[list[str]] = []

    async def counting(texts: Sequence[str]) -> list[list[float]]:
        batches.append(list(texts))
        return await local_embedder.aembed(texts)

    embedder = FunctionEmbedder(counting, name="counting", dimension=384)
    cache = LocalSemanticCache(embedder=embedder)
    questions = [f"How do I reset the password of router model {n}?" for n in range(8)]
    asked = [query("acompletion", talk(q), SCOPE) for q in questions]
    await asyncio.gather(*(cache.async_semantic_lookup("acompletion", a, SCOPE) for a in asked))
    assert len(batches) == 1 and sorted(batches[0]) == sorted(questions)
    await cache.async_semantic_store("acompletion", asked[0], SCOPE, ANSWER)  # embedded before
    await asyncio.gather(
        *(cache.async_semantic_lookup("acompletion", asked[0], SCOPE) for _ in range(3))
    )
    assert len(batches) == 1


# -- the error budget -------------------------------------------------------------------
async def test_report_wrong_stops_an_entry_serving_at_that_similarity(
    cached_embedder: CachedEmbedder,
) -> None:
    cache = local(cached_embedder)
    stored = query("acompletion", talk("How do I reset my router password?"), SCOPE)
    await cache.async_semantic_store("acompletion", stored, SCOPE, ANSWER)
    asked = query("acompletion", talk("how can I reset my router's password"), SCOPE)
    hit = await cache.async_semantic_lookup("acompletion", asked, SCOPE)
    assert hit is not None
    cache.report_wrong(hit)
    assert await cache.async_semantic_lookup("acompletion", asked, SCOPE) is None
    assert await cache.async_semantic_lookup("acompletion", stored, SCOPE) is not None  # 1.0
    with pytest.raises(ConfigurationError):
        cache.report_wrong("some key")


async def test_the_verifier_feeds_the_budget_and_its_verdict_is_kept(
    cached_embedder: CachedEmbedder,
) -> None:
    seen: list[tuple[str, str]] = []

    def never(query_text: str, candidate: str) -> bool:
        seen.append((query_text, candidate))
        return False

    cache = local(cached_embedder, verifier=never, verify_below=1.0, max_error_rate=0.02)
    assert cache.max_error_rate == 0.02
    stored = query("acompletion", talk("How do I reset my router password?"), SCOPE)
    await cache.async_semantic_store("acompletion", stored, SCOPE, ANSWER)
    asked = query("acompletion", talk("how can I reset my router's password"), SCOPE)
    assert await cache.async_semantic_lookup("acompletion", asked, SCOPE) is None
    assert seen == [(asked.question, stored.question)]
    assert cache.budget is not None and cache.budget.observations[0][1] is False
    # the entry now needs more than the similarity it was wrong at: no second verifier call
    assert await cache.async_semantic_lookup("acompletion", asked, SCOPE) is None
    assert len(seen) == 1


def test_the_shared_threshold_learns_from_evidence() -> None:
    from aiocache_llm.semantic.budget import ErrorBudget

    budget = ErrorBudget(max_error_rate=0.05, base_threshold=0.8)
    for i in range(200):  # right answers from 0.95 down to 0.75, wrong ones from 0.72 to 0.76
        similarity = 0.95 - i * 0.001
        budget.record(f"k{i}", similarity, True)
    for i in range(50):
        budget.record(f"w{i}", 0.72 + i * 0.0008, False)
    threshold = budget.shared_threshold
    served = [ok for sim, ok in budget.observations if sim >= threshold]
    assert threshold < 0.8  # lowered on the evidence ...
    assert served.count(False) / len(served) <= 0.05  # ... and within the budget there
    assert budget.threshold("w49") > 0.72 + 49 * 0.0008


# -- end to end: cached() over local-semantic -----------------------------------------------
async def test_cached_over_local_semantic_matches_follow_ups_by_conversation(
    local_embedder: LocalEmbedder,
) -> None:
    from aiocache_llm import Cache, cached

    cache = Cache(type="local-semantic", embedder=local_embedder)
    asked: list[str] = []

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        asked.append(kwargs["messages"][-1]["content"])
        message = {"role": "assistant", "content": f"answer {len(asked)}"}
        return {
            "id": f"r{len(asked)}",
            "object": "chat.completion",
            "created": 1,
            "model": kwargs["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        }

    call = cached(acompletion, cache=cache)
    flixora = ("I have a Flixora subscription.", "Your Flixora plan renews on the 14th.")
    await call(**talk(*flixora, "how do I cancel it?"))

    backend = semantic_backend(cache.backend)
    assert isinstance(backend, LocalSemanticCache)
    for _ in range(200):  # the store runs in the background: wait for it, bounded
        if len(backend.index):
            break
        await asyncio.sleep(0.05)
    assert len(backend.index) == 1

    same = talk(
        "I've got a Flixora subscription.",
        "Your Flixora plan renews on the 14th.",
        "how can I cancel it?",
    )
    result = await call(**same)
    assert len(asked) == 1 and result["choices"][0]["message"]["content"] == "answer 1"
    gym = talk(
        "I have a PulseFit gym membership.",
        "Your PulseFit plan renews on the 14th.",
        "how do I cancel it?",
    )
    before = len(asked)
    await call(**gym)
    assert len(asked) == before + 1  # another conversation: asked upstream
