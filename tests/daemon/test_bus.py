from dataclasses import dataclass

from daemon.bus import EventBus


@dataclass(frozen=True, slots=True)
class Pinged:
    n: int


@dataclass(frozen=True, slots=True)
class Ponged:
    n: int


def test_events_caused_by_a_handler_are_dispatched_before_the_next_event() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(Pinged, lambda e: (seen.append(f"ping{e.n}"), bus.publish(Ponged(e.n))))
    bus.subscribe(Pinged, lambda e: seen.append(f"ping{e.n}-second"))
    bus.subscribe(Ponged, lambda e: seen.append(f"pong{e.n}"))
    bus.dispatch(Pinged(1))
    bus.dispatch(Pinged(2))
    assert seen == ["ping1", "ping1-second", "pong1", "ping2", "ping2-second", "pong2"]
    assert bus.dispatched == 4


def test_a_failing_handler_is_contained_and_counted() -> None:
    bus = EventBus()
    seen: list[int] = []

    def boom(e: Pinged) -> None:
        raise RuntimeError("boom")

    bus.subscribe(Pinged, boom)
    bus.subscribe(Pinged, lambda e: seen.append(e.n))
    bus.dispatch(Pinged(1))
    bus.dispatch(Pinged(2))
    assert seen == [1, 2] and bus.handler_errors == 2


async def test_async_intake_dispatches_in_order_until_stopped() -> None:
    bus = EventBus(maxsize=4)
    seen: list[int] = []
    bus.subscribe(Pinged, lambda e: seen.append(e.n))
    import asyncio

    task = asyncio.create_task(bus.run())
    for n in range(10):
        await bus.put(Pinged(n))
    await bus.stop()
    await task
    assert seen == list(range(10))


def test_publish_next_goes_ahead_of_what_is_queued_in_the_order_given() -> None:
    bus = EventBus()
    seen: list[object] = []

    def on_int(event: int) -> None:
        seen.append(event)
        if event == 1:
            bus.publish(2)  # queued while 1 is handled
            bus.publish(3)
            bus.publish_next("a", "b")  # a command that must beat 2 and 3

    bus.subscribe(int, on_int)
    bus.subscribe(str, seen.append)
    bus.dispatch(1)
    assert seen == [1, "a", "b", 2, 3]
