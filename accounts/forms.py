"""Signup form (HTML form and JSON body alike) and the admin's user forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.http import HttpRequest

from .models import User, normalize_email_address
from .services import request_password_reset


def clean_mail_address(email: str) -> str:
    """An address we may send mail to, in its account spelling. Quoted local parts and IP
    literals (`"bob"@x`, `bob@[10.0.0.1]`) are valid but only ever used to dodge a limit."""
    local, _, domain = email.rpartition("@")
    if local.startswith('"') or domain.startswith("["):
        raise forms.ValidationError(
            "Enter an address with a plain name and a domain name, like ann@example.com."
        )
    return normalize_email_address(email)


def login_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The account a login attempt is for, spelled as authentication resolves it: django-axes
    counts failures per this name (AXES_USERNAME_CALLABLE), so `BOB@x` and `bob@x` share one
    lockout."""
    submitted = (credentials or {}).get("username") or request.POST.get("username", "")
    return normalize_email_address(str(submitted or ""))


class SignupForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))

    def clean_email(self) -> str:
        return clean_mail_address(self.cleaned_data["email"])


class PasswordResetRequestForm(auth_forms.PasswordResetForm):
    """Django's form; `save` enqueues the email instead of sending it inside the request."""

    def clean_email(self) -> str:
        return clean_mail_address(self.cleaned_data["email"])

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A job for every address, known or not: the answer takes as long either way.
        request_password_reset(self.cleaned_data["email"])


class UserCreationForm(auth_forms.BaseUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeForm(auth_forms.UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"
