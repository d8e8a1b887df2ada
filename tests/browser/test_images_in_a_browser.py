"""The image upload page in headless Chromium: a refused file's error, then a photo uploaded,
its progress, and its thumbnails made by the async actor on a real worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from accounts.models import User
from images.models import UploadedImage
from tests.conftest import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def photo(path: Path) -> Path:
    """A landscape-ish picture: sky, sun, hills."""
    image = Image.new("RGB", (1200, 800))
    draw = ImageDraw.Draw(image)
    for y in range(800):
        draw.line([(0, y), (1200, y)], fill=(70 + y // 8, 130 + y // 10, 220 - y // 8))
    draw.ellipse([850, 120, 1030, 300], fill=(255, 214, 90))
    draw.polygon(
        [(0, 800), (0, 560), (300, 430), (650, 600), (1200, 470), (1200, 800)], fill=(60, 130, 70)
    )
    image.save(path, "JPEG", quality=90)
    return path


def test_a_user_uploads_an_image_and_sees_its_thumbnails(
    page: Page,
    live_server: Any,
    worker: WorkerProcess,
    alice: User,
    screenshot: Any,
    tmp_path: Path,
):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "alice@example.com")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/images")

    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    page.set_input_files("input[name=image]", str(notes))
    page.click("button[type=submit]")
    expect(page.locator(".errorlist")).to_contain_text("not an image we can read")
    assert not UploadedImage.objects.exists()

    page.set_input_files("input[name=image]", str(photo(tmp_path / "hills.jpg")))
    page.click("button[type=submit]")
    image = UploadedImage.objects.get()
    card = page.locator(f"#image-{image.pk}")
    expect(card.locator(".status")).to_have_text("Ready", timeout=30_000)
    expect(card.locator(".thumbnails img")).to_have_count(2)
    # Each image's size once the browser has loaded it (decode() waits for that): read at once,
    # a thumbnail still loading is 0 wide.
    widths = card.locator(".thumbnails img").evaluate_all(
        "imgs => Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth)))"
    )
    assert sorted(widths) == [128, 512]
    expect(card).to_contain_text("hills.jpg")
    screenshot(page, "images-upload")
