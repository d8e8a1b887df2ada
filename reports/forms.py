"""The report request form: which kind, and the month it covers."""

from __future__ import annotations

import calendar
import re
from typing import Any

from django import forms
from django.utils import timezone

from .models import ReportKind

# Not str.isdigit(): it accepts "²", which int() refuses.
ASCII_NUMBER = re.compile(r"[0-9]{1,4}")
MONTH_NAMES = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}


class MonthField(forms.Field):
    """A month as a number (11, "11") or an English name ("nov", "November")."""

    default_error_messages = {
        "invalid": "Enter a month as 1-12 or a name such as 'jan' or 'January'.",
    }

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and ASCII_NUMBER.fullmatch(value.strip()):
            number = int(value.strip())
        elif isinstance(value, str) and value.strip().lower() in MONTH_NAMES:
            number = MONTH_NAMES[value.strip().lower()]
        else:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if not 1 <= number <= 12:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


class ReportRequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=ReportKind.choices,
        error_messages={
            "invalid_choice": "Unknown report kind '%(value)s'. Valid kinds: "
            + ", ".join(ReportKind.values)
            + "."
        },
    )
    year = forms.IntegerField(min_value=2000, max_value=2100)
    month = MonthField(
        widget=forms.Select(choices=[(n, calendar.month_name[n]) for n in range(1, 13)])
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["year"].initial = today.year
        self.fields["month"].initial = today.month

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        year, month = cleaned.get("year"), cleaned.get("month")
        today = timezone.localdate()
        if year and month and (year, month) > (today.year, today.month):
            self.add_error("month", "That month has not started yet.")
        return cleaned

    def params(self) -> dict[str, int]:
        return {"year": self.cleaned_data["year"], "month": self.cleaned_data["month"]}
