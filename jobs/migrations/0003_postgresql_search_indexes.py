"""PostgreSQL only: a GIN index on job arguments, so searching an email among them is indexed.

A RunPython, not a model index: SQLite has no GIN (and at the embedded default's sizes a scan is
fast). jsonb_path_ops: smaller and cheaper to maintain than the default opclass; it serves the
`args @> '["x"]'` containment the admin's email search uses.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS job_args_gin ON jobs_job USING gin (args jsonb_path_ops)"
        )


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS job_args_gin")


class Migration(migrations.Migration):
    dependencies = [("jobs", "0002_operator_actions_and_redaction")]

    operations = [migrations.RunPython(create, drop)]
