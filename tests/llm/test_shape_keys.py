"""Keys of the Responses, Anthropic Messages and search shapes follow chat's rules: exactly the
arguments that change the answer, whatever their order, spelling or provider defaults."""

from __future__ import annotations

from typing import Any

import pytest

from aiocache_llm.llm.keys import make_key

RESPONSES: dict[str, Any] = {"model": "m", "input": "hello"}
MESSAGES: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hello"}],
}
SEARCH: dict[str, Any] = {"query": "cats", "search_provider": "perplexity"}
TOOL: dict[str, Any] = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


@pytest.mark.parametrize(
    "same",
    [
        {"input": [{"role": "user", "content": "hello"}]},
        {"input": [{"type": "message", "role": "user", "content": "hello"}]},
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}]},
        {"temperature": 1, "top_p": 1.0, "truncation": "disabled", "background": False},
        {"text": {"format": {"type": "text"}}, "include": [], "tools": []},
        {"stream": True, "store": True, "metadata": {"a": "b"}, "user": "u", "timeout": 3},
    ],
)
def test_responses_spellings_and_defaults_share_a_key(same: dict[str, Any]) -> None:
    assert make_key("aresponses", {**RESPONSES, **same}) == make_key("responses", RESPONSES)


@pytest.mark.parametrize(
    "different",
    [
        {"input": "hello!"},
        {"instructions": "Be brief."},
        {"temperature": 0},
        {"max_output_tokens": 5},
        {"previous_response_id": "resp_1"},
        {"tools": [TOOL]},
        {"reasoning": {"effort": "high"}},
    ],
)
def test_responses_arguments_that_change_the_answer_change_the_key(
    different: dict[str, Any],
) -> None:
    assert make_key("aresponses", {**RESPONSES, **different}) != make_key("aresponses", RESPONSES)


def test_responses_tool_choice_auto_with_tools_is_the_default() -> None:
    with_tools = {**RESPONSES, "tools": [TOOL]}
    assert make_key("aresponses", {**with_tools, "tool_choice": "auto"}) == make_key(
        "aresponses", with_tools
    )
    assert make_key("aresponses", {**with_tools, "tool_choice": "required"}) != make_key(
        "aresponses", with_tools
    )


@pytest.mark.parametrize(
    "same",
    [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]},
        {"temperature": 1.0, "stop_sequences": [], "metadata": {"user_id": "u"}},
        {"stream": True, "api_key": "sk", "api_base": "https://api.anthropic.com/"},
    ],
)
def test_messages_spellings_and_defaults_share_a_key(same: dict[str, Any]) -> None:
    assert make_key("aanthropic_messages", {**MESSAGES, **same}) == make_key(
        "anthropic_messages", MESSAGES
    )


def test_a_one_block_system_is_its_text() -> None:
    blocks = [{"type": "text", "text": "Be brief."}]
    assert make_key("anthropic_messages", {**MESSAGES, "system": blocks}) == make_key(
        "anthropic_messages", {**MESSAGES, "system": "Be brief."}
    )


@pytest.mark.parametrize(
    "different",
    [{"max_tokens": 8}, {"system": "Be brief."}, {"top_k": 5}, {"temperature": 0}],
)
def test_messages_arguments_that_change_the_answer_change_the_key(
    different: dict[str, Any],
) -> None:
    assert make_key("anthropic_messages", {**MESSAGES, **different}) != make_key(
        "anthropic_messages", MESSAGES
    )


def test_search_domain_filters_are_sets_and_limits_count() -> None:
    one = make_key("asearch", {**SEARCH, "search_domain_filter": ["a.example", "b.example"]})
    two = make_key("search", {**SEARCH, "search_domain_filter": ["b.example", "a.example"]})
    assert one == two
    assert make_key("asearch", {**SEARCH, "search_domain_filter": []}) == make_key(
        "asearch", SEARCH
    )
    assert make_key("asearch", {**SEARCH, "max_results": 3}) != make_key("asearch", SEARCH)


def test_shapes_never_share_entries_with_each_other_or_with_chat() -> None:
    chat = make_key("acompletion", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    responses = make_key("aresponses", {"model": "m", "input": "x"})
    messages = make_key(
        "aanthropic_messages", {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    )
    assert len({chat, responses, messages}) == 3
