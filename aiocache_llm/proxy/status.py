"""The proxy's status page: ``/ui`` (one self-contained HTML page, charts drawn as inline SVG,
no outside script or font) fed by ``/ui/data`` (JSON).

It shows the hit ratio and what hits saved over time (samples of the cache's counters, taken
every ``interval`` seconds while the proxy runs and when the page asks), the circuit breaker
and the backend's own counters, and the models asked most. Admin only when the proxy has a
``master_key``: the key as a bearer token, or as the password of HTTP basic auth (what a
browser asks for).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections import deque
from collections.abc import Mapping
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

from ..facade import Cache
from ..middleware.builders import GuardedCache

if TYPE_CHECKING:
    from .app import ProxyState

__all__ = ["StatusHistory", "basic_password", "status_data", "status_page"]

#: Samples kept: a day at the default interval of a minute.
_KEPT: Final = 1440
_TOP_MODELS: Final = 10


class StatusHistory:
    """Samples of the cache's counters over time, and requests per model."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.samples: deque[dict[str, float]] = deque(maxlen=_KEPT)
        #: model -> {"hit": n, "miss": n, "none": n} (requests by cache outcome)
        self.models: dict[str, dict[str, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def count_model(self, model: str, outcome: str) -> None:
        """Count a request for ``model`` answered as ``outcome`` (hit, miss, none)."""
        row = self.models.get(model)
        if row is None:
            if len(self.models) >= 1000:  # a flood of names is not kept
                return
            row = self.models[model] = {"hit": 0, "miss": 0, "none": 0}
        row[outcome] = row.get(outcome, 0) + 1

    def sample(self, cache: Cache | None) -> dict[str, float]:
        """The counters now (kept when ``interval`` has passed since the last sample)."""
        point = _point(cache)
        if not self.samples or point["t"] - self.samples[-1]["t"] >= self.interval:
            self.samples.append(point)
        return point

    def start(self, cache: Cache | None) -> None:
        self.sample(cache)

        async def every_interval() -> None:
            while True:
                await asyncio.sleep(self.interval)
                self.sample(cache)

        self._task = asyncio.get_running_loop().create_task(every_interval())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


def _point(cache: Cache | None) -> dict[str, float]:
    point = {"t": time.time(), "hits": 0.0, "misses": 0.0, "tokens": 0.0, "cost": 0.0}
    if cache is None:
        return point
    counters = cache.events.counters
    point["hits"] = float(counters["hit"])
    point["misses"] = float(counters["miss"])
    for row in cache.events.savings_report():
        point["tokens"] += row["prompt_tokens"] + row["completion_tokens"]
        point["cost"] += row["cost"]
    return point


def status_data(state: ProxyState) -> dict[str, Any]:
    """What ``/ui/data`` answers."""
    cache = state.cache
    status = state.status
    now = status.sample(cache)
    series = list(status.samples)
    if series[-1] is not now:
        series.append(now)  # the current counters end every series
    busiest = sorted(status.models.items(), key=lambda item: -sum(item[1].values()))
    models = [{"model": name, **row} for name, row in busiest[:_TOP_MODELS]]
    data: dict[str, Any] = {"series": series, "models": models, "cache": None}
    if cache is not None:
        report = cache.stats_report()
        guarded = cache.guarded
        breaker = guarded.breaker.snapshot() if isinstance(guarded, GuardedCache) else None
        data["cache"] = {
            "type": cache.type,
            "backend": cache.backend.backend_name,
            "hit_rate": report["hit_rate"],
            "events": report["events"],
            "backend_counters": report["backend"],
            "breaker": breaker,
            "health": "down" if breaker and breaker["state"] == "open" else "up",
        }
    return data


def status_page() -> bytes:
    """The page itself (static: it fetches ``/ui/data``)."""
    return files(__package__).joinpath("status.html").read_bytes()


def basic_password(headers: Mapping[str, str]) -> str | None:
    """The password of an ``Authorization: Basic`` header (the user name is ignored)."""
    value = headers.get("authorization") or ""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None
