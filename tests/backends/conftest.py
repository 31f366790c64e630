"""The ``cache`` fixture: every backend under test, through the async and the blocking API.

``api`` wraps a backend so one test body exercises either form: ``await api.get_cache(k)``
calls ``async_get_cache`` or runs the generated blocking ``get_cache`` in a worker thread (so a
backend that hops to the library's loop thread is exercised exactly as a script would use it).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm import BaseCache, DiskCache, InMemoryCache, NotSupported
from tests.tiers import mentions_a_server

#: name -> factory(request, tmp_path). A module ``tests/backends/contract_<family>.py`` adds
#: its backends by defining ``FACTORIES`` (they may ask for server fixtures through ``request``),
#: and may declare ``NOT_SUPPORTED = {name: ("increment", ...)}``: contract tests whose names
#: contain one of those words must then raise ``NotSupported`` on that backend.
Factory = Callable[[pytest.FixtureRequest, Path], BaseCache]
BACKENDS: dict[str, Factory] = {
    "memory": lambda request, tmp: InMemoryCache(max_size_in_memory=10_000),
    "disk": lambda request, tmp: DiskCache(tmp / "disk"),
}
NOT_SUPPORTED: dict[str, tuple[str, ...]] = {}
#: Backends that keep values by reference, as a dict does (the in-memory cache, bare or behind
#: middleware that does not serialise): they store what others refuse as unserialisable.
BY_REFERENCE = {"memory", "guarded-memory"}
for _module in sorted(Path(__file__).parent.glob("contract_*.py")):
    _contract = importlib.import_module(f"{__package__}.{_module.stem}")
    BACKENDS.update(_contract.FACTORIES)
    NOT_SUPPORTED.update(getattr(_contract, "NOT_SUPPORTED", {}))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend_name") if callspec is not None else None
        if backend in BACKENDS and mentions_a_server(BACKENDS[backend]):
            item.add_marker(pytest.mark.servers)
        refused = NOT_SUPPORTED.get(backend or "", ())
        if any(word in item.name for word in refused):
            item.add_marker(
                pytest.mark.xfail(
                    raises=NotSupported, strict=True, reason=f"{backend} refuses this operation"
                )
            )


class Api:
    """Calls ``name`` as ``async_name`` (async mode) or the generated blocking ``name``."""

    def __init__(self, cache: BaseCache, mode: str) -> None:
        self.cache, self.mode = cache, mode

    def __getattr__(self, name: str) -> Callable[..., Any]:
        sync_to_async = {"increment_cache": "async_increment"}
        async_name = sync_to_async.get(name, f"async_{name}")

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.mode == "async":
                return await getattr(self.cache, async_name)(*args, **kwargs)
            return await asyncio.to_thread(getattr(self.cache, name), *args, **kwargs)

        return call


@pytest.fixture(params=sorted(BACKENDS))
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def cache(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BaseCache]:
    backend = BACKENDS[backend_name](request, tmp_path)
    try:
        yield backend
    finally:
        await backend.async_flush_cache()
        await backend.async_disconnect()


@pytest.fixture(params=["async", "blocking"])
def api(request: pytest.FixtureRequest, cache: BaseCache) -> Api:
    return Api(cache, request.param)
