"""The fast tier: ``python -m pytest -m "not servers"`` runs every test that needs no server.

A test is marked ``servers`` when it, or a fixture it uses, asks for a server fixture of
``tests/harness`` or starts a server with a harness function; the backend contract suite's
backends declare it through their factories (``tests/backends/conftest.py``). The marking is
checked, not trusted: in a run that deselects ``servers``, starting any server fails the test
that did (``tests/harness/process.py``).
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable
from types import CodeType
from typing import Any

import pytest

from tests.harness.process import NO_SERVERS

#: the fixtures that start (or hand out) a real server
SERVER_FIXTURES = frozenset(
    {
        "redis_server",
        "redis_cluster",
        "redis_cluster_replicas",
        "redis_sentinel",
        "s3_server",
        "gcs_server",
        "azure_server",
        "llm_upstream_server",
        "llm_upstream",
    }
)
_MENTIONS = re.compile(
    r"\b(" + "|".join(sorted(SERVER_FIXTURES)) + r"|start_\w+|\w+_running|running_server)\b"
)


@functools.cache
def mentions_a_server(
    function: Callable[..., Any], depth: int = 3, params: frozenset[Any] = frozenset()
) -> bool:
    """Whether ``function``'s source, or that of a test helper it calls by name (``depth``
    calls deep), asks for a server fixture or starts a server. A table of factories it reads
    counts by the entries of the test's parameters (``params``) when it has them, else all."""
    function = inspect.unwrap(function)
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    if _MENTIONS.search(source) is not None:
        return True
    code, scope = getattr(function, "__code__", None), getattr(function, "__globals__", {})
    if code is None or depth == 0:
        return False
    for name in _names(code):
        value = scope.get(name)
        helpers: Any = [value]
        if isinstance(value, dict):  # a table of factories, picked by a parameter
            chosen = [value[key] for key in params if _hashable(key) and key in value]
            helpers = chosen or value.values()
        for helper in helpers:
            if (
                inspect.isfunction(helper)
                and helper.__module__.startswith("tests.")
                and mentions_a_server(helper, depth - 1, params)
            ):
                return True
    return False


def _names(code: CodeType) -> set[str]:
    """The global names ``code`` and the functions nested in it use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
    return names


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def needs_servers(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = (
        frozenset(v for v in callspec.params.values() if _hashable(v)) if callspec else frozenset()
    )
    names = set(getattr(item, "fixturenames", ()))
    if names & SERVER_FIXTURES:
        return True
    function = getattr(item, "function", None)
    if function is not None and mentions_a_server(function, params=params):
        return True
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        if any(mentions_a_server(definition.func, params=params) for definition in definitions):
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "servers: needs a real server started by the test session (Redis, S3, GCS, Azurite,"
        " the LLM upstream stand-in); -m 'not servers' is the fast tier",
    )
    if "not servers" in (config.option.markexpr or ""):
        os.environ[NO_SERVERS] = "1"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_servers(item):
            item.add_marker(pytest.mark.servers)
