"""The precision guard: each rule on its own, then the whole guard on the labelled pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.semantic.cache import DEFAULT_SIMILARITY_THRESHOLD
from aiocache_llm.semantic.embedders import CachedEmbedder
from aiocache_llm.semantic.guard import RULES, PrecisionGuard

DATA = Path(__file__).parent / "data"
guard = PrecisionGuard()


def rejected_by(a: str, b: str) -> str | None:
    return guard.check(a, b).reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is 12 times 7?", "What is 12 times 8?"),
        ("How old is someone born in 1990?", "How old is someone born in 1995?"),
        ("Give me three tips for sleeping better", "Give me five tips for sleeping better"),
    ],
)
def test_different_numbers_are_rejected(a: str, b: str) -> None:
    assert rejected_by(a, b) == "numbers differ"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Convert 3 cups to ml", "Convert 3 ml to cups"),
        ("What is 60 kg in lbs?", "What is 60 lbs in kg?"),
        ("How many liters are in a gallon?", "How many gallons are in a liter?"),
    ],
)
def test_a_swapped_conversion_is_rejected(a: str, b: str) -> None:
    assert rejected_by(a, b) == "conversion direction differs"


def test_different_units_are_rejected() -> None:
    assert rejected_by("Convert 10 km to miles", "Convert 10 km to feet") == "units differ"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Convert 10 km to miles", "How many miles is 10 km?"),
        ("What is 40 C in F?", "Convert 40 celsius to fahrenheit"),
        ("How many grams in one ounce?", "How many grams are in an ounce?"),
    ],
)
def test_the_same_conversion_worded_differently_passes(a: str, b: str) -> None:
    assert guard(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Is it legal to drive barefoot?", "Is it not legal to drive barefoot?"),
        ("Why does my phone charge?", "Why doesn't my phone charge?"),
        ("Recipes with eggs", "Recipes without eggs"),
    ],
)
def test_negating_the_question_is_rejected(a: str, b: str) -> None:
    assert rejected_by(a, b) == "negation differs"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("When did the Cold War begin?", "When did the Cold War finish?"),
        ("What is the cheapest flight to Rome?", "What is the most expensive flight to Rome?"),
        ("How do I enable dark mode?", "How do I disable dark mode?"),
        ("What was the first Beatles album?", "What was the last Beatles album?"),
    ],
)
def test_opposite_words_are_rejected(a: str, b: str) -> None:
    assert rejected_by(a, b) == "opposite words"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I convert a list to a set?", "How do I convert a set to a list?"),
        ("Is Rust faster than Go?", "Is Go faster than Rust?"),
    ],
)
def test_a_reversed_direction_is_rejected(a: str, b: str) -> None:
    assert rejected_by(a, b) == "direction differs"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Can rabbits eat carrots?", "Can hamsters eat carrots?"),
        ("What is the capital of Peru?", "What is the capital of Chile?"),
        ("Who directed Jaws?", "Who directed Alien?"),
    ],
)
def test_a_swapped_term_in_the_same_question_is_rejected(a: str, b: str) -> None:
    assert rejected_by(a, b) == "a different term in the same question"


def test_asking_who_instead_of_where_is_rejected() -> None:
    assert rejected_by("Who built the Colosseum?", "Where is the Colosseum?") is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is the capital of Peru?", "Peru's capital city?"),
        ("How do I reverse a string in Go?", "What's the way to reverse a Go string?"),
        ("Who founded Microsoft?", "Who were the founders of Microsoft?"),
        ("Why is the ocean salty?", "What makes the ocean salty?"),
    ],
)
def test_paraphrases_pass(a: str, b: str) -> None:
    assert guard.check(a, b).ok


def test_a_question_always_matches_itself() -> None:
    assert guard("Can't I convert 5 km to miles?", "Can't I convert 5 km to miles?")


def test_rules_can_be_chosen_by_name() -> None:
    numbers_only = PrecisionGuard(rules=["numbers"])
    assert numbers_only("Can rabbits eat carrots?", "Can hamsters eat carrots?")
    assert not numbers_only("What is 2 + 2?", "What is 2 + 3?")
    with pytest.raises(ValueError):
        PrecisionGuard(rules=["telepathy"])
    assert set(RULES) >= {"numbers", "units", "negation", "contrast", "swapped_term"}


# -- the labelled pairs -------------------------------------------------------------------
def load_pairs(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def test_the_labelled_set_is_big_and_hard_enough() -> None:
    pairs = load_pairs("pairs.jsonl") + load_pairs("holdout.jsonl")
    negatives = [p for p in pairs if not p["same"]]
    hard = [p for p in negatives if p["kind"].startswith("hard:")]
    assert len(pairs) >= 150
    assert len(hard) * 2 >= len(negatives)


@pytest.mark.parametrize("name", ["pairs.jsonl", "holdout.jsonl"])
async def test_threshold_plus_guard_reaches_the_precision_and_recall_bars(
    cached_embedder: CachedEmbedder, name: str
) -> None:
    pairs = load_pairs(name)
    left = await cached_embedder.aembed([p["a"] for p in pairs])
    right = await cached_embedder.aembed([p["b"] for p in pairs])
    true_hits = false_hits = missed = 0
    for pair, a, b in zip(pairs, left, right, strict=True):
        similarity = sum(x * y for x, y in zip(a, b, strict=True))
        hit = similarity >= DEFAULT_SIMILARITY_THRESHOLD and guard(pair["a"], pair["b"])
        if hit and pair["same"]:
            true_hits += 1
        elif hit:
            false_hits += 1
        elif pair["same"]:
            missed += 1
    assert true_hits / (true_hits + false_hits) >= 0.95
    assert true_hits / (true_hits + missed) >= 0.75


def test_every_hard_negative_is_rejected_by_the_guard() -> None:
    pairs = load_pairs("pairs.jsonl") + load_pairs("holdout.jsonl")
    served = [p for p in pairs if p["kind"].startswith("hard:") and guard(p["a"], p["b"])]
    assert served == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I read my electricity meter?", "How do I read my electricty meter?"),
        ("How do I install the desktop app on a Mac?", "How do I instal the desktop app on a Mac?"),
        ("I can't log in to my online banking", "I cannot log in to my online banking"),
        (
            "Why won't my laptop connect to the printer?",
            "Why doesn't my laptop connect to the printer?",
        ),
        (
            "What documents do I need to open a joint account?",
            "To open a joint account, what documents do I need?",
        ),
        (
            "How do I order a replacement debit card?",
            "Hi, quick one: how do I order a replacement debit card?",
        ),
        ("How do I reset my router password?", "how can I reset my router's password"),
        (
            "Do I need to book a table for Sunday lunch?",
            "Do I need to book a table for Sunday lunch? Thank you!",
        ),
    ],
)
def test_misspellings_contractions_fillers_and_moved_clauses_pass(a: str, b: str) -> None:
    assert rejected_by(a, b) is None


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("Remind me at 7am", "Remind me at 7pm", "opposite words"),
        ("Is the deposit refundable?", "Is the deposit non-refundable?", "negation differs"),
        (
            "How do I turn on two-factor authentication?",
            "How do I turn off two-factor authentication?",
            "opposite words",
        ),
        (
            "How do I get a refund on a gift?",
            "How do I get a refund on a gift card?",
            "a qualifier added",
        ),
        (
            "What are the symptoms of flu?",
            "What are the symptoms of flu in babies?",
            "a qualifier added",
        ),
        (
            "Can I get the NHS flu jab for free?",
            "Can my child get the NHS flu jab for free?",
            "asks about someone else",
        ),
        (
            "Transfer £50 from my savings to my current account",
            "Transfer £50 from my current account to my savings",
            "direction differs",
        ),
        ("Is it safe to drive?", "Is it unsafe to drive?", "opposite words"),
        ("house prices in Leeds", "horse prices in Leeds", "a different term in the same question"),
    ],
)
def test_times_prefixes_qualifiers_askers_and_directions_are_rejected(
    a: str, b: str, reason: str
) -> None:
    assert rejected_by(a, b) == reason
