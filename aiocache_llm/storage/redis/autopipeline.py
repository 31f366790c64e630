"""Auto-pipelining: commands issued in the same event-loop iteration travel as one pipeline.

A command issued while nothing is queued or in flight, by a caller that comes alone (one task,
or the first command after a quiet spell), is sent at once, in its caller's task: it waits for
no loop iteration (see :meth:`AutoPipeline.call`). Once commands queue up behind one sent at
once, callers are many and every command is batched, until a batch holds a single command.
A batched caller gets its own future; the first queued command of an iteration starts a batch
task, and every command issued before that task first runs joins the batch. The task sends
the batch in one write and hands each reply to its caller, so a failing command fails only its
own caller, while a connection failure or timeout fails every caller of that batch (each with
its own exception). An :class:`AutoPipeline` belongs to one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["AutoPipeline", "BatchRunner", "Command"]

Command = tuple[Any, ...]
#: Runs a batch and returns one result per command: the reply, or the exception for that
#: command alone. Raising fails the whole batch.
BatchRunner = Callable[[Sequence[Command]], Awaitable[Sequence[Any]]]


class AutoPipeline:
    """Coalesces commands from many tasks of one event loop into pipelines.

    ``translate`` turns a client-library exception into the one each caller receives; it is
    called once per caller, so no two callers share an exception object.
    """

    __slots__ = (
        "_busy",
        "_commands",
        "_futures",
        "_lonely",
        "_loop",
        "_next",
        "_run_batch",
        "_tasks",
        "_translate",
        "batches",
    )

    def __init__(
        self,
        run_batch: BatchRunner,
        translate: Callable[[BaseException], BaseException],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._run_batch = run_batch
        self._translate = translate
        self._loop = loop
        self._commands: list[Command] = []
        self._futures: list[asyncio.Future[Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: The task that will send the batch being gathered (``None`` once it took it).
        self._next: asyncio.Task[None] | None = None
        #: Batches sent so far (each is one round trip per connection or cluster node).
        self.batches = 0
        #: Round trips sent at once by :meth:`call` and not yet answered.
        self._busy = 0
        #: Whether callers come one at a time: no command was queued behind the last one sent
        #: at once, or the last batch held one command. Many tasks keep batching.
        self._lonely = True

    async def call(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands`` (sent together), each a value or the translated
        exception of that command alone.

        Sent at once from the caller's task when nothing is queued or in flight and callers
        come alone, so a lone task pays no loop iteration and no hand-over; otherwise queued
        for the current batch.
        """
        if self._commands or self._busy or self._tasks or not self._lonely:
            if len(commands) != 1:
                futures = self.submit_many(commands)
                return list(await asyncio.gather(*futures, return_exceptions=True))
            try:  # one command: its own future, without a gathering one around it
                return [await self.submit(commands[0])]
            except Exception as exc:
                return [exc]
        self._busy += 1
        self.batches += 1
        try:
            results = await self._run_batch(commands)
        except Exception as exc:
            error = self._translate(exc)
            if error is exc:
                raise
            raise error  # noqa: B904 - the translation chains the original as its cause
        finally:
            self._busy -= 1
        translate = self._translate
        return [translate(r) if isinstance(r, BaseException) else r for r in results]

    def submit(self, command: Command) -> asyncio.Future[Any]:
        """Queue ``command`` for the current batch; the future resolves with its reply."""
        future = self._loop.create_future()
        if self._busy:  # queued behind a command sent at once: callers are many
            self._lonely = False
        if self._next is None or self._next.done():
            # A batch task cancelled before it ran (the loop closing cancels every task) sent
            # nothing: the next command starts another, which sends the batch left behind.
            self._start()
        self._commands.append(command)
        self._futures.append(future)
        return future

    def submit_many(self, commands: Sequence[Command]) -> list[asyncio.Future[Any]]:
        """Queue several commands at once: they are sent in the same pipeline."""
        return [self.submit(command) for command in commands]

    def _start(self) -> None:
        task = self._next = self._loop.create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        self._next = None
        commands, futures = self._commands, self._futures
        self._commands, self._futures = [], []
        self._lonely = len(commands) == 1
        self.batches += 1
        try:
            results = await self._run_batch(commands)
        except BaseException as exc:
            for future in futures:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(self._translate(exc))
                else:  # cancelled (the loop is closing): the callers are cancelled too
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        translate = self._translate
        for future, result in zip(futures, results, strict=False):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(translate(result))
            else:
                future.set_result(result)

    @property
    def in_flight(self) -> int:
        """Batches sent or about to be sent and not yet answered."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every batch submitted so far has completed."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
