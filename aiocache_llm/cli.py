"""The ``aiocache-llm`` command: run the caching proxy and look after its cache.

``serve`` runs the proxy. ``ping``, ``delete``, ``flush`` and ``stats`` work on the cache of a
config file directly, or on a running proxy's cache with ``--url``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

try:
    import click
except ImportError:  # the extra is not installed
    sys.exit("error: aiocache-llm needs the 'proxy' extra: pip install 'aiocache-llm[proxy]'")

from . import __version__
from .errors import CacheError

__all__ = ["main"]

_CONFIG_HELP = "The proxy's YAML config (LiteLLM's proxy format)."
_URL_HELP = "Ask a running proxy (e.g. http://127.0.0.1:4000) instead of opening the cache."
_KEY_HELP = "API key for --url (default: $AIOCACHE_LLM_API_KEY, else the config's master_key)."


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _load(config_path: str | None) -> Any:
    from .proxy.config import load_config, parse_config

    try:
        return parse_config({}) if config_path is None else load_config(config_path)
    except CacheError as exc:
        _fail(str(exc))


def _build(config_path: str | None) -> Any:
    """The config's cache (exits when caching is off or the cache cannot be built)."""
    try:
        cache = _load(config_path).cache.build(None)
    except CacheError as exc:
        _fail(str(exc))
    if cache is None:
        _fail("caching is off in this config")
    return cache


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(coro)
    except CacheError as exc:
        _fail(str(exc))


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _remote(
    method: str,
    url: str,
    path: str,
    key: str | None,
    config_path: str | None,
    body: Any = None,
    *,
    report_503: bool = False,
) -> Any:
    import httpx

    if key is None:
        key = os.environ.get("AIOCACHE_LLM_API_KEY")
    if key is None and config_path is not None:
        key = _load(config_path).master_key
    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, json=body, headers=headers, timeout=30
        )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the proxy at {url}: {type(exc).__name__}")
    try:
        data = response.json()
    except ValueError:
        data = {"status": response.status_code}
    if response.status_code >= 400 and not (report_503 and response.status_code == 503):
        message = data.get("error", {}).get("message") if isinstance(data, dict) else None
        _fail(f"the proxy answered {response.status_code}: {message or response.text[:200]}")
    return data


config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="AIOCACHE_LLM_CONFIG",
    help=_CONFIG_HELP,
)
url_option = click.option("--url", metavar="URL", help=_URL_HELP)
key_option = click.option("--api-key", "api_key", metavar="KEY", help=_KEY_HELP)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aiocache-llm")
def main() -> None:
    """Cache LLM responses behind an OpenAI-compatible proxy.

    Point an OpenAI client's base_url at `aiocache-llm serve` and identical requests are
    answered from the cache.
    """


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="Server log level.",
)
def serve(config_path: str | None, host: str, port: int, log_level: str) -> None:
    """Run the caching proxy.

    Without --config: no models are configured, and the cache is a disk cache in the
    working directory.
    """
    import uvicorn

    from .proxy import create_app

    config = _load(config_path)
    if config.allow_unauthenticated and not _is_loopback(host):
        _fail(
            "general_settings.allow_unauthenticated serves anyone without a key: it listens on"
            f" loopback only (127.0.0.1 or ::1), not on {host}"
        )
    try:
        app = create_app(config)
    except CacheError as exc:
        _fail(f"{config_path}: {exc}" if config_path else str(exc))
    cache = app.state.proxy.cache
    if config.allow_unauthenticated:
        click.echo(
            "warning: no key is needed (general_settings.allow_unauthenticated): anyone on"
            " this machine may use this proxy",
            err=True,
        )
    click.echo(
        f"aiocache-llm proxy on http://{host}:{port} "
        f"(cache: {cache.type if cache else 'off'}, because {config.cache.reason})",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.group()
def config() -> None:
    """The proxy's config file: its JSON schema, or a check of a file."""


@config.command()
def schema() -> None:
    """Print the config file's JSON schema."""
    from .proxy.schema import json_schema

    _print(json_schema())


@config.command()
@config_option
def check(config_path: str | None) -> None:
    """Check a config file and report every mistake."""
    if config_path is None:
        _fail("give the config file with --config")
    _load(config_path)
    click.echo(f"{config_path}: valid")


@main.command()
@config_option
@url_option
@key_option
def ping(config_path: str | None, url: str | None, api_key: str | None) -> None:
    """Check that the cache answers and accepts a write (secrets masked)."""
    if url is not None:
        report = _remote("GET", url, "/cache/ping", api_key, config_path, report_503=True)
    else:
        from .proxy.app import ping_cache

        config = _load(config_path)

        async def run() -> dict[str, Any]:
            cache = config.cache.build(None)
            try:
                return await ping_cache(cache, config)
            finally:
                if cache is not None:
                    await cache.async_disconnect()

        report = _run(run())
    _print(report)
    if report.get("status") != "healthy":
        sys.exit(1)


@main.command()
@click.argument("keys", nargs=-1, required=True)
@config_option
@url_option
@key_option
def delete(
    keys: tuple[str, ...], config_path: str | None, url: str | None, api_key: str | None
) -> None:
    """Delete cache entries by key.

    A key is the x-aiocache-llm-cache-key header of a proxied answer.
    """
    if url is not None:
        answer = _remote("POST", url, "/cache/delete", api_key, config_path, {"keys": list(keys)})
        deleted = list(answer.get("deleted", ()))
    else:
        cache = _build(config_path)

        async def run() -> list[str]:
            try:
                deleted: list[str] = await cache.async_delete_keys(keys)
                return deleted
            finally:
                await cache.async_disconnect()

        deleted = _run(run())
    click.echo(f"deleted {len(deleted)} of {len(keys)} key(s)")


@main.command()
@config_option
@url_option
@key_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def flush(config_path: str | None, url: str | None, api_key: str | None, yes: bool) -> None:
    """Remove every entry of the cache."""
    if not yes:
        click.confirm("Remove every entry of the cache?", abort=True)
    if url is not None:
        _remote("POST", url, "/cache/flushall", api_key, config_path)
    else:
        cache = _build(config_path)

        async def run() -> None:
            try:
                await cache.async_flush()
            finally:
                await cache.async_disconnect()

        _run(run())
    click.echo("flushed")


@main.command()
@config_option
@url_option
@key_option
def stats(config_path: str | None, url: str | None, api_key: str | None) -> None:
    """Show the cache's hit, miss and error counts.

    The counts are a running proxy's with --url; without it, only the backend's own.
    """
    if url is not None:
        report = _remote("GET", url, "/cache/stats", api_key, config_path)
    else:
        from .proxy.app import cache_stats

        config = _load(config_path)
        cache = config.cache.build(None)

        async def run() -> dict[str, Any]:
            report = cache_stats(cache)
            if cache is not None:
                report["connection"] = await cache.async_test_connection()
                await cache.async_disconnect()
            return report

        report = _run(run())
    _print(report)


if __name__ == "__main__":
    main()
