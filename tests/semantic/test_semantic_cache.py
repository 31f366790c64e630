"""What every semantic cache does: serve paraphrases, never another question, model, scope or
tenant; expire; survive a broken embedder. Runs on Redis, Qdrant and the dual cache."""

from __future__ import annotations

import asyncio

import pytest

from aiocache_llm.llm.requests import semantic_query
from aiocache_llm.semantic.cache import DEFAULT_SIMILARITY_THRESHOLD, SemanticHit
from tests.timing import live_then_gone

from .conftest import BrokenEmbedder, MakeSemantic, chat, query

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris."}}]}
SCOPE = {"namespace": "app", "identity": "tenant-a"}


async def test_a_paraphrase_is_a_hit_with_its_similarity(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("What is the capital of France?"), SCOPE),
        SCOPE,
        ANSWER,
    )
    hit = await cache.async_semantic_lookup(
        "acompletion",
        query("acompletion", chat("Which city is the capital of France?"), SCOPE),
        SCOPE,
    )
    assert isinstance(hit, SemanticHit)
    assert hit.value == ANSWER
    assert DEFAULT_SIMILARITY_THRESHOLD <= hit.similarity < 1.0
    assert hit.key.startswith("app:llm:v1:")


async def test_an_unrelated_question_is_a_miss(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("What is the capital of France?"), SCOPE),
        SCOPE,
        ANSWER,
    )
    assert await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat("How do I bake sourdough bread?"), SCOPE), SCOPE
    ) is None  # fmt: skip


async def test_the_same_question_is_a_hit_with_similarity_one(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    request = chat("What is the capital of France?")
    await cache.async_semantic_store(
        "acompletion", query("acompletion", request, SCOPE), SCOPE, ANSWER
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", request, SCOPE), SCOPE
    )
    assert hit is not None and hit.similarity == pytest.approx(1.0, abs=1e-4)


FRANCE = "What is the capital of France?"
PARAPHRASE = "France's capital city?"


def conversation(*turns: tuple[str, str], model: str = "m") -> dict[str, object]:
    return {"model": model, "messages": [{"role": r, "content": c} for r, c in turns]}


def tool(name: str) -> list[dict[str, object]]:
    return [{"type": "function", "function": {"name": name}}]


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        pytest.param(chat(FRANCE), chat(PARAPHRASE, model="gpt-4o"), id="model"),
        pytest.param(
            conversation(("system", "Answer in French."), ("user", FRANCE)),
            conversation(("system", "Answer in German."), ("user", PARAPHRASE)),
            id="system-prompt",
        ),
        pytest.param(chat(FRANCE, tools=tool("a")), chat(PARAPHRASE, tools=tool("b")), id="tools"),
        pytest.param(
            chat(FRANCE, temperature=0), chat(PARAPHRASE, temperature=0.7), id="temperature"
        ),
        pytest.param(
            chat(FRANCE, response_format={"type": "json_object"}),
            chat(PARAPHRASE),
            id="response-format",
        ),
        pytest.param(
            conversation(("user", "I live in Lyon."), ("assistant", "Nice."), ("user", FRANCE)),
            conversation(("user", PARAPHRASE)),
            id="earlier-turns",
        ),
    ],
)
async def test_a_paraphrase_with_other_arguments_is_a_miss(
    make_semantic: MakeSemantic, stored: dict[str, object], asked: dict[str, object]
) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "acompletion", query("acompletion", stored, SCOPE), SCOPE, ANSWER
    )
    assert (
        await cache.async_semantic_lookup("acompletion", query("acompletion", asked, SCOPE), SCOPE)
        is None
    )


@pytest.mark.parametrize(
    "other_scope",
    [
        pytest.param({"namespace": "other-app", "identity": "tenant-a"}, id="namespace"),
        pytest.param({"namespace": "app", "identity": "tenant-b"}, id="identity"),
        pytest.param({"namespace": "app"}, id="no-identity"),
        pytest.param({}, id="no-scope"),
    ],
)
async def test_a_paraphrase_in_another_scope_is_a_miss(
    make_semantic: MakeSemantic, other_scope: dict[str, str]
) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("What is the capital of France?"), SCOPE),
        SCOPE,
        ANSWER,
    )
    asked = chat("Which city is the capital of France?")
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", asked, other_scope), other_scope
        )
        is None
    )


async def test_another_call_type_is_a_miss(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "atext_completion",
        query(
            "atext_completion", {"model": "m", "prompt": "What is the capital of France?"}, SCOPE
        ),
        SCOPE,
        1,
    )
    asked = {"model": "m", "messages": [{"role": "user", "content": "France's capital city?"}]}
    assert (
        await cache.async_semantic_lookup("acompletion", query("acompletion", asked, SCOPE), SCOPE)
        is None
    )


async def test_a_near_miss_is_rejected_by_the_precision_guard(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("How do I convert 100 Fahrenheit to Celsius?"), SCOPE),
        SCOPE,
        ANSWER,
    )
    asked = chat("How do I convert 100 Celsius to Fahrenheit?")
    assert (
        await cache.async_semantic_lookup("acompletion", query("acompletion", asked, SCOPE), SCOPE)
        is None
    )


async def test_without_the_guard_the_near_miss_would_be_served(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic(precision_guard=False)
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("How do I convert 100 Fahrenheit to Celsius?"), SCOPE),
        SCOPE,
        ANSWER,
    )
    asked = chat("How do I convert 100 Celsius to Fahrenheit?")
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", asked, SCOPE), SCOPE
    )
    assert hit is not None and hit.value == ANSWER


async def test_a_rejected_nearest_candidate_falls_back_to_the_next_one(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic()
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("Can cats eat chocolate?"), SCOPE),
        SCOPE,
        "no, cats",
    )
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("Is chocolate safe for dogs to eat?"), SCOPE),
        SCOPE,
        "no, dogs",
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat("Can dogs eat chocolate?"), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == "no, dogs"


async def test_a_higher_threshold_turns_a_paraphrase_into_a_miss(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic(similarity_threshold=0.99)
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("What is the capital of France?"), SCOPE),
        SCOPE,
        ANSWER,
    )
    asked = chat("Which city is the capital of France?")
    assert (
        await cache.async_semantic_lookup("acompletion", query("acompletion", asked, SCOPE), SCOPE)
        is None
    )


async def test_an_entry_expires_after_its_ttl(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    stored, asked = chat("What is the capital of France?"), chat("France's capital city?")
    await cache.async_semantic_lookup(
        "acompletion", query("acompletion", asked, SCOPE), SCOPE
    )  # embeds and creates the index

    async def found() -> bool | None:
        return (
            True
            if await cache.async_semantic_lookup(
                "acompletion", query("acompletion", asked, SCOPE), SCOPE
            )
            else None
        )

    await live_then_gone(
        lambda ttl: cache.async_semantic_store(
            "acompletion", query("acompletion", stored, SCOPE), SCOPE, ANSWER, ttl=ttl
        ),
        found,
        True,
        ttls=(0.3, 1.2, 4.8),
    )


async def test_the_default_ttl_applies_to_semantic_entries(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic(default_ttl=0.3)
    stored, asked = chat("What is the capital of France?"), chat("France's capital city?")
    await cache.async_semantic_store(
        "acompletion", query("acompletion", stored, SCOPE), SCOPE, ANSWER
    )
    await asyncio.sleep(0.45)
    assert (
        await cache.async_semantic_lookup("acompletion", query("acompletion", asked, SCOPE), SCOPE)
        is None
    )


async def test_storing_the_same_question_again_replaces_the_answer(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic()
    request = chat("What is the capital of France?")
    await cache.async_semantic_store(
        "acompletion", query("acompletion", request, SCOPE), SCOPE, "old"
    )
    await cache.async_semantic_store(
        "acompletion", query("acompletion", request, SCOPE), SCOPE, "new"
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == "new"


async def test_a_failing_embedder_makes_store_and_lookup_quiet_misses(
    make_semantic: MakeSemantic,
) -> None:
    broken = BrokenEmbedder()
    cache = await make_semantic(embedder=broken)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    asked = chat("Which city is the capital of France?")
    assert (
        await cache.async_semantic_lookup("acompletion", query("acompletion", asked, SCOPE), SCOPE)
        is None
    )
    assert broken.calls == 2


def test_a_request_without_a_question_has_no_semantic_query() -> None:
    request = {"model": "m", "messages": [{"role": "system", "content": "Be brief."}]}
    assert semantic_query("acompletion", request, SCOPE) is None


async def test_a_multimodal_question_is_matched_on_its_text(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    stored = chat([{"type": "text", "text": "What animal is in this picture?"}, image])
    asked = chat([{"type": "text", "text": "Which animal does this picture show?"}, image])
    await cache.async_semantic_store(
        "acompletion", query("acompletion", stored, SCOPE), SCOPE, "a cat"
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", asked, SCOPE), SCOPE
    )
    assert hit is not None and hit.value == "a cat"


async def test_a_different_image_with_the_same_text_is_a_miss(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()
    text = {"type": "text", "text": "What animal is in this picture?"}
    one = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    two = {"type": "image_url", "image_url": {"url": "data:image/png;base64,BBBB"}}
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat([text, one]), SCOPE), SCOPE, "a cat"
    )
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat([text, two]), SCOPE), SCOPE
        )
        is None
    )


async def test_the_blocking_api_works_too(make_semantic: MakeSemantic) -> None:
    cache = await make_semantic()

    def script() -> SemanticHit | None:
        stored = query("completion", chat("What is the capital of France?"), SCOPE)
        cache.semantic_store("completion", stored, SCOPE, ANSWER)
        asked = query("completion", chat("France's capital city?"), SCOPE)
        return cache.semantic_lookup("completion", asked, SCOPE)

    hit = await asyncio.to_thread(script)
    await asyncio.to_thread(cache.disconnect)
    assert hit is not None and hit.value == ANSWER


async def test_exact_key_operations_work_beside_semantic_entries(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic()
    await cache.async_set_cache("app:llm:v1:abc", ANSWER)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    assert await cache.async_get_cache("app:llm:v1:abc") == ANSWER


async def test_deleting_the_key_of_an_answer_removes_it_from_the_index(
    make_semantic: MakeSemantic,
) -> None:
    cache = await make_semantic()
    request = chat("What is the capital of France?")
    await cache.async_semantic_store(
        "acompletion", query("acompletion", request, SCOPE), SCOPE, ANSWER
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", request, SCOPE), SCOPE
    )
    assert hit is not None
    await cache.async_delete_cache(hit.key)
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", request, SCOPE), SCOPE
        )
        is None
    )
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat("France's capital?"), SCOPE), SCOPE
        )
        is None
    )


async def test_a_verifier_has_the_last_word_on_borderline_hits(
    make_semantic: MakeSemantic,
) -> None:
    asked: list[tuple[str, str]] = []

    async def verifier(query: str, candidate: str) -> bool:
        asked.append((query, candidate))
        return "Which" not in query

    cache = await make_semantic(verifier=verifier, verify_below=0.999)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE, ANSWER
    )
    paraphrase = chat("Which city is the capital of France?")
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", paraphrase, SCOPE), SCOPE
        )
        is None
    )
    assert asked == [("Which city is the capital of France?", FRANCE)]
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat(PARAPHRASE), SCOPE), SCOPE
        )
        is not None
    )
    exact = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE
    )
    assert exact is not None and len(asked) == 2  # not borderline: served unasked


async def test_a_failing_verifier_makes_the_lookup_a_miss(make_semantic: MakeSemantic) -> None:
    def verifier(query: str, candidate: str) -> bool:
        raise RuntimeError("the judge model is down")

    cache = await make_semantic(verifier=verifier, verify_below=0.999)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE, ANSWER
    )
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat(PARAPHRASE), SCOPE), SCOPE
        )
        is None
    )
