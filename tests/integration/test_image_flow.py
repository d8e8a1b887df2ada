"""The image flow end to end on a real worker: upload, the async actor's thumbnails, download
by the owner only; an image that cannot be decoded fails visibly without retries."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from images.models import ImageStatus, UploadedImage
from jobs import result
from jobs.models import JobStatus
from tests.conftest import WorkerProcess, wait_until_final
from tests.images.conftest import declared_png, image_file

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def upload(client: Client, file: Any) -> tuple[str, str]:
    response = client.post("/images", {"image": file}, HTTP_ACCEPT="application/json")
    assert response.status_code == 202, response.content
    body = json.loads(response.content)
    return body["image_id"], body["job_id"]


def test_an_upload_is_thumbnailed_by_the_async_actor_and_served_to_its_owner(
    worker: WorkerProcess, alice: Any, bob: Any
):
    client = Client()
    client.force_login(alice)
    image_id, job_id = upload(client, image_file("JPEG", (1600, 900)))

    thumbnails = result(job_id, timeout=60)["thumbnails"]
    job = wait_until_final(job_id, worker)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    image = UploadedImage.objects.get(pk=image_id)
    assert image.status == ImageStatus.READY and image.thumbnails == thumbnails

    state = json.loads(client.get(f"/images/{image_id}/status").content)
    for size, url in state["thumbnails"].items():
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/webp"
        with Image.open(io.BytesIO(response.getvalue())) as thumb:
            assert thumb.format == "WEBP" and max(thumb.size) == int(size)
            assert thumb.size[0] / thumb.size[1] == pytest.approx(16 / 9, rel=0.02)
    intruder = Client()
    intruder.force_login(bob)
    assert intruder.get(state["thumbnails"]["128"]).status_code == 404
    assert Client().get(state["thumbnails"]["128"]).status_code == 302  # to the login page

    page = client.get("/images").content.decode()
    assert state["thumbnails"]["512"] in page and "Ready" in page


def test_an_image_that_cannot_be_decoded_fails_once_and_says_why(worker: WorkerProcess, alice):
    client = Client()
    client.force_login(alice)
    # A valid header over pixel data that does not decode: passes the upload's header checks.
    image_id, job_id = upload(client, declared_png(64, 64))

    job = wait_until_final(job_id, worker)
    assert (job.status, job.attempts, job.error_type) == (JobStatus.FAILED, 1, "BadImageError")
    image = UploadedImage.objects.get(pk=image_id)
    assert image.status == ImageStatus.FAILED and "cannot be decoded" in image.error
