"""Embedding calls, cached per input item.

Each input is its own entry, so a call whose inputs were partly embedded before sends only the
others upstream and answers with every item in its original order. The answer says what
happened: ``cache_hit`` is true when any item came from the cache, and ``partial`` when some
did not. Its usage covers every input served (stored items count the tokens they cost when
they were embedded), so a hit reports the tokens it saved, as a chat hit does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..storage.base import USE_DEFAULT, TTLArg
from .context import maybe_await
from .entries import EMBEDDING_KINDS, StoredEntry, make_entry, parse_entry
from .events import EventKind, now
from .responses import dump, known_type, mark, rebuild, type_name

if TYPE_CHECKING:
    from .context import CallContext
    from .handler import Handler

__all__ = ["embedding_call", "split_tokens"]


def split_tokens(total: int, items: list[Any]) -> list[int]:
    """``total`` tokens shared among ``items`` in proportion to their length (largest
    remainder, so the shares add up to ``total``); exact for one item."""
    sizes = [max(1, len(str(item))) for item in items]
    whole = sum(sizes)
    shares = [total * size / whole for size in sizes]
    out = [int(share) for share in shares]
    by_remainder = sorted(range(len(items)), key=lambda i: out[i] - shares[i])
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out


async def lookup_many(
    handler: Handler, ctx: CallContext, keys: list[str], items: list[Any]
) -> list[StoredEntry | None]:
    """The usable entry under each of ``keys`` (``None`` where there is none)."""
    try:
        if handler.custom_get is not None:
            hook = handler.custom_get
            raws = [
                await maybe_await(hook(**{**ctx.kwargs, "input": item}, cache_key=key))
                for item, key in zip(items, keys, strict=True)
            ]
        else:
            raws = await handler.within(ctx, handler.backend.async_batch_get_cache(keys))
    except Exception as exc:  # a store's or a get_cache hook's failure never fails the call
        handler.report.backend_error("lookup", keys[0], ctx.call_type, exc)
        raws = [None] * len(keys)
    stats, max_age = handler.backend.stats, ctx.controls.max_age
    entries = [parse_entry(raw, max_age, EMBEDDING_KINDS, stats) for raw in raws]
    for i, entry in enumerate(entries):
        if entry is not None and not known_type(entry["type"]):  # a type outside the table
            stats.corrupt_reads += 1
            entries[i] = None
    return entries


async def store_many(
    handler: Handler, ctx: CallContext, items: list[tuple[str, StoredEntry]]
) -> None:
    """Store every ``(key, entry)`` of ``items`` (one pipeline)."""
    controls = ctx.controls
    ttl: TTLArg = USE_DEFAULT if controls.ttl is None else controls.ttl
    start = now()
    try:
        if handler.custom_add is not None:
            for key, entry in items:
                await maybe_await(handler.custom_add(entry, cache_key=key))
        else:
            await handler.within(ctx, handler.backend.async_set_cache_pipeline(items, ttl))
    except Exception as exc:  # a store's or an add_cache hook's failure never fails the call
        handler.report.backend_error("store", items[0][0], ctx.call_type, exc)
        return
    handler._event("store", None, ctx.call_type, start)


def _tokens(usage: Any) -> int:
    if isinstance(usage, dict):
        tokens = usage.get("prompt_tokens", usage.get("total_tokens"))
        if isinstance(tokens, int):
            return tokens
    return 0


async def embedding_call(handler: Handler, ctx: CallContext) -> Any:
    """Serve an embedding call through ``handler``, one entry per input item."""
    kwargs, controls, call_type = ctx.kwargs, ctx.controls, ctx.call_type
    inputs = kwargs.get("input")
    single = isinstance(inputs, str) or (
        isinstance(inputs, (list, tuple)) and bool(inputs) and isinstance(inputs[0], int)
    )
    items: list[Any] = [inputs] if single else list(inputs or ())
    if not items:
        return await handler.call_upstream(ctx.upstream, kwargs)
    keyed = ctx.keyed
    keys = [handler._key(call_type, {**keyed, "input": item}, controls) for item in items]
    ctx.key = keys[0]
    start = now()
    found: list[dict[str, Any] | None] = [None] * len(items)
    if not controls.no_cache:
        found = await lookup_many(handler, ctx, keys, items)
    missing = [i for i, entry in enumerate(found) if entry is None]
    label = keys[0] if single else None
    hidden_key: str | list[str] = keys[0] if single else keys
    saved = sum(entry.get("tokens", 0) for entry in found if entry is not None)
    if not controls.no_cache:
        partial = bool(missing) and len(missing) < len(items)
        kind: EventKind = "miss" if len(missing) == len(items) else "hit"
        reason = "partial" if partial else None
        handler.report.event(kind, label, call_type, start, tokens=saved, reason=reason)
    fresh: dict[int, dict[str, Any]] = {}
    response_type = model = None
    if missing:
        sent = [items[i] for i in missing]
        result = await handler.call_upstream(
            ctx.upstream, {**kwargs, "input": sent[0] if single else sent}
        )
        try:
            ctx.shape.learn(result)
            response = dump(result)
            response_type = type_name(result)
            model = response.get("model")
            shares = split_tokens(_tokens(response.get("usage")), sent)
            for item in response.get("data") or ():
                index = item.get("index", 0)
                stored = {k: v for k, v in item.items() if k != "index"}
                entry = make_entry("embedding", stored, response_type)
                entry["model"] = model
                entry["tokens"] = shares[index] if index < len(shares) else 0
                fresh[missing[index]] = entry
        except Exception as exc:  # an answer the cache cannot read: passed on, unstored
            handler.report.store_failed(label, call_type, exc)
            if len(missing) == len(items):
                return mark(result, hidden_key, False)
            raise
        if not controls.no_store and fresh:
            await store_many(handler, ctx, [(keys[i], e) for i, e in fresh.items()])
        if len(missing) == len(items):
            return mark(result, hidden_key, False)
    data = []
    tokens = 0
    for i in range(len(items)):
        served = fresh.get(i) or found[i]
        assert served is not None
        response_type = response_type or served["type"]
        model = model or served.get("model")
        tokens += served.get("tokens", 0)
        data.append({**served["data"], "index": i})
    assembled = {
        "object": "list",
        "data": data,
        "model": model or kwargs.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    answer = rebuild(assembled, ctx.shape.response_type("response", response_type))
    return mark(answer, hidden_key, True, None, {"partial": True} if missing else None)
