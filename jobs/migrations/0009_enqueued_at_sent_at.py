"""The fields named as the admin labels them: "Enqueued at" and "Sent at", and their indexes.

In the database: two column renames and six index renames (no table rewrite, no index rebuilt
on PostgreSQL). In Django's state the indexes and ordering also name the new fields.
"""

from django.db import migrations, models

# Indexes first: on SQLite a renamed index is rebuilt from its definition, which names the
# old columns until the fields are renamed.
RENAMES = [
    migrations.RenameIndex(
        model_name="job", new_name="job_status_enqueued", old_name="job_status_created"
    ),
    migrations.RenameIndex(
        model_name="job", new_name="job_actor_enqueued", old_name="job_actor_created"
    ),
    migrations.RenameIndex(
        model_name="job", new_name="job_queue_enqueued", old_name="job_queue_created"
    ),
    migrations.RenameIndex(model_name="job", new_name="job_enqueued", old_name="job_created"),
    migrations.RenameIndex(
        model_name="job", new_name="job_failed_actor_enqueued", old_name="job_failed_actor_created"
    ),
    migrations.RenameIndex(
        model_name="job", new_name="job_failed_queue_enqueued", old_name="job_failed_queue_created"
    ),
    migrations.RenameField(model_name="job", old_name="created_at", new_name="enqueued_at"),
    migrations.RenameField(model_name="job", old_name="queued_at", new_name="sent_at"),
]


class Migration(migrations.Migration):
    dependencies = [("jobs", "0008_worker_process")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=RENAMES,
            state_operations=[
                *RENAMES,
                migrations.AlterModelOptions(
                    name="job",
                    options={
                        "ordering": ["-enqueued_at"],
                        "permissions": [
                            ("view_job_payload", "Can view job arguments and results"),
                            ("retry_job", "Can retry jobs and run them again"),
                            ("cancel_job", "Can cancel jobs"),
                        ],
                    },
                ),
                migrations.RemoveIndex(
                    model_name="job",
                    name="job_status_enqueued",
                ),
                migrations.RemoveIndex(
                    model_name="job",
                    name="job_actor_enqueued",
                ),
                migrations.RemoveIndex(
                    model_name="job",
                    name="job_queue_enqueued",
                ),
                migrations.RemoveIndex(
                    model_name="job",
                    name="job_enqueued",
                ),
                migrations.RemoveIndex(
                    model_name="job",
                    name="job_failed_actor_enqueued",
                ),
                migrations.RemoveIndex(
                    model_name="job",
                    name="job_failed_queue_enqueued",
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(
                        fields=["status", "-enqueued_at"], name="job_status_enqueued"
                    ),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(
                        fields=["actor_name", "-enqueued_at"], name="job_actor_enqueued"
                    ),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(
                        fields=["queue_name", "-enqueued_at"], name="job_queue_enqueued"
                    ),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(fields=["-enqueued_at"], name="job_enqueued"),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(
                        condition=models.Q(("status", "failed")),
                        fields=["actor_name", "-enqueued_at"],
                        name="job_failed_actor_enqueued",
                    ),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(
                        condition=models.Q(("status", "failed")),
                        fields=["queue_name", "-enqueued_at"],
                        name="job_failed_queue_enqueued",
                    ),
                ),
            ],
        ),
    ]
