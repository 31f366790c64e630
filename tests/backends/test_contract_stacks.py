"""Contract behaviours that show only where values are transformed on their way (encrypted
stacks), run on every backend and stack like the rest of the contract."""

from __future__ import annotations

from .conftest import Api

VALUES = [("dict", {"answer": [1, "two"]}), ("text", "ünïcödé"), ("bytes", b"\x00\xff")]


async def test_batch_get_entries_returns_values_of_every_kind(api: Api) -> None:
    await api.set_cache_pipeline(VALUES, ttl=60)
    entries = await api.batch_get_entries(["dict", "missing", "text", "bytes"])
    assert [None if e is None else e.value for e in entries] == [
        {"answer": [1, "two"]},
        None,
        "ünïcödé",
        b"\x00\xff",
    ]


async def test_batch_get_returns_values_of_every_kind(api: Api) -> None:
    await api.set_cache_pipeline(VALUES, ttl=60)
    assert await api.batch_get_cache(["dict", "text", "bytes"]) == [v for _, v in VALUES]
