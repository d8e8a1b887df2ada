"""GET /images (the form and the user's images), POST /images (multipart field `image`: a
redirect for the form, 202 + Location /jobs/<id> for callers that accept JSON), each image's
status, and its thumbnails for their owner only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from config.json_api import accepted, error_response, form_errors, wants_json
from config.limits import IMAGES_PER_USER, LimitExceededError, too_many_json, with_retry_after

from .forms import ImageUploadForm
from .models import UploadedImage
from .services import StorageQuotaExceededError, upload_image

PAGE_SIZE = 50


def owned_image(request: HttpRequest, image_id: str) -> UploadedImage:
    """Another user's image does not exist, as far as this user can tell (404, not 403)."""
    return get_object_or_404(UploadedImage, pk=image_id, owner_id=request.user.pk)


@require_http_methods(["GET", "POST"])
def images(request: HttpRequest) -> HttpResponse:
    json_caller = wants_json(request)
    if not request.user.is_authenticated:
        if json_caller:
            response = error_response({"auth": ["Log in to upload images."]}, status=401)
            response["WWW-Authenticate"] = 'Session realm="offload"'
            return response
        return redirect_to_login(request.get_full_path())
    if request.method != "POST":
        return page(request, ImageUploadForm())
    form = ImageUploadForm(request.POST, request.FILES)
    if not form.is_valid() or form.info is None:
        if json_caller:
            return error_response(form_errors(form), status=form.status_code())
        return page(request, form, status=form.status_code())
    try:
        IMAGES_PER_USER.hit(request, str(request.user.pk))
    except LimitExceededError as error:
        if json_caller:
            return too_many_json(error)
        form.add_error(None, error.message)
        return with_retry_after(page(request, form, status=429), error)
    try:
        image, job = upload_image(request.user, form.cleaned_data["image"], form.info)
    except StorageQuotaExceededError as error:
        form.add_error("image", str(error))
        if json_caller:
            return error_response(form_errors(form), status=413)
        return page(request, form, status=413)
    if json_caller:
        return accepted(
            reverse("jobs:status", args=[job.pk]),
            image_id=str(image.pk),
            job_id=str(job.pk),
            image=image.state(),
        )
    return redirect(image)


def page(request: HttpRequest, form: ImageUploadForm, status: int = 200) -> HttpResponse:
    listed = UploadedImage.objects.filter(owner_id=request.user.pk)[:PAGE_SIZE]
    return render(
        request,
        "images/list.html",
        {"form": form, "images": [(image, image.state()) for image in listed]},
        status=status,
    )


@login_required
@require_GET
def image_status(request: HttpRequest, image_id: str) -> JsonResponse:
    return JsonResponse(owned_image(request, image_id).state())


@login_required
@require_GET
def thumbnail(request: HttpRequest, image_id: str, size: int) -> FileResponse:
    image = owned_image(request, image_id)
    name = image.thumbnails.get(str(size))
    if not name:
        raise Http404("No thumbnail of that size.")
    response = FileResponse(default_storage.open(name, "rb"), content_type="image/webp")
    response["Cache-Control"] = "private, max-age=3600"
    return response
