"""Run the installed Dramatiq release's own tests on the project's brokers (`make conformance`).

The tests come from Dramatiq's PyPI source distribution, fetched once into
var/conformance/dramatiq_tests/ with our fixtures as their conftest.py and common.py.
Usage: python -m tests.conformance.run [pytest options]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import dramatiq
import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "var" / "conformance" / "dramatiq_tests"
# Dramatiq's tests import their helpers relatively and name their package "tests" in a few
# strings; the package is renamed so it cannot shadow the project's own tests package.
SHIMS = {
    "__init__.py": "",
    "conftest.py": "from tests.conformance.fixtures import *  # noqa: F403\n",
    "common.py": "from tests.conformance.common import *  # noqa: F403\n",
}


def fetch(version: str) -> Path:
    stamp = TARGET / ".version"
    if stamp.exists() and stamp.read_text() == version:
        return TARGET
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--dest", download, f"dramatiq=={version}"],
            check=True,
        )  # fmt: skip
        (archive,) = Path(download).glob("dramatiq-*.tar.gz")
        with tarfile.open(archive) as sdist:
            members = [
                m for m in sdist.getmembers() if m.name.startswith(f"dramatiq-{version}/tests/")
            ]
            sdist.extractall(download, members=members, filter="data")
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(Path(download) / f"dramatiq-{version}" / "tests", TARGET)
    for name, text in SHIMS.items():
        (TARGET / name).write_text(text)
    stamp.write_text(version)
    return TARGET


if __name__ == "__main__":
    suite = fetch(dramatiq.__version__)
    # Our pytest settings (pytest-django, the settings module), not Dramatiq's (coverage).
    options = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "no:cacheprovider"]
    sys.exit(pytest.main([*options, *sys.argv[1:], str(suite)]))
