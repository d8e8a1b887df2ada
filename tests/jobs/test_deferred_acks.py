"""The acker (jobs/worker/acks.py): a message is acked only after its ledger write settled,
stop() acks everything held, and a hold that arrives after stop() is acked by its caller."""

from __future__ import annotations

import threading
from functools import partial

from dramatiq.errors import BrokerConnectionError

from jobs.worker.acks import Acker


def test_each_message_is_acked_only_after_its_write_settled_in_the_order_held():
    acker = Acker()
    acker.start()
    done: list[str] = []
    gates = {name: threading.Event() for name in ("a", "b")}
    acked = threading.Event()

    def settle(name: str) -> None:
        assert gates[name].wait(10)
        done.append(f"settled {name}")

    def ack(name: str) -> None:
        done.append(f"acked {name}")
        if name == "b":
            acked.set()

    for name in ("a", "b"):
        acker.hold(partial(settle, name)).then(partial(ack, name))
    assert not acked.wait(0.2)
    assert done == []  # nothing acked while the first write is pending
    gates["b"].set()
    gates["a"].set()
    assert acked.wait(10)
    acker.stop()
    assert done == ["settled a", "acked a", "settled b", "acked b"]


def test_stop_acks_everything_held_before_it_returns():
    acker = Acker()
    acker.start()
    release = threading.Event()
    acked: list[int] = []

    def settle() -> None:
        assert release.wait(10)

    for n in range(50):
        acker.hold(settle).then(partial(acked.append, n))
    threading.Timer(0.2, release.set).start()
    acker.stop()
    assert acked == list(range(50))


def test_a_hold_after_stop_is_settled_and_acked_by_the_caller():
    acker = Acker()
    acker.start()
    acker.stop()
    caller = threading.current_thread()
    seen: list[threading.Thread] = []
    acker.hold(lambda: None).then(lambda: seen.append(threading.current_thread()))
    assert seen == [caller]


def test_a_failing_report_does_not_keep_the_message_from_its_ack():
    acker = Acker()
    acker.start()
    acked = threading.Event()

    def broken() -> None:
        raise RuntimeError("bug in reporting")

    acker.hold(broken).then(acked.set)
    assert acked.wait(10)
    acker.stop()


def test_an_ack_that_meets_a_connection_error_is_retried_until_it_lands(monkeypatch):
    monkeypatch.setattr("jobs.worker.acks.RETRY_DELAY", 0.01)
    acker = Acker()
    acker.start()
    attempts: list[int] = []

    def ack() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise BrokerConnectionError("Redis is restarting")

    acker.hold(lambda: None).then(ack)
    acker.join()
    acker.stop()
    assert len(attempts) == 3  # Dramatiq's own post_process_message retries the same way
