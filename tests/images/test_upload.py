"""POST /images: every refusal is a clear 400 (413 over the size) before any job exists; a good
upload is one image row and one job; thumbnails go to their owner only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.shortcuts import resolve_url
from django.test import Client

from images.models import UploadedImage
from jobs.models import Job
from tests.images.conftest import declared_png, image_file, noise_png

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


@pytest.fixture
def client_of_alice(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def refused(response: Any, status: int, text: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert text in json.loads(response.content)["errors"]["image"][0]
    assert not Job.objects.exists() and not UploadedImage.objects.exists()


def test_a_good_upload_answers_202_with_the_job_for_json_callers(client_of_alice: Client, alice):
    response = client_of_alice.post("/images", {"image": image_file("JPEG")}, headers=JSON)

    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}"
    image = UploadedImage.objects.get()
    assert (image.owner, image.format, image.width, image.height) == (alice, "JPEG", 640, 480)
    assert (job.actor_name, job.args, job.about_id) == (
        "process_image",
        [str(image.pk)],
        str(image.pk),
    )
    assert json.loads(response.content)["image_id"] == str(image.pk)


def test_the_form_redirects_to_the_list_and_shows_errors_on_the_page(client_of_alice: Client):
    response = client_of_alice.post(
        "/images", {"image": image_file("PNG", name="<img src=x onerror=alert(1)>.png")}
    )
    assert response.status_code == 302 and response["Location"].startswith("/images#image-")
    page = client_of_alice.get("/images").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in page and "<img src=x" not in page

    whole = image_file("PNG").read()
    cut = SimpleUploadedFile("cut.png", whole[: len(whole) // 2])
    response = client_of_alice.post("/images", {"image": cut})
    assert response.status_code == 400
    assert "damaged or truncated" in response.content.decode()


def test_a_file_that_is_not_an_image(client_of_alice: Client):
    text = SimpleUploadedFile("notes.png", b"just some text, not pixels")
    refused(client_of_alice.post("/images", {"image": text}, headers=JSON), 400, "not an image")


def test_a_format_that_is_not_accepted(client_of_alice: Client):
    refused(
        client_of_alice.post("/images", {"image": image_file("BMP")}, headers=JSON),
        400,
        "BMP images are not accepted: upload JPEG, PNG, WebP, GIF.",
    )


def test_a_file_over_the_size_limit_gets_413(client_of_alice: Client, settings):
    settings.IMAGE_MAX_BYTES = 20_000
    refused(
        client_of_alice.post("/images", {"image": noise_png((100, 100))}, headers=JSON),
        413,
        "over the limit of 20,000 bytes",
    )
    # A body far over it is refused before it is read, JSON to JSON callers.
    response = client_of_alice.post("/images", {"image": noise_png((200, 200))}, headers=JSON)
    assert response.status_code == 413
    assert "over the limit" in json.loads(response.content)["errors"]["body"][0]


def test_a_decompression_bomb_is_refused_from_its_header(client_of_alice: Client):
    refused(
        client_of_alice.post("/images", {"image": declared_png(50_000, 50_000)}, headers=JSON),
        400,
        "decompression bomb",
    )


def test_a_pixel_count_over_the_limit(client_of_alice: Client, settings):
    settings.IMAGE_MAX_PIXELS = 100_000
    refused(
        client_of_alice.post("/images", {"image": image_file("PNG", (400, 300))}, headers=JSON),
        400,
        "400×300 (120,000 pixels), over the limit of 100,000 pixels",
    )


def test_a_missing_file_and_a_json_body_get_clear_errors(client_of_alice: Client):
    refused(client_of_alice.post("/images", {}, headers=JSON), 400, "Choose an image file")
    response = client_of_alice.post("/images", b"{}", content_type="application/json")
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_anonymous_callers_are_sent_to_log_in(client: Client, settings):
    assert client.get("/images")["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next=/images"
    response = client.post("/images", {"image": image_file()}, headers=JSON)
    assert response.status_code == 401 and "Log in" in response.content.decode()


def test_uploads_per_user_are_limited(client_of_alice: Client, settings):
    settings.IMAGE_RATE_PER_USER = "2/h"
    codes = [
        client_of_alice.post("/images", {"image": image_file()}, headers=JSON).status_code
        for _ in range(3)
    ]
    assert codes == [202, 202, 429]


def test_status_and_thumbnails_are_their_owners_only(client_of_alice: Client, bob):
    client_of_alice.post("/images", {"image": image_file()}, headers=JSON)
    image = UploadedImage.objects.get()
    other = Client()
    other.force_login(bob)

    assert client_of_alice.get(f"/images/{image.pk}/status").status_code == 200
    assert other.get(f"/images/{image.pk}/status").status_code == 404
    assert client_of_alice.get(f"/images/{image.pk}/thumbnails/128").status_code == 404  # not yet
