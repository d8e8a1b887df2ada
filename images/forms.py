"""The upload form: every check runs on the file's header, before any job exists and without
decoding its pixels (a decompression bomb is refused from its declared size)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

#: Pillow's format names, as the error message lists them.
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}
#: Over this many times the pixel limit, the file is a decompression bomb, not a big photo.
BOMB_FACTOR = 2


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def accepted_formats() -> str:
    return ", ".join(FORMAT_NAMES.get(name, name) for name in settings.IMAGE_FORMATS)


def inspect_image(upload: UploadedFile[Any]) -> ImageInfo:
    """The image's format and size from its header; ValidationError (with a code) if refused."""
    limit = settings.IMAGE_MAX_PIXELS
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            # Our pixel check below says it better than Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                info = ImageInfo(str(image.format), *image.size)
                if info.format not in settings.IMAGE_FORMATS:
                    raise forms.ValidationError(
                        f"{info.format} images are not accepted: upload {accepted_formats()}.",
                        code="format",
                    )
                pixels = info.width * info.height
                if pixels > BOMB_FACTOR * limit:
                    raise Image.DecompressionBombError(pixels)
                if pixels > limit:
                    raise forms.ValidationError(
                        f"The image is {info.width}×{info.height} ({pixels:,} pixels), over the "
                        f"limit of {limit:,} pixels: scale it down first.",
                        code="pixels",
                    )
                image.verify()  # structure and checksums, without decoding the pixels
    except Image.DecompressionBombError:
        raise forms.ValidationError(
            f"The file declares far more pixels than the limit of {limit:,}: refused as a "
            "decompression bomb.",
            code="bomb",
        ) from None
    except UnidentifiedImageError:
        raise forms.ValidationError(
            f"This file is not an image we can read: upload {accepted_formats()}.",
            code="not_an_image",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise forms.ValidationError(
            f"The image is damaged or truncated ({exc}).", code="damaged"
        ) from None
    finally:
        upload.seek(0)
    return info


class ImageUploadForm(forms.Form):
    image = forms.FileField(
        error_messages={
            "required": "Choose an image file to upload.",
            "empty": "The file is empty.",
            "invalid": "No file was sent: send it as multipart/form-data, field 'image'.",
        }
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info: ImageInfo | None = None

    def clean_image(self) -> UploadedFile[Any]:
        upload: UploadedFile[Any] = self.cleaned_data["image"]
        limit = settings.IMAGE_MAX_BYTES
        if upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes, over the limit of {limit:,} bytes.",
                code="too_large",
            )
        self.info = inspect_image(upload)
        return upload

    def status_code(self) -> int:
        """413 for a file over the size limit, 400 for every other refusal."""
        return 413 if self.has_error("image", code="too_large") else 400
