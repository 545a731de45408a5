"""cancel_on_disconnect: the work runs in the caller's task, a disconnect cancels it, and only that cancellation is
absorbed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from litestar.types import HTTPDisconnectEvent

from proxy.asgi import cancel_on_disconnect


class Client:
    """An ASGI receive whose disconnect message arrives when `leave()` is called."""

    def __init__(self) -> None:
        self._gone = asyncio.Event()

    def leave(self) -> None:
        self._gone.set()

    async def receive(self) -> HTTPDisconnectEvent:
        await self._gone.wait()
        return {"type": "http.disconnect"}


class Listener:
    """An ASGI receive that notes every call and never answers: whether anyone listened for a disconnect."""

    def __init__(self) -> None:
        self.calls = 0

    async def receive(self) -> HTTPDisconnectEvent:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def answered_at_once() -> None:
    await asyncio.sleep(0)


@pytest.mark.anyio
async def test_work_that_finishes_first_is_not_cancelled() -> None:
    client = Client()
    ran_in: list[asyncio.Task[Any] | None] = []

    async def work() -> None:
        ran_in.append(asyncio.current_task())
        await asyncio.sleep(0)

    assert await cancel_on_disconnect(work(), client.receive) is False
    assert ran_in == [asyncio.current_task()]
    # The watcher is gone: a disconnect now cancels nothing.
    client.leave()
    await asyncio.sleep(0.01)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_disconnect_cancels_the_work_and_leaves_the_task_usable() -> None:
    client = Client()
    reached: list[str] = []

    async def work() -> None:
        reached.append("started")
        client.leave()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            reached.append("cancelled")
            raise

    assert await asyncio.wait_for(cancel_on_disconnect(work(), client.receive), 5) is True
    assert reached == ["started", "cancelled"]
    # The cancellation was absorbed: this task awaits as usual afterwards.
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_work_that_swallows_the_cancellation_still_reports_the_disconnect() -> None:
    client = Client()

    async def work() -> None:
        client.leave()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return

    assert await asyncio.wait_for(cancel_on_disconnect(work(), client.receive), 5) is True
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_cancellation_from_outside_is_passed_on() -> None:
    client = Client()
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(cancel_on_disconnect(work(), client.receive))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.anyio
async def test_errors_of_the_work_reach_the_caller() -> None:
    client = Client()

    async def work() -> None:
        await asyncio.sleep(0)
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        await cancel_on_disconnect(work(), client.receive)


@pytest.mark.anyio
async def test_no_watcher_listens_to_a_request_answered_before_the_delay() -> None:
    listener = Listener()
    assert await cancel_on_disconnect(answered_at_once(), listener.receive, watch_after=10) is False
    await asyncio.sleep(0.01)
    assert listener.calls == 0


@pytest.mark.anyio
async def test_a_client_that_left_before_the_delay_is_noticed_when_it_ends() -> None:
    client = Client()
    client.leave()
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(cancel_on_disconnect(work(), client.receive, watch_after=0.05), 5) is True
    assert cancelled.is_set()
    assert loop.time() - started >= 0.05


@pytest.mark.anyio
async def test_a_watch_stopped_before_it_was_due_is_never_started() -> None:
    # Two requests due together: the one still running when they are due is watched (its client leaves and its
    # work is cancelled), the one that ended first is not, although the same sweep reached both.
    finished_one = Listener()

    async def quick_request() -> bool:
        return await cancel_on_disconnect(answered_at_once(), finished_one.receive, watch_after=0.02)

    client = Client()
    client.leave()
    assert await quick_request() is False
    assert await asyncio.wait_for(cancel_on_disconnect(asyncio.sleep(10), client.receive, watch_after=0.02), 5)
    assert finished_one.calls == 0


@pytest.mark.anyio
async def test_watches_made_at_once_are_all_started_when_due() -> None:
    clients = [Client() for _ in range(20)]
    for client in clients:
        client.leave()
    loop = asyncio.get_running_loop()
    started = loop.time()
    gone = await asyncio.wait_for(
        asyncio.gather(*(cancel_on_disconnect(asyncio.sleep(10), c.receive, watch_after=0.03) for c in clients)), 5
    )
    assert gone == [True] * 20
    assert loop.time() - started >= 0.03


def test_a_watch_on_another_event_loop_is_started_by_that_loop() -> None:
    # The gateway's loop and a second one (a test's, a thread's) each start their own watches, whichever made
    # one last.
    async def watched(client: Client, made: threading.Event | None = None) -> bool:
        async def work() -> None:
            if made is not None:
                made.set()
            await asyncio.sleep(10)

        return await asyncio.wait_for(cancel_on_disconnect(work(), client.receive, watch_after=0.05), 5)

    first, second = Client(), Client()
    first.leave()
    made = threading.Event()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(watched(first, made))))
    thread.start()
    assert made.wait(5)
    second.leave()
    assert asyncio.run(watched(second)) is True  # made on this loop after the thread's loop made its own
    thread.join(5)
    assert results == [True]
