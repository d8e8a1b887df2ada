"""insert_rows(): INSERT new model instances with SQL built once per model, not per call.

`Model.save()` compiles its INSERT anew every time (about 0.2 ms of Python each), which was
most of what `enqueue()` added to a request (docs/PERFORMANCE.md). This sends the same values
(as Django would: every concrete field's `pre_save` and `get_db_prep_save`, except the plain
text and NULL values these pass through unchanged) through a statement cached per model and
database vendor; on PostgreSQL all rows go in one statement
(one round trip; foreign keys between them are checked at its end). An auto-increment primary
key left empty is assigned by the database and not read back. No signals are sent: the
ledger's models have no receivers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models

#: How a field's value is prepared (`_values`): through the field, or as it is when it is
#: plain text of a plain text field, or None of a nullable field (Django sends those unchanged).
_FULL, _TEXT, _NULLABLE = 0, 1, 2
#: Field classes (exactly these, not subclasses) whose str values Django sends unchanged.
_TEXT_FIELDS = (models.CharField, models.TextField)


@dataclass(frozen=True)
class _Statement:
    """What inserting a model's rows needs, worked out once per model and database vendor."""

    insert: str  # INSERT ... VALUES (%s, ...)
    copy: str  # COPY ... FROM STDIN (PostgreSQL)
    columns: tuple[str, ...]  # quoted, in `plan` order
    plan: tuple[tuple[Any, int], ...]  # each inserted field and its preparation (_FULL, ...)


_statements: dict[tuple[type[models.Model], str], _Statement] = {}


def insert_rows(*objs: models.Model, using: str = "default") -> None:
    """Insert these new instances, in this order."""
    connection = connections[using]
    statements: list[tuple[str, list[Any]]] = []
    for obj in objs:
        statement = _statement(type(obj), connection)
        statements.append((statement.insert, _values(obj, statement.plan, connection)))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(statements) > 1:
            ctes = ", ".join(f"r{n} AS ({sql})" for n, (sql, _) in enumerate(statements[:-1]))
            params = [value for _, values in statements for value in values]
            cursor.execute(f"WITH {ctes} {statements[-1][0]}", params)
            return
        for sql, values in statements:
            cursor.execute(sql, values)


def insert_many(objs: Sequence[models.Model], using: str = "default") -> None:
    """Insert many new instances of one model: on SQLite the cached statement through
    `executemany` (one prepared statement stepped per row), on PostgreSQL one COPY, where
    bulk_create builds and parses a statement per 999 values."""
    if not objs:
        return
    connection = connections[using]
    statement = _statement(type(objs[0]), connection)
    rows = [_values(obj, statement.plan, connection) for obj in objs]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: one stream for all rows, where executemany binds and executes each.
            with cursor.cursor.copy(statement.copy) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cursor.executemany(statement.insert, rows)


def _values(obj: models.Model, plan: tuple[tuple[Any, int], ...], connection: Any) -> list[Any]:
    """The row's values as Django's INSERT would send them: plain text and NULLs as they are
    (most of a ledger row), the rest through the fields' `pre_save` and `get_db_prep_save`."""
    row = []
    for field, preparation in plan:
        if preparation:
            value = getattr(obj, field.attname)
            if (value is None) if preparation == _NULLABLE else isinstance(value, str):
                row.append(value)
                continue
        row.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return row


def _preparation(field: Any) -> int:
    """_TEXT for a plain text field, _NULLABLE for a nullable field that neither fills itself in
    on save nor stores None as JSON null, else _FULL."""
    fills_itself = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if type(field) in _TEXT_FIELDS and not field.null:
        return _TEXT
    if field.null and not fills_itself and not isinstance(field, models.JSONField):
        return _NULLABLE
    return _FULL


def _statement(model: type[models.Model], connection: Any) -> _Statement:
    key = (model, connection.vendor)
    if key not in _statements:  # a handful of entries: one per model and vendor
        fields = [
            f
            for f in model._meta.concrete_fields
            if not f.generated and not (f.primary_key and isinstance(f, models.AutoField))
        ]
        quote = connection.ops.quote_name
        columns = tuple(quote(f.column) for f in fields)
        table = quote(model._meta.db_table)
        placeholders = ", ".join(["%s"] * len(fields))
        _statements[key] = _Statement(
            insert=f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
            copy=f"COPY {table} ({', '.join(columns)}) FROM STDIN",
            columns=columns,
            plan=tuple((f, _preparation(f)) for f in fields),
        )
    return _statements[key]
