"""Size limits, as LiteLLM's proxy names them (``general_settings.max_request_size_mb`` and
``max_response_size_mb``, 1 MB = 1024 * 1024 bytes): a request body over the limit is a 413
before it is read (by its Content-Length, or counted as a chunked body arrives), and an
upstream answer over the limit is refused, never passed on as complete and never cached."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.proxy import load_config
from tests.harness.process import LOOPBACK
from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, Proxy, start_proxy

REQUEST_MB = 0.0625  # 64 KiB
RESPONSE_MB = 0.015625  # 16 KiB
REQUEST_LIMIT = 65_536
RESPONSE_LIMIT = 16_384

#: LiteLLM's proxy config format, as its docs write it
LITELLM_YAML = """\
model_list:
  - model_name: gpt-test
    litellm_params:
      model: openai/upstream-model
      api_base: {base}
      api_key: os.environ/TEST_UPSTREAM_KEY
  - model_name: embed-test
    litellm_params:
      model: openai/upstream-embed
      api_base: {base}
litellm_settings:
  cache: true
  cache_params:
    type: local
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
  # Security controls
  max_request_size_mb: {request_mb}
  max_response_size_mb: {response_mb}
"""


def _yaml(base: str, request_mb: Any = REQUEST_MB, response_mb: Any = RESPONSE_MB) -> str:
    return LITELLM_YAML.format(base=base, request_mb=request_mb, response_mb=response_mb)


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, llm_upstream_server: Upstream
) -> Iterator[Proxy]:
    config = _yaml(llm_upstream_server.base_url)
    proxy = start_proxy(config, tmp_path_factory.mktemp("proxy-limits"), MASTER_KEY)
    try:
        yield proxy
    finally:
        proxy.process.stop()


@pytest.fixture
def proxy(limited: Proxy, llm_upstream: Upstream) -> Proxy:
    limited.post("/cache/flushall", {}).raise_for_status()
    return limited


# -- the config ---------------------------------------------------------------------------------


def _load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, {"TEST_UPSTREAM_KEY": "k", "TEST_MASTER_KEY": "m"})


def test_both_limits_are_read_from_a_litellm_config(tmp_path: Path) -> None:
    config = _load(tmp_path, _yaml("http://127.0.0.1:9/v1", 0.5, 100))
    assert config.max_request_size_mb == 0.5
    assert config.max_response_size_mb == 100


def test_an_unset_request_limit_is_32_mb_and_an_unset_response_limit_is_none(
    tmp_path: Path,
) -> None:
    text = "\n".join(
        line for line in _yaml("http://127.0.0.1:9/v1").splitlines() if "_mb" not in line
    )
    config = _load(tmp_path, text + "\n")
    assert config.max_request_size_mb == 32
    assert config.max_response_size_mb is None


def test_zero_turns_a_limit_off_as_in_litellm(tmp_path: Path) -> None:
    config = _load(tmp_path, _yaml("http://127.0.0.1:9/v1", 0, 0))
    assert config.max_request_size_mb is None
    assert config.max_response_size_mb is None


@pytest.mark.parametrize("value", ["-1", "lots", ".inf"])
def test_a_bad_limit_is_a_config_error_naming_the_setting(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"general_settings\.max_request_size_mb"):
        _load(tmp_path, _yaml("http://127.0.0.1:9/v1", value))


# -- requests -----------------------------------------------------------------------------------


def _embedding_body(size: int) -> bytes:
    """An embeddings request of exactly ``size`` bytes (its answer is small)."""
    empty = orjson.dumps({"model": "embed-test", "input": ""})
    body = orjson.dumps({"model": "embed-test", "input": "x" * (size - len(empty))})
    assert len(body) == size
    return body


def _post_raw(proxy: Proxy, body: bytes) -> httpx.Response:
    headers = {**proxy.headers(), "content-type": "application/json"}
    return httpx.post(proxy.base_url + "/embeddings", content=body, headers=headers, timeout=10)


def _is_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}  # the proxy's error shape
    assert error["code"] == "request_too_large"
    assert error["message"] == f"Request size is too large. Max size is {REQUEST_MB} MB"


def _stores(proxy: Proxy) -> int:
    return int(proxy.get("/cache/stats").json()["events"].get("store", 0))


def test_a_body_at_the_limit_is_answered_and_cached(proxy: Proxy, llm_upstream: Upstream) -> None:
    body = _embedding_body(REQUEST_LIMIT)
    first = _post_raw(proxy, body)
    assert first.status_code == 200, first.text
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    second = _post_raw(proxy, body)
    assert second.status_code == 200
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.json()["data"] == first.json()["data"]
    assert llm_upstream.calls("embeddings") == 1


def test_a_body_one_byte_over_the_limit_is_a_413_and_never_goes_upstream(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    stored = _stores(proxy)
    _is_too_large(_post_raw(proxy, _embedding_body(REQUEST_LIMIT + 1)))
    assert llm_upstream.calls("embeddings") == 0
    assert _stores(proxy) == stored


def _exchange(proxy: Proxy, head: str, body: bytes) -> bytes:
    """Send a request by hand (headers, then ``body``, never finished) and read the answer."""
    with socket.create_connection((LOOPBACK, proxy.process.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while part := sock.recv(65_536):  # the proxy closes the connection after a 413
            answer += part
    return answer


def _head(proxy: Proxy, *lines: str) -> str:
    return "".join(
        f"{line}\r\n"
        for line in (
            "POST /v1/embeddings HTTP/1.1",
            f"host: {LOOPBACK}",
            f"authorization: Bearer {MASTER_KEY}",
            "content-type: application/json",
            *lines,
        )
    )


def _status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_sent(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    answer = _exchange(proxy, _head(proxy, "content-length: 10000000000"), b"")
    status, body = _status_and_json(answer)
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert llm_upstream.calls("embeddings") == 0


def _chunks(total: int, size: int = 4096) -> bytes:
    piece = f"{size:x}\r\n".encode() + b"x" * size + b"\r\n"
    return piece * (total // size)  # no last chunk: a body that never ends


def test_a_chunked_body_that_never_ends_is_refused_at_the_limit(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    answer = _exchange(
        proxy, _head(proxy, "transfer-encoding: chunked"), _chunks(REQUEST_LIMIT + 16_384)
    )
    status, body = _status_and_json(answer)
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert llm_upstream.calls("embeddings") == 0
    assert proxy.get("/health").status_code == 200


def test_a_small_content_length_does_not_hide_a_long_chunked_body(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    head = _head(proxy, "content-length: 100", "transfer-encoding: chunked")
    answer = _exchange(proxy, head, _chunks(REQUEST_LIMIT + 16_384))
    status = int(answer.split(b" ")[1])
    assert status in (400, 413)  # the server refuses the framing, or the count does
    assert llm_upstream.calls("embeddings") == 0


def test_a_chunked_body_under_the_limit_is_answered(proxy: Proxy) -> None:
    body = _embedding_body(REQUEST_LIMIT)
    headers = {**proxy.headers(), "content-type": "application/json"}

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 10_000):
            yield body[start : start + 10_000]

    response = httpx.post(
        proxy.base_url + "/embeddings", content=pieces(), headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    assert "content-length" not in response.request.headers


# -- answers ------------------------------------------------------------------------------------


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


def test_an_answer_over_the_limit_is_a_502_and_never_cached(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    body = _chat("y" * (RESPONSE_LIMIT + 100))  # the stand-in echoes it back
    stored = _stores(proxy)
    for attempt in (1, 2):
        response = proxy.post("/v1/chat/completions", body)
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "response_too_large"
        assert error["message"] == f"Response size is too large. Max size is {RESPONSE_MB} MB"
        assert llm_upstream.calls("chat") == attempt  # not retried, not served from the cache
        assert "x-aiocache-llm-cache-hit" not in response.headers
    assert _stores(proxy) == stored


def test_an_answer_under_the_limit_is_answered_and_cached(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    body = _chat("y" * (RESPONSE_LIMIT - 1000))
    first = proxy.post("/v1/chat/completions", body)
    assert first.status_code == 200, first.text
    second = proxy.post("/v1/chat/completions", body)
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert llm_upstream.calls("chat") == 1


def _stream(proxy: Proxy, body: dict[str, Any]) -> list[str]:
    with httpx.stream(
        "POST", proxy.base_url + "/chat/completions", json=body, headers=proxy.headers(), timeout=10
    ) as response:
        assert response.status_code == 200
        return [line for line in response.iter_lines() if line]


def test_a_stream_over_the_limit_ends_in_an_error_event_and_is_never_cached(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    body = _chat(" ".join(["word"] * 400), stream=True)  # ~400 chunks of ~200 bytes each
    assert len(orjson.dumps(body)) < RESPONSE_LIMIT
    stored = _stores(proxy)
    for attempt in (1, 2):
        lines = _stream(proxy, body)
        assert lines[-1] != "data: [DONE]"
        last = orjson.loads(lines[-1].removeprefix("data: "))
        assert last["error"]["code"] == "response_too_large"
        assert not any('finish_reason":"stop' in str(line) for line in lines)
        assert llm_upstream.calls("chat") == attempt
    assert _stores(proxy) == stored


async def test_the_openai_sdk_sees_a_stream_over_the_limit_fail(proxy: Proxy) -> None:
    async with openai.AsyncOpenAI(
        base_url=proxy.base_url, api_key=MASTER_KEY, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": " ".join(["word"] * 400)}],
            stream=True,
        )
        with pytest.raises(openai.APIError, match="Response size is too large"):
            async for _ in stream:
                pass


def test_a_stream_under_the_limit_ends_with_done_and_is_cached(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    body = _chat("a short question", stream=True)
    first = _stream(proxy, body)
    assert first[-1] == "data: [DONE]"
    second = _stream(proxy, body)
    assert second[-1] == "data: [DONE]"
    assert llm_upstream.calls("chat") == 1


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory, llm_upstream_server: Upstream
) -> Iterator[Proxy]:
    """The same limits with litellm's Router reading the answers (router settings ask for it)."""
    config = _yaml(llm_upstream_server.base_url) + "router_settings:\n  num_retries: 0\n"
    proxy = start_proxy(config, tmp_path_factory.mktemp("proxy-limits-routed"), MASTER_KEY)
    try:
        yield proxy
    finally:
        proxy.process.stop()


def test_through_litellms_router_an_answer_over_the_limit_is_a_502_and_never_cached(
    routed: Proxy, llm_upstream: Upstream
) -> None:
    routed.post("/cache/flushall", {}).raise_for_status()
    body = _chat("z" * (RESPONSE_LIMIT + 100))
    for attempt in (1, 2):
        response = routed.post("/v1/chat/completions", body)
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "response_too_large"
        assert llm_upstream.calls("chat") == attempt
    streamed = _stream(routed, _chat(" ".join(["word"] * 400), stream=True))
    assert orjson.loads(streamed[-1].removeprefix("data: "))["error"]["code"] == (
        "response_too_large"
    )
    small = _chat("a question under the limit")
    assert routed.post("/v1/chat/completions", small).status_code == 200
    assert routed.post("/v1/chat/completions", small).headers["x-aiocache-llm-cache-hit"] == "true"


@pytest.mark.parametrize("path", ["limited", "routed"])
def test_speech_over_the_limit_is_a_502_on_either_path(
    path: str, request: pytest.FixtureRequest, llm_upstream: Upstream
) -> None:
    proxy: Proxy = request.getfixturevalue(path)
    said = {"model": "gpt-test", "voice": "alloy"}
    over = proxy.post("/v1/audio/speech", {**said, "input": "z" * (RESPONSE_LIMIT + 100)})
    assert over.status_code == 502, over.text
    assert over.json()["error"]["code"] == "response_too_large"
    under = proxy.post("/v1/audio/speech", {**said, "input": "short"})
    assert under.content == b"ID3 speech: short"
    assert llm_upstream.calls("speech") == 2
