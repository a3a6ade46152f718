"""store/transact.write_each dies as a serial loop would: after a write raises, the writes in
flight finish and no other write starts (neither a queued item nor a running item's next)."""

from __future__ import annotations

import threading

import pytest

from chalicelib.store import transact


class Crash(Exception):
    pass


def update(key: str, n: int) -> dict:
    return {"Update": {"TableName": "t", "Key": {"pk": {"S": key}}, "UpdateExpression": f"n{n}"}}


def test_a_write_that_raises_lets_the_writes_in_flight_finish_and_starts_no_other(monkeypatch):
    stops: list[threading.Event] = []

    def event() -> threading.Event:
        stops.append(threading.Event())
        return stops[-1]

    b_running = threading.Event()
    started: list[str] = []
    landed: list[str] = []

    def write(ddb, request):
        name = request["Update"]["Key"]["pk"]["S"] + request["Update"]["UpdateExpression"][1:]
        started.append(name)
        if name == "a1":
            assert b_running.wait(5)     # b1 is in flight when a1 crashes
            raise Crash(name)
        if name == "b1":
            b_running.set()
            assert stops[0].wait(5)      # still in flight after the crash was seen
        landed.append(name)
        return True

    monkeypatch.setattr(transact, "Event", event)
    monkeypatch.setattr(transact, "client", lambda name: None)
    monkeypatch.setattr(transact, "_write_one", write)
    # Two workers: the chains of a and b run, those of c and d wait in the queue.
    requests = [update("a", 1), update("b", 1), update("b", 2), update("c", 1), update("d", 1)]
    with pytest.raises(Crash, match="a1"):
        transact.write_each(requests, workers=2)
    assert sorted(started) == ["a1", "b1"]
    assert landed == ["b1"]


def test_writes_to_one_item_run_in_order_and_all_land_when_none_raises(monkeypatch):
    seen: dict[str, list[int]] = {}
    lock = threading.Lock()

    def write(ddb, request):
        key = request["Update"]["Key"]["pk"]["S"]
        with lock:
            seen.setdefault(key, []).append(int(request["Update"]["UpdateExpression"][1:]))
        return key != "c"

    monkeypatch.setattr(transact, "client", lambda name: None)
    monkeypatch.setattr(transact, "_write_one", write)
    requests = [update(k, n) for n in range(1, 6) for k in "abcd"]
    assert transact.write_each(requests, workers=3) == [k != "c" for _ in range(5) for k in "abcd"]
    assert seen == {k: [1, 2, 3, 4, 5] for k in "abcd"}
