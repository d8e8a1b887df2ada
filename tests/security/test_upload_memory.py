"""Item 8: image work is bounded per worker process (decodes at once, JPEGs decoded small) and
each user's originals are capped by a storage quota. The worker's RSS for eight 6300x6300
uploads is measured by bench/image_memory.py (docs/PERFORMANCE.md), not asserted here."""

from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.test import Client
from PIL import Image, ImageOps

from images import memory, thumbnails
from images.models import UploadedImage
from jobs.models import Job
from tests.images.conftest import noise_png

pytestmark = pytest.mark.django_db


def encoded(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 60, 90)).save(buffer, fmt)
    return buffer.getvalue()


class Decodes(list[tuple[int, int]]):
    """The size of each image as decoded; in_flight: [decodes now, most at once]."""

    in_flight: list[int]


@pytest.fixture
def decoded_sizes(monkeypatch: Any) -> Decodes:
    sizes = Decodes()
    sizes.in_flight = in_flight = [0, 0]
    lock = threading.Lock()
    real = ImageOps.exif_transpose

    def counted(image: Any, **kwargs: Any) -> Any:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
            sizes.append(image.size)
        time.sleep(0.05)  # hold the decoded image, as the resizing does
        with lock:
            in_flight[0] -= 1
        return real(image, **kwargs)

    monkeypatch.setattr(ImageOps, "exif_transpose", counted)
    return sizes


@pytest.mark.parametrize("allowed", [1, 2])
def test_a_process_decodes_at_most_the_allowed_images_at_once(settings, decoded_sizes, allowed):
    settings.IMAGE_DECODES_PER_PROCESS = allowed
    memory._decodes.cache_clear()
    png = encoded("PNG", (800, 600))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: thumbnails.thumbnails_of(io.BytesIO(png)), range(8)))

    memory._decodes.cache_clear()
    assert len(results) == 8 and all(set(r) == {128, 512} for r in results)
    assert decoded_sizes.in_flight[1] == allowed


def test_a_big_jpeg_is_decoded_at_a_fraction_of_its_size(decoded_sizes):
    thumbs = thumbnails.thumbnails_of(io.BytesIO(encoded("JPEG", (4000, 3000))))

    assert decoded_sizes == [(1000, 750)]  # 1/4: still covers the 512-pixel thumbnail
    assert Image.open(io.BytesIO(thumbs[512])).size == (512, 384)


def test_uploads_past_the_storage_quota_are_refused_with_413(settings, alice: Any):
    first, second = noise_png((300, 300)), noise_png((300, 300))
    # Room for the first and a little more: noise PNGs of one size differ by a few bytes.
    settings.IMAGE_STORAGE_QUOTA_BYTES = (first.size or 0) + (second.size or 0) // 2
    client = Client()
    client.force_login(alice)

    ok = client.post("/images", {"image": first}, headers={"Accept": "application/json"})
    over = client.post("/images", {"image": second}, headers={"Accept": "application/json"})
    page = client.post("/images", {"image": noise_png((300, 300))})

    assert ok.status_code == 202
    assert over.status_code == page.status_code == 413
    assert "does not fit" in json.loads(over.content)["errors"]["image"][0]
    assert "does not fit" in page.content.decode()
    assert UploadedImage.objects.count() == Job.objects.count() == 1
    assert UploadedImage.objects.get().size == first.size
