"""Wrapped SDK clients: the OpenAI and Anthropic clients with cached calls, every other call
their own.

Cached, answering with the SDK's own types (streams event for event):

* OpenAI: ``chat.completions.create``, ``chat.completions.parse`` (cached as the ``create`` it
  makes, parsed again on a hit), ``completions.create``, ``embeddings.create``,
  ``audio.transcriptions.create`` and ``responses.create``.
* Anthropic: ``messages.create``.
* ``with_options(...)`` / ``copy(...)`` return a wrapped client.

Passed through with a ``skip`` event whose ``reason`` says why: ``with_raw_response`` and
``with_streaming_response`` (the caller asks for the HTTP response itself, which a cache does
not keep) and the SDKs' stream / parse helpers that call the API past the wrapper.

An async client's cached methods have a blocking twin, ``.blocking``. It runs on the library's
own event loop, with its own copy of the client (``with_options`` with the SDK's default HTTP
client; a custom ``http_client`` is not copied): an SDK client's connection pool belongs to the
event loop it first ran on, so sharing it with the loop thread would fail. The copy is closed
with the wrapped client (``await client.close()``) or when the wrapped client is collected.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Final

from .._sync import loop_thread_loop
from ..llm.responses import mark
from . import default as _default
from .wrappers import DEPLOYMENT_ATTR, cached, deployment_of

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["wrap_anthropic", "wrap_openai"]

#: path of a cached method -> its call type (the blocking client's; "a" + it for async)
OPENAI_CALLS: Final = {
    "chat.completions.create": "completion",
    "completions.create": "text_completion",
    "embeddings.create": "embedding",
    "audio.transcriptions.create": "transcription",
    "responses.create": "responses",
}
ANTHROPIC_CALLS: Final = {"messages.create": "anthropic_messages"}

_RAW: Final = {
    "with_raw_response": (
        "with_raw_response: the caller reads the HTTP response (status, headers), which the"
        " cache does not keep"
    ),
    "with_streaming_response": (
        "with_streaming_response: the caller reads the HTTP response body as it arrives,"
        " which the cache does not keep"
    ),
}
#: helpers that call the API past the wrapper -> why they are not cached
OPENAI_HELPERS: Final = {
    "chat.completions.stream": "the stream() helper is not cached; use create(stream=True)",
    "responses.stream": "the stream() helper is not cached; use create(stream=True)",
    "responses.parse": "responses.parse() is not cached; use create() with text.format",
}
ANTHROPIC_HELPERS: Final = {
    "messages.stream": "the stream() helper is not cached; use create(stream=True)",
}


def _report_skip(cache: Cache | None, call_type: str, reason: str) -> None:
    chosen = cache if cache is not None else _default.current
    if chosen is not None:
        chosen.report_skip(call_type, reason)


class _Proxy:
    """An object whose listed attributes are replaced and the rest come from ``target``."""

    __slots__ = ("__weakref__", "_overrides", "_target")

    def __init__(self, target: Any, overrides: dict[str, Any]) -> None:
        self._target = target
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        overrides = object.__getattribute__(self, "_overrides")
        if name in overrides:
            found = overrides[name]
            return found.make() if isinstance(found, _Lazy) else found
        return getattr(object.__getattribute__(self, "_target"), name)

    def __repr__(self) -> str:
        return f"<cached {self._target!r}>"


class _Lazy:
    """An override computed when it is read (``with_raw_response`` is built per access)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


class _Skipping:
    """``target`` (a raw-response view of a resource) whose calls report a ``skip`` event."""

    __slots__ = ("_cache", "_calls", "_path", "_reason", "_target")

    def __init__(
        self, target: Any, reason: str, cache: Cache | None, path: str, calls: Mapping[str, str]
    ) -> None:
        self._target, self._reason, self._cache = target, reason, cache
        self._path, self._calls = path, calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        path = f"{self._path}.{name}" if self._path else name
        if isinstance(value, (str, bytes, int, float, bool, type(None), dict, list, tuple)):
            return value
        if not callable(value):
            return _Skipping(value, self._reason, self._cache, path, self._calls)
        call_type = self._calls.get(path)
        if path == "chat.completions.parse":
            call_type = _create_call_type(self._calls, path)
        if call_type is None:
            return value  # a call the cache never serves: nothing skipped
        return _skipping_method(value, self._cache, call_type, self._reason)

    def __repr__(self) -> str:
        return f"<uncached {self._target!r}>"


def _create_call_type(calls: Mapping[str, str], path: str) -> str | None:
    """The call type of the ``create`` beside ``path`` (``chat.completions.stream`` ->
    that of ``chat.completions.create``)."""
    return calls.get(path.rpartition(".")[0] + ".create")


def _skipping_method(method: Any, cache: Cache | None, call_type: str, reason: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        _report_skip(cache, call_type, reason)
        return method(*args, **kwargs)

    return call


def _resolve(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


class _LoopTwin:
    """A copy of an async client with its own HTTP client, made for the library's loop thread."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._twin: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._twin is None or self._pid != os.getpid():
            with self._lock:
                if self._twin is None or self._pid != os.getpid():
                    package = importlib.import_module(type(self._client).__module__.split(".")[0])
                    http_client = getattr(package, "DefaultAsyncHttpxClient", None)
                    copy = self._client.with_options
                    self._twin = copy(http_client=http_client()) if http_client else copy()
                    self._pid = os.getpid()
        return self._twin

    def _take(self) -> Any:
        twin, self._twin = self._twin, None
        return twin if self._pid == os.getpid() else None

    def close_soon(self) -> None:
        """Close the copy on its loop without waiting (the wrapped client was collected)."""
        twin = self._take()
        if twin is not None:
            asyncio.run_coroutine_threadsafe(twin.close(), loop_thread_loop())

    async def aclose(self) -> None:
        """Close the copy and wait for it."""
        twin = self._take()
        if twin is not None:
            future = asyncio.run_coroutine_threadsafe(twin.close(), loop_thread_loop())
            await asyncio.wrap_future(future)


def _wrap(
    client: Any,
    cache: Cache | None,
    calls: Mapping[str, str],
    helpers: Mapping[str, str],
) -> Any:
    is_async = isinstance(client, AbstractAsyncContextManager)
    prefix = "a" if is_async else ""
    typed = {path: prefix + call_type for path, call_type in calls.items()}
    twin = _LoopTwin(client) if is_async else None
    overrides: dict[str, Any] = {}
    for path, call_type in typed.items():
        try:
            method = _resolve(client, path)
        except AttributeError:  # an older SDK without this API
            continue
        overrides[path] = _cached_method(method, path, call_type, cache, is_async, twin)
    for path, reason in helpers.items():
        try:
            method = _resolve(client, path)
        except AttributeError:
            continue
        call_type = _create_call_type(typed, path) or path
        overrides[path] = _skipping_method(method, cache, call_type, reason)
    create = overrides.get("chat.completions.create")
    if create is not None and "chat.completions.parse" not in overrides:
        parse = _parse_method(create, is_async)
        if parse is not None:
            overrides["chat.completions.parse"] = parse

    def rewrap(copy: Any) -> Any:
        return _wrap(copy, cache, calls, helpers)

    if twin is not None:
        overrides["close"] = _closing(client.close, twin)
    root = _tree(client, "", overrides, cache, typed, rewrap)
    if twin is not None:
        weakref.finalize(root, twin.close_soon)
    return root


def _closing(close: Any, twin: _LoopTwin) -> Callable[[], Any]:
    """``client.close`` that closes the blocking twin's copy as well."""

    async def closing() -> None:
        try:
            await close()
        finally:
            await twin.aclose()

    return closing


def _cached_method(
    method: Any,
    path: str,
    call_type: str,
    cache: Cache | None,
    is_async: bool,
    twin: _LoopTwin | None,
) -> Any:
    wrapped = cached(method, cache=cache, call_type=call_type, blocking=not is_async)
    if twin is not None:

        async def on_loop_thread(**kwargs: Any) -> Any:
            return await _resolve(twin.get(), path)(**kwargs)

        on_loop_thread.__name__ = call_type
        setattr(on_loop_thread, DEPLOYMENT_ATTR, deployment_of(method))
        loop_twin = cached(on_loop_thread, cache=cache, call_type=call_type)
        wrapped.blocking = loop_twin.blocking  # type: ignore[attr-defined]
    return wrapped


def _tree(
    target: Any,
    prefix: str,
    overrides: Mapping[str, Any],
    cache: Cache | None,
    calls: Mapping[str, str],
    rewrap: Callable[[Any], Any],
) -> _Proxy:
    """``target`` with the overrides under ``prefix`` put in place, level by level."""
    own: dict[str, Any] = {}
    children: dict[str, dict[str, Any]] = {}
    for path, value in overrides.items():
        head, _, rest = path.partition(".")
        if rest:
            children.setdefault(head, {})[rest] = value
        else:
            own[head] = value
    for name, sub in children.items():
        own[name] = _tree(getattr(target, name), f"{prefix}{name}.", sub, cache, calls, rewrap)
    for name, reason in _RAW.items():
        if getattr(target, name, None) is not None:
            own[name] = _Lazy(_raw_view(target, name, reason, cache, prefix, calls))
    if not prefix:
        for name in ("with_options", "copy"):
            method = getattr(target, name, None)
            if method is not None:
                own[name] = _rewrapping(method, rewrap)
    return _Proxy(target, own)


def _raw_view(
    target: Any, name: str, reason: str, cache: Cache | None, prefix: str, calls: Mapping[str, str]
) -> Callable[[], Any]:
    return lambda: _Skipping(getattr(target, name), reason, cache, prefix.rstrip("."), calls)


def _rewrapping(method: Any, rewrap: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return rewrap(method(*args, **kwargs))

    return call


def _parse_method(create: Any, is_async: bool) -> Any:
    """``chat.completions.parse`` as the cached ``create`` it makes, parsed like the SDK."""
    try:
        import openai
        from openai.lib import _parsing
    except ImportError:  # pragma: no cover - openai is what the client came from
        return None
    omit = getattr(openai, "omit", None) or getattr(openai, "NOT_GIVEN", None)
    to_param = getattr(_parsing, "type_to_response_format_param", None)
    parse_completion = getattr(_parsing, "parse_chat_completion", None)
    validate = getattr(_parsing, "validate_input_tools", None)
    if to_param is None or parse_completion is None or validate is None or omit is None:
        return None

    def prepare(kwargs: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        response_format = kwargs.pop("response_format", omit)
        tools = validate(kwargs.get("tools", omit))
        kwargs["response_format"] = to_param(response_format)
        headers = {"X-Stainless-Helper-Method": "chat.completions.parse"}
        kwargs["extra_headers"] = {**headers, **(kwargs.get("extra_headers") or {})}
        return response_format, tools, kwargs

    def finish(completion: Any, response_format: Any, tools: Any) -> Any:
        parsed = parse_completion(
            response_format=response_format, chat_completion=completion, input_tools=tools
        )
        hidden = getattr(completion, "_hidden_params", None)
        if isinstance(hidden, dict):
            mark(parsed, hidden.get("cache_key"), bool(hidden.get("cache_hit")))
        return parsed

    def blocking_parse(**kwargs: Any) -> Any:
        response_format, tools, kwargs = prepare(kwargs)
        run = create.blocking if is_async else create
        return finish(run(**kwargs), response_format, tools)

    if not is_async:
        return blocking_parse

    async def parse(**kwargs: Any) -> Any:
        response_format, tools, kwargs = prepare(kwargs)
        return finish(await create(**kwargs), response_format, tools)

    parse.blocking = blocking_parse  # type: ignore[attr-defined]
    return parse


def wrap_openai(client: Any, *, cache: Cache | None = None) -> Any:
    """``client`` (``AsyncOpenAI``/``OpenAI`` or a compatible one) with cached calls.

    With ``cache=None`` the process default cache applies at call time.
    """
    return _wrap(client, cache, OPENAI_CALLS, OPENAI_HELPERS)


def wrap_anthropic(client: Any, *, cache: Cache | None = None) -> Any:
    """``client`` (``AsyncAnthropic``/``Anthropic``) with cached ``messages.create`` calls.

    With ``cache=None`` the process default cache applies at call time.
    """
    return _wrap(client, cache, ANTHROPIC_CALLS, ANTHROPIC_HELPERS)
