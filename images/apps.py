from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from PIL import Image

from .memory import fix_mmap_threshold


class ImagesConfig(AppConfig):
    name = "images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Pillow refuses to decode more pixels than twice this (a decompression bomb), in the web
        # and in the workers; uploads over it are refused before any job exists (forms.py).
        Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS
        fix_mmap_threshold()
