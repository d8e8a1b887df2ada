"""Each image's original size in bytes, for the per-user storage quota (existing rows measured
from their stored files)."""

from django.core.files.storage import default_storage
from django.db import migrations, models


def measure_existing(apps, schema_editor):
    UploadedImage = apps.get_model("images", "UploadedImage")
    for image in UploadedImage.objects.exclude(original="").iterator():
        try:
            size = default_storage.size(image.original.name)
        except OSError:
            continue  # a missing original takes no room
        UploadedImage.objects.filter(pk=image.pk).update(size=size)


class Migration(migrations.Migration):
    dependencies = [("images", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="uploadedimage",
            name="size",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(measure_existing, migrations.RunPython.noop),
    ]
