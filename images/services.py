"""Use cases of images: one function each, in one transaction with their job."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from jobs import Job, enqueue

from .forms import ImageInfo
from .models import UploadedImage
from .tasks import process_image


def upload_image(
    owner: Any, upload: UploadedFile[Any], info: ImageInfo
) -> tuple[UploadedImage, Job]:
    """Store the original and enqueue its thumbnails: the row and the job commit together."""
    image = UploadedImage(
        owner=owner,
        name=(upload.name or "image")[:255],
        format=info.format,
        width=info.width,
        height=info.height,
    )
    try:
        with transaction.atomic():
            image.original.save("original", upload, save=False)  # named by original_path
            image.save()
            job = enqueue(process_image, str(image.pk), about=image, caused_by=owner)
    except BaseException:
        if image.original:
            image.original.delete(save=False)  # rolled back: no file without its row
        raise
    return image, job
