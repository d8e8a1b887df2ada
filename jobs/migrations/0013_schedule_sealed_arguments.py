"""Schedules keep secret arguments sealed, as jobs do: existing rows are sealed here, and their
stored declarations lose the clear values (the next worker tick stores them redacted)."""

from django.db import migrations, models

from jobs.ledger.redaction import seal_arguments


def seal_existing(apps, schema_editor):
    Schedule = apps.get_model("jobs", "Schedule")
    for schedule in Schedule.objects.all():
        stored = seal_arguments(schedule.actor_name, schedule.args, schedule.kwargs)
        declared = dict(schedule.declared or {})
        if declared:
            shown = seal_arguments(
                schedule.actor_name, declared.get("args", []), declared.get("kwargs", {})
            )
            declared["args"], declared["kwargs"] = shown.args, shown.kwargs
        Schedule.objects.filter(pk=schedule.pk).update(
            args=stored.args,
            kwargs=stored.kwargs,
            sealed_arguments=stored.sealed,
            declared=declared,
        )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0012_schedules_and_alerts")]

    operations = [
        migrations.AddField(
            model_name="schedule",
            name="sealed_arguments",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop),
    ]
