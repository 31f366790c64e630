"""Subscribing to a Redis channel (sharded pub/sub on a cluster) as an async iterator.

A publisher that does not want its own messages back (a layered cache announcing its writes)
publishes on its own channel, the shared channel's name with a *sender* tag appended
(:func:`sender_channel`), and subscribes to every such channel but its own: one pattern per
character of its tag (:func:`other_senders`), each matching the tags that first differ from
its own at that character. The patterns are disjoint, so another sender's message arrives
once, and the server never sends a publisher its own messages: it spends no read, no parse
and no thread hop on them. A cluster's sharded pub/sub has no patterns: there every
subscriber of the shared channel receives every message, its own too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from .connection import Connector, LoopClient
from .errors import translate_redis_error
from .store import glob_escape

__all__ = ["PING_INTERVAL", "SENDER_TAG", "messages", "other_senders", "sender_channel"]

#: Seconds a subscription may be silent before its connection is asked for a PING; one left
#: unanswered for as long again ends the subscription (a node that hangs, not just closes).
PING_INTERVAL = 5.0

#: What a sender tag is: letters and digits (no character a pattern treats specially), all
#: tags of one channel of the same length.
SENDER_TAG = re.compile(r"[A-Za-z0-9]+")


def sender_channel(name: str, sender: str) -> str:
    """The channel a ``sender`` publishes on instead of the shared channel ``name``."""
    return f"{name}:{sender}"


def other_senders(name: str, sender: str) -> list[str]:
    """Patterns that match the channel of every tag as long as ``sender`` but ``sender``'s own
    (see the module): the i-th matches the tags that first differ from ``sender`` at the i-th
    character."""
    if not SENDER_TAG.fullmatch(sender):
        raise ValueError("a sender tag is letters and digits")
    base = glob_escape(name) + ":"
    return [
        f"{base}{sender[:i]}[^{sender[i]}]{'?' * (len(sender) - i - 1)}" for i in range(len(sender))
    ]


async def messages(
    connector: Connector,
    loop_client: Callable[[], LoopClient],
    channel: str,
    on_subscribed: Callable[[], None] | None,
    closed: Callable[[], bool],
    patterns: Sequence[str] = (),
) -> AsyncIterator[bytes]:
    """Yield every message published on ``channel`` (already namespaced) from now on, on the
    client ``loop_client()`` gives for the running loop; with ``patterns``, every message
    published on a channel one of them matches instead (one ``PSUBSCRIBE``).

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
        if patterns:
            await pubsub.psubscribe(*patterns)
            message, subscribed, at = b"pmessage", b"psubscribe", 3
        else:
            await getattr(pubsub, connector.subscribe)(channel)
            message, subscribed, at = connector.message.encode(), connector.subscribe.encode(), 2
        # Replies are read off the connection as they come, past redis-py's message dicts and
        # handlers. The subscription is confirmed once the server counts all of its channels.
        read = pubsub.connection.read_response
        dropped = subscribed.replace(b"subscribe", b"unsubscribe")
        count = len(patterns)
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
                yield reply[at]
            elif reply[0] == subscribed and reply[2] >= count and on_subscribed is not None:
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
