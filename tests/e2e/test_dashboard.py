"""The admin dashboard (/admin) in a real headless Chromium, driven by Playwright.

A real `jobsim serve` and a real `jobsim worker` run as subprocesses on one SQLite file; the
worker embeds through the OpenAI wire format against the local fake provider
(tests/support/fake_providers.py), which can be told to reject the next request, so a task is
dead-lettered, retried from the page and then succeeds. The tests assert on what the page shows.

SQLite only: the page is a client of the admin API, whose queries run on both databases in
tests/integration/test_admin_api.py; a second backend would only double this test's runtime.

Chromium is Debian's (/usr/bin/chromium, installed by scripts/bootstrap.sh); Playwright's own
browser download is never used. With JOBSIM_DASHBOARD_SCREENSHOTS=docs/screenshots set, the
scenario also writes the README's screenshots there.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.fake_providers import FakeProviderServer, http_error
from tests.support.live_server import Deployment, Process

TOKEN = "dashboard-test-token-4f9c2a7e1b"
POSTINGS = 40
WAIT_MS = 20_000
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# An error text with markup in it: the page must show it as text, never as HTML.
HOSTILE_ERROR = "input rejected <img src=x onerror=\"document.title='pwned'\"> & <b>bold</b>"
SCREENSHOTS = os.environ.get("JOBSIM_DASHBOARD_SCREENSHOTS", "")

expect.set_options(timeout=WAIT_MS)


class Stack(Deployment):
    """A jobsim deployment on one SQLite file: the API server, optionally a worker, embedding
    through the fake provider."""

    def __init__(self, directory: Path, fake: FakeProviderServer) -> None:
        deployment = Deployment.on_sqlite(
            directory,
            embedder="openai:dashboard-test-model",
            openai_base_url=fake.openai_base_url,
            # One view: one provider request per batch, so one scripted fault fails one batch.
            vector_views="full:1",
        )
        super().__init__(deployment.directory, deployment.settings)
        self.fake = fake
        self.base_url = ""

    def start_worker(self) -> Process:
        return self.start(
            "worker",
            "worker",
            poll_seconds="0.2",
            heartbeat_seconds="1",
            lease_seconds="30",
            maintenance_seconds="3600",
        )

    def post(self, path: str, body: Any) -> Any:
        response = httpx.post(f"{self.base_url}{path}", json=body, timeout=30)
        assert response.status_code < 300, response.text
        return response.json()


def sample_postings(count: int) -> list[dict[str, Any]]:
    sample = resources.files("jobsim.data").joinpath("sample_postings.jsonl")
    lines = sample.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:count]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("dashboard")
    with FakeProviderServer(dims=16) as fake:
        deployment = Stack(directory, fake)
        try:
            deployment.base_url = deployment.serve(admin_token=TOKEN)
            yield deployment
        finally:
            deployment.stop()


def watch_for_script_errors(tab: Page) -> list[str]:
    """Uncaught exceptions and Content-Security-Policy violations the page runs into."""
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return problems


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    tab = context.new_page()
    problems = watch_for_script_errors(tab)
    yield tab
    context.close()
    assert not problems, problems


def sign_in(page: Page, base_url: str, token: str = TOKEN) -> None:
    page.goto(f"{base_url}/admin")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def field_of(page: Page, panel: str, name: str) -> Any:
    return page.locator(f'#panel-{panel} [data-field="{name}"]')


def open_tab(page: Page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def test_an_operator_watches_postings_embed_retries_a_failed_task_and_sees_it_succeed(
    stack: Stack, page: Page, browser: Browser
) -> None:
    sign_in(page, stack.base_url)
    expect(page.get_by_role("tab", name="Embedding status")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.get_by_text("Live · updated")).to_be_visible()

    # Postings arrive while no worker runs: the page shows them queued, without a reload.
    stack.post("/api/jobs/bulk", sample_postings(POSTINGS))
    expect(field_of(page, "embeddings", "queued")).to_have_text(str(POSTINGS))
    expect(field_of(page, "embeddings", "embedded")).to_have_text("0")

    # A worker starts and embeds them all.
    stack.start_worker()
    expect(field_of(page, "embeddings", "embedded")).to_have_text(str(POSTINGS))
    expect(field_of(page, "embeddings", "queued")).to_have_text("0")
    expect(field_of(page, "embeddings", "coverage")).to_have_text("100%")
    expect(page.locator("#models-body")).to_contain_text("current")
    job_row = page.locator("#listing-types-body tr")
    expect(job_row).to_have_count(1)
    expect(job_row.locator("td")).to_have_text(
        ["job", str(POSTINGS), "0", "0", "0", str(POSTINGS), "100%"]
    )
    screenshot(page, "embeddings")

    open_tab(page, "Worker status")
    expect(field_of(page, "workers", "workers.alive")).to_have_text("1")
    expect(page.locator("#workers-body")).to_contain_text("alive")
    expect(page.locator("#workers-body")).to_contain_text("openai:dashboard-test-model")

    # The provider rejects the next request (HTTP 400 is permanent: dead-lettered at once).
    stack.fake.script(http_error(400, HOSTILE_ERROR))
    failing = sample_postings(POSTINGS + 1)[-1]
    stack.post("/api/jobs", failing)

    open_tab(page, "Queue health")
    row = page.locator("#failed-body tr", has_text=failing["id"])
    expect(row).to_contain_text("HTTP 400")
    expect(row).to_contain_text(HOSTILE_ERROR)  # shown as text ...
    expect(row.locator("img, b")).to_have_count(0)  # ... never parsed as HTML
    expect(field_of(page, "queue", "totals.failed")).to_have_text("1")
    expect(page.get_by_role("img", name=re.compile(r"\d+ succeeded"))).to_be_visible()
    expect(page.locator("#chart rect.bar-ok").first).to_be_visible()
    task_id = row.locator("td").first.inner_text()
    screenshot(page, "queue")
    if SCREENSHOTS:
        phone_screenshot(browser, stack.base_url, failing["id"])

    # Retry from the page: the task goes back to the queue and the worker (the provider answers
    # again now) finishes it.
    row.get_by_role("button", name=f"Retry task {task_id}").click()
    expect(page.get_by_role("status").filter(has_text="back in the queue")).to_have_text(
        f"Task {task_id} is back in the queue."
    )
    recent = page.locator("#recent-body tr", has_text=failing["id"]).first
    expect(recent).to_contain_text("succeeded")
    expect(page.locator("#failed-body")).to_have_text("No failed tasks.")
    expect(field_of(page, "queue", "totals.failed")).to_have_text("0")
    assert page.title() == "jobsim admin"  # the error's markup never ran

    open_tab(page, "Embedding status")
    expect(field_of(page, "embeddings", "embedded")).to_have_text(str(POSTINGS + 1))
    expect(field_of(page, "embeddings", "failed")).to_have_text("0")

    open_tab(page, "Worker status")
    screenshot(page, "workers")


def test_the_action_buttons_confirm_destructive_actions_and_show_their_results(
    stack: Stack, page: Page
) -> None:
    stack.post("/api/jobs/bulk", sample_postings(2))  # stored already when the scenario ran
    sign_in(page, stack.base_url)
    result = page.locator("#action-result")
    expect(page.get_by_text("Live · updated")).to_be_visible()
    active = int(field_of(page, "embeddings", "postings.active").inner_text() or 0)

    page.get_by_label("Posting ids to embed").fill("esco-0001, no-such-posting")
    page.get_by_role("button", name="Queue embeddings").click()
    expect(result).to_have_text("Enqueue: queued 1 posting. Unknown ids: no-such-posting.")

    # Declining the confirm() does nothing; accepting it runs the action.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Re-embed all postings").click()
    expect(result).to_have_text("Enqueue: queued 1 posting. Unknown ids: no-such-posting.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Re-embed all postings").click()
    expect(result).to_have_text(f"Re-embed: queued {active} postings.")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Recompute all similar lists").click()
    expect(result).to_have_text(re.compile(r"^Recompute: queued \d+ postings?\.$"))

    open_tab(page, "Queue health")
    page.get_by_role("button", name="Retry all failed").click()
    expect(result).to_have_text("Retry: 0 failed tasks are back in the queue.")
    page.get_by_label("Delete finished tasks older than (days)").fill("30")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear finished").click()
    expect(result).to_have_text("Clear: deleted 0 finished tasks.")

    open_tab(page, "Worker status")
    page.get_by_label("Log level of every API and worker process").select_option("ERROR")
    page.get_by_role("button", name="Set log level").click()
    expect(result).to_have_text("Log level is now ERROR.")
    expect(field_of(page, "workers", "log_level")).to_have_text("ERROR")


def test_a_wrong_token_shows_the_login_form_with_an_error(stack: Stack, page: Page) -> None:
    sign_in(page, stack.base_url, token="not-the-token")
    expect(page.get_by_role("alert")).to_have_text(
        "The admin token was not accepted (401). Sign in again."
    )
    expect(page.get_by_label("Admin token")).to_be_visible()
    expect(page.get_by_role("tab", name="Embedding status")).to_be_hidden()


def test_a_token_rejected_while_signed_in_returns_to_the_login_form(
    stack: Stack, page: Page
) -> None:
    sign_in(page, stack.base_url)
    expect(page.get_by_text("Live · updated")).to_be_visible()
    # As if the server's token had been rotated: the next poll answers 401.
    page.evaluate("sessionStorage.setItem('jobsim.adminToken', 'a-rotated-away-token')")
    expect(page.get_by_role("alert")).to_contain_text("not accepted (401)")
    expect(page.get_by_label("Admin token")).to_be_visible()


def test_polling_pauses_while_the_browser_tab_is_hidden_and_resumes_when_shown(
    stack: Stack, page: Page
) -> None:
    sign_in(page, stack.base_url)
    live = page.locator("#live")
    expect(live).to_contain_text("Live · updated")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    set_hidden = """hidden => {
        Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    page.evaluate(set_hidden, True)
    expect(live).to_have_text("Paused while this tab is hidden")
    polls.clear()
    page.wait_for_timeout(6_000)  # two poll intervals and more: nothing may be asked meanwhile
    assert not [url for url in polls if "/api/admin/" in url]
    page.evaluate(set_hidden, False)
    expect(live).to_contain_text("Live · updated")
    assert [url for url in polls if "/api/admin/" in url]


def test_the_page_says_how_to_enable_the_admin_api_when_no_token_is_configured(
    stack: Stack, page: Page
) -> None:
    base_url = stack.serve()  # a second server on the same database, without a token
    page.goto(f"{base_url}/admin")
    expect(page.get_by_role("heading", name="The admin API is disabled")).to_be_visible()
    expect(page.locator("#disabled")).to_contain_text("JOBSIM_ADMIN_TOKEN")
    expect(page.get_by_label("Admin token")).to_be_hidden()


def test_the_dashboard_fits_a_phone_screen_without_sideways_scrolling(
    stack: Stack, browser: Browser
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        problems = watch_for_script_errors(phone)
        sign_in(phone, stack.base_url)
        for tab in ("Embedding status", "Queue health", "Worker status"):
            open_tab(phone, tab)
            expect(phone.get_by_text("Live · updated")).to_be_visible()
            overflow = phone.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{tab}: the page is {overflow}px wider than the phone"
        assert not problems, problems
    finally:
        context.close()


def test_the_page_and_its_static_files_are_served_without_a_token_with_their_types(
    stack: Stack,
) -> None:
    page = httpx.get(f"{stack.base_url}/admin", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert TOKEN not in page.text
    for name, content_type in (("admin.js", "text/javascript"), ("admin.css", "text/css")):
        static = httpx.get(f"{stack.base_url}/admin/static/{name}", timeout=10)
        assert static.status_code == 200
        assert static.headers["content-type"] == f"{content_type}; charset=utf-8"
        assert static.headers["x-content-type-options"] == "nosniff"
    for name in ("pages.py", "..%2Fpages.py", "admin.html"):
        assert httpx.get(f"{stack.base_url}/admin/static/{name}", timeout=10).status_code == 404


def phone_screenshot(browser: Browser, base_url: str, failing_id: str) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        sign_in(phone, base_url)
        open_tab(phone, "Queue health")
        expect(phone.locator("#failed-body")).to_contain_text(failing_id)
        screenshot(phone, "queue-phone")
    finally:
        context.close()
