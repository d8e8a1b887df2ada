"""Property-based fuzzing of every JSON endpoint, form and admin list: any shape, any nesting
depth, any number, any Unicode category, any lookup, never a 500.

Hypothesis generates bodies, fields and query strings; each answer must be a 2xx/3xx/4xx with
the expected content type (JSON for JSON callers). Limits are off here: they have their own
tests. FUZZ_EXAMPLES sets the examples per test (`make fuzz`: a long run); the status counts per
endpoint are printed at the end of the run.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Status codes answered, per endpoint, over the whole run (printed by tests/conftest.py).
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)

UNICODE_CATEGORIES: list[Any] = [
    *("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe"),
    *("Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"),
]
# Any code point, lone surrogates too: JSON's \ud800 escapes decode to them; and text drawn from
# one Unicode category at a time, so rare ones (Zl, Cf, Co, Cn) are tried, not only likely.
any_text = st.text(st.characters(codec=None, exclude_categories=())) | st.sampled_from(
    UNICODE_CATEGORIES
).flatmap(lambda category: st.text(st.characters(categories=[category]), min_size=1))
# Numbers past every limit: floats that overflow, integers longer than Python parses.
huge_numbers = (
    st.integers(min_value=10**18, max_value=10**400)
    | st.integers(max_value=-(10**18))
    | st.sampled_from(["1e999", "-1e999", "9" * 5000, "1" + "0" * 4400, "NaN", "Infinity"])
)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | any_text | huge_numbers
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def deeply_nested(draw: Any) -> bytes:
    """Arrays and objects nested up to 5,000 levels: a recursive parser's stack."""
    depth = draw(st.integers(1, 5000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"email":[', "]}")]))
    core = draw(st.sampled_from(["1", '"x@example.com"', "[]", "{}", "1e999"]))
    if opener.startswith("{"):
        return (opener * depth + core + closer * depth).encode()
    return ('{"email":' + opener * depth + core + closer * depth + "}").encode()


def raw_number_body(field: str) -> Any:
    """A JSON object whose value is written out as a number literal of any size."""
    return huge_numbers.map(lambda number: f'{{"{field}": {number}}}'.encode())


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


def assert_handled(response: Any, *, json_answer: bool, endpoint: str) -> None:
    STATUSES[endpoint][response.status_code] += 1
    assert response.status_code < 500, response.content[:500]
    if json_answer:
        assert response["Content-Type"] == "application/json"
        json.loads(response.content)


def body_of(value: Any) -> bytes:
    return json.dumps(value).encode()


raw_bodies = (
    st.binary(max_size=200)
    | st.text().map(str.encode)
    | json_values.map(body_of)
    | deeply_nested()
    | raw_number_body("email")
    | raw_number_body("data")
)


@FUZZ
@given(body=raw_bodies | st.fixed_dictionaries({"email": field_values}).map(body_of))
def test_the_signup_endpoint_answers_any_body_without_a_server_error(body: bytes):
    response = Client().generic("POST", "/signup", body, CONTENT_TYPE="application/json")
    assert_handled(response, json_answer=True, endpoint="POST /signup (JSON)")


# Content types a page on another site can send, and ones nobody should.
content_types = st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
    + ["application/json; charset=latin-1", "application/jsonx", "", "*/*"]
)


@FUZZ
@given(body=raw_bodies, content_type=content_types)
def test_the_signup_endpoint_answers_json_callers_of_any_content_type(body, content_type):
    response = Client(enforce_csrf_checks=True).generic(
        "POST", "/signup", body, CONTENT_TYPE=content_type, HTTP_ACCEPT="application/json"
    )
    # Never accepted without application/json: anything else goes through CSRF.
    assert response.status_code != 202
    assert_handled(response, json_answer=True, endpoint="POST /signup (other types)")


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
    assert_handled(response, json_answer=True, endpoint="POST /create_report")


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
    assert_handled(Client().post("/signup", fields), json_answer=False, endpoint="POST /signup")


@FUZZ
@given(fields=form_fields)
def test_the_password_reset_form_answers_any_fields_without_a_server_error(fields):
    response = Client().post("/accounts/password_reset/", fields)
    assert_handled(response, json_answer=False, endpoint="POST /accounts/password_reset/")


@FUZZ
@given(fields=form_fields)
def test_the_login_form_answers_any_fields_without_a_server_error(fields):
    response = Client().post("/accounts/login/", fields)
    assert_handled(response, json_answer=False, endpoint="POST /accounts/login/")


@FUZZ
@given(fields=form_fields)
def test_the_report_form_answers_any_fields_without_a_server_error(alice: Any, fields):
    client = Client()
    client.force_login(alice)
    assert_handled(
        client.post("/reports/new", fields), json_answer=False, endpoint="POST /reports/new"
    )


@FUZZ
@given(path=st.text(min_size=1, max_size=40))
def test_job_status_urls_answer_json_for_any_id(path: str):
    response = Client().get("/jobs/" + path.replace("?", "").replace("#", ""))
    assert_handled(response, json_answer=True, endpoint="GET /jobs/<id>")


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
    assert_handled(response, json_answer=as_json, endpoint="POST /images")


ADMIN_LISTS = [
    "/admin/jobs/job/",
    "/admin/jobs/schedule/",
    "/admin/jobs/alertrule/",
    "/admin/accounts/user/",
    "/admin/reports/reportrequest/",
    "/admin/images/uploadedimage/",
]
#: Field names and lookups staff could type, the declared ones among them.
lookup_names = (
    st.builds(
        "{}{}".format,
        st.sampled_from(
            ["status", "args", "kwargs", "result", "enqueued_at", "attempts", "actor_name", "email"]
            + ["password", "is_staff", "groups__id", "created_at", "paused", "kind", "owner__email"]
        ),
        st.sampled_from(["", "__exact", "__in", "__gte", "__lt", "__regex", "__0__startswith"]),
    )
    | any_text
)


@FUZZ
@given(
    url=st.sampled_from(ADMIN_LISTS),
    query=st.dictionaries(
        lookup_names | st.sampled_from(["q", "o", "p", "all", "e"]),
        any_text | huge_numbers.map(str) | st.sampled_from(["True", "2026-12-03", ","]),
        max_size=3,
    ),
)
def test_every_admin_list_answers_any_query_without_a_server_error(staff: Any, url, query):
    client = Client()
    client.force_login(staff)
    # A query string carries no lone surrogates or NULs: what a browser can send.
    clean = {
        k.encode("utf-8", "replace").decode(): v.encode("utf-8", "replace").decode()
        for k, v in query.items()
    }
    assert_handled(client.get(url, clean), json_answer=False, endpoint=f"GET {url}")
