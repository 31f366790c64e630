"""Key coverage, generated from the SDKs' own method signatures: every parameter of every cached
method either changes the key or is on the documented ignore list
(:data:`aiocache_llm.llm.keys.IGNORED_ARGUMENTS`, listed in the README). A parameter an SDK adds
in a later release is checked the day it appears."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import litellm
import pytest
from anthropic import AsyncAnthropic
from anthropic.resources.messages import AsyncMessages
from openai import AsyncOpenAI
from openai.resources.chat.completions import AsyncCompletions
from openai.resources.embeddings import AsyncEmbeddings
from openai.resources.responses import AsyncResponses

from aiocache_llm.facade import Cache
from aiocache_llm.llm.keys import IGNORED_ARGUMENTS, IGNORED_HEADERS, make_key
from tests.harness.upstream import Upstream
from tests.llm._support import ask

CHAT = {"model": "gpt-4o-mini", "messages": ask()}
#: (call type, the SDK method, the arguments of a plain call)
METHODS: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("chat.completions.create", AsyncCompletions.create, CHAT),
    ("responses.create", AsyncResponses.create, {"model": "gpt-4o-mini", "input": "Hi"}),
    ("embeddings.create", AsyncEmbeddings.create, {"model": "e", "input": "Hi"}),
    (
        "messages.create",
        AsyncMessages.create,
        {"model": "claude", "max_tokens": 64, "messages": ask()},
    ),
    ("acompletion", litellm.acompletion, CHAT),
]

#: A changed value for parameters whose values have a shape; any other gets a new string.
SHAPED: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Something else entirely?"}],
    "extra_headers": {"anthropic-beta": "tools-2099-01-01"},
    "headers": {"OpenAI-Beta": "assistants=v9"},
    "extra_body": {"top_k": 3},
    "extra_query": {"api-version": "2099-01-01"},
    "file": b"other audio",
}


def _parameters() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for call_type, method, base in METHODS:
        for name, parameter in inspect.signature(method).parameters.items():
            if name == "self" or parameter.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            cases.append((call_type, name, base))
    return cases


CASES = _parameters()


def test_the_signatures_were_read() -> None:
    assert len(CASES) > 100
    names = {name for _, name, _ in CASES}
    assert {"extra_headers", "extra_body", "extra_query", "base_url"} & names


@pytest.mark.parametrize(
    ("call_type", "name", "base"), CASES, ids=[f"{c}:{n}" for c, n, _ in CASES]
)
def test_every_parameter_changes_the_key_or_is_on_the_ignore_list(
    call_type: str, name: str, base: dict[str, Any]
) -> None:
    changed = SHAPED.get(name, f"changed-{name}")
    before = make_key(call_type, base)
    after = make_key(call_type, {**base, name: changed})
    ignored = name in IGNORED_ARGUMENTS or name.startswith("litellm_")
    assert (after != before) != ignored, (
        f"{name}: {'ignored but keyed' if ignored else 'neither keyed nor on the ignore list'}"
    )


@pytest.mark.parametrize("header", ["anthropic-beta", "OpenAI-Beta", "X-Custom-Routing"])
@pytest.mark.parametrize("argument", ["extra_headers", "headers"])
def test_a_header_not_on_the_ignore_list_changes_the_key(header: str, argument: str) -> None:
    assert make_key("acompletion", {**CHAT, argument: {header: "v1"}}) != make_key(
        "acompletion", CHAT
    )
    assert make_key("acompletion", {**CHAT, argument: {header: "v1"}}) != make_key(
        "acompletion", {**CHAT, argument: {header: "v2"}}
    )


@pytest.mark.parametrize("header", [*sorted(IGNORED_HEADERS), "X-Stainless-Lang"])
def test_a_header_on_the_ignore_list_leaves_the_key(header: str) -> None:
    assert make_key("acompletion", {**CHAT, "extra_headers": {header: "x"}}) == make_key(
        "acompletion", CHAT
    )


def test_header_names_are_case_insensitive() -> None:
    assert make_key("acompletion", {**CHAT, "extra_headers": {"Anthropic-Beta": "b"}}) == (
        make_key("acompletion", {**CHAT, "headers": {"anthropic-beta": "b"}})
    )


def test_the_deployment_is_one_thing_however_it_is_spelled() -> None:
    a = make_key("acompletion", {**CHAT, "api_base": "http://a.example/v1/"})
    assert a == make_key("acompletion", {**CHAT, "base_url": "http://a.example/v1"})
    assert a != make_key("acompletion", {**CHAT, "api_base": "http://b.example/v1"})
    assert make_key("acompletion", {**CHAT, "base_url": "https://api.openai.com/v1/"}) == (
        make_key("acompletion", CHAT)
    )


def test_user_enters_the_key_only_with_key_on_user() -> None:
    alice, bob = {**CHAT, "user": "alice"}, {**CHAT, "user": "bob"}
    assert make_key("acompletion", alice) == make_key("acompletion", bob)
    assert make_key("acompletion", alice, key_on_user=True) != make_key(
        "acompletion", bob, key_on_user=True
    )


async def test_key_on_user_keeps_end_users_apart_in_a_cache(llm_upstream: Upstream) -> None:
    async with AsyncOpenAI(base_url=llm_upstream.base_url, api_key="k", max_retries=0) as raw:
        shared = Cache(type="local").wrap_openai(raw)
        apart = Cache(type="local", key_on_user=True).wrap_openai(raw)
        for client in (shared, apart):
            for user in ("alice", "bob"):
                await client.chat.completions.create(model="m", messages=ask(), user=user)
    assert llm_upstream.calls() == 1 + 2


async def test_two_deployments_of_one_model_name_never_share_an_entry(
    llm_upstream: Upstream,
) -> None:
    cache = Cache(type="local")
    port = llm_upstream.base_url.rsplit(":", 1)[1]
    one = AsyncOpenAI(base_url=llm_upstream.base_url, api_key="k", max_retries=0)
    other = AsyncOpenAI(base_url=f"http://localhost:{port}", api_key="k", max_retries=0)
    async with one, other:
        for client in (cache.wrap_openai(one), cache.wrap_openai(other), cache.wrap_openai(one)):
            await client.chat.completions.create(model="m", messages=ask())
    assert llm_upstream.calls() == 2


async def test_a_beta_header_is_part_of_the_key_through_the_sdk(llm_upstream: Upstream) -> None:
    cache = Cache(type="local")
    async with AsyncAnthropic(base_url=llm_upstream.url, api_key="k", max_retries=0) as raw:
        claude = cache.wrap_anthropic(raw)
        request = {"model": "claude", "max_tokens": 64, "messages": ask()}
        await claude.messages.create(**request)
        await claude.messages.create(**request, extra_headers={"anthropic-beta": "b-1"})
        await claude.messages.create(**request, extra_headers={"anthropic-beta": "b-1"})
        await claude.messages.create(**request)
    assert llm_upstream.calls("messages") == 2
