"""AutoPipeline with a stub batch runner: batching, and how failures reach each caller.

The stub stands in for the connection only to inject failures a real server cannot produce on
demand (a whole batch failing after some callers went away, say)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from aiocache_llm.errors import BackendTimeout, BackendUnavailable
from aiocache_llm.storage.redis import translate_redis_error
from aiocache_llm.storage.redis.autopipeline import AutoPipeline, Command


class StubRunner:
    """Echoes each command's last argument; ``("FAIL",)`` answers with an error for itself."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.batches: list[list[Command]] = []
        self.error = error

    async def __call__(self, commands: Sequence[Command]) -> list[Any]:
        self.batches.append(list(commands))
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return [ValueError("bad") if c == ("FAIL",) else c[-1] for c in commands]


def first_held(runner: StubRunner, release: asyncio.Event) -> Any:
    """``runner``, whose first round trip waits until ``release`` is set."""

    async def held(commands: Sequence[Command]) -> list[Any]:
        if not runner.batches:
            runner.batches.append(list(commands))
            await release.wait()
            return [c[-1] for c in commands]
        return await runner(commands)

    return held


def pipeline(runner: StubRunner) -> AutoPipeline:
    return AutoPipeline(runner, translate_redis_error, asyncio.get_running_loop())


async def test_commands_of_one_loop_iteration_form_one_batch() -> None:
    runner = StubRunner()
    auto = pipeline(runner)
    replies = await asyncio.gather(*(auto.submit(("GET", i)) for i in range(30)))
    assert replies == list(range(30))
    assert len(runner.batches) == 1


async def test_commands_of_later_iterations_form_new_batches() -> None:
    runner = StubRunner()
    auto = pipeline(runner)
    assert await auto.submit(("GET", 1)) == 1
    assert await auto.submit(("GET", 2)) == 2
    assert len(runner.batches) == 2


async def test_an_error_for_one_command_fails_only_its_caller() -> None:
    auto = pipeline(StubRunner())
    replies = await asyncio.gather(
        auto.submit(("GET", 1)),
        auto.submit(("FAIL",)),
        auto.submit(("GET", 3)),
        return_exceptions=True,
    )
    assert replies[0] == 1 and replies[2] == 3
    assert isinstance(replies[1], Exception)


async def test_a_failed_batch_gives_every_caller_its_own_typed_error() -> None:
    import redis.exceptions

    auto = pipeline(StubRunner(redis.exceptions.TimeoutError("slow")))
    replies = await asyncio.gather(
        *(auto.submit(("GET", i)) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(reply, BackendTimeout) for reply in replies)
    assert len({id(reply) for reply in replies}) == 5


async def test_a_cancelled_caller_leaves_the_rest_of_its_batch_intact() -> None:
    auto = pipeline(StubRunner())
    doomed = auto.submit(("GET", 0))
    kept = auto.submit(("GET", 1))
    doomed.cancel()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_drain_waits_for_batches_in_flight() -> None:
    runner = StubRunner(ConnectionError("down"))
    auto = pipeline(runner)
    future = auto.submit(("GET", 1))
    await auto.drain()
    assert future.done() and isinstance(future.exception(), BackendUnavailable)


async def test_a_lone_call_is_sent_at_once_and_calls_meanwhile_are_batched() -> None:
    runner, release = StubRunner(), asyncio.Event()
    auto = AutoPipeline(
        first_held(runner, release), translate_redis_error, asyncio.get_running_loop()
    )
    first = asyncio.ensure_future(auto.call([("GET", 1)]))
    await asyncio.sleep(0)  # the first call is in flight, from its own task
    assert runner.batches == [[("GET", 1)]]
    rest = asyncio.gather(*(auto.call([("GET", i)]) for i in range(2, 5)))
    await asyncio.sleep(0.01)
    release.set()
    assert await first == [1]
    assert await rest == [[2], [3], [4]]
    assert runner.batches[1:] == [[("GET", 2), ("GET", 3), ("GET", 4)]]


async def test_a_lone_call_gets_its_own_typed_errors() -> None:
    import redis.exceptions

    auto = pipeline(StubRunner(redis.exceptions.TimeoutError("slow")))
    with pytest.raises(BackendTimeout):
        await auto.call([("GET", 1)])
    (reply,) = await pipeline(StubRunner()).call([("FAIL",)])
    assert isinstance(reply, Exception)


async def test_once_callers_are_many_commands_are_batched_until_one_comes_alone() -> None:
    runner, release = StubRunner(), asyncio.Event()
    auto = AutoPipeline(
        first_held(runner, release), translate_redis_error, asyncio.get_running_loop()
    )
    first = asyncio.ensure_future(auto.call([("GET", 1)]))
    await asyncio.sleep(0)
    queued = asyncio.gather(*(auto.call([("GET", i)]) for i in (2, 3)))  # behind it: many
    await asyncio.sleep(0.01)
    release.set()
    await first
    await queued
    await auto.drain()
    assert await auto.call([("GET", 4)]) == [4]  # batched (a batch of one): callers alone again
    assert auto.batches == 3
    assert await auto.call([("GET", 5)]) == [5]  # sent at once
    assert runner.batches[-2:] == [[("GET", 4)], [("GET", 5)]]
