"""Thumbnails of an uploaded image, written through Django's storage API (CPU and file work:
the async actor runs this in a thread, off the event loop)."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

from .memory import image_work
from .models import UploadedImage, thumbnail_path


class BadImageError(Exception):
    """The stored original cannot be decoded: retrying would not help."""


def make_thumbnails(image: UploadedImage) -> dict[str, str]:
    """Write each size's thumbnail (WebP, orientation applied); returns storage names by size.
    Overwrites what an earlier attempt of the same job wrote, so a retry makes no duplicates."""
    with image.original.open("rb") as original:
        encoded = thumbnails_of(original)
    names: dict[str, str] = {}
    for size, data in encoded.items():
        name = thumbnail_path(image, size)
        default_storage.delete(name)
        names[str(size)] = default_storage.save(name, ContentFile(data))
    return names


def thumbnails_of(original: Any) -> dict[int, bytes]:
    """Each size's thumbnail of an image file, WebP-encoded, decoded within the process's
    image memory bounds (memory.py)."""
    sizes = sorted(settings.IMAGE_THUMBNAIL_SIZES, reverse=True)
    encoded: dict[int, bytes] = {}
    with image_work():
        try:
            with Image.open(original) as decoded:
                # A JPEG decodes at 1/2, 1/4 or 1/8 of its size when that still covers the
                # largest thumbnail: a fraction of the memory and time.
                decoded.draft(None, (sizes[0], sizes[0]))
                decoded.load()
                picture = ImageOps.exif_transpose(decoded)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            # Damaged pixels (or a missing original): another attempt would read the same bytes.
            raise BadImageError(f"The image cannot be decoded: {exc}") from exc
        if picture.mode not in ("RGB", "RGBA"):
            picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
        for size in sizes:
            picture.thumbnail((size, size))  # in place, largest first: each from the last
            buffer = io.BytesIO()
            picture.save(buffer, "WEBP", quality=80)
            encoded[size] = buffer.getvalue()
        del picture
    return encoded
