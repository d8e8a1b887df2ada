"""The report endpoints: JSON validation, auth, CSRF, ownership."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from jobs.models import Job
from reports.models import ReportKind, ReportRequest

pytestmark = pytest.mark.django_db


def csrf_client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/reports/new")
    return client


def create(client: Client, body: object, *, token: bool = True):
    headers = {"X-CSRFToken": client.cookies["csrftoken"].value} if token else {}
    return client.post("/create_report", body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("month", [11, "11", "nov", "November", "NOV"])
def test_create_report_accepts_the_month_as_number_or_name(alice: User, month: object):
    response = create(csrf_client(alice), {"id": "signups", "data": {"year": 2025, "month": month}})

    assert response.status_code == 202, response.content
    report = ReportRequest.objects.get(pk=response.json()["report_id"])
    assert report.params == {"year": 2025, "month": 11}
    assert report.owner == alice
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.caused_by == alice
    assert job.about == report
    assert job.args == [str(report.id)]


def test_create_report_with_an_unknown_kind_names_the_valid_kinds(alice: User):
    response = create(csrf_client(alice), {"id": "salaries", "data": {"year": 2025, "month": 1}})

    assert response.status_code == 400
    body = response.json()
    assert "salaries" in body["errors"]["id"][0]
    for kind in ReportKind.values:
        assert kind in body["errors"]["id"][0]
    assert body["valid_kinds"] == ReportKind.values
    assert not ReportRequest.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"year": 2025, "month": "smarch"}, "data.month"),
        ({"year": 2025, "month": 13}, "data.month"),
        ({"year": 2025, "month": True}, "data.month"),
        ({"year": 2025}, "data.month"),
        ({"year": "soon", "month": 1}, "data.year"),
        ({"year": 1900, "month": 1}, "data.year"),
        ({"year": 2999, "month": 1}, "data.year"),
        ([2025, 1], "data"),
    ],
)
def test_create_report_with_bad_params_names_the_bad_field(alice: User, data: object, field: str):
    response = create(csrf_client(alice), {"id": "signups", "data": data})

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ReportRequest.objects.exists()


def test_create_report_with_a_non_json_body_is_a_400(alice: User):
    client = csrf_client(alice)
    response = client.post(
        "/create_report",
        b"{oops",
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_create_report_for_an_anonymous_caller_is_a_json_401():
    response = Client().post(
        "/create_report", {"id": "signups", "data": {}}, content_type="application/json"
    )

    assert response.status_code == 401
    assert "auth" in response.json()["errors"]


def test_create_report_without_the_csrf_token_is_a_json_403(alice: User):
    response = create(
        csrf_client(alice), {"id": "signups", "data": {"year": 2025, "month": 1}}, token=False
    )

    assert response.status_code == 403
    assert "csrf" in response.json()["errors"]
    assert not ReportRequest.objects.exists()


def test_report_form_creates_a_report_and_redirects_to_it(alice: User):
    client = Client()
    client.force_login(alice)

    response = client.post("/reports/new", {"kind": "job-activity", "year": 2025, "month": 3})

    report = ReportRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reports/{report.id}"
    assert report.kind == "job-activity"


def test_report_form_shows_errors_for_a_future_month(alice: User):
    client = Client()
    client.force_login(alice)

    response = client.post("/reports/new", {"kind": "signups", "year": 2100, "month": 12})

    assert response.status_code == 200
    assert b"has not started yet" in response.content


def test_report_pages_require_login():
    response = Client().get("/reports/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_report_list_shows_only_my_reports(alice: User, bob: User):
    ReportRequest.objects.create(owner=alice, kind="signups", params={"year": 2025, "month": 1})
    ReportRequest.objects.create(owner=bob, kind="job-activity", params={"year": 2025, "month": 2})
    client = Client()
    client.force_login(alice)

    page = client.get("/reports/").content.decode()

    assert "2025-01" in page
    assert "2025-02" not in page


def test_report_detail_of_another_user_is_a_404(alice: User, bob: User):
    report = ReportRequest.objects.create(
        owner=alice, kind="signups", params={"year": 2025, "month": 1}
    )
    client = Client()
    client.force_login(bob)

    assert client.get(f"/reports/{report.id}").status_code == 404
    assert client.get(f"/reports/{report.id}/download").status_code == 404


def test_download_of_a_report_that_is_not_ready_is_a_404(alice: User):
    report = ReportRequest.objects.create(
        owner=alice, kind="signups", params={"year": 2025, "month": 1}
    )
    client = Client()
    client.force_login(alice)

    assert client.get(f"/reports/{report.id}/download").status_code == 404
    assert client.get(f"/reports/{report.id}/status").json()["download_url"] is None
