"""GCP IAM authentication: short-lived tokens from an IAM Credentials stand-in on loopback,
required by a real redis-server whose password the test rotates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from aiocache_llm.storage.redis import RedisCache
from aiocache_llm.storage.redis.gcp_iam import GCPIAMCredentialProvider
from tests.harness.redis import RedisServer, start_redis

ACCOUNT = "cache@project.iam.gserviceaccount.com"
ADMIN = ("admin", "admin-pw")


@dataclass
class IAMStandIn:
    """Answers ``generateAccessToken`` with ``token``, valid for ``lifetime`` seconds."""

    url: str
    token: str = "token-1"
    lifetime: float = 3600.0
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def json_endpoint(answer: Callable[[Any, bytes], tuple[int, dict[str, Any]]]) -> Iterator[str]:
    """A loopback HTTP server that answers every POST with ``answer(request, body)`` (a status
    and a JSON object); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, reply = answer(self, self.rfile.read(int(self.headers["Content-Length"])))
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def iam() -> Iterator[IAMStandIn]:
    state = IAMStandIn(url="")

    def answer(request: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        state.requests.append(
            {
                "path": request.path,
                "auth": request.headers["Authorization"],
                "body": json.loads(body),
            }
        )
        expires = datetime.now(timezone.utc) + timedelta(seconds=state.lifetime)
        expire_time = expires.isoformat().replace("+00:00", "Z")
        return 200, {"accessToken": state.token, "expireTime": expire_time}

    with json_endpoint(answer) as state.url:
        yield state


@pytest.fixture(scope="module")
def iam_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server whose default user needs the current token; ``admin`` manages it."""
    server = start_redis(tmp_path_factory.mktemp("redis-iam"))
    try:
        with redis.Redis(host=server.host, port=server.port) as client:
            client.acl_setuser(
                ADMIN[0], enabled=True, passwords=[f"+{ADMIN[1]}"], keys=["*"], commands=["+@all"]
            )
            client.execute_command("ACL", "SETUSER", "default", "resetpass", ">token-1")
        yield server
    finally:
        server.stop()


def set_redis_token(server: RedisServer, token: str) -> None:
    """Rotate: the default user accepts only ``token``, and its connections are closed."""
    with redis.Redis(host=server.host, port=server.port, username=ADMIN[0], password=ADMIN[1]) as c:
        c.execute_command("ACL", "SETUSER", "default", "resetpass", f">{token}")
        c.execute_command("CLIENT", "KILL", "USER", "default")


def provider_for(iam: IAMStandIn, **kwargs: Any) -> GCPIAMCredentialProvider:
    return GCPIAMCredentialProvider(
        ACCOUNT, endpoint=iam.url, source_token=lambda: "source-token", **kwargs
    )


@pytest.fixture
async def iam_cache(iam: IAMStandIn, iam_redis: RedisServer) -> AsyncIterator[RedisCache]:
    iam.token = "token-1"
    set_redis_token(iam_redis, "token-1")
    cache = RedisCache(
        iam_redis.host,
        iam_redis.port,
        credential_provider=provider_for(iam),
        namespace="iam",
        socket_timeout=2,
        env={},
    )
    try:
        yield cache
    finally:
        await cache.async_disconnect()


async def test_the_provider_calls_generate_access_token_with_the_source_token(
    iam: IAMStandIn,
) -> None:
    iam.requests.clear()
    username, token = await provider_for(iam, lifetime=600).get_credentials_async()
    assert (username, token) == ("default", iam.token)
    request = iam.requests[-1]
    assert request["path"] == f"/v1/projects/-/serviceAccounts/{ACCOUNT}:generateAccessToken"
    assert request["auth"] == "Bearer source-token"
    assert request["body"]["lifetime"] == "600s"


async def test_a_token_is_reused_until_it_nears_expiry(iam: IAMStandIn) -> None:
    iam.lifetime = 3600
    provider = provider_for(iam)
    await provider.get_credentials_async()
    await provider.get_credentials_async()
    assert provider.fetches == 1


async def test_a_token_close_to_expiry_is_replaced(iam: IAMStandIn) -> None:
    iam.lifetime = 60  # inside the 300 s refresh margin
    try:
        provider = provider_for(iam)
        await provider.get_credentials_async()
        await provider.get_credentials_async()
    finally:
        iam.lifetime = 3600
    assert provider.fetches == 2


async def test_the_cache_authenticates_with_an_iam_token(iam_cache: RedisCache) -> None:
    await iam_cache.async_set_cache("k", "v")
    assert await iam_cache.async_get_cache("k") == "v"


async def test_the_cache_reconnects_with_a_new_token_after_rotation(
    iam: IAMStandIn, iam_redis: RedisServer, iam_cache: RedisCache
) -> None:
    await iam_cache.async_set_cache("k", "v")
    iam.token = "token-2"
    set_redis_token(iam_redis, "token-2")
    assert await iam_cache.async_get_cache("k") == "v"
    assert iam_cache.credential_provider.fetches == 2


async def test_a_blocking_redis_client_uses_the_provider_too(
    iam: IAMStandIn, iam_redis: RedisServer
) -> None:
    iam.token = "token-3"
    set_redis_token(iam_redis, "token-3")
    provider = provider_for(iam)
    with redis.Redis(host=iam_redis.host, port=iam_redis.port, credential_provider=provider) as c:
        assert c.ping() is True


async def test_an_async_redis_py_client_uses_the_provider(
    iam: IAMStandIn, iam_redis: RedisServer
) -> None:
    iam.token = "token-4"
    set_redis_token(iam_redis, "token-4")
    client = aioredis.Redis(
        host=iam_redis.host, port=iam_redis.port, credential_provider=provider_for(iam)
    )
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


def test_gcp_service_account_from_the_environment_installs_the_provider(tmp_path: Path) -> None:
    cache = RedisCache(
        env={
            "REDIS_GCP_SERVICE_ACCOUNT": ACCOUNT,
            "REDIS_GCP_SSL_CA_CERTS": str(tmp_path / "ca.pem"),
        }
    )
    assert isinstance(cache.credential_provider, GCPIAMCredentialProvider)
    assert cache.credential_provider.service_account == ACCOUNT
    assert cache.settings["gcp_ssl_ca_certs"] == str(tmp_path / "ca.pem")


def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def adc_token_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Application-default credentials (a service-account key file) whose OAuth token endpoint
    is on loopback and answers only once ``loop_ran`` is set (or refuses after 10 s)."""
    pytest.importorskip("google.auth.transport.requests")
    pytest.importorskip("cryptography")
    loop_ran = threading.Event()

    def answer(request: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if not loop_ran.wait(timeout=10):
            return 400, {"error": "the event loop was blocked"}
        return 200, {"access_token": "adc-token", "expires_in": 3600, "token_type": "Bearer"}

    with json_endpoint(answer) as url:
        credentials = tmp_path / "adc.json"
        credentials.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "project",
                    "private_key_id": "key-1",
                    "private_key": _private_key_pem(),
                    "client_email": "source@project.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{url}/token",
                }
            )
        )
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
        try:
            yield loop_ran
        finally:
            loop_ran.set()  # lets a waiting token request end before the server stops


async def test_application_default_credentials_are_fetched_without_blocking_the_loop(
    iam: IAMStandIn, adc_token_endpoint: threading.Event
) -> None:
    provider = GCPIAMCredentialProvider(ACCOUNT, endpoint=iam.url)
    fetch = asyncio.create_task(provider.get_credentials_async())
    await asyncio.sleep(0)  # the fetch has started; on the loop thread it would still block it
    adc_token_endpoint.set()  # only a loop that runs meanwhile lets the token endpoint answer
    assert await fetch == ("default", iam.token)
    assert iam.requests[-1]["auth"] == "Bearer adc-token"
