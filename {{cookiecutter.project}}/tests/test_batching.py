from __future__ import annotations

import asyncio

import pytest

from {{ cookiecutter.package }}.batching import MicroBatcher


def test_requests_of_one_event_loop_turn_share_one_call() -> None:
    seen: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        seen.append(items)
        return [2 * item for item in items]

    async def scenario() -> list[list[int]]:
        batcher = MicroBatcher(double)
        answers = await asyncio.gather(batcher.submit([1]), batcher.submit([2, 3]), batcher.submit([4]))
        alone = await batcher.submit([5])
        return [list(answer) for answer in [*answers, alone]]

    assert asyncio.run(scenario()) == [[2], [4, 6], [8], [10]]
    assert seen == [[1, 2, 3, 4], [5]]


def test_an_error_reaches_every_waiting_request() -> None:
    def broken(items: list[int]) -> list[int]:
        raise ValueError("model exploded")

    async def scenario() -> list[BaseException | list[int]]:
        batcher = MicroBatcher(broken)
        results = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
        return list(results)  # type: ignore[arg-type]

    results = asyncio.run(scenario())
    assert all(isinstance(result, ValueError) for result in results)


def test_a_cancelled_request_does_not_break_the_others() -> None:
    async def scenario() -> list[int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [item + 1 for item in items])
        first = asyncio.ensure_future(batcher.submit([1]))
        second = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0)  # both queued
        first.cancel()
        return list(await second)

    assert asyncio.run(scenario()) == [3]


def test_it_needs_a_running_loop() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: items)
    coroutine = batcher.submit([1])
    with pytest.raises(RuntimeError):
        coroutine.send(None)
    coroutine.close()
