"""URL routes of accounts: signup plus Django's login/password views under /accounts/."""

from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("signup/sent", views.signup_sent, name="signup_sent"),
    path("accounts/", include("django.contrib.auth.urls")),
]
