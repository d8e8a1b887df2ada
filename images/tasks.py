"""The image actor: `async def`, run by the same rundramatiq workers as the sync actors."""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq

from .models import ImageStatus, UploadedImage
from .thumbnails import BadImageError, make_thumbnails


def image_failed(image_id: str, *, error: str) -> None:
    """The ledger failed the job for good (a bad image, or its retries spent)."""
    UploadedImage.objects.filter(pk=image_id).update(status=ImageStatus.FAILED, error=error)


@dramatiq.actor(
    max_retries=3,
    min_backoff=1000,
    time_limit=2 * 60 * 1000,
    throws=(BadImageError,),
    on_final_failure=image_failed,
)
async def process_image(image_id: str) -> dict[str, Any]:
    """Make the image's thumbnails; returns their storage names (references, not the bytes)."""
    image = await UploadedImage.objects.filter(pk=image_id).afirst()
    if image is None:
        return {"deleted": True}  # deleted before it ran
    await UploadedImage.objects.filter(pk=image_id).aupdate(status=ImageStatus.PROCESSING)
    try:
        # Pillow and the storage block: in a thread, so the loop serves other async jobs.
        thumbnails = await asyncio.to_thread(make_thumbnails, image)
    except Exception:
        # Waiting for another attempt, if the ledger decides there is one (image_failed).
        await UploadedImage.objects.filter(pk=image_id).aupdate(
            status=ImageStatus.WAITING, error=""
        )
        raise
    await UploadedImage.objects.filter(pk=image_id).aupdate(
        status=ImageStatus.READY, thumbnails=thumbnails, error=""
    )
    return {"thumbnails": thumbnails}
