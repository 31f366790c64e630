"""Cache keys: stable, canonical, versioned, and free of prompt text."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import openai
import pytest

from aiocache_llm.errors import InvalidArgumentError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.keys import KEY_SCHEMA_VERSION, digest, make_key, relevant_arguments
from aiocache_llm.llm.responses import cache_info

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}


def test_known_keys_are_pinned_across_processes_machines_and_versions() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert make_key("acompletion", CHAT) == (
        "llm:v1:66d9b246b0cf7b3f17103dcd6d18d3aa8b92c60d3d5e4288af256d5f760f09dc"
    )
    assert make_key(
        "acompletion", {**CHAT, "temperature": 0.2, "tools": tools}, namespace="prod"
    ) == ("prod:llm:v1:81a5f09e77e05455b1a60489d9b650ac9931798e332fa43aa1087b0e45732175")
    embedding = {"model": "text-embedding-3-small", "input": "Hello"}
    assert make_key("aembedding", embedding, identity="tenant-42") == (
        "llm:v1:8fb1fd1b1e226fa9f09e72857fa29470e2b5b67eebe46b3df3205e12a906552c"
    )


def test_digest_is_the_sha256_of_sorted_key_json() -> None:
    expected = hashlib.sha256(b'{"a":[1,"x"],"b":1}').hexdigest()
    assert digest({"b": 1, "a": [1, "x"]}) == expected


def test_argument_order_does_not_change_the_key() -> None:
    reordered = {"messages": CHAT["messages"], "temperature": 0.3, "model": "gpt-4o-mini"}
    assert make_key("acompletion", {**CHAT, "temperature": 0.3}) == make_key(
        "acompletion", reordered
    )


def test_dict_order_inside_messages_does_not_change_the_key() -> None:
    flipped = {"model": "gpt-4o-mini", "messages": [{"content": "Hello", "role": "user"}]}
    assert make_key("acompletion", CHAT) == make_key("acompletion", flipped)


def test_arguments_equal_to_the_provider_default_do_not_change_the_key() -> None:
    defaults = {"temperature": 1.0, "top_p": 1, "n": 1, "presence_penalty": 0, "logprobs": False}
    assert make_key("acompletion", {**CHAT, **defaults, "parallel_tool_calls": True}) == make_key(
        "acompletion", CHAT
    )


def test_transport_and_bookkeeping_arguments_do_not_change_the_key() -> None:
    extras = {
        "api_key": "sk-secret",
        "timeout": 3,
        "stream": True,
        "metadata": {"trace": "x"},
        "user": "u1",
        "extra_headers": {"Authorization": "Bearer x", "X-Stainless-Retry-Count": "1"},
    }
    assert make_key("acompletion", {**CHAT, **extras}) == make_key("acompletion", CHAT)


def test_the_sdks_not_given_markers_do_not_change_the_key() -> None:
    assert make_key("acompletion", {**CHAT, "seed": openai.NOT_GIVEN}) == make_key(
        "acompletion", CHAT
    )


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o"},
        {"temperature": 0.5},
        {"seed": 7},
        {"max_tokens": 10},
        {"stop": ["\n"]},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"messages": [{"role": "user", "content": "Hello!"}]},
    ],
)
def test_an_argument_that_changes_the_answer_changes_the_key(change: dict[str, object]) -> None:
    assert make_key("acompletion", {**CHAT, **change}) != make_key("acompletion", CHAT)


def test_equivalent_spellings_of_an_argument_share_a_key() -> None:
    parts = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }
    assert make_key("acompletion", parts) == make_key("acompletion", CHAT)
    assert make_key("acompletion", {**CHAT, "stop": "x"}) == make_key(
        "acompletion", {**CHAT, "stop": ["x"]}
    )


def test_async_and_blocking_call_types_share_keys() -> None:
    assert make_key("acompletion", CHAT) == make_key("completion", CHAT)
    embedding = {"model": "e", "input": "x"}
    assert make_key("aembedding", embedding) == make_key("embedding", embedding)


def test_different_call_families_never_share_a_key() -> None:
    assert make_key("text_completion", {"model": "m", "prompt": "x"}) != make_key(
        "rerank", {"model": "m", "prompt": "x"}
    )


def test_the_namespace_is_a_readable_prefix_outside_the_hash() -> None:
    plain = make_key("acompletion", CHAT)
    assert make_key("acompletion", CHAT, namespace="team-a") == "team-a:" + plain


def test_an_identity_is_folded_into_the_hash() -> None:
    alice = make_key("acompletion", CHAT, identity="alice")
    bob = make_key("acompletion", CHAT, identity="bob")
    assert len({alice, bob, make_key("acompletion", CHAT)}) == 3
    assert "alice" not in alice


def test_keys_carry_the_schema_version_and_no_prompt_text() -> None:
    secret_prompt = "my bank password is hunter2"
    key = make_key(
        "acompletion", {"model": "m", "messages": [{"role": "user", "content": secret_prompt}]}
    )
    assert key.startswith(f"llm:v{KEY_SCHEMA_VERSION}:")
    assert "hunter2" not in key and "bank" not in key


def test_embedding_keys_drop_the_default_encoding_format() -> None:
    assert relevant_arguments(
        "aembedding", {"model": "e", "input": "x", "encoding_format": "float"}
    ) == {
        "model": "e",
        "input": "x",
    }


def test_a_transcription_key_uses_the_digest_of_the_file_bytes(tmp_path: Path) -> None:
    audio = b"RIFF....WAVEfmt fake audio"
    path = tmp_path / "a.wav"
    path.write_bytes(audio)
    handle = io.BytesIO(audio)
    keys = {
        make_key("atranscription", {"model": "whisper-1", "file": audio}),
        make_key("atranscription", {"model": "whisper-1", "file": path}),
        make_key("atranscription", {"model": "whisper-1", "file": ("a.wav", audio)}),
        make_key("atranscription", {"model": "whisper-1", "file": handle}),
    }
    assert len(keys) == 1
    assert handle.read() == audio, "the file is left where it was, ready for the upload"


def test_an_argument_that_cannot_be_serialised_raises_a_typed_error() -> None:
    with pytest.raises(InvalidArgumentError):
        make_key("acompletion", {**CHAT, "seed": object()})


async def test_an_anonymous_prompt_cannot_forge_another_identitys_custom_key() -> None:
    calls: list[str | None] = []

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs.get("user"))
        return {"choices": [{"message": {"content": f"for {kwargs.get('user')}"}}]}

    cache = Cache(
        identity=lambda kwargs: kwargs.get("user"),
        get_cache_key=lambda **kwargs: kwargs["messages"][-1]["content"],
    )
    llm = cache.cached(acompletion)
    alice = await llm(model="m", messages=[{"role": "user", "content": "plan"}], user="alice")
    scoped_key = cache_info(alice)["cache_key"]
    forged = await llm(model="m", messages=[{"role": "user", "content": scoped_key}])
    assert cache_info(forged)["cache_hit"] is False
    assert forged["choices"][0]["message"]["content"] == "for None"
    assert calls == ["alice", None]


async def test_namespace_and_identity_enter_a_custom_key_unambiguously() -> None:
    cache = Cache(
        identity=lambda kwargs: kwargs.get("user"),
        get_cache_key=lambda **kwargs: kwargs["messages"][-1]["content"],
    )

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"content": "x"}}]}

    llm = cache.cached(acompletion)
    keys = set()
    for user, namespace, text in [("a:b", None, "c"), ("a", None, "b:c"), (None, "a", "b:c")]:
        answer = await llm(
            model="m",
            messages=[{"role": "user", "content": text}],
            user=user,
            cache={"namespace": namespace} if namespace else None,
        )
        keys.add(cache_info(answer)["cache_key"])
    assert len(keys) == 3
