"""Subscribing to a Redis channel (sharded pub/sub on a cluster) as an async iterator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from .connection import Connector, LoopClient
from .errors import translate_redis_error

__all__ = ["PING_INTERVAL", "messages"]

#: Seconds a subscription may be silent before its connection is asked for a PING; one left
#: unanswered for as long again ends the subscription (a node that hangs, not just closes).
PING_INTERVAL = 5.0


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

    The subscription is also ended by an error when the server drops it (on a cluster, the
    channel's slot moved to another primary: a failover) and when its connection leaves a
    PING unanswered, so the caller can subscribe again where the channel lives now.
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
        dropped = subscribed.replace(b"subscribe", b"unsubscribe")
        pinged = False
        while True:
            reply = await read(disable_decoding=True, timeout=PING_INTERVAL, push_request=True)
            if reply is None:  # silent for a while: is anyone still there?
                if pinged:
                    raise RedisConnectionError(
                        "the subscription's connection left a PING unanswered"
                    )
                await pubsub.connection.send_command("PING")
                pinged = True
                continue
            pinged = False
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            if reply[0] == message:
                yield reply[2]
            elif reply[0] == subscribed and on_subscribed is not None:
                on_subscribed()
            elif reply[0] == dropped:  # the server ended it: the slot has a new primary
                raise RedisConnectionError("the server ended the subscription (a failover?)")
    except Exception as exc:
        if closed():
            return  # this cache closed the connection: the subscription ends with it
        raise translate_redis_error(exc) from exc
    finally:
        if pubsub is not None:
            await pubsub.aclose()
        if not shared:
            await client.aclose()
