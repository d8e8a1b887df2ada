"""Signup form (HTML form and JSON body alike) and the admin's user forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms

from .models import User, normalize_email_address
from .services import request_password_reset


class SignupForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))

    def clean_email(self) -> str:
        return normalize_email_address(self.cleaned_data["email"])


class PasswordResetRequestForm(auth_forms.PasswordResetForm):
    """Django's form; `save` enqueues the email instead of sending it inside the request."""

    def clean_email(self) -> str:
        return normalize_email_address(self.cleaned_data["email"])

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
