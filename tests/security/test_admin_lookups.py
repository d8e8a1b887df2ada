"""Items 3 and 4: no admin list filters by a lookup nobody declared (an oracle on hidden
arguments, password hashes), and no lookup a staff member can type answers 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client

from jobs.admin.lookups import DeclaredLookupsOnly
from jobs.outbox import enqueue
from tests.workbench import tasks as workbench

pytestmark = pytest.mark.django_db

HIDDEN_ADDRESS = "hidden.person@example.com"
PROJECT_APPS = ("jobs", "accounts", "reports", "images")
#: The admin's answer to lookups it refuses: the list again, flagged with e=1.
ERROR_PAGE = "/admin/jobs/job/?e=1"

#: Values that broke a lookup somewhere: wrong types, an invalid regex, huge and odd numbers,
#: odd dates, control and non-BMP characters, SQL and JSON metacharacters.
NASTY_VALUES = [
    "x",
    "",
    "(",
    "[a-",
    "1e999",
    "-1",
    str(2**70),
    "NaN",
    "2026-13-45",
    "2026-12-03T10:00:00+99:00",
    "\x00",
    "😀",
    "' OR 1=1 --",
    '{"a": 1}',
    "a,b,,c",
    "True",
]


@pytest.fixture
def viewer(django_user_model: Any) -> Any:
    """Staff with "Can view job" only: may not see arguments and results."""
    user = django_user_model.objects.create_user("viewer@example.com", "viewer-password-1")
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    return user


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def answer(client: Client, query: dict[str, str]) -> tuple[int, str]:
    response = client.get("/admin/jobs/job/", query)
    return response.status_code, response.get("Location", "")


def test_a_lookup_on_a_hidden_argument_answers_the_same_whether_it_matches_or_not(viewer: Any):
    enqueue(workbench.quick_effect, HIDDEN_ADDRESS)
    client = client_for(viewer)

    matching = answer(client, {"args__0__startswith": "hidden"})
    other = answer(client, {"args__0__startswith": "zzz"})

    assert matching == other == (302, ERROR_PAGE)


@pytest.mark.parametrize(
    "lookup",
    ["args__icontains", "kwargs__has_key", "result__isnull", "sealed_arguments__startswith"]
    + ["last_error__icontains", "events__traceback__icontains", "about_label__regex"],
)
def test_undeclared_lookups_are_refused_to_everyone_even_superusers(staff: Any, lookup: str):
    enqueue(workbench.quick_effect, HIDDEN_ADDRESS)

    assert answer(client_for(staff), {lookup: "hidden"}) == (302, ERROR_PAGE)


def test_a_password_hash_cannot_be_probed_through_the_user_list(staff: Any):
    response = client_for(staff).get("/admin/accounts/user/", {"password__startswith": "md5"})

    assert (response.status_code, response["Location"]) == (302, "/admin/accounts/user/?e=1")


def test_the_search_box_does_not_search_arguments_for_those_who_may_not_see_them(viewer: Any):
    enqueue(workbench.quick_effect, HIDDEN_ADDRESS)

    page = client_for(viewer).get("/admin/jobs/job/", {"q": "hidden.person"})

    assert page.status_code == 200
    assert "0 jobs" in page.content.decode() or "0 results" in page.content.decode()


@pytest.mark.parametrize("query", [{"q": "a\x00b"}, {"status__exact": "\x00"}])
def test_a_nul_in_a_search_or_filter_gets_the_error_answer(staff: Any, query: dict[str, str]):
    assert answer(client_for(staff), query) == (302, ERROR_PAGE)


def test_the_filters_and_dashboard_links_still_filter(staff: Any):
    job = enqueue(workbench.quick_effect, "k")
    client = client_for(staff)

    for query in (
        {"status__exact": "pending"},
        {"status__in": "pending,queued"},
        {"actor_name": "quick_effect"},
        {"attempts__lte": "1", "enqueued_at__lt": "2999-01-01T00:00:00+00:00"},
    ):
        page = client.get("/admin/jobs/job/", query)
        assert page.status_code == 200, query
        assert str(job.pk)[:8] in page.content.decode(), query


def every_list() -> list[tuple[str, Any]]:
    return [
        (f"/admin/{model._meta.app_label}/{model._meta.model_name}/", model_admin)
        for model, model_admin in admin.site._registry.items()
    ]


def test_every_admin_list_of_the_project_declares_its_lookups():
    ours = [url for url, _ in every_list() if url.split("/")[2] in PROJECT_APPS]
    unguarded = [
        url
        for url, model_admin in every_list()
        if url in ours and not isinstance(model_admin, DeclaredLookupsOnly)
    ]
    assert ours and not unguarded


def typed_lookups(model_admin: Any) -> list[str]:
    """Every lookup a staff member could type: each field with each of its registered lookups,
    and every declared lookup."""
    found: set[str] = set()
    for field in model_admin.model._meta.get_fields():
        if not hasattr(field, "get_lookups"):
            continue
        found.add(field.name)
        found.update(f"{field.name}__{lookup}" for lookup in field.get_lookups())
    found.update(model_admin.linked_lookups)
    found.update(model_admin.filter_lookups(None))
    return sorted(found)


def test_no_lookup_a_staff_member_can_type_answers_500(staff: Any):
    enqueue(workbench.quick_effect, HIDDEN_ADDRESS)
    client = client_for(staff)
    statuses: dict[int, int] = {}
    for url, model_admin in every_list():
        if not isinstance(model_admin, DeclaredLookupsOnly):
            continue
        declared = set(model_admin.linked_lookups) | model_admin.filter_lookups(None)
        for lookup in typed_lookups(model_admin):
            values = NASTY_VALUES if lookup in declared else ["x"]
            for value in values:
                status = client.get(url, {lookup: value}).status_code
                statuses[status] = statuses.get(status, 0) + 1
                assert status < 500, (url, lookup, value)
    assert set(statuses) <= {200, 302}, statuses
