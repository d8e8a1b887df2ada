"""Thumbnails of an uploaded image, written through Django's storage API (CPU and file work:
the async actor runs this in a thread, off the event loop)."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

from .models import UploadedImage, thumbnail_path


class BadImageError(Exception):
    """The stored original cannot be decoded: retrying would not help."""


def make_thumbnails(image: UploadedImage) -> dict[str, str]:
    """Write each size's thumbnail (WebP, orientation applied); returns storage names by size.
    Overwrites what an earlier attempt of the same job wrote, so a retry makes no duplicates."""
    try:
        with image.original.open("rb") as original, Image.open(original) as decoded:
            decoded.load()
            picture = ImageOps.exif_transpose(decoded)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # Damaged pixels (or a missing original): another attempt would read the same bytes.
        raise BadImageError(f"The image cannot be decoded: {exc}") from exc
    if picture.mode not in ("RGB", "RGBA"):
        picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
    names: dict[str, str] = {}
    for size in sorted(settings.IMAGE_THUMBNAIL_SIZES, reverse=True):
        picture.thumbnail((size, size))  # in place, largest first: each from the last
        buffer = io.BytesIO()
        picture.save(buffer, "WEBP", quality=80)
        name = thumbnail_path(image, size)
        default_storage.delete(name)
        names[str(size)] = default_storage.save(name, ContentFile(buffer.getvalue()))
    return names
