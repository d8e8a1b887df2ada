"""Property-based fuzzing of every JSON endpoint and form: any shape, any Unicode, never a 500.

Hypothesis generates bodies and fields; each answer must be a 2xx/3xx/4xx with the expected
content type (JSON for JSON callers). Limits are off here: they have their own tests.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any code point, lone surrogates too: JSON's \ud800 escapes decode to them.
any_text = st.text(st.characters(codec=None, exclude_categories=()))
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | any_text
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Text that looks like the fields' real values, mixed with anything at all.
emailish = (
    st.emails()
    | any_text
    | st.builds("{}@{}".format, any_text, any_text)
    | st.builds("{}@{}.com".format, st.text(max_size=5), any_text)
)
field_values = json_values | emailish | st.sampled_from(["signups", "job-activity", "nov", "11"])


@pytest.fixture(autouse=True)
def _limits_off(settings: Any) -> None:
    settings.RATELIMIT_ENABLE = False
    settings.AXES_ENABLED = False


def assert_handled(response: Any, *, json_answer: bool) -> None:
    assert response.status_code < 500, response.content[:500]
    if json_answer:
        assert response["Content-Type"] == "application/json"
        json.loads(response.content)


def body_of(value: Any) -> bytes:
    return json.dumps(value).encode()


raw_bodies = st.binary(max_size=200) | st.text().map(str.encode) | json_values.map(body_of)


@FUZZ
@given(body=raw_bodies | st.fixed_dictionaries({"email": field_values}).map(body_of))
def test_the_signup_endpoint_answers_any_body_without_a_server_error(body: bytes):
    response = Client().generic("POST", "/signup", body, CONTENT_TYPE="application/json")
    assert_handled(response, json_answer=True)


@FUZZ
@given(
    body=raw_bodies
    | st.fixed_dictionaries(
        {
            "id": field_values,
            "data": json_values
            | st.fixed_dictionaries({"year": field_values, "month": field_values}),
        }
    ).map(body_of)
)
def test_the_report_endpoint_answers_any_body_without_a_server_error(alice: Any, body: bytes):
    client = Client()
    client.force_login(alice)
    response = client.generic("POST", "/create_report", body, CONTENT_TYPE="application/json")
    assert_handled(response, json_answer=True)


# Form bodies are UTF-8 decoded with replacement, so no surrogates; digits of every script.
form_text = st.text() | st.text(st.characters(categories=["N", "Nd", "No"]), max_size=3)
form_fields = st.dictionaries(
    st.sampled_from(["email", "kind", "year", "month", "username", "password"]) | st.text(),
    form_text | st.emails() | st.builds("{}@{}".format, st.text(), st.text()),
    max_size=5,
)


@FUZZ
@given(fields=form_fields)
def test_the_signup_form_answers_any_fields_without_a_server_error(fields: dict[str, str]):
    assert_handled(Client().post("/signup", fields), json_answer=False)


@FUZZ
@given(fields=form_fields)
def test_the_password_reset_form_answers_any_fields_without_a_server_error(fields):
    assert_handled(Client().post("/accounts/password_reset/", fields), json_answer=False)


@FUZZ
@given(fields=form_fields)
def test_the_login_form_answers_any_fields_without_a_server_error(fields):
    assert_handled(Client().post("/accounts/login/", fields), json_answer=False)


@FUZZ
@given(fields=form_fields)
def test_the_report_form_answers_any_fields_without_a_server_error(alice: Any, fields):
    client = Client()
    client.force_login(alice)
    assert_handled(client.post("/reports/new", fields), json_answer=False)


@FUZZ
@given(path=st.text(min_size=1, max_size=40))
def test_job_status_urls_answer_json_for_any_id(path: str):
    response = Client().get("/jobs/" + path.replace("?", "").replace("#", ""))
    assert_handled(response, json_answer=True)


def _valid_image(fmt: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


VALID_IMAGES = [_valid_image(fmt) for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")]


@st.composite
def image_bytes(draw: Any) -> bytes:
    """Real images cut short and with bytes overwritten (the decoder's paths), or any bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(VALID_IMAGES)))
    data = data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


BOUNDARY = "----offload-fuzz-7MA4YWxkTrZu0gW"


def multipart(name: str, content: bytes) -> bytes:
    """A multipart body built by hand: the file name goes as whatever bytes it encodes to
    (lone surrogates too), which Django's test client would refuse to send."""
    filename = name.encode("utf-8", "surrogatepass")
    for special in (b'"', b"\r", b"\n"):
        filename = filename.replace(special, b"_")  # the header line's own syntax
    return (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="image"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


@FUZZ
@given(content=image_bytes(), name=any_text, as_json=st.booleans())
def test_the_image_upload_answers_any_file_without_a_server_error(
    alice: Any, content: bytes, name: str, as_json: bool
):
    client = Client()
    client.force_login(alice)
    headers = {"Accept": "application/json"} if as_json else {}
    response = client.post(
        "/images",
        multipart(name, content),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=headers,
    )
    assert_handled(response, json_answer=as_json)
