"""Use cases of images: one function each, in one transaction with their job."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Sum

from jobs import Job, enqueue

from .forms import ImageInfo
from .models import UploadedImage
from .tasks import process_image


class StorageQuotaExceededError(Exception):
    """The upload would take its owner past IMAGE_STORAGE_QUOTA_BYTES."""


def upload_image(
    owner: Any, upload: UploadedFile[Any], info: ImageInfo
) -> tuple[UploadedImage, Job]:
    """Store the original and enqueue its thumbnails: the row and the job commit together.
    Raises StorageQuotaExceededError if the owner's originals would pass their quota."""
    size = int(upload.size or 0)
    image = UploadedImage(
        owner=owner,
        name=(upload.name or "image")[:255],
        format=info.format,
        width=info.width,
        height=info.height,
        size=size,
    )
    try:
        with transaction.atomic():
            # The owner's row locked: two uploads at once cannot both take the last room.
            get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
            used = UploadedImage.objects.filter(owner=owner).aggregate(used=Sum("size"))["used"]
            quota = settings.IMAGE_STORAGE_QUOTA_BYTES
            if (used or 0) + size > quota:
                raise StorageQuotaExceededError(
                    f"Your images take {(used or 0) / 1e6:.1f} MB of your {quota / 1e6:.0f} MB: "
                    f"this one ({size / 1e6:.1f} MB) does not fit."
                )
            image.original.save("original", upload, save=False)  # named by original_path
            image.save()
            job = enqueue(process_image, str(image.pk), about=image, caused_by=owner)
    except BaseException:
        if image.original:
            image.original.delete(save=False)  # rolled back: no file without its row
        raise
    return image, job
