"""The config file is read with limits and checked by a schema: deep nesting, alias bombs and
huge numbers are config errors, every mistake of shape is reported at once, and the schema is
published (``aiocache-llm config schema``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.proxy import load_config, parse_config
from aiocache_llm.proxy.schema import json_schema

from ._support import ROOT


def load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as refused:
        load_config(path, {})
    return str(refused.value)


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    message = load(tmp_path, "model_list: " + "[" * 20_000 + "]" * 20_000)
    assert "nests deeper than" in message


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    message = load(tmp_path, "\n".join(lines) + "\n")
    assert "expands to more than" in message


def test_a_merge_key_with_an_alias_still_works(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "x-base: &base {api_base: 'http://127.0.0.1:9/v1'}\n"
        "model_list:\n"
        "  - model_name: m\n"
        "    litellm_params: {<<: *base, model: openai/m}\n"
        "general_settings: {master_key: sk-1234}\n".replace(
            "x-base: &base ", "model_list_base: &base "
        )
    )
    with pytest.raises(ConfigurationError) as refused:  # an unknown section, not a YAML error
        load_config(path, {})
    assert "model_list_base: unknown section" in str(refused.value)


@pytest.mark.parametrize("number", ["1" + "0" * 400, "1.0e+400", ".inf", "-1.0e+20"])
def test_a_number_out_of_range_is_a_config_error(tmp_path: Path, number: str) -> None:
    text = (
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/m}\n"
        f"    model_info: {{input_cost_per_token: {number}}}\n"
    )
    message = load(tmp_path, text)
    assert "model_list[0].model_info.input_cost_per_token" in message


def test_every_mistake_of_shape_is_reported_at_once() -> None:
    raw = {
        "model_list": [{"litellm_params": {"model": "openai/m"}}, {"model_name": ""}],
        "keys": [{"key": "sk-1", "rpm_limit": -1}],
        "general_settings": {"master_key": "sk-1234", "request_timeout": "soon"},
    }
    with pytest.raises(ConfigurationError) as refused:
        parse_config(raw, {})
    message = str(refused.value)
    assert message.startswith("4 errors in the config:")
    for where in (
        "model_list[0].model_name",
        "model_list[1].model_name",
        "keys[0].rpm_limit",
        "general_settings.request_timeout",
    ):
        assert where in message


def test_the_schema_is_published_by_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiocache_llm", "config", "schema"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema == json_schema()
    assert set(schema["properties"]) >= {"model_list", "keys", "general_settings"}
    assert schema["additionalProperties"] is False
