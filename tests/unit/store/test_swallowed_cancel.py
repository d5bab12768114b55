"""``raise_if_cancelled``: a listening loop whose wait swallowed a ``cancel()`` still stops."""

from __future__ import annotations

import asyncio
import contextlib

from zproxy.store.connect import raise_if_cancelled


async def _listener(waits: list[int]) -> None:
    """Like a pub/sub loop whose wait turns a cancellation into a quiet return."""
    while True:
        with contextlib.suppress(asyncio.CancelledError):  # as redis-py's get_message can
            await asyncio.sleep(0.01)
        waits.append(1)
        raise_if_cancelled()


async def test_a_swallowed_cancellation_still_stops_the_loop() -> None:
    waits: list[int] = []
    task = asyncio.create_task(_listener(waits))
    await asyncio.sleep(0.03)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert task in done
    assert task.cancelled()
    assert waits  # it did run before


async def test_nothing_is_raised_when_not_cancelled() -> None:
    raise_if_cancelled()  # outside any cancellation: returns
