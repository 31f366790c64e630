"""A short, secret-free description of why a backend operation failed, for health reports.

Backends raise the typed :class:`~aiocache_llm.errors.BackendError` with the client library's
exception chained; :func:`describe_failure` walks that chain and names the cause a user can act
on (a refused password, a TLS mismatch, a Redis without the search module, ...). It never
repeats a client's message verbatim where that could quote a URL or a password.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Final

__all__ = ["describe_failure"]

#: (words in the lowered message or class name of a link of the chain, what it means)
_CAUSES: Final = (
    (
        ("wrongpass", "invalid username-password", "authenticationerror", "noauth"),
        "authentication failed: the server refused the password or username (check password)",
    ),
    (
        ("unknown command 'ft.", "unknown command `ft.", "unknown command ft."),
        "the Redis server has no search module (RediSearch): a redis-semantic cache needs"
        " Redis 8 or Redis Stack",
    ),
    (
        ("wrong version number", "record layer failure", "packet length too long", "http request"),
        "TLS mismatch: the client speaks TLS but the server does not (check ssl / rediss://)",
    ),
    (
        ("certificate verify failed", "certificate_verify_failed", "hostname mismatch"),
        "TLS certificate rejected (check ssl_ca_certs, ssl_cert_reqs, ssl_check_hostname)",
    ),
    (
        ("connection closed by server", "connection reset", "unexpected eof"),
        "the server closed the connection (a TLS-only server reached without ssl: true?)",
    ),
    (("connection refused", "connectionrefusederror"), "connection refused (check host and port)"),
    (
        ("name or service not known", "nodename nor servname", "temporary failure in name"),
        "the host name does not resolve (check host)",
    ),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def describe_failure(exc: BaseException) -> str:
    """``"<ErrorType>: <cause>"`` (the type alone when no known cause is found)."""
    for link in _chain(exc):
        text = f"{type(link).__name__.lower()} {link}".lower()
        for words, meaning in _CAUSES:
            if any(word in text for word in words):
                return f"{type(exc).__name__}: {meaning}"
        if isinstance(link, ssl.SSLError):
            return f"{type(exc).__name__}: TLS handshake failed ({link.reason or 'ssl'})"
    return type(exc).__name__
