"""The Grafana dashboard in dashboards/ reads the metrics the library and the proxy export, by
their defined names, and is a dashboard Grafana can import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiocache_llm.llm.metric_names import LIBRARY_METRICS

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboards" / "aiocache_llm.json"
_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def exposed_name(name: str, kind: str) -> set[str]:
    if kind == "counter":
        return {name + "_total"}
    if kind == "histogram":
        return {name + suffix for suffix in ("_bucket", "_count", "_sum")}
    return {name}


def test_every_series_the_dashboard_reads_is_a_defined_metric() -> None:
    exposed = set().union(*(exposed_name(m.name, m.type) for m in LIBRARY_METRICS))
    for expr in expressions():
        for name in re.findall(r"\baiocache_llm_\w+", expr):
            assert name in exposed, f"{name} in {expr}"


def test_every_defined_metric_is_on_the_dashboard() -> None:
    text = " ".join(expressions())
    for metric in LIBRARY_METRICS:
        assert any(name in text for name in exposed_name(metric.name, metric.type)), metric.name


def test_the_queries_are_balanced_and_filtered_by_job() -> None:
    for expr in expressions():
        assert expr.count("(") == expr.count(")"), expr
        for selector in re.findall(r"\baiocache_llm_\w+(\{[^}]*\})?", expr):
            assert selector == '{job=~"$job"}', expr


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24
        cells = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells
