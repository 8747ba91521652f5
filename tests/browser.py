"""Headless Chromium (Debian's package, driven by Playwright) on a baked project's docs site and Swagger UI.

A browser sees what the HTML files do not: a script that throws, a search index that never loads, a
picture or chart left empty, a font or script fetched from another host. Pages are served under a
made-up host name that Chromium resolves to 127.0.0.1, as a reader's browser reaches a real host:
some scripts call out only when the page is not on localhost (Swagger UI's validator badge). Every
request to another origin is recorded and aborted, so the checks also prove the pages work offline.
Screenshots land in ARTEFACTS, kept after the run.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import ConsoleMessage, Page, Request, Response, Route, sync_playwright

from .conftest import TEMPLATE

ARTEFACTS = TEMPLATE / ".artifacts" / "browser"  # git-ignored; each check replaces its own folder
HOST = "site.test"  # a reserved name (RFC 2606): only Chromium's resolver rule below knows it
TIMEOUT_MS = 30_000
CHARTS_TIMEOUT_MS = 90_000  # the drift report is 5 MB of script and data, drawn on a shared CPU
# Material's search box reads "Initializing search" until its worker has indexed the site.
SEARCH_READY = "document.querySelector('.md-search-result__meta').textContent.trim() === 'Type to start searching'"
DRAWN_CHARTS = "[...document.querySelectorAll('.js-plotly-plot')].filter(plot => plot.querySelector('.trace')).length"


def find_chromium() -> str:
    """Debian's chromium, which `make browser` installs; without it, skip (or fail under REQUIRE_BROWSER=1)."""
    path = shutil.which("chromium")
    if path is None:
        reason = "no chromium on PATH: `make browser` installs Debian's package (it needs root and apt-get)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 and {reason}")
        pytest.skip(reason)
    return path


@dataclass
class Tab:
    """A page of one origin, recording what goes wrong: errors, failed loads and requests to other hosts."""

    page: Page
    origin: str
    problems: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # requests to another origin, aborted

    def open(self, path: str) -> None:
        """Load ``path`` of the origin and wait until the network is quiet (scripts done fetching)."""
        response = self.page.goto(self.origin + path, wait_until="networkidle")
        assert response is not None, f"{path}: no response"
        assert response.ok, f"{path}: {response.status}"

    def shoot(self, folder: Path, name: str, *, full_page: bool = True) -> None:
        self.page.screenshot(path=folder / f"{name}.png", full_page=full_page)

    def _console(self, message: ConsoleMessage) -> None:
        # "Failed to load resource" names no URL: _response and _failed report those loads with theirs.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"{self.page.url}: console error: {message.text} ({message.location['url']})")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":  # the browser's own guess
            self.problems.append(f"{self.page.url}: {response.status} for {response.request.method} {response.url}")

    def _failed(self, request: Request) -> None:
        if request.url not in self.left:
            self.problems.append(f"{self.page.url}: {request.url} failed: {request.failure}")


@contextmanager
def tab(chromium: str, port: int, *, api_key: str | None = None) -> Iterator[Tab]:
    """Headless ``chromium`` on http://HOST:port, every other origin blocked.

    ``api_key``: sent with the page's GET requests (the service asks for it on its UI's files too);
    any other request carries only what the page itself sets.
    """
    origin = f"http://{HOST}:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[f"--host-resolver-rules=MAP {HOST} 127.0.0.1", "--no-proxy-server"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            opened = Tab(context.new_page(), f"{origin}/")

            def route(route: Route) -> None:
                request = route.request
                url = urlsplit(request.url)
                if f"{url.scheme}://{url.netloc}" != origin:
                    opened.left.append(request.url)
                    route.abort("blockedbyclient")
                elif api_key is not None and request.method in ("GET", "HEAD"):
                    route.continue_(headers=request.headers | {"x-api-key": api_key})
                else:
                    route.continue_()

            context.route("**/*", route)
            opened.page.on("console", opened._console)
            opened.page.on("pageerror", lambda error: opened.problems.append(f"{opened.page.url}: {error}"))
            opened.page.on("response", opened._response)
            opened.page.on("requestfailed", opened._failed)
            yield opened
        finally:
            browser.close()


@contextmanager
def static_site(folder: Path) -> Iterator[int]:
    """``folder`` over HTTP on 127.0.0.1, in a thread; yields the port."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """No access log on the test's output."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def nav_paths(mkdocs_yml: Path) -> list[str]:
    """The URL path of every page in mkdocs.yml's nav, in order (``docs/x.md`` is served at ``x/``)."""
    pages: list[str] = []

    def walk(entries: list[Any]) -> None:
        for entry in entries:
            for value in entry.values() if isinstance(entry, dict) else [entry]:
                if isinstance(value, list):
                    walk(value)
                elif not value.startswith(("http://", "https://")):
                    page = value.removesuffix(".md")
                    pages.append("" if page == "index" else page.removesuffix("/index") + "/")

    walk(yaml.safe_load(mkdocs_yml.read_text())["nav"])
    return pages


def fresh(name: str) -> Path:
    """ARTEFACTS/name, emptied: screenshots of one run only."""
    folder = ARTEFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def check_docs_site(chromium: str, project: Path, *, feature: str, min_charts: int) -> None:
    """The built site/ as readers see it: every nav page, the search, the model card and the drift report.

    ``feature``: a contract feature the search must find on the contract page; ``min_charts``: the
    drift report's drawn charts, at least (one per feature).
    """
    shots = fresh("docs")
    print(f"docs screenshots: {shots}")  # shown with -s; kept for CI users
    with static_site(project / "site") as port, tab(chromium, port) as site:
        for number, path in enumerate(nav_paths(project / "mkdocs.yml"), start=1):
            site.open(path)
            site.shoot(shots, f"{number:02d}-{path.strip('/') or 'index'}")

        site.open("")
        site.page.wait_for_function(SEARCH_READY)  # typed before, the query would be dropped
        site.page.locator(".md-search__input").press_sequentially(feature)  # Material searches on keyup, not input
        site.page.wait_for_function(  # a result on the contract page, whichever pages also mention it
            "[...document.querySelectorAll('.md-search-result__link')]"
            ".some(link => new URL(link.href).pathname === '/contract/')"
        )
        site.shoot(shots, "search", full_page=False)

        site.open("model-card/")
        images = site.page.locator(".md-content img")
        for image in images.all():
            image.scroll_into_view_if_needed()  # lazy pictures load once near the viewport
        site.page.wait_for_function("[...document.images].every(image => image.complete)")
        loaded = images.evaluate_all("images => images.map(image => [image.currentSrc, image.naturalWidth > 0])")
        assert loaded, "the model card shows no picture"
        broken = [source for source, ok in loaded if not ok]
        assert broken == [], f"pictures on the model card that did not load: {broken}"

        site.page.locator("a[href$='drift-report.html']").first.click()  # the copy the card links to
        site.page.wait_for_url("**/drift-report.html")
        site.page.wait_for_function(f"{DRAWN_CHARTS} >= {min_charts}", timeout=CHARTS_TIMEOUT_MS)
        site.page.wait_for_load_state("networkidle")
        site.shoot(shots, "drift-report", full_page=False)  # the whole report is a 40,000-pixel picture
    assert site.left == [], f"requests to other hosts (the site must work offline): {site.left}"
    assert site.problems == [], "\n".join(site.problems)


def check_swagger_ui(chromium: str, port: int, api_key: str, record: dict[str, Any]) -> None:
    """The service's Swagger UI: it loads, and 'Try it out' on /predict with ``record`` answers 200.

    The key goes in through the UI's Authorize dialog, as a user would enter it; the UI's own files
    get it from ``tab``, since the service asks for it on every path but the probes.
    """
    shots = fresh("swagger")
    print(f"Swagger UI screenshots: {shots}")
    with tab(chromium, port, api_key=api_key) as ui:
        ui.open("")
        page = ui.page
        operation = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/predict']"))
        operation.wait_for()
        ui.shoot(shots, "loaded")

        page.locator(".auth-wrapper .authorize").click()
        dialog = page.locator(".auth-container", has_text="X-API-Key")
        dialog.locator("input").fill(api_key)
        dialog.locator("button.authorize").click()
        page.locator(".btn-done").first.click()

        operation.locator(".opblock-summary").click()
        operation.locator(".try-out__btn").click()
        operation.locator("textarea.body-param__text").fill(json.dumps(record))
        with page.expect_response(lambda answer: urlsplit(answer.url).path == "/predict") as answered:
            operation.locator(".execute").click()
        answer = answered.value
        assert (answer.status, answer.request.headers.get("x-api-key")) == (200, api_key), answer.text()
        assert "prediction" in answer.json()
        operation.locator(".live-responses-table .response-col_status", has_text="200").wait_for()
        ui.shoot(shots, "tried-predict")
    assert ui.left == [], f"requests to other hosts (the UI must load only the service's own files): {ui.left}"
    assert ui.problems == [], "\n".join(ui.problems)
