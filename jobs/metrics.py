"""GET /metrics: the fleet's figures in Prometheus' text format, read at scrape time.

Nothing is counted in process memory: counters come from the ledger (rolled-up hours plus the
hours since, jobs/ledger/rollups.py) and gauges from the ledger and the broker, so any web process
answers for every web and worker process of the deployment, and pruning lowers nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

from jobs.brokers import state as broker_state
from jobs.ledger.rollups import BUCKETS, totals_by_actor
from jobs.models import AlertIncident, AlertRule, Duty, Job, JobStatus

LABELS = ["actor", "queue"]


class LedgerCollector:
    def collect(self) -> Iterator[Metric]:
        yield from _job_counters()
        yield from _job_gauges()
        yield from _broker_gauges()
        yield from _upkeep_gauges()


def _job_counters() -> Iterator[Metric]:
    families = {
        "enqueued": CounterMetricFamily("offload_jobs_enqueued", "Jobs enqueued.", labels=LABELS),
        "succeeded": CounterMetricFamily(
            "offload_jobs_succeeded", "Jobs succeeded (at any attempt).", labels=LABELS
        ),
        "retried": CounterMetricFamily(
            "offload_jobs_retried",
            "Failed attempts that were retried, counted when their job finished.",
            labels=LABELS,
        ),
        "failed": CounterMetricFamily(
            "offload_jobs_failed", "Jobs failed for good.", labels=LABELS
        ),
        "attempts": CounterMetricFamily(
            "offload_job_attempts_started",
            "Attempts started, counted when their job finished.",
            labels=LABELS,
        ),
    }
    run = HistogramMetricFamily(
        "offload_job_run_seconds", "Run time of finished jobs (last attempt).", labels=LABELS
    )
    wait = HistogramMetricFamily(
        "offload_job_wait_seconds", "Enqueue to first start, of finished jobs.", labels=LABELS
    )
    for row in totals_by_actor():
        labels = [row["actor_name"], row["queue_name"]]
        finished = row["succeeded"] + row["retried"] + row["failed"]
        families["enqueued"].add_metric(labels, row["enqueued"])
        families["succeeded"].add_metric(labels, row["succeeded"] + row["retried"])
        families["retried"].add_metric(labels, max(0, row["attempts"] - finished))
        families["failed"].add_metric(labels, row["failed"])
        families["attempts"].add_metric(labels, row["attempts"])
        run.add_metric(labels, _buckets(row["run_buckets"], finished), row["run_seconds"])
        wait.add_metric(labels, _buckets(row["wait_buckets"], finished), row["wait_seconds"])
    yield from families.values()
    yield run
    yield wait


def _buckets(counts: dict[str, int], total: int) -> list[tuple[str, float]]:
    return [*((str(bound), counts.get(str(bound), 0)) for bound in BUCKETS), ("+Inf", total)]


def _job_gauges() -> Iterator[Metric]:
    unfinished = GaugeMetricFamily(
        "offload_jobs_unfinished", "Jobs not finished, by status.", labels=[*LABELS, "status"]
    )
    rows = (
        Job.objects.filter(status__in=JobStatus.unfinished())
        .order_by()
        .values("actor_name", "queue_name", "status")
        .annotate(jobs=Count("id"))
    )
    for row in rows:
        unfinished.add_metric([row["actor_name"], row["queue_name"], row["status"]], row["jobs"])
    yield unfinished


def _broker_gauges() -> Iterator[Metric]:
    up = GaugeMetricFamily("offload_broker_up", "1 if the broker answered this scrape.")
    waiting = GaugeMetricFamily("offload_queue_waiting", "Messages waiting.", labels=["queue"])
    delayed = GaugeMetricFamily(
        "offload_queue_delayed", "Delayed messages and scheduled retries.", labels=["queue"]
    )
    dead = GaugeMetricFamily("offload_queue_dead", "Dead-lettered messages.", labels=["queue"])
    oldest = GaugeMetricFamily(
        "offload_queue_oldest_message_age_seconds",
        "Age of the oldest waiting message (0 when none waits).",
        labels=["queue"],
    )
    workers = GaugeMetricFamily("offload_workers_alive", "Worker processes with a heartbeat.")
    try:
        queues = broker_state.queue_states()
        alive = sum(1 for worker in broker_state.worker_states() if worker.alive)
    except Exception:  # the broker is down: say so, and still report the ledger's figures
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    for queue in queues:
        waiting.add_metric([queue.name], queue.waiting)
        delayed.add_metric([queue.name], queue.delayed)
        dead.add_metric([queue.name], queue.dead)
        oldest.add_metric([queue.name], queue.oldest_age or 0.0)
    workers.add_metric([], alive)
    yield from (up, waiting, delayed, dead, oldest, workers)


def _upkeep_gauges() -> Iterator[Metric]:
    """The duties and alerts, for rules that watch Offload from outside (docs/DEPLOY.md)."""
    finished = GaugeMetricFamily(
        "offload_duty_last_finished_timestamp_seconds",
        "When each periodic duty last finished (epoch seconds).",
        labels=["duty"],
    )
    failing = GaugeMetricFamily(
        "offload_duty_failing", "1 if the duty's last run ended in an error.", labels=["duty"]
    )
    for duty in Duty.objects.all():
        if duty.last_finished_at is not None:
            finished.add_metric([duty.name], duty.last_finished_at.timestamp())
            failing.add_metric([duty.name], 1 if duty.last_error else 0)
    firing = GaugeMetricFamily(
        "offload_alert_firing", "1 while an alert rule's incident is open.", labels=["rule"]
    )
    open_rules = set(
        AlertIncident.objects.filter(resolved_at=None).values_list("rule__name", flat=True)
    )
    for name in AlertRule.objects.filter(enabled=True).values_list("name", flat=True):
        firing.add_metric([name], 1 if name in open_rules else 0)
    yield from (finished, failing, firing)


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector())
    return generate_latest(registry)
