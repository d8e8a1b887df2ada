"""A worker's memory for image work stays bounded and goes back to the system.

A 150 KB PNG can declare 6,300 x 6,300 pixels: 120 MB once decoded. Eight such jobs at once on
a worker's eight threads took one process to 1.9 GB and glibc kept most of it afterwards (its
mmap threshold rises after each big free, so later big blocks come from heaps it rarely gives
back). Measured choices (docs/PERFORMANCE.md, image memory):
- at most IMAGE_DECODES_PER_PROCESS images decoded at once per process (the others wait);
- a fixed mmap threshold, so every block of decoded pixels is unmapped when freed;
- `malloc_trim` after each image, for what smaller allocations left in the heaps;
- JPEGs decoded at reduced size (thumbnails.py: Pillow's draft mode).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Iterator

from django.conf import settings

#: glibc's mallopt parameter number (malloc.h) and the threshold it is fixed at: its default.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, or None elsewhere (musl, macOS): the bounds then rely on the decode limit."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def fix_mmap_threshold() -> None:
    """Every allocation over 128 KiB (a decoded image's blocks) gets its own mapping, returned
    to the system when freed, for the life of the process."""
    if (libc := _libc()) is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


@functools.cache
def _decodes() -> threading.BoundedSemaphore | None:
    allowed = int(settings.IMAGE_DECODES_PER_PROCESS)
    return threading.BoundedSemaphore(allowed) if allowed > 0 else None


@contextlib.contextmanager
def image_work() -> Iterator[None]:
    """One decode slot of this process for the block; its memory handed back after."""
    slot = _decodes()
    if slot is not None:
        slot.acquire()
    try:
        yield
    finally:
        if slot is not None:
            slot.release()
        if (libc := _libc()) is not None:
            libc.malloc_trim(0)
