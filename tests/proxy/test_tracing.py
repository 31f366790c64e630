"""The proxy continues the caller's trace: a request's ``traceparent`` is the parent of the
cache's span, and the trace goes on to the upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from aiocache_llm.llm.tracing import Tracing
from aiocache_llm.proxy.app import create_app
from aiocache_llm.proxy.config import parse_config
from tests.harness.upstream import Upstream

from ._support import models

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def proxy_app(upstream: Upstream, tracing: Tracing) -> TestClient:
    config = parse_config(
        {
            "model_list": models(upstream),
            "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
        },
        {"TEST_UPSTREAM_KEY": "sk-upstream"},
    )
    app = create_app(config)
    app.state.proxy.cache.events.tracing = tracing  # in a deployment: the global provider
    return TestClient(app)


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    provider.shutdown()


def ask(client: TestClient, content: str) -> None:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": content}]}
    answer = client.post("/v1/chat/completions", json=body, headers={"traceparent": TRACEPARENT})
    answer.raise_for_status()


def test_the_cache_span_is_a_child_of_the_callers_and_the_parent_of_the_upstream_call(
    llm_upstream: Upstream, exporter: tuple[InMemorySpanExporter, TracerProvider]
) -> None:
    spans, provider = exporter
    with proxy_app(llm_upstream, Tracing(provider)) as client:
        ask(client, "traced question")
        ask(client, "traced question")
    miss, hit = (s for s in spans.get_finished_spans() if s.name.startswith("aiocache_llm"))
    for span in (miss, hit):
        assert f"{span.context.trace_id:032x}" == TRACE_ID
        assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT_ID
    assert miss.attributes["aiocache_llm.hit"] is False  # type: ignore[index]
    assert hit.attributes["aiocache_llm.hit"] is True  # type: ignore[index]
    (sent,) = llm_upstream.stats()["traceparents"]  # one upstream call: the miss
    _, trace_id, parent_id, _ = sent.split("-")
    assert trace_id == TRACE_ID
    assert parent_id == f"{miss.context.span_id:016x}"  # the upstream call is the span's child


def test_without_an_sdk_the_callers_trace_goes_on_upstream_as_it_came(
    llm_upstream: Upstream,
) -> None:
    with proxy_app(llm_upstream, Tracing(enabled=False)) as client:
        ask(client, "untraced question")
    assert llm_upstream.stats()["traceparents"] == [TRACEPARENT]
