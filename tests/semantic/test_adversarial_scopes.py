"""The adversarial scope set: every paraphrase pair of the labelled set, stored in one scope and
asked in another model, namespace or identity, must never be served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.semantic.embedders import CachedEmbedder

from .conftest import build_semantic, chat, query

DATA = Path(__file__).parent / "data"
HOME = {"namespace": "app", "identity": "tenant-a"}
ELSEWHERE = [
    ("gpt-4o", HOME),  # another model
    ("gpt-4o-mini", {"namespace": "other", "identity": "tenant-a"}),  # another namespace
    ("gpt-4o-mini", {"namespace": "app", "identity": "tenant-b"}),  # another tenant
    ("gpt-4o-mini", {"namespace": "app"}),  # no identity
]


def paraphrases() -> list[tuple[str, str]]:
    pairs = []
    for name in ("pairs.jsonl", "holdout.jsonl"):
        for line in (DATA / name).read_text().splitlines():
            row = json.loads(line)
            if row["same"]:
                pairs.append((row["a"], row["b"]))
    return pairs


@pytest.fixture(params=["redis-semantic", "qdrant-semantic"])
async def filled(request: pytest.FixtureRequest, cached_embedder: CachedEmbedder) -> Any:
    """A cache holding the first question of every paraphrase pair, in the home scope."""
    cache = build_semantic(request.param, request, cached_embedder)
    for question, _ in paraphrases():
        await cache.async_semantic_store(
            "acompletion", query("acompletion", chat(question), HOME), HOME, question
        )
    yield cache
    await cache.async_flush_cache()
    await cache.async_disconnect()


async def test_the_home_scope_serves_most_paraphrases(filled: Any) -> None:
    served = [
        await filled.async_semantic_lookup(
            "acompletion", query("acompletion", chat(asked), HOME), HOME
        )
        for _, asked in paraphrases()
    ]
    assert sum(hit is not None for hit in served) >= 0.75 * len(served)


async def test_no_paraphrase_is_served_to_another_model_namespace_or_identity(
    filled: Any,
) -> None:
    served = [
        (asked, model, scope)
        for model, scope in ELSEWHERE
        for _, asked in paraphrases()
        if await filled.async_semantic_lookup(
            "acompletion", query("acompletion", chat(asked, model=model), scope), scope
        )
    ]
    assert served == []
