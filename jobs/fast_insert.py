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
from typing import Any, cast

from django.db import connections, models

#: Parent ids per INSERT ... SELECT: well under SQLite's limit of bound parameters.
CHUNK = 500

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


def insert_for_each(
    model: type[models.Model],
    *,
    parent: str,
    parent_ids: Sequence[Any],
    values: dict[str, Any],
    from_parent: dict[str, str] | None = None,
    using: str = "default",
) -> None:
    """Insert one `model` row per id in `parent_ids`, `parent` being its foreign key to them:
    `values` for the named fields, the parent row's field for those in `from_parent` (field
    name -> parent's field name), every other field its default. One INSERT ... SELECT per
    CHUNK ids, without a model instance per row (the events of a bulk enqueue)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    foreign_key = cast("models.ForeignKey[Any, Any]", model._meta.get_field(parent))
    parent_meta = cast(type[models.Model], foreign_key.related_model)._meta
    copied = {
        name: str(cast("models.Field[Any, Any]", parent_meta.get_field(source)).column)
        for name, source in (from_parent or {}).items()
    }
    columns: list[str] = []
    selected: list[str] = []
    params: list[Any] = []
    for field in model._meta.concrete_fields:
        if field.generated or (field.primary_key and isinstance(field, models.AutoField)):
            continue
        columns.append(quote(str(field.column)))
        if field.name == parent:
            selected.append(quote(str(foreign_key.target_field.column)))
        elif field.name in copied:
            selected.append(quote(copied[field.name]))
        else:
            value = values[field.name] if field.name in values else field.get_default()
            selected.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    pk = parent_meta.pk
    ids = [pk.get_db_prep_value(i, connection) for i in parent_ids]
    head = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(selected)} FROM {quote(parent_meta.db_table)} "
        f"WHERE {quote(str(pk.column))} IN "
    )
    with connection.cursor() as cursor:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            cursor.execute(f"{head}({', '.join(['%s'] * len(chunk))})", [*params, *chunk])


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
