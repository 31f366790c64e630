"""Running a batch of Redis commands on one connection of redis-py's pool.

The pool is used as redis-py designs it: ``get_connection()`` checks a connection out (it
reconnects one the server closed while idle, and a ``BlockingConnectionPool`` waits up to its
``timeout`` for a free one), ``send_packed_command`` writes the whole batch at once, one
``read_response`` per command reads the replies, and ``release()`` gives the connection back.
A connection that fails is disconnected before it is released, so the pool reconnects it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from redis import exceptions as redis_errors

from ..errors import BackendTimeout
from ._autopipeline import AutoPipeline, Command

__all__ = ["LoopClient", "run_batch"]


def _load_packer() -> Callable[[Command], bytes] | None:
    try:
        from hiredis import pack_command
    except ImportError:  # hiredis comes with the redis extra; redis-py works without it
        return None
    return pack_command


_hiredis_pack = _load_packer()


def _pack(connection: Any, commands: Sequence[Command]) -> list[bytes]:
    """RESP bytes for ``commands``: hiredis's packer (C) when present, else redis-py's."""
    pack = _hiredis_pack
    if pack is not None:
        return [pack(command) for command in commands]
    packed: list[bytes] = connection.pack_commands(commands)
    return packed


class LoopClient:
    """The client, its pool and the auto-pipeline that serve one event loop."""

    __slots__ = ("client", "closers", "pipeline", "pool", "slots")

    pipeline: AutoPipeline

    def __init__(
        self, client: Any, pool: Any, max_connections: int, closers: Sequence[Any] = ()
    ) -> None:
        self.client = client
        self.pool = pool
        self.closers = list(closers)
        #: Batches in flight at once: one connection each, never more than the pool holds
        #: (a Sentinel pool refuses rather than waits when it is exhausted).
        self.slots = asyncio.Semaphore(max_connections)

    async def aclose(self) -> None:
        await self.pipeline.drain()
        try:
            await self.client.aclose()
        finally:
            for closer in self.closers:
                await closer.aclose()


class _ClosedBeforeReply(Exception):
    """A connection failed before the first reply of a batch (internal)."""

    def __init__(self, error: redis_errors.ConnectionError) -> None:
        super().__init__(str(error))
        self.error = error


async def run_batch(
    state: LoopClient,
    commands: Sequence[Command],
    timeout: float,
    renew_credentials: Callable[[], bool],
) -> list[Any]:
    """Send ``commands`` in one write on one pooled connection and read every reply.

    Each reply is the value or the ``ResponseError`` of that command alone. A connection that
    fails before the first reply (closed by the server between checkout and write) is replaced
    once. Waiting for a free connection lasts at most ``timeout``.
    """
    slots = state.slots
    if slots.locked():
        try:
            await asyncio.wait_for(slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise BackendTimeout(f"no Redis connection became free within {timeout}s") from None
    else:
        await slots.acquire()
    try:
        try:
            return await _run_once(state.pool, commands, renew_credentials)
        except _ClosedBeforeReply:
            pass
        try:
            return await _run_once(state.pool, commands, renew_credentials)
        except _ClosedBeforeReply as exc:
            raise exc.error from exc.error.__cause__
    finally:
        slots.release()


async def _checkout(pool: Any, renew_credentials: Callable[[], bool]) -> Any:
    try:
        return await pool.get_connection()
    except redis_errors.AuthenticationError:
        if not renew_credentials():
            raise
        return await pool.get_connection()  # with a fresh token


async def _run_once(
    pool: Any, commands: Sequence[Command], renew_credentials: Callable[[], bool]
) -> list[Any]:
    connection = await _checkout(pool, renew_credentials)
    results: list[Any] = []
    try:
        await connection.send_packed_command(_pack(connection, commands), check_health=False)
        read = connection.read_response
        for _ in range(len(commands)):
            try:
                results.append(await read(disable_decoding=True))
            except redis_errors.ResponseError as exc:
                results.append(exc)
    except BaseException as exc:
        try:
            await connection.disconnect(nowait=True)
        finally:
            await pool.release(connection)
        if not results and isinstance(exc, redis_errors.ConnectionError):
            raise _ClosedBeforeReply(exc) from exc
        raise
    await pool.release(connection)
    return results
