"""The drop-in widget (/widget.js) on a job board's page, in a real headless Chromium.

A real `jobsim serve` (fake:64 embedder) runs on one port; the board's static pages are served
from two other ports: one origin JOBSIM_CORS_ALLOWED_ORIGINS allows, one it does not. Postings
are loaded over the API and embedded by `jobsim worker --burst`; one more posting arrives after
it, so its list is still the fallback. The tests assert on what the board's page shows.

Chromium is Debian's (/usr/bin/chromium); Playwright's own browser download is never used.
With JOBSIM_WIDGET_SCREENSHOTS=docs/screenshots set, the first test writes the README's
screenshot (widget.png) there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Locator, Page, Request, expect

from jobsim.api.app import create_app
from jobsim.settings import Settings
from jobsim.widget import allowed_origins
from tests.support.live_server import Deployment, StaticSite

WAIT_MS = 15_000
LINK_TEMPLATE = "/jobs/{id}?from=similar"  # the server's setting
BOARD_TEMPLATE = "https://board.example/postings/{id}"  # a div's data-link-template
POSTINGS = 400  # all of the sample
SUBJECT = "esco-0012"  # Aquaculture recirculation technician
FRESH = "fresh-0001"  # posted after the worker ran: not embedded, so the fallback
HOSTILE = "hostile-0001"
HOSTILE_TITLE = "Database <img src=x onerror=\"document.title='pwned'\"> developer <b>pro</b>"
SCREENSHOTS = os.environ.get("JOBSIM_WIDGET_SCREENSHOTS", "")

expect.set_options(timeout=WAIT_MS)


@dataclass
class Setup:
    jobsim: str  # jobsim's base URL
    board: StaticSite  # an origin jobsim allows
    stranger: StaticSite  # an origin it does not
    pages: Path

    def write_page(self, name: str, body: str) -> None:
        (self.pages / name).write_text(board_page(self.jobsim, body), encoding="utf-8")

    def similar(self, posting_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.jobsim}/api/jobs/{posting_id}/similar?limit=5", timeout=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


def board_page(jobsim: str, body: str) -> str:
    """A job board's page: its own markup and script, the widget's one tag."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Example Board</title>
<style>
  body {{ margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1f2328; background: #f6f7f9; }}
  header {{ padding: 12px 32px; background: #14365d; color: #fff; font-weight: 700; }}
  .page {{ display: flex; gap: 32px; max-width: 1080px; margin: 24px auto; padding: 0 32px; }}
  article {{ flex: 2; background: #fff; padding: 8px 28px 24px; border-radius: 8px; }}
  aside {{ flex: 1; background: #fff; padding: 4px 20px; border-radius: 8px; }}
  aside a {{ color: #14365d; }}
</style>
</head>
<body>
<header>Example Board</header>
<div class="page">
<article>
  <h1>Aquaculture recirculation technician</h1>
  <p>Meridian Foods · Munich</p>
  <p>Operate and maintain the recirculation systems of our fish farm: water quality, pumps,
  filters and biofilters, and the daily checks that keep the stock healthy.</p>
  <button id="apply" type="button">Apply now</button>
  <p id="applied" hidden>Application started.</p>
</article>
<aside>
{body}
</aside>
</div>
<script src="{jobsim}/widget.js" async></script>
<script>
  document.getElementById("apply").addEventListener("click", function () {{
    document.getElementById("applied").hidden = false;
  }});
</script>
</body>
</html>
"""


def sample_postings(count: int) -> list[dict[str, Any]]:
    sample = resources.files("jobsim.data").joinpath("sample_postings.jsonl")
    lines = sample.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:count]]


def post(base_url: str, path: str, body: Any) -> None:
    answer = httpx.post(f"{base_url}{path}", json=body, timeout=30)
    assert answer.status_code < 300, answer.text


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("widget")
    pages = directory / "board"
    pages.mkdir()
    with StaticSite(pages) as board, StaticSite(pages) as stranger:
        deployment = Deployment.on_sqlite(
            directory,
            embedder="fake:64",
            cors_allowed_origins=board.origin,
            widget_link_template=LINK_TEMPLATE,
        )
        try:
            jobsim = deployment.serve()
            postings = sample_postings(POSTINGS)
            by_id = {posting["id"]: posting for posting in postings}
            # Like esco-0022, with markup in its title: the widget must show it as text.
            postings.append({**by_id["esco-0022"], "id": HOSTILE, "title": HOSTILE_TITLE})
            post(jobsim, "/api/jobs/bulk", postings)
            deployment.run("worker", "--burst")
            fresh = {**by_id[SUBJECT], "id": FRESH, "title": "Aquaculture feed technician"}
            post(jobsim, "/api/jobs", fresh)
            yield Setup(jobsim, board, stranger, pages)
        finally:
            deployment.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    # A cookie for 127.0.0.1, which every port shares: the widget must never send it.
    context.add_cookies(
        [{"name": "board_session", "value": "s3cret", "domain": "127.0.0.1", "path": "/"}]
    )
    tab = context.new_page()
    uncaught: list[str] = []
    tab.on("pageerror", lambda error: uncaught.append(str(error)))
    yield tab
    context.close()
    assert not uncaught, uncaught


def widget(page: Page, posting_id: str) -> Locator:
    return page.locator(f'[data-jobsim-similar="{posting_id}"]')


def shown_percentages(items: list[dict[str, Any]]) -> list[str]:
    """What the widget shows as the match of each item: scored items only."""
    return [
        f"{item['percentage']}% match"
        for item in items
        if item.get("percentage") is not None and item.get("source") != "fallback"
    ]


def test_a_board_page_shows_similar_jobs_with_its_links_and_the_fallback_message(
    setup: Setup, page: Page
) -> None:
    setup.write_page(
        "job.html",
        f'<div data-jobsim-similar="{SUBJECT}"></div>\n'
        f'<div data-jobsim-similar="{FRESH}" data-title="Jobs like the new one" '
        f'data-link-template="{BOARD_TEMPLATE}"></div>',
    )
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"{setup.board.origin}/job.html")

    # The semantic list: titles in order, percentages, company and city, the server's links.
    semantic = setup.similar(SUBJECT)
    assert semantic["method"] == "semantic" and len(semantic["data"]) >= 2, semantic
    items = semantic["data"]
    expect(widget(page, SUBJECT)).to_have_attribute("data-jobsim-state", "ready")
    listing = page.get_by_role("list", name="Similar jobs")
    links = listing.get_by_role("link")
    expect(links).to_have_text([item["title"] for item in items])
    for link, item in zip(links.all(), items, strict=True):
        expect(link).to_have_attribute("href", LINK_TEMPLATE.replace("{id}", item["id"]))
    expect(listing.locator(".jobsim-match")).to_have_text(shown_percentages(items))
    expect(listing.locator(".jobsim-company")).to_have_text([item["company"] for item in items])
    expect(listing.locator(".jobsim-city")).to_have_text(
        [item["location"]["city"] or "Remote" for item in items]
    )
    expect(widget(page, SUBJECT).locator(".jobsim-message")).to_have_count(0)

    # The posting not embedded yet: the fallback, its message, no percentages, the div's links.
    fallback = setup.similar(FRESH)
    assert fallback["method"] == "fallback" and fallback["data"], fallback
    expect(widget(page, FRESH)).to_have_attribute("data-jobsim-state", "fallback")
    expect(widget(page, FRESH).locator(".jobsim-message")).to_have_text(fallback["message"])
    related = page.get_by_role("list", name="Jobs like the new one")
    expect(related.get_by_role("link")).to_have_text([item["title"] for item in fallback["data"]])
    first = fallback["data"][0]["id"]
    expect(related.get_by_role("link").first).to_have_attribute(
        "href", BOARD_TEMPLATE.replace("{id}", first)
    )
    expect(related.locator(".jobsim-match")).to_have_count(0)

    # The cookie went with the board's own page, never with the widget's requests.
    calls = [request for request in requests if "/similar" in request.url]
    assert len(calls) == 2
    for call in calls:
        headers = call.all_headers()
        assert "cookie" not in headers, headers
        assert headers.get("origin") == setup.board.origin
    board = next(request for request in requests if request.url.endswith("/job.html"))
    assert "board_session=s3cret" in board.all_headers().get("cookie", "")

    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / "widget.png"), full_page=True)


def test_titles_with_markup_are_shown_as_text(setup: Setup, page: Page) -> None:
    setup.write_page("hostile.html", '<div data-jobsim-similar="esco-0022"></div>')
    page.goto(f"{setup.board.origin}/hostile.html")
    expect(widget(page, "esco-0022")).to_have_attribute("data-jobsim-state", "ready")
    expect(page.get_by_role("link", name=HOSTILE_TITLE)).to_have_count(1)
    expect(widget(page, "esco-0022").locator("img, b")).to_have_count(0)
    assert page.title() == "Example Board"


def test_a_board_origin_that_is_not_allowed_gets_nothing_and_its_page_keeps_working(
    setup: Setup, page: Page
) -> None:
    setup.write_page("stranger.html", f'<div data-jobsim-similar="{SUBJECT}"></div>')
    page.goto(f"{setup.stranger.origin}/stranger.html")
    expect(widget(page, SUBJECT)).to_have_attribute("data-jobsim-state", "error")
    expect(widget(page, SUBJECT)).to_be_empty()
    page.get_by_role("button", name="Apply now").click()
    expect(page.get_by_text("Application started.")).to_be_visible()

    # What the browser enforced: jobsim's answer names no origin for this one.
    answer = httpx.get(
        f"{setup.jobsim}/api/jobs/{SUBJECT}/similar",
        headers={"Origin": setup.stranger.origin},
        timeout=10,
    )
    assert "access-control-allow-origin" not in answer.headers


def test_an_unknown_posting_or_a_network_error_leaves_the_div_empty(
    setup: Setup, page: Page
) -> None:
    setup.write_page(
        "errors.html",
        '<div data-jobsim-similar="no-such-posting"></div>\n'
        '<div data-jobsim-similar="esco-0003"></div>\n'
        f'<div data-jobsim-similar="{SUBJECT}"></div>',
    )
    page.route("**/api/jobs/esco-0003/similar*", lambda route: route.abort("connectionrefused"))
    page.goto(f"{setup.board.origin}/errors.html")
    expect(widget(page, SUBJECT)).to_have_attribute("data-jobsim-state", "ready")
    for broken in ("no-such-posting", "esco-0003"):  # a 404, a network error
        expect(widget(page, broken)).to_have_attribute("data-jobsim-state", "error")
        expect(widget(page, broken)).to_be_empty()
    page.get_by_role("button", name="Apply now").click()
    expect(page.get_by_text("Application started.")).to_be_visible()


def test_widget_js_is_served_with_its_type_caching_headers_and_the_link_template(
    setup: Setup,
) -> None:
    script = httpx.get(f"{setup.jobsim}/widget.js", timeout=10)
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=600"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert json.dumps({"linkTemplate": LINK_TEMPLATE}) in script.text
    assert "jobsim:server-config" not in script.text
    etag = script.headers["etag"]
    again = httpx.get(f"{setup.jobsim}/widget.js", headers={"If-None-Match": etag}, timeout=10)
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)

    # The allowed board reads similar lists (and errors), without credentials.
    origin = {"Origin": setup.board.origin}
    for path in (f"/api/jobs/{SUBJECT}/similar", "/api/jobs/no-such-posting/similar"):
        answer = httpx.get(f"{setup.jobsim}{path}", headers=origin, timeout=10)
        assert answer.headers["access-control-allow-origin"] == setup.board.origin
        assert "access-control-allow-credentials" not in answer.headers
        assert "Origin" in answer.headers["vary"]
    # ... but never the admin API, whose token needs a preflight that is refused.
    preflight = httpx.options(
        f"{setup.jobsim}/api/admin/status",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10,
    )
    assert preflight.status_code == 400


def test_without_allowed_origins_no_answer_carries_cors_headers() -> None:
    client = TestClient(create_app(Settings(cors_allowed_origins="")))
    answer = client.get("/widget.js", headers={"Origin": "http://board.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    assert 'var SERVER = {"linkTemplate": "/jobs/{id}"};' in answer.text


def test_the_allowed_origins_setting_is_parsed() -> None:
    assert allowed_origins("") == []
    assert allowed_origins(" https://a.example/ , http://b.example:8080,") == [
        "https://a.example",
        "http://b.example:8080",
    ]
    assert allowed_origins("https://a.example, *") == ["*"]
