"""Run Django's own `tests/tasks` suite on OffloadBackend with a real worker
(`make conformance-tasks`).

The tests come from the source distribution of the Django release the project runs on Django 6
(`django.tasks`); on Django 5.2 LTS, whose release has no Tasks framework, from Django
SUITE_RELEASE's, with `django.tasks` imports pointed at the django-tasks backport, which
implements that API. Fetched once into var/conformance/django_tasks_suite/tasks/ with our fixtures
(tests/conformance/tasks_fixtures.py) as their conftest.py.
Usage: python -m tests.conformance.tasks_run [pytest options]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import django
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Django's package name (`tasks`, as its tests spell the tasks' module paths), in a folder of
#: its own (pytest puts it on sys.path), under the run's var/ (OFFLOAD_VAR_DIR, as settings).
VAR_DIR = Path(os.environ.get("OFFLOAD_VAR_DIR", ROOT / "var"))
TARGET = VAR_DIR / "conformance" / "django_tasks_suite" / "tasks"
#: The release whose tests run on Django 5.2 (the backport follows the API of Django 6.x).
SUITE_RELEASE = "6.0.10"
CONFTEST = "from tests.conformance.tasks_fixtures import *  # noqa: F403\n"
# Names Django 6 gives that the backport spells otherwise.
BACKPORT_NAMES = {
    r"\bfrom django\.tasks import\b": "from jobs.tasks_framework import",
    r"\bdjango\.tasks\b": "django_tasks",
    r"\bInvalidTask\b": "InvalidTaskError",
    r"\bInvalidTaskBackend\b": "InvalidTaskBackendError",
}


def fetch(release: str, *, backport: bool) -> Path:
    stamp = TARGET / ".version"
    wanted = f"{release} {BACKPORT_NAMES if backport else {}}"
    if stamp.exists() and stamp.read_text() == wanted:
        return TARGET
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--ignore-requires-python", "--dest", download, f"Django=={release}"],
            check=True,
        )  # fmt: skip
        (archive,) = Path(download).glob("[Dd]jango-*.tar.gz")
        prefix = f"{archive.name.removesuffix('.tar.gz')}/tests/tasks/"
        with tarfile.open(archive) as sdist:
            members = [m for m in sdist.getmembers() if m.name.startswith(prefix)]
            sdist.extractall(download, members=members, filter="data")
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(Path(download) / prefix, TARGET)
    if backport:
        for path in TARGET.glob("*.py"):
            text = path.read_text()
            for pattern, name in BACKPORT_NAMES.items():
                text = re.sub(pattern, name, text)
            path.write_text(text)
    (TARGET / "conftest.py").write_text(CONFTEST)
    stamp.write_text(wanted)
    return TARGET


if __name__ == "__main__":
    on_django_6 = django.VERSION >= (6,)
    suite = fetch(django.__version__ if on_django_6 else SUITE_RELEASE, backport=not on_django_6)
    options = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "no:cacheprovider"]
    sys.exit(pytest.main([*options, *sys.argv[1:], str(suite)]))
