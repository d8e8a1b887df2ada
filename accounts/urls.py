"""URL routes of accounts: signup plus Django's login/password views under /accounts/."""

from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("signup/sent", views.signup_sent, name="signup_sent"),
    # Before Django's auth URLs, which it replaces: the email goes out as a ledger job.
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
]
