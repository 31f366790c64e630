"""Read-only views of an in-memory cache under LiteLLM's attribute names (``cache_dict``,
``ttl_dict``, ``expiration_heap``), for code and tests that look inside LiteLLM's
InMemoryCache. They show the entries as they are now (expired ones stay until they are read or
evicted, as in LiteLLM's); changing the cache goes through its methods."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._memory_store import Held

__all__ = ["ExpiryView", "ValueView"]


class ValueView(Mapping[str, Any]):
    """Key → value of every entry held."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Held]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key][0]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


class ExpiryView(ValueView):
    """Key → expiry time (wall clock, as LiteLLM's) of every entry held that has one."""

    __slots__ = ("_clock",)

    def __init__(self, data: Mapping[str, Held], clock: Callable[[], float]) -> None:
        super().__init__(data)
        self._clock = clock

    def __getitem__(self, key: str) -> float:
        expires = self._data[key][1]
        if expires is None:
            raise KeyError(key)
        clock = self._clock
        return expires if clock is time.time else expires - clock() + time.time()

    def __iter__(self) -> Iterator[str]:
        return iter([key for key, entry in list(self._data.items()) if entry[1] is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)
