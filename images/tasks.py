"""The image actor: `async def`, run by the same rundramatiq workers as the sync actors."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from .models import ImageStatus, UploadedImage
from .thumbnails import BadImageError, make_thumbnails


@dramatiq.actor(max_retries=3, min_backoff=1000, time_limit=2 * 60 * 1000, throws=(BadImageError,))
async def process_image(image_id: str) -> dict[str, Any]:
    """Make the image's thumbnails; returns their storage names (references, not the bytes)."""
    image = await UploadedImage.objects.filter(pk=image_id).afirst()
    if image is None:
        return {"deleted": True}  # deleted before it ran
    await UploadedImage.objects.filter(pk=image_id).aupdate(status=ImageStatus.PROCESSING)
    try:
        # Pillow and the storage block: in a thread, so the loop serves other async jobs.
        thumbnails = await asyncio.to_thread(make_thumbnails, image)
    except Exception as exc:
        message = CurrentMessage.get_current_message()
        retries = message.options.get("retries", 0) if message else 0
        final = isinstance(exc, BadImageError) or retries >= process_image.options["max_retries"]
        await UploadedImage.objects.filter(pk=image_id).aupdate(
            status=ImageStatus.FAILED if final else ImageStatus.WAITING,
            error=str(exc) if final else "",
        )
        raise
    await UploadedImage.objects.filter(pk=image_id).aupdate(
        status=ImageStatus.READY, thumbnails=thumbnails, error=""
    )
    return {"thumbnails": thumbnails}
