"""Image files made on the spot: real encoders, and a PNG header declaring any size."""

from __future__ import annotations

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_file(
    fmt: str = "PNG", size: tuple[int, int] = (640, 480), name: str = ""
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buffer, fmt)
    return SimpleUploadedFile(name or f"photo.{fmt.lower()}", buffer.getvalue())


def noise_png(size: tuple[int, int]) -> SimpleUploadedFile:
    """A PNG that does not compress: its file size grows with its pixels."""
    import os

    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, "PNG")
    return SimpleUploadedFile("noise.png", buffer.getvalue())


def declared_png(width: int, height: int) -> SimpleUploadedFile:
    """A tiny PNG whose header declares width x height pixels: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return SimpleUploadedFile("bomb.png", body + chunk(b"IEND", b""))
