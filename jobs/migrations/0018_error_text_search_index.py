"""PostgreSQL only: a trigram index on the error text of failed and retrying jobs, so pasting an
error message into the admin's search is indexed at any size (docs/PERFORMANCE.md).

On `UPPER(last_error)`: Django's `icontains` is `UPPER(col::text) LIKE UPPER('%...%')`. Partial
(`last_error <> ''`): a job that never fails never writes to it. pg_trgm is a trusted extension
(PostgreSQL 13+); where the database user may not create it, the index is skipped with a warning
and the search still works, by a scan.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        logger.warning(
            "pg_trgm could not be created (ask your database administrator for "
            "CREATE EXTENSION pg_trgm): searching error text scans the job table."
        )
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS job_error_text_trgm ON jobs_job "
        "USING gin ((UPPER(last_error)) gin_trgm_ops) WHERE last_error <> ''"
    )


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS job_error_text_trgm")


class Migration(migrations.Migration):
    dependencies = [("jobs", "0017_alert_deliveries")]

    operations = [migrations.RunPython(create, drop)]
