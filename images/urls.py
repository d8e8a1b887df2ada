"""URL routes of images."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "images"
urlpatterns = [
    path("images", views.images, name="list"),
    path("images/<uuid:image_id>/status", views.image_status, name="status"),
    path("images/<uuid:image_id>/thumbnails/<int:size>", views.thumbnail, name="thumbnail"),
]
