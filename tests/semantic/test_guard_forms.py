"""The precision guard on other written forms and on antonyms, converses and roles: each rule
with real sentences through the real model and the shipped defaults (a ``LocalSemanticCache``
stores one question and is asked the other)."""

from __future__ import annotations

import itertools

import pytest

from aiocache_llm.semantic.cache import DEFAULT_SIMILARITY_THRESHOLD
from aiocache_llm.semantic.embedders import CachedEmbedder
from aiocache_llm.semantic.guard import (
    REPEAT_FLOOR,
    RULES,
    SYNONYM_SIMILARITY,
    PrecisionGuard,
    features,
)
from aiocache_llm.semantic.guard.features import names
from aiocache_llm.semantic.local import LocalSemanticCache

from .conftest import chat, query

_scopes = itertools.count()
guard = PrecisionGuard()


async def served(embedder: CachedEmbedder, stored: str, asked: str) -> bool:
    """Whether a cache at the defaults serves ``stored``'s answer to ``asked``."""
    cache = LocalSemanticCache(embedder=embedder)
    scope = {"namespace": f"forms{next(_scopes)}"}
    kept, asking = (
        query("acompletion", chat(stored), scope),
        query("acompletion", chat(asked), scope),
    )
    await cache.async_semantic_store("acompletion", kept, scope, {"answer": stored})
    hit = await cache.async_semantic_lookup("acompletion", asking, scope)
    return hit is not None


async def cosine(embedder: CachedEmbedder, a: str, b: str) -> float:
    [x], [y] = await embedder.aembed([a]), await embedder.aembed([b])
    return sum(p * q for p, q in zip(x, y, strict=True))


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        # a number in digits, in words or in Roman numerals
        ("When did World War II end?", "When did World War 2 end?"),
        ("What is 20% of 150?", "Calculate twenty percent of 150"),
        # "one" and "a single" before a noun are the article
        ("How much protein is in one banana?", "How much protein is in a single banana?"),
        # "I'm" is "I am", not "I" and a metre
        ("Can I fly when I'm 28 weeks pregnant?", "Is it safe to fly at 28 weeks pregnant?"),
        # an age is no quantity of years
        ("Can a 17-year-old open a bank account?", "Can you open a bank account at 17?"),
        # an impersonal or passive frame asks for the same person
        ("Can I pay by card at the museum?", "Is it possible to pay by card at the museum?"),
        ("Do I need a visa to visit Japan?", "Is a visa needed to visit Japan?"),
        # another form of the same word is no other term
        ("How do I get a quote for solar panels?", "How do I get a quotation for solar panels?"),
        ("What is the waiting time for a passport?", "What's the wait time for a passport?"),
        ("How do I contact my estate agent?", "How do I contact my estate agency?"),
        # plurals of a closed class's member
        ("Is the library open on Sundays?", "Can I visit the library on a Sunday?"),
        # a name in another form: possessive, acronym, misspelt, lower case
        ("Which city is Canada's capital?", "What is the capital of Canada?"),
        ("What is the population of the UK?", "How many people live in the United Kingdom?"),
        ("When did World War II end?", "In what year did WWII come to an end?"),
        (
            "What time does the Oxford Street store open on Mondays?",
            "What time does the Oxford Street store open on Mondys?",
        ),
    ],
)
async def test_the_same_question_in_another_form_is_served(
    cached_embedder: CachedEmbedder, stored: str, asked: str
) -> None:
    assert await served(cached_embedder, stored, asked)


@pytest.mark.parametrize(
    ("stored", "asked", "reason"),
    [
        ("When did World War II end?", "When did World War I end?", "numbers differ"),
        (
            "How much protein is in one banana?",
            "How much protein is in two bananas?",
            "numbers differ",
        ),
        (
            "Can I pay by card at the museum?",
            "Can my son pay by card at the museum?",
            "asks about someone else",
        ),
        (  # the "to" that directs need not be the first one
            "How do I move money from my Monzo account to Revolut?",
            "I want to send money from Revolut over to my Monzo account, how?",
            "direction differs",
        ),
        (  # a verb against a comparative: up or down all the same
            "How do I increase my credit limit?",
            "I want to lower my credit limit, how do I do it?",
            "opposite words",
        ),
        ("Are pets allowed on the train?", "Are pets banned on the train?", "opposite words"),
        (
            "How do I accept a friend request?",
            "How do I decline a friend request?",
            "opposite words",
        ),
        (
            "Which restaurants near me are rated excellent?",
            "Which restaurants near me are rated poor?",
            "opposite words",
        ),
        (  # converse roles
            "How much notice does a landlord need to give?",
            "How much notice does a tenant need to give?",
            "opposite words",
        ),
        (
            "Do employees pay national insurance?",
            "Do self-employed people pay national insurance?",
            "opposite words",
        ),
        (  # each names a place the other does not: names have no synonyms
            "Does Ryanair fly from Stansted to Dublin?",
            "Does Ryanair run any flights out of Luton to Dublin?",
            "a different name",
        ),
        (
            "Does British Airways fly from Heathrow to Rome?",
            "Are there British Airways flights out of Gatwick to Rome?",
            "a different name",
        ),
        (  # closed classes: another day, month, meal
            "Is the museum open on Saturday?",
            "Is the museum open on Sunday?",
            "another member of the same closed class",
        ),
        (
            "Can I get a refund for my March bill?",
            "Can I get a refund for my April bill?",
            "another member of the same closed class",
        ),
        (
            "Is breakfast included in the room rate?",
            "Is dinner included in the room rate?",
            "another member of the same closed class",
        ),
        (  # "avoid X" is "do not X" (at 0.96, where a swapped term would pass as a synonym)
            "Which medicines should I take before a flight?",
            "Which medicines should I avoid before a flight?",
            "negation differs",
        ),
        (  # a coordinated name is one term
            "What's the annual allowance for a Cash ISA?",
            "What's the annual allowance for a Stocks and Shares ISA?",
            "a different term in the same question",
        ),
    ],
)
async def test_a_different_question_is_not_served(
    cached_embedder: CachedEmbedder, stored: str, asked: str, reason: str
) -> None:
    assert guard.check(stored, asked).reason == reason
    assert not await served(cached_embedder, stored, asked)


def test_numbers_read_alike_in_every_form() -> None:
    assert features("World War III").numbers == features("World War 3").numbers == (3.0,)
    assert features("WWII").numbers == (2.0,)
    assert features("fifteen percent").tokens == features("15%").tokens
    assert features("the cheapest one").numbers == ()  # a pronoun, not a count
    assert features("Henry I and Malcolm X").numbers == ()  # a lone letter is no numeral


def test_names_are_the_capitalised_words_inside_a_sentence() -> None:
    assert names("Does Jet2 fly from Gatwick to Faro? Or Luton's?") == (
        "Jet2",
        "Gatwick",
        "Faro",
        "Luton",
    )
    assert names("What is 40 F in C? Is London warmer?") == ("London",)
    differ = RULES["names"]
    assert differ(features("Driving in the UK?"), features("Driving in Utah?")) is not None
    assert (
        differ(features("Driving in the UK?"), features("Driving in the United Kingdom?")) is None
    )


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        (
            "How do I change the email address on my account?",
            "How do I chnage the email adress on my acount?",
        ),
        ("Where can I find my invoice history?", "where can i find my invioce history"),
        ("Is there step-free access at the station?", "Is there step-free acess at the staion?"),
    ],
)
async def test_a_misspelt_repeat_is_served_below_the_threshold(
    cached_embedder: CachedEmbedder, stored: str, asked: str
) -> None:
    similarity = await cosine(cached_embedder, stored, asked)
    assert REPEAT_FLOOR <= similarity < DEFAULT_SIMILARITY_THRESHOLD  # the typos cost that much
    assert guard.repeats(stored, asked)
    assert await served(cached_embedder, stored, asked)


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("What's the capital of Australia?", "What's the capital of Austria?"),  # two edits
        ("How do I request a repeat prescription?", "How do I request a single prescription?"),
        ("Is the house for sale?", "Is the horse for sale?"),  # short words: a real word
    ],
)
async def test_another_word_is_no_misspelling(
    cached_embedder: CachedEmbedder, stored: str, asked: str
) -> None:
    assert not guard.repeats(stored, asked)
    assert not await served(cached_embedder, stored, asked)


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("When does the summer term start?", "When does the summer term begin?"),
        (
            "How do I apply for a resident parking permit for my street?",
            "How do I apply for a resident parking permit for my road?",
        ),
        ("What is the fastest way to learn to type?", "What's the quickest way to learn to type?"),
    ],
)
async def test_a_swapped_term_in_sentences_the_model_finds_nearly_equal_is_a_synonym(
    cached_embedder: CachedEmbedder, stored: str, asked: str
) -> None:
    similarity = await cosine(cached_embedder, stored, asked)
    assert similarity >= SYNONYM_SIMILARITY
    assert guard.check(stored, asked).reason == "a different term in the same question"
    assert guard.check(stored, asked, similarity).ok
    assert await served(cached_embedder, stored, asked)
