"""deadline_at: asyncio.timeout_at's semantics on a per-loop timer wheel."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from omnibase_infra.effect.deadline import TICK_SECONDS, Deadline, _wheel, deadline_at


async def test_a_block_that_finishes_in_time_is_not_touched() -> None:
    loop = asyncio.get_running_loop()
    async with deadline_at(loop.time() + 5) as block:
        await asyncio.sleep(0)
    assert not block.expired()
    await asyncio.sleep(0.02)  # no late cancellation reaches the task afterwards
    assert "expired=False" in repr(block)


async def test_a_passed_deadline_cancels_the_block_and_raises_timeout() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        async with deadline_at(started + 0.03) as block:
            await asyncio.sleep(10)
    elapsed = loop.time() - started
    assert block.expired()
    assert 0.03 <= elapsed < 0.03 + 0.5  # never early, at most a tick (plus scheduling) late
    await asyncio.sleep(0)  # the task is usable afterwards: the cancellation was absorbed


async def test_a_deadline_already_passed_cancels_at_the_first_suspension() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with deadline_at(loop.time() - 1):
            await asyncio.sleep(10)


async def test_a_passed_deadline_does_not_touch_a_block_that_never_suspends() -> None:
    loop = asyncio.get_running_loop()
    async with deadline_at(loop.time() - 1) as block:
        pass
    await asyncio.sleep(0)  # the scheduled expiry runs now and finds the block done
    assert not block.expired()


async def test_blocks_leaving_a_shared_bucket_keep_the_others() -> None:
    loop = asyncio.get_running_loop()
    when = loop.time() + 1
    wheel = _wheel(loop)
    async with deadline_at(when) as outer:
        async with deadline_at(when):
            pass
        async with deadline_at(when + 0.5):  # a later bucket: the armed timer stays
            pass
        assert outer in wheel._buckets[outer._tick]
    assert not outer.expired()


async def test_someone_elses_cancellation_still_propagates() -> None:
    loop = asyncio.get_running_loop()
    inside = asyncio.Event()

    async def worker() -> None:
        async with deadline_at(loop.time() + 5):
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(worker())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_expired_block_swallowing_the_cancellation_raises_nothing() -> None:
    loop = asyncio.get_running_loop()
    async with deadline_at(loop.time() + 0.01) as block:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)  # the block handles it: nothing to convert
    assert block.expired()


async def test_many_blocks_share_buckets_and_an_earlier_one_rearms_the_wheel() -> None:
    loop = asyncio.get_running_loop()
    order: list[str] = []

    async def bounded(name: str, seconds: float) -> None:
        try:
            async with deadline_at(loop.time() + seconds):
                await asyncio.sleep(10)
        except TimeoutError:
            order.append(name)

    late = asyncio.create_task(bounded("late", 0.2))
    await asyncio.sleep(0)
    early = [asyncio.create_task(bounded(f"early{i}", 0.05)) for i in range(3)]
    await asyncio.gather(late, *early)
    assert order[-1] == "late"
    assert sorted(order[:3]) == ["early0", "early1", "early2"]


async def test_a_finished_block_leaves_its_bucket_and_the_timer_finds_nothing_due() -> None:
    loop = asyncio.get_running_loop()
    wheel = _wheel(loop)
    async with deadline_at(loop.time() + 3 * TICK_SECONDS):
        assert wheel._buckets
    assert not wheel._buckets
    await asyncio.sleep(5 * TICK_SECONDS)  # the armed timer fires on an empty wheel
    assert wheel._handle is None


async def test_outside_a_task_it_is_an_error() -> None:
    loop = asyncio.get_running_loop()
    message: asyncio.Future[str] = loop.create_future()

    def outside_any_task() -> None:  # a loop callback: no current task
        try:
            Deadline(0.0).__aenter__().send(None)
        except RuntimeError as exc:
            message.set_result(str(exc))

    loop.call_soon(outside_any_task)
    assert "inside a task" in await message


def test_each_loop_keeps_its_own_wheel_when_loops_alternate() -> None:
    async def wheel_of_running_loop() -> object:
        return _wheel(asyncio.get_running_loop())

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        wheels = [
            loop.run_until_complete(wheel_of_running_loop())
            for loop in (first, second, first, second)
        ]
    finally:
        first.close()
        second.close()
    assert wheels[0] is wheels[2]
    assert wheels[1] is wheels[3]
    assert wheels[0] is not wheels[1]
