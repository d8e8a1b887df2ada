"""Browser fixtures: Debian's Chromium driven by Playwright against a live server and a real worker.

Without /usr/bin/chromium the browser tests are skipped with a notice saying how to install it
(`make browser`); CI installs it first, so there they always run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
MISSING = (
    f"Chromium not found at {CHROMIUM}: browser tests skipped. "
    "Install Debian's chromium with `make browser` (apt-get, as root) to run them."
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are still
# synchronous code, which Django would otherwise refuse to run next to a loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=MISSING))


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1500, "height": 950})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Every page of every browser test must pass the Content-Security-Policy (config/settings.py).
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text[:90]}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not violations, violations


@pytest.fixture
def screenshot(tmp_path: Path) -> object:
    """Save a full-page screenshot: under $OFFLOAD_SCREENSHOTS (docs/screenshots) if set."""
    directory = Path(os.environ.get("OFFLOAD_SCREENSHOTS", tmp_path))

    def take(page: object, name: str) -> Path:
        path = directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    return take
