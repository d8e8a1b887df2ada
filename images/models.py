"""An uploaded picture and the thumbnails its job makes."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class ImageStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    PROCESSING = "processing", "Making thumbnails"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def original_path(image: UploadedImage, filename: str) -> str:
    # Never the uploaded name (it is shown, escaped, but not trusted as a path).
    return f"images/{image.owner_id}/{image.pk}/original.{image.format.lower()}"


def thumbnail_path(image: UploadedImage, size: int) -> str:
    return f"images/{image.owner_id}/{image.pk}/thumbnail-{size}.webp"


class UploadedImage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    original = models.FileField(upload_to=original_path, max_length=255)
    name = models.CharField("uploaded as", max_length=255)
    #: The original's bytes, counted against its owner's IMAGE_STORAGE_QUOTA_BYTES.
    size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=ImageStatus.choices, default=ImageStatus.WAITING
    )
    #: Thumbnail storage names by size in pixels ("128": "images/.../thumbnail-128.webp").
    thumbnails = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="image_owner_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.width}×{self.height})"

    def get_absolute_url(self) -> str:
        return f"{reverse('images:list')}#image-{self.pk}"

    def state(self) -> dict[str, Any]:
        """What the page and JSON callers see of it."""
        return {
            "id": str(self.pk),
            "name": self.name,
            "status": self.status,
            "status_label": self.get_status_display(),
            "error": self.error,
            "width": self.width,
            "height": self.height,
            "thumbnails": {
                size: reverse("images:thumbnail", args=[self.pk, int(size)])
                for size in sorted(self.thumbnails, key=int)
            },
            "status_url": reverse("images:status", args=[self.pk]),
        }
