"""The acker (jobs/worker/acks.py): a message is acked only after its ledger write settled,
stop() acks everything held, and a hold that arrives after stop() is acked by its caller."""

from __future__ import annotations

import threading
import time
from functools import partial

from dramatiq.errors import BrokerConnectionError

from jobs.brokers.held_acks import AckTogether
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
    # Held together, they settle in order, then go together: no ack before its write.
    assert done == ["settled a", "settled b", "acked a", "acked b"]


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


class Together(AckTogether):
    def __init__(self, key: str, log: list[object]) -> None:
        self.together_key, self.log, self.key = key, log, key

    def __call__(self) -> None:
        self.log.append(f"alone {self.key}")

    def ack_all(self, acks: list[AckTogether]) -> None:
        self.log.append(len(acks))


def test_acks_held_together_go_in_one_call_per_broker():
    acker = Acker()
    acker.start()
    gate = threading.Event()
    log: list[object] = []

    def first_write() -> None:
        assert gate.wait(10)

    acker.put(first_write, partial(log.append, "first"))  # the acker waits on its write...
    time.sleep(0.2)
    for n in range(30):  # ... while these are held
        acker.put(lambda: None, Together("redis-a" if n % 3 else "redis-b", log))
    acker.put(lambda: None, Together("redis-c", log))  # one of its kind: acked alone
    gate.set()
    acker.stop()
    assert log[0] == "first"
    assert sorted(log[1:], key=str) == [10, 20, "alone redis-c"]
