"""The in-process event bus and the local broker."""

from __future__ import annotations

import logging
from typing import Literal

from kefu.core.events import Event, EventBus, LocalBroker


class _Happened(Event):
    type: Literal["test.bus_happened"]  # no default: stays out of the catalogue


def _ev() -> _Happened:
    return _Happened(type="test.bus_happened", workspace_id="w")


def test_failing_inline_listener_does_not_stop_the_others(caplog):
    bus = EventBus()
    calls: list[str] = []

    def first(_e: Event) -> None:
        calls.append("first")

    def broken(_e: Event) -> None:
        calls.append("broken")
        raise RuntimeError("listener bug")

    def last(_e: Event) -> None:
        calls.append("last")

    bus.subscribe("test.bus_happened", first)
    bus.subscribe("test.bus_happened", broken)
    bus.subscribe("test.bus_happened", last)
    bus.subscribe_all(lambda _e: calls.append("any"))
    bus.subscribe("other.type", lambda _e: calls.append("other"))
    with caplog.at_level(logging.ERROR, logger="kefu.core.events"):
        bus.publish([_ev(), _ev()])
    assert calls == ["first", "broken", "last", "any"] * 2
    assert "listener bug" in caplog.text


def test_local_broker_isolates_failing_subscribers():
    broker = LocalBroker()
    got: list[tuple[str, dict[str, object]]] = []

    def broken(_t: str, _m: dict[str, object]) -> None:
        raise RuntimeError("socket gone")

    broker.subscribe(broken)
    broker.subscribe(lambda t, m: got.append((t, m)))
    broker.publish("agents:w", {"type": "x"})
    assert got == [("agents:w", {"type": "x"})]
