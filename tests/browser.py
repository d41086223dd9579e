"""Opening the HTML reports in a real headless Chromium (Debian's ``chromium``) through
Playwright, for the browser tests and the screenshot script.

The fixtures are registered once, in ``tests/conftest.py``, so the whole run shares one
browser (Playwright's sync API allows one at a time). Without ``/usr/bin/chromium``
the tests fail with what to install (CI installs it), unless ``DETECTOR_SKIP_BROWSER=1``
skips them on a machine that cannot have it. ``DETECTOR_CHROMIUM`` names another
executable.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("DETECTOR_CHROMIUM", "/usr/bin/chromium")
# No sandbox (CI runs as root in a container), no GPU, and none of the browser's own
# traffic (updates, sync, QUIC probes), so any request seen comes from the page.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
MISSING = (f"{CHROMIUM} not found: the browser tests need Debian's Chromium (`apt-get install -y chromium`, as "
           "CI does) and the playwright package; set DETECTOR_SKIP_BROWSER=1 to skip them")


@contextmanager
def launch_chromium(headless: bool = True):
    """A Playwright Chromium browser on :data:`CHROMIUM`, closed on exit.

    Raises
    ------
    FileNotFoundError
        When the executable is missing, saying what to install.
    """
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=headless)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageProblems:
    """What went wrong while a page was open: console errors, uncaught exceptions,
    failed requests and requests that left the page's own file (a report must not
    touch the network)."""

    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.console, *self.exceptions, *self.failed, *self.outside]


def watch(page, own_url: str) -> PageProblems:
    """Record the problems of ``page`` from now on (see :class:`PageProblems`)."""
    problems = PageProblems()
    page.on("console", lambda message: message.type == "error" and problems.console.append(message.text))
    page.on("pageerror", lambda error: problems.exceptions.append(str(error)))
    page.on("requestfailed", lambda request: problems.failed.append(f"{request.url}: {request.failure}"))
    page.on("request", lambda request: request.url.split("#")[0] != own_url and not request.url.startswith("data:")
            and problems.outside.append(request.url))
    return problems


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; skipped with ``DETECTOR_SKIP_BROWSER=1``,
    a failure naming what to install when Chromium or playwright is missing."""
    if os.environ.get("DETECTOR_SKIP_BROWSER") == "1":
        pytest.skip("DETECTOR_SKIP_BROWSER=1: browser tests skipped")
    if not Path(CHROMIUM).exists():
        pytest.fail(MISSING, pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(MISSING, pytrace=False)
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def open_page(browser):
    """Open an HTML file in a fresh page: ``page, problems = open_page(path)``; the
    page is closed after the test."""
    contexts = []

    def open_file(path: Path, fragment: str = ""):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        url = Path(path).resolve().as_uri()
        problems = watch(page, url)
        page.goto(url + fragment, wait_until="load")
        return page, problems

    yield open_file
    for context in contexts:
        context.close()
