"""Redis settings from constructor parameters and ``REDIS_*`` environment variables.

:func:`redis_settings` is shared by every Redis-based backend: it merges explicit parameters
over the environment and converts environment strings to the types redis-py expects (ints,
floats, booleans, ``None``, JSON lists), so ``REDIS_SOCKET_TIMEOUT=2.5`` arrives as ``2.5``
and ``REDIS_SSL=true`` as ``True``. Environment variables that name neither a redis-py keyword
nor a cache setting (``REDIS_VERSION`` set by container images, say) are ignored.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from ...errors import ConfigurationError

__all__ = [
    "CACHE_SETTINGS",
    "mask_secrets",
    "parse_env_value",
    "parse_nodes",
    "redis_client_kwargs",
    "redis_env_target",
    "redis_settings",
    "wants_cluster",
]

logger = logging.getLogger("aiocache_llm.redis")

#: Settings a cache reads that are not redis-py client keywords (environment ``REDIS_<NAME>``).
CACHE_SETTINGS: frozenset[str] = frozenset(
    {
        "url",
        "namespace",
        "default_ttl",
        "redis_flush_size",
        "sentinel_nodes",
        "service_name",
        "sentinel_password",
        "startup_nodes",
        "gcp_service_account",
        "gcp_ssl_ca_certs",
        "gcp_iam_endpoint",
    }
)

#: Environment names that differ from the keyword they set.
_ENV_ALIASES: dict[str, str] = {
    "cluster_nodes": "startup_nodes",
    "flush_size": "redis_flush_size",
}

#: Keywords whose environment value is always kept as a string (a password "1234" stays text).
_STRINGS: frozenset[str] = frozenset(
    {
        "host",
        "password",
        "username",
        "url",
        "namespace",
        "client_name",
        "service_name",
        "sentinel_password",
        "gcp_service_account",
        "gcp_ssl_ca_certs",
        "gcp_iam_endpoint",
        "ssl_keyfile",
        "ssl_certfile",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_ca_data",
        "ssl_password",
        "ssl_ciphers",
        "ssl_cert_reqs",
        "encoding",
        "encoding_errors",
        "lib_name",
        "lib_version",
        "unix_socket_path",
    }
)

_SECRET_WORDS = ("password", "token", "secret", "credential")


@cache
def _redis_keywords() -> frozenset[str]:
    from redis.asyncio import Redis

    return frozenset(
        name
        for name, p in inspect.signature(Redis.__init__).parameters.items()
        if name != "self" and p.kind is not p.VAR_KEYWORD
    )


def parse_env_value(text: str) -> Any:
    """Convert one environment string: booleans, ``None``, ints, floats, JSON, else the text."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    if lowered in {"none", "null", ""}:
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        pass
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise ConfigurationError(f"invalid JSON in a REDIS_* variable: {exc}") from exc
    return text


def parse_nodes(value: Any, what: str) -> list[tuple[str, int]]:
    """``[(host, port), ...]`` from a list of pairs, dicts, ``"host:port"`` strings, or a
    comma-separated / JSON string of them."""
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigurationError(f"{what} must be a non-empty list of nodes, not {value!r}")
    nodes: list[tuple[str, int]] = []
    for node in value:
        try:
            if isinstance(node, Mapping):
                host, port = node["host"], node["port"]
            elif isinstance(node, str):
                host, _, port = node.strip().rpartition(":")
            else:
                host, port = node
            nodes.append((str(host), int(port)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{what}: cannot read node {node!r}") from exc
    return nodes


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    known = _redis_keywords() | CACHE_SETTINGS
    out: dict[str, Any] = {}
    for name, text in env.items():
        if not name.startswith("REDIS_"):
            continue
        key = name[len("REDIS_") :].lower()
        key = _ENV_ALIASES.get(key, key)
        if key not in known:
            logger.debug("ignoring %s: not a Redis setting", name)
            continue
        out[key] = text if key in _STRINGS else parse_env_value(text)
    return out


#: Environment variables that point at a Redis server, in the order LiteLLM reads them.
_TARGET_VARIABLES: tuple[str, ...] = (
    "REDIS_CLUSTER_NODES",
    "REDIS_SENTINEL_NODES",
    "REDIS_URL",
    "REDIS_HOST",
)

#: ``ssl_cert_reqs`` spellings (any case) -> what redis-py takes
_CERT_REQS: dict[str, str] = {
    "none": "none",
    "null": "none",
    "cert_none": "none",
    "optional": "optional",
    "cert_optional": "optional",
    "required": "required",
    "cert_required": "required",
}


def redis_env_target(env: Mapping[str, str] | None = None) -> str | None:
    """The first ``REDIS_*`` variable of ``env`` that names a server (``None`` if none)."""
    env = os.environ if env is None else env
    return next((name for name in _TARGET_VARIABLES if env.get(name, "").strip()), None)


def wants_cluster(params: Mapping[str, Any], env: Mapping[str, str] | None = None) -> bool:
    """Whether Redis ``params`` (with ``REDIS_*`` of ``env``) describe a Redis Cluster:
    ``startup_nodes`` given, or ``REDIS_CLUSTER_NODES`` set and no host, URL or Sentinel given
    explicitly (as LiteLLM decides)."""
    if params.get("startup_nodes") or params.get("redis_startup_nodes"):
        return True
    if any(params.get(name) for name in ("host", "url", "sentinel_nodes")):
        return False
    env = os.environ if env is None else env
    return bool(env.get("REDIS_CLUSTER_NODES", "").strip())


def _cert_reqs(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    normal = _CERT_REQS.get(value.strip().lower())
    if normal is None:
        raise ConfigurationError(
            f"ssl_cert_reqs (REDIS_SSL_CERT_REQS): {value!r} is not one of none, optional, required"
        )
    return normal


def redis_settings(
    params: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge explicit ``params`` over ``REDIS_*`` variables of ``env`` (default ``os.environ``).

    Returns one dict holding redis-py client keywords (``host``, ``port``, ``socket_timeout``,
    ``ssl_ca_certs``, ...) and cache settings (names in :data:`CACHE_SETTINGS`); parameters
    given as ``None`` do not hide the environment. ``sentinel_nodes`` and ``startup_nodes``
    come back as ``[(host, port), ...]``.
    """
    merged = _from_env(os.environ if env is None else env)
    merged.update({k: v for k, v in (params or {}).items() if v is not None})
    for name in ("sentinel_nodes", "startup_nodes"):
        if merged.get(name) is not None:
            merged[name] = parse_nodes(merged[name], name)
    if "ssl_cert_reqs" in merged:
        merged["ssl_cert_reqs"] = _cert_reqs(merged["ssl_cert_reqs"])
    return merged


def redis_client_kwargs(
    params: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``redis.asyncio.Redis(**kwargs)`` from ``params`` and ``REDIS_*``.

    Like :func:`redis_settings`, with the cache settings left out and a ``url`` (parameter or
    ``REDIS_URL``) expanded into host, port, db, credentials and the connection class, so the
    result always goes to the plain constructor. For backends that build their own client.
    """
    settings = redis_settings(params, env=env)
    url = settings.get("url")
    kwargs = {k: v for k, v in settings.items() if k not in CACHE_SETTINGS}
    if url:
        from redis.asyncio.connection import parse_url

        try:
            from_url = parse_url(url)
        except ValueError as exc:
            raise ConfigurationError(f"invalid Redis URL: {exc}") from exc
        kwargs = {**from_url, **kwargs}
    return kwargs


def mask_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``settings`` safe to log: passwords and tokens replaced by ``"***"``."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if value is not None and any(word in key.lower() for word in _SECRET_WORDS):
            out[key] = "***"
        elif key == "url" and isinstance(value, str):
            out[key] = _mask_url(value)
        elif isinstance(value, Mapping):
            out[key] = mask_secrets(value)
        else:
            out[key] = value
    return out


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, hostpart = rest.rpartition("@")
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    return f"{scheme}://{user}:***@{hostpart}"
