"""The ledger's hot transitions (claim, success, sent) for a batch of jobs, all in one go.

Their only definition (a conditional UPDATE that cannot move a job backwards, plus the event
rows it needs, atomically: a transition that moved the job is a fact of its row and stores no
event row, jobs/ledger/history.py), as set-based SQL because they run for every job
(docs/PERFORMANCE.md); a single job is a batch of one (jobs/ledger/transitions.py). On
PostgreSQL a whole batch is one statement (UPDATEs and event INSERTs in data-modifying CTEs:
atomic on its own, one round trip, one commit); on SQLite it is an UPDATE ... RETURNING and an
INSERT per kind, in one transaction. A job appears at most once per batch (the writer
guarantees it), so rows of one batch never interact.

Values travel as parameters, prepared by the model fields themselves (UUIDs, datetimes,
durations and JSON differ between the two databases); table and column names come from the
models.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from jobs.ledger.requests import ClaimRequest, SentRequest, SuccessRequest
from jobs.models import EventKind, Job, JobEvent, JobStatus

#: How each column type travels inside the JSON parameter (PostgreSQL) ...
_JSON_VALUE: dict[str, Callable[[Any], Any]] = {
    "uuid": str,
    "integer": int,
    "varchar": str,
    "text": str,
    "timestamptz": lambda v: None if v is None else v.isoformat(),
    "interval": lambda v: v // dt.timedelta(microseconds=1),
    "jsonb": lambda v: v,
}
#: ... and how the statement reads it back from element `e`, column `i`.
_JSON_COLUMN = {
    "uuid": "(e->>{i})::uuid",
    "integer": "(e->>{i})::integer",
    "varchar": "(e->>{i})::varchar",
    "text": "(e->>{i})::text",
    "timestamptz": "(e->>{i})::timestamptz",
    "interval": "((e->>{i}) || ' microseconds')::interval",
    "jsonb": "NULLIF((e->{i})::jsonb, 'null'::jsonb)",  # JSON null: no result (SQL NULL)
}

#: psycopg prepares a statement after this many runs: never, but `prepare=True` still works.
PREPARE_NEVER_AUTOMATICALLY = 2**31

#: The events' INSERT: the columns the batch writes; the rest keep their defaults.
_EVENTS_INSERT = (
    f"INSERT INTO {JobEvent._meta.db_table} "
    "(job_id, kind, at, attempt, worker, exception_type, message, traceback, eta)"
)


@dataclass
class BatchOutcome:
    claimed: set[uuid.UUID] = field(default_factory=set)
    """Jobs whose claim won; the others need the caller's slow path (or are refused)."""
    moved: set[uuid.UUID] = field(default_factory=set)
    """Jobs a success moved to `succeeded`; the others get a `succeeded` event row."""
    sent: set[uuid.UUID] = field(default_factory=set)
    """Pending jobs a send moved to `queued` (`scheduled` with a due time)."""
    at: dt.datetime = field(default_factory=timezone.now)
    """The batch's time: when its claims started and its successes ended."""


def write_batch(
    claims: Sequence[ClaimRequest],
    successes: Sequence[SuccessRequest],
    sends: Sequence[SentRequest] = (),
    *,
    worker_id: str,
    using: str = "default",
    prepared: bool = True,
) -> BatchOutcome:
    """Claims, successes and sends of different jobs, all or nothing: one statement on
    PostgreSQL, one transaction on SQLite. The only definition of these three transitions
    (jobs/ledger/transitions.py writes a single job as a batch of one).

    `prepared`: on PostgreSQL, as a server-side prepared statement with the writer's session
    settings, for the ledger writer's own connection only; other callers run the same SQL as a
    plain statement on theirs. The batch's time (claims' start, successes' end) is
    `outcome.at`."""
    connection = connections[using]
    prep = _Prep(connection)
    outcome = BatchOutcome()

    def parts_at(now: dt.datetime) -> list[_Rows]:
        outcome.at = now
        at = prep.datetime(now)
        parts: list[_Rows] = []
        if claims:
            parts.append(_claims(prep, claims, worker_id=worker_id, at=at))
        if successes:
            parts.append(_successes(prep, successes, now=now, at=at))
        if sends:
            parts.append(_sends(prep, sends))
        return parts

    if connection.vendor == "postgresql":
        parts = parts_at(timezone.now())
        statement = _postgres_statement(tuple(part.sql for part in parts))
        params = [p for part in parts for p in part.params]
        if prepared:
            rows = _execute_prepared(connection, statement, params)
        else:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(statement, params)
                rows = cursor.fetchall()
        for which, job_id in rows:
            getattr(outcome, which).add(prep.uuid(job_id))
        return outcome
    with transaction.atomic(using=using), connection.cursor() as cursor:
        # Stamped once SQLite's write lock is held (BEGIN IMMEDIATE): a batch that waited for
        # another writer (e.g. a sender inserting the job) must not date its claims before it.
        for part in parts_at(timezone.now()):
            cursor.execute(
                f"WITH {part.sql.values} {part.sql.update}",
                part.values_params + part.update_params,
            )
            returned = cursor.fetchall()
            _insert_events(cursor, prep, part.events(returned))
            getattr(outcome, part.sql.which).update(prep.uuid(row[0]) for row in returned)
    return outcome


@dataclass(frozen=True)
class _Sql:
    """One kind of write in a batch, as SQL: the same text for every batch on PostgreSQL (its
    rows travel in one JSON parameter), so it is built once (`_sql`)."""

    which: str  # the BatchOutcome set its ids go to
    values: str  # `name (columns) AS (rows)`: see _Prep.rows
    update: str  # UPDATE ... FROM name ... RETURNING id, ...
    event_select: str  # PostgreSQL: the rows of the events stored, as a SELECT ("": none)

    @property
    def ctes(self) -> str:
        ctes = f"{self.values}, {self.which} AS ({self.update})"
        if self.event_select:
            ctes += f", {self.which}_events AS ({_EVENTS_INSERT} {self.event_select})"
        return ctes

    @property
    def select(self) -> str:
        return f"SELECT '{self.which}', id FROM {self.which}"  # noqa: S608 (names of ours)


@dataclass
class _Rows:
    """One kind of write in a batch: its SQL and this batch's values."""

    sql: _Sql
    values_params: list[Any]
    update_params: list[Any]
    event_params: list[Any]
    events: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]]  # SQLite: from RETURNING

    @property
    def params(self) -> list[Any]:
        return self.values_params + self.update_params + self.event_params


@cache
def _postgres_statement(parts: tuple[_Sql, ...]) -> str:
    ctes = ", ".join(part.ctes for part in parts)
    return f"WITH {ctes} " + " UNION ALL ".join(part.select for part in parts)


_TABLE = Job._meta.db_table
_UNFINISHED = tuple(sorted(JobStatus.unfinished()))
_CLAIM_TYPES = ("uuid", "integer", "varchar", "varchar")
_SUCCESS_TYPES = ("uuid", "integer", "varchar", "interval", "jsonb")
_SENT_TYPES = ("uuid", "timestamptz", "timestamptz", "varchar", "text")


@cache
def _sql(which: str, rows: str, *, postgres: bool) -> _Sql:
    """The SQL of one kind of write whose rows come from `rows` (see _Prep.rows).

    The jobs are found by primary key only: `status || ''` keeps the planner off the status
    index (it holds an entry for every unfinished job, thousands in a backlog, and for every
    row not yet vacuumed), and on PostgreSQL `id = ANY(ARRAY(...))` gives the plan an index
    condition on the ids themselves (see _WRITER_SESSION).
    """
    table = _TABLE

    def probe(name: str) -> str:
        return f" AND {table}.id = ANY(ARRAY(SELECT id FROM {name}))" if postgres else ""  # noqa: S608

    if which == "claimed":
        return _Sql(
            which,
            values=f"c (id, retries, worker, delivery_id) AS {rows}",
            update=f"""
                UPDATE {table} SET
                    status = %s, attempts = c.retries + 1, started_at = %s,
                    first_started_at = COALESCE(first_started_at, %s), finished_at = NULL,
                    next_eta = NULL, worker = c.worker, worker_id = %s,
                    delivery_id = c.delivery_id
                FROM c
                WHERE {table}.id = c.id{probe("c")}
                  AND ({table}.status || '') IN ({", ".join(["%s"] * len(_UNFINISHED))})
                  AND {table}.attempts <= c.retries
                RETURNING {table}.id, {table}.attempts, {table}.worker
            """,  # noqa: S608 (names from the models, values as parameters)
            # A claim won is a fact of the row (jobs/ledger/history.py): no event row.
            event_select="",
        )
    if which == "moved":
        return _Sql(
            which,
            values=f"s (id, attempt, worker, duration, result) AS {rows}",
            update=f"""
                UPDATE {table} SET
                    status = %s, finished_at = %s, duration = s.duration, result = s.result,
                    last_error = '', error_type = '', error_group = ''
                FROM s
                WHERE {table}.id = s.id{probe("s")} AND ({table}.status || '') = %s
                  AND {table}.attempts = s.attempt
                RETURNING {table}.id
            """,  # noqa: S608 (names from the models, values as parameters)
            # A success that moved the job is a fact of its row (jobs/ledger/history.py); one
            # that came too late (the job moved on meanwhile) is kept as an event row.
            event_select=(
                "SELECT id, %s, %s, attempt, worker, '', '', '', NULL FROM s"
                " WHERE s.id NOT IN (SELECT id FROM moved)"
            ),
        )
    return _Sql(
        which,
        values=f"q (id, at, eta, kind, note) AS {rows}",
        # A plain send whose record a worker's claim overtook (the job is running or done
        # already) still fills `sent_at`: the send came first all the same (about 8 % of jobs
        # had none before). Only a pending job moves to queued or scheduled.
        update=f"""
            UPDATE {table} SET
                status = CASE WHEN ({table}.status || '') <> %s THEN {table}.status
                              WHEN q.eta IS NULL THEN %s ELSE %s END,
                next_eta = CASE WHEN ({table}.status || '') <> %s THEN {table}.next_eta
                                ELSE q.eta END,
                sent_at = q.at, relay_lease_until = NULL
            FROM q
            WHERE {table}.id = q.id{probe("q")} AND (({table}.status || '') = %s
              OR ({table}.sent_at IS NULL AND q.eta IS NULL AND q.kind = %s AND q.note = ''))
            RETURNING {table}.id
        """,  # noqa: S608 (names from the models, values as parameters)
        # A plain send is a fact of its row (`sent_at`); one with a due time, a note or another
        # kind, or one that found `sent_at` already set, is kept as an event row.
        event_select=(
            "SELECT id, kind, at, 0, '', '', note, '', eta FROM q WHERE q.eta IS NOT NULL"
            " OR q.kind <> %s OR q.note <> '' OR q.id NOT IN (SELECT id FROM sent)"
        ),
    )


def _claims(prep: _Prep, claims: Sequence[ClaimRequest], *, worker_id: str, at: Any) -> _Rows:
    rows, params = prep.rows(
        [(r.job_id, r.retries, r.worker, r.delivery_id) for r in claims], _CLAIM_TYPES
    )
    return _Rows(
        _sql("claimed", rows, postgres=prep.postgres),
        values_params=params,
        update_params=[JobStatus.RUNNING, at, at, worker_id, *_UNFINISHED],
        event_params=[],
        events=lambda rows: [],
    )


def _successes(
    prep: _Prep, successes: Sequence[SuccessRequest], *, now: dt.datetime, at: Any
) -> _Rows:
    rows, params = prep.rows(
        [(r.job_id, r.attempt, r.worker, now - r.started_at, r.result) for r in successes],
        _SUCCESS_TYPES,
    )
    return _Rows(
        _sql("moved", rows, postgres=prep.postgres),
        values_params=params,
        update_params=[JobStatus.SUCCEEDED, at, JobStatus.RUNNING],
        event_params=[EventKind.SUCCEEDED, at],
        events=lambda rows: [
            (r.job_id, EventKind.SUCCEEDED, now, r.attempt, r.worker, "", None)
            for r in _not_in(successes, prep.uuids(rows))
        ],
    )


def _sends(prep: _Prep, sends: Sequence[SentRequest]) -> _Rows:
    rows, params = prep.rows([(r.job_id, r.at, r.eta, r.kind, r.note) for r in sends], _SENT_TYPES)
    return _Rows(
        _sql("sent", rows, postgres=prep.postgres),
        values_params=params,
        update_params=[
            JobStatus.PENDING,
            JobStatus.QUEUED,
            JobStatus.SCHEDULED,
            JobStatus.PENDING,
            JobStatus.PENDING,
            EventKind.QUEUED,
        ],
        event_params=[EventKind.QUEUED],
        events=lambda rows: (
            [
                (r.job_id, r.kind, r.at, 0, "", r.note, r.eta)
                for r in sends
                if r.eta is not None or r.kind != EventKind.QUEUED or r.note
            ]
            + [
                (r.job_id, r.kind, r.at, 0, "", r.note, r.eta)
                for r in _not_in(sends, prep.uuids(rows))
                if r.eta is None and r.kind == EventKind.QUEUED and not r.note
            ]
        ),
    )


def _not_in(requests: Sequence[Any], moved: set[uuid.UUID]) -> list[Any]:
    """The requests whose job did not move (SQLite: from the UPDATE's RETURNING)."""
    return [r for r in requests if r.job_id not in moved]


#: The writer connection's settings: its one generic plan per statement must probe each job by
#: primary key whatever the statistics say when it is made (docs/PERFORMANCE.md, "The trap";
#: tests/jobs/test_batch_sql.py).
_WRITER_SESSION = (
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off;"
    " SET enable_bitmapscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off"
)


def _execute_prepared(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> list[Any]:
    """Run a statement as a server-side prepared statement (PostgreSQL, autocommit).

    Django binds parameters client-side, so PostgreSQL plans every statement anew: about 0.9 ms
    for a batch's, more than executing it. A batch's text is one of three (claims, successes,
    both), so psycopg prepares each once per connection and PostgreSQL reuses one generic plan
    (a primary-key probe per job, whatever the batch's size). Django
    turns psycopg's preparing off (prepare_threshold None); on this connection, used by the
    ledger writer alone, it is on for explicit `prepare=True` only (a threshold never reached).
    Behind PgBouncer in transaction mode this needs PgBouncer 1.21+ (max_prepared_statements).
    Errors are Django's, as from any query.
    """
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        if raw.prepare_threshold is None:  # a new connection
            raw.prepare_threshold = PREPARE_NEVER_AUTOMATICALLY
            cursor.execute(_WRITER_SESSION)
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def _insert_events(cursor: Any, prep: _Prep, events: list[tuple[Any, ...]]) -> None:
    """(job_id, kind, at, attempt, worker, message, eta) rows, in one INSERT (SQLite: PostgreSQL
    inserts the events in the batch's statement)."""
    if not events:
        return
    rows, params = prep.rows(
        [
            (job_id, kind, at, attempt, worker, "", message, "", eta)
            for job_id, kind, at, attempt, worker, message, eta in events
        ],
        (
            "uuid",
            "varchar",
            "timestamptz",
            "integer",
            "varchar",
            "text",
            "text",
            "text",
            "timestamptz",
        ),
    )
    cursor.execute(f"{_EVENTS_INSERT} {rows[1:-1]}", params)  # rows: "(VALUES ...)"


@cache
def _json_rows(types: tuple[str, ...]) -> str:
    columns = ", ".join(_JSON_COLUMN[t].format(i=i) for i, t in enumerate(types))
    return f"NOT MATERIALIZED (SELECT {columns} FROM json_array_elements(%s::json) e)"  # noqa: S608


class _Prep:
    """Values as the models' fields would send them to this database."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.postgres = connection.vendor == "postgresql"
        self._pk = Job._meta.pk
        self._duration = Job._meta.get_field("duration")
        self._result = Job._meta.get_field("result")

    def rows(self, rows: list[tuple[Any, ...]], types: tuple[str, ...]) -> tuple[str, list[Any]]:
        """A parenthesized row source for a CTE, and its params, from Python values.

        PostgreSQL: `NOT MATERIALIZED (SELECT ... FROM json_array_elements(%s::json) e)`:
        all rows in one JSON parameter (one `json.dumps`, where psycopg would adapt every
        element of typed arrays in Python), the statement's text the same for every batch size,
        and, inlined, the planner sees how many rows it joins (a materialized CTE once made it
        scan the status index instead of the primary key). SQLite: `(VALUES (%s, ...), ...)`.
        """
        if self.postgres:
            data = [[_JSON_VALUE[t](v) for v, t in zip(row, types, strict=True)] for row in rows]
            return _json_rows(types), [json.dumps(data)]
        params = [self._sqlite_value(v, t) for row in rows for v, t in zip(row, types, strict=True)]
        row = "(" + ", ".join(["%s"] * len(types)) + ")"
        return "(VALUES " + ", ".join([row] * len(rows)) + ")", params

    def _sqlite_value(self, value: Any, type_: str) -> Any:
        if type_ == "uuid":
            return self._pk.get_db_prep_value(value, self.connection)
        if type_ == "timestamptz":
            return None if value is None else self.datetime(value)
        if type_ == "interval":
            return self._duration.get_db_prep_value(value, self.connection)
        if type_ == "jsonb":
            return self._result.get_db_prep_save(value, self.connection)
        return value

    def datetime(self, value: dt.datetime) -> Any:
        return self.connection.ops.adapt_datetimefield_value(value)

    def uuids(self, rows: list[tuple[Any, ...]]) -> set[uuid.UUID]:
        """The job ids of rows RETURNING them first."""
        return {self.uuid(row[0]) for row in rows}

    def uuid(self, value: Any) -> uuid.UUID:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
