"""Which URL lookups a list in the admin accepts: the ones its filters produce and the ones its
own links use, nothing else, for every admin of the project.

Django's admin accepts any lookup on a model's own fields through the URL (`?args__0__startswith=a`,
`?password__startswith=pbkdf2`): an oracle on any column a staff member may not see, and a 500
for a lookup the database refuses at run time (an invalid regex). Here an undeclared lookup gets
the admin's own answer to bad parameters: the list again with "?e=1", never a 500.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from django.contrib.admin import SimpleListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import FieldDoesNotExist
from django.db.models import IntegerField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

#: The parameters Django's field filters (boolean, choices, date, related, all values) produce.
FIELD_FILTER_SUFFIXES = ("", "__exact", "__isnull", "__gte", "__lt", "__id__exact", "__in")


class DeclaredLookupsOnly:
    """An admin mixin: lookups from `list_filter`, plus `linked_lookups`, and no other."""

    #: Lookups the project's own links into this list use (e.g. the job dashboard's).
    linked_lookups: ClassVar[frozenset[str]] = frozenset()

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # A NUL in a search or filter value: PostgreSQL refuses it in text as the list renders.
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)  # type: ignore[misc,no-any-return]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if lookup not in self.linked_lookups and lookup not in self.filter_lookups(request):
            # Not DisallowedModelAdminLookup's 400: the same answer as a bad value, so a
            # refused lookup tells nothing about the data.
            raise IncorrectLookupParameters(f"The list cannot be filtered by {lookup!r}.")
        if not self.fits_its_column(lookup, value):
            raise IncorrectLookupParameters(f"{value!r} is out of range for {lookup!r}.")
        return True

    def fits_its_column(self, lookup: str, value: str) -> bool:
        """False for a whole number the database cannot compare with an integer column (SQLite
        raises OverflowError as the list renders). Other bad values fail as the filter is built,
        which the admin already answers with "?e=1"."""
        model: Any = self.model  # type: ignore[attr-defined]
        field: Any = None
        for part in lookup.split("__"):
            try:
                field = model._meta.get_field(part)
            except (FieldDoesNotExist, AttributeError):
                break
            if field.is_relation and field.related_model is not None:
                model = field.related_model
                field = model._meta.pk
        if not isinstance(field, IntegerField):
            return True
        for piece in value.split(",") if lookup.endswith("__in") else [value]:
            with contextlib.suppress(ValueError):
                if not -(2**63) <= int(piece) < 2**63:
                    return False
        return True

    def filter_lookups(self, request: HttpRequest | None) -> set[str]:
        declared: set[str] = set()
        list_filter: Any = self.get_list_filter(request)  # type: ignore[attr-defined]
        for item in list_filter:
            if isinstance(item, type) and issubclass(item, SimpleListFilter):
                declared.add(str(item.parameter_name))
                continue
            field = item[0] if isinstance(item, list | tuple) else item
            declared.update(f"{field}{suffix}" for suffix in FIELD_FILTER_SUFFIXES)
        return declared
