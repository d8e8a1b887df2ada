"""insert_rows(): INSERT new model instances with SQL built once per model, not per call.

`Model.save()` compiles its INSERT anew every time (about 0.2 ms of Python each), which was
most of what `enqueue()` added to a request (docs/PERFORMANCE.md). This sends the same values
(every concrete field's `pre_save` and `get_db_prep_save`, as Django would) through a
statement cached per model and database vendor; on PostgreSQL all rows go in one statement
(one round trip; foreign keys between them are checked at its end). An auto-increment primary
key left empty is assigned by the database and not read back. No signals are sent: the
ledger's models have no receivers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models

_statements: dict[tuple[type[models.Model], str], tuple[str, tuple[Any, ...]]] = {}


def insert_rows(*objs: models.Model, using: str = "default") -> None:
    """Insert these new instances, in this order."""
    connection = connections[using]
    statements: list[tuple[str, list[Any]]] = []
    for obj in objs:
        sql, fields = _insert_sql(type(obj), connection)
        statements.append((sql, _values(obj, fields, connection)))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(statements) > 1:
            ctes = ", ".join(f"r{n} AS ({sql})" for n, (sql, _) in enumerate(statements[:-1]))
            params = [value for _, values in statements for value in values]
            cursor.execute(f"WITH {ctes} {statements[-1][0]}", params)
            return
        for sql, values in statements:
            cursor.execute(sql, values)


def insert_many(objs: Sequence[models.Model], using: str = "default") -> None:
    """Insert many new instances of one model: the cached statement, `executemany` (one
    prepared statement stepped per row on SQLite, pipelined by psycopg on PostgreSQL), where
    bulk_create builds and parses a statement per 999 values."""
    if not objs:
        return
    connection = connections[using]
    sql, fields = _insert_sql(type(objs[0]), connection)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [_values(obj, fields, connection) for obj in objs])


def _values(obj: models.Model, fields: tuple[Any, ...], connection: Any) -> list[Any]:
    """The row's values as Django's INSERT would send them."""
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def _insert_sql(model: type[models.Model], connection: Any) -> tuple[str, tuple[Any, ...]]:
    key = (model, connection.vendor)
    if key not in _statements:  # a handful of entries: one per model and vendor
        fields = tuple(
            f
            for f in model._meta.concrete_fields
            if not f.generated and not (f.primary_key and isinstance(f, models.AutoField))
        )
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        table = quote(model._meta.db_table)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        _statements[key] = (sql, fields)
    return _statements[key]
