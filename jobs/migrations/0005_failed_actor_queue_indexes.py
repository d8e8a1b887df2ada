"""Partial indexes on failed jobs by actor and by queue: the admin's list filtered to failed + one
actor or queue otherwise reads every failed job of the retention period (docs/PERFORMANCE.md).

Built CONCURRENTLY on PostgreSQL, so a large ledger keeps taking writes while they are built
(hence a non-atomic migration); a plain CREATE INDEX elsewhere.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

INDEXES = [
    models.Index(
        condition=models.Q(status="failed"),
        fields=["actor_name", "-created_at"],
        name="job_failed_actor_created",
    ),
    models.Index(
        condition=models.Q(status="failed"),
        fields=["queue_name", "-created_at"],
        name="job_failed_queue_created",
    ),
]


def create(apps: Any, schema_editor: Any) -> None:
    job = apps.get_model("jobs", "Job")
    for index in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(index.create_sql(job, schema_editor, concurrently=True))
        else:
            schema_editor.add_index(job, index)


def drop(apps: Any, schema_editor: Any) -> None:
    job = apps.get_model("jobs", "Job")
    for index in INDEXES:
        schema_editor.remove_index(job, index)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("jobs", "0004_finished_per_hour")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[
                migrations.AddIndex(model_name="job", index=index) for index in INDEXES
            ],
        )
    ]
