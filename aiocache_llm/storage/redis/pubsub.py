"""Subscribing to a Redis channel (sharded pub/sub on a cluster) as an async iterator."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from .connection import Connector, LoopClient
from .errors import translate_redis_error

__all__ = ["messages"]


async def messages(
    connector: Connector,
    loop_client: Callable[[], LoopClient],
    channel: str,
    on_subscribed: Callable[[], None] | None,
    closed: Callable[[], bool],
) -> AsyncIterator[bytes]:
    """Yield every message published on ``channel`` (already namespaced) from now on, on the
    client ``loop_client()`` gives for the running loop.

    ``on_subscribed`` is called when the server confirms the subscription. The subscription
    has its own connection, closed when the iteration stops. A failure raises the library's
    error, unless ``closed()`` says the cache closed the connection: then the iteration ends.
    """
    client: Any = None
    pubsub: Any = None
    shared = True
    try:
        state = loop_client()
        client = await connector.pubsub_client(state, channel)
        shared = client is state.client
        pubsub = client.pubsub()
        await getattr(pubsub, connector.subscribe)(channel)
        # Replies are read off the connection as they come, past redis-py's message dicts and
        # handlers: every process reads every message, its own writes' too.
        read = pubsub.connection.read_response
        message, subscribed = connector.message.encode(), connector.subscribe.encode()
        while True:
            reply = await read(disable_decoding=True, timeout=math.inf, push_request=True)
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            if reply[0] == message:
                yield reply[2]
            elif reply[0] == subscribed and on_subscribed is not None:
                on_subscribed()
    except Exception as exc:
        if closed():
            return  # this cache closed the connection: the subscription ends with it
        raise translate_redis_error(exc) from exc
    finally:
        if pubsub is not None:
            await pubsub.aclose()
        if not shared:
            await client.aclose()
