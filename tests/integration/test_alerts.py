"""Alerts on a real SQLite file and a real PostgreSQL server, delivered to a real SMTP server
(aiosmtpd on 127.0.0.1) and a real HTTP receiver (http.server on 127.0.0.1): each condition sends
one message when it starts and one when it clears, never while it lasts, from one process only,
and no message or log line shows a secret.

State is arranged by writing task and worker rows directly; time moves with a ManualClock."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from jobsim import queue
from jobsim.alerts import (
    DEAD_LETTERS,
    DISK_SPACE,
    FAILURE_RATE,
    QUEUE_BACKLOG,
    WORKER_DEAD,
    AlertChange,
    check_alerts,
    evaluate,
)
from jobsim.clock import ManualClock
from jobsim.logs import JsonFormatter
from jobsim.maintenance import run_maintenance
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Alert, Task, Worker
from jobsim.storage.types import utcnow

SMTP_USER = "jobsim-alerts"
SMTP_PASSWORD = "smtp-canary-7f3a9c"
API_KEY = "api-canary-51d0e2"
ADMIN_TOKEN = "admin-canary-c44b18"
OPENAI_KEY = "sk-canary0123456789abcdef"
WEBHOOK_TOKEN = "T0CANARY/B0CANARY/hooktoken9d2e"
SECRETS = (SMTP_PASSWORD, API_KEY, ADMIN_TOKEN, OPENAI_KEY, WEBHOOK_TOKEN)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


# --- a real SMTP server ------------------------------------------------------------------------


class Mailbox:
    """The aiosmtpd handler: keeps every message; `accept_password` decides who may log in."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.accept_password = SMTP_PASSWORD

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.raw.append(content)
        self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == self.accept_password.encode()
        return AuthResult(success=ok, handled=False)

    @property
    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(mailbox, port)
    finally:
        controller.stop()


# --- a real HTTP receiver ----------------------------------------------------------------------


class HookServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HookHandler)
        self.received: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/{WEBHOOK_TOKEN}"

    @property
    def texts(self) -> list[str]:
        return [str(body["text"]) for body in self.received]


class HookHandler(BaseHTTPRequestHandler):
    server: HookServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.raw.append(body)
        self.server.received.append(json.loads(body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what arrived, not the access log."""


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- settings, logs, sent messages -------------------------------------------------------------


@pytest.fixture
def alert_settings(settings: Settings, smtp: SmtpServer, hook: HookServer) -> Settings:
    """Both channels on, with canary secrets; every threshold out of reach unless a test
    lowers it, so a test sees only the condition it arranges."""
    return settings.model_copy(
        update={
            "heartbeat_seconds": 15.0,
            "lease_seconds": 120.0,
            "alert_webhook_url": SecretStr(hook.url),
            "alert_email_to": "ops@example.com, oncall@example.com",
            "alert_email_from": "jobsim@example.com",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_username": SMTP_USER,
            "smtp_password": SecretStr(SMTP_PASSWORD),
            "api_key": SecretStr(API_KEY),
            "admin_token": SecretStr(ADMIN_TOKEN),
            "openai_api_key": SecretStr(OPENAI_KEY),
            "alert_backlog_threshold": 1000,
            "alert_dead_letter_threshold": 1000,
            "alert_failure_rate_threshold": 0.2,
            "alert_failure_rate_min_tasks": 4,
            "alert_disk_free_min_percent": 0.0,
        }
    )


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def alert_log() -> Iterator[ListHandler]:
    """Every line the alerts logger writes, as the JSON formatter writes it."""
    handler = ListHandler()
    logger = logging.getLogger("jobsim.alerts")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@dataclass
class Outbox:
    """What arrived at both receivers since the last look."""

    smtp: SmtpServer
    hook: HookServer
    seen: int = field(default=0)

    def new(self) -> list[str]:
        """Texts sent since the last call; each must have arrived by email and by webhook."""
        assert self.smtp.mailbox.subjects == self.hook.texts
        fresh = self.hook.texts[self.seen :]
        self.seen = len(self.hook.texts)
        return fresh


@pytest.fixture
def outbox(smtp: SmtpServer, hook: HookServer) -> Outbox:
    return Outbox(smtp, hook)


# --- arranging rows ----------------------------------------------------------------------------


def add_tasks(
    db: Database, state: str, count: int, *, finished_ago: timedelta | None = None
) -> None:
    now = utcnow()
    finished = None if finished_ago is None else now - finished_ago
    with db.write() as session:
        for number in range(count):
            session.add(
                Task(
                    kind=queue.EMBED,
                    posting_id=f"{state}-{number}-{now.timestamp()}",
                    state=state,
                    attempts=0 if state == queue.QUEUED else 1,
                    max_attempts=5,
                    run_after=now - HOUR,
                    last_error="boom" if state == queue.FAILED else None,
                    created_at=now - HOUR,
                    updated_at=finished or now - HOUR,
                    finished_at=finished,
                )
            )


def remove_tasks(db: Database, state: str) -> None:
    with db.write() as session:
        session.execute(delete(Task).where(Task.state == state))


def add_worker(
    db: Database,
    worker_id: str,
    state: str,
    *,
    host: str,
    started: timedelta,
    beat: timedelta,
    clock: ManualClock,
) -> None:
    """A worker row on `host` that started `started` ago and last beat `beat` ago."""
    now = clock()
    with db.write() as session:
        session.add(
            Worker(
                id=worker_id,
                hostname=host,
                pid=4242,
                state=state,
                embedder="fake:64",
                started_at=now - started,
                heartbeat_at=now - beat,
                stopped_at=now - beat if state in ("stopped", "dead") else None,
            )
        )


def stored(db: Database) -> dict[str, bool]:
    with db.read() as session:
        return {
            name: bool(active) for name, active in session.execute(select(Alert.name, Alert.active))
        }


# --- each condition: starts, lasts, clears -----------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    settings: dict[str, Any]
    start: Callable[[Database, ManualClock], None]
    clear: Callable[[Database, ManualClock], None]
    started: str
    cleared: str


def _dead_worker(db: Database, clock: ManualClock) -> None:
    add_worker(db, "w-dead", "dead", host="host-a", started=HOUR, beat=10 * MINUTE, clock=clock)


def _replacement(db: Database, clock: ManualClock) -> None:
    add_worker(
        db, "w-new", "running", host="host-a", started=MINUTE, beat=timedelta(0), clock=clock
    )


def _three_of_four_failed(db: Database, _clock: ManualClock) -> None:
    add_tasks(db, queue.FAILED, 3, finished_ago=MINUTE)
    add_tasks(db, queue.SUCCEEDED, 1, finished_ago=MINUTE)


def _fifteen_minutes_pass(_db: Database, clock: ManualClock) -> None:
    clock.advance(16 * 60)


SCENARIOS = [
    Scenario(
        QUEUE_BACKLOG,
        {"alert_backlog_threshold": 3},
        lambda db, _clock: add_tasks(db, queue.QUEUED, 4),
        lambda db, _clock: remove_tasks(db, queue.QUEUED),
        "jobsim: queue backlog 4 tasks (threshold 3) — started",
        "jobsim: queue backlog 0 tasks (threshold 3) — cleared",
    ),
    Scenario(
        DEAD_LETTERS,
        {"alert_dead_letter_threshold": 2},
        lambda db, _clock: add_tasks(db, queue.FAILED, 3, finished_ago=HOUR),
        lambda db, _clock: remove_tasks(db, queue.FAILED),
        "jobsim: dead letters 3 (threshold 2) — started",
        "jobsim: dead letters 0 (threshold 2) — cleared",
    ),
    Scenario(
        FAILURE_RATE,
        {},
        _three_of_four_failed,
        _fifteen_minutes_pass,
        "jobsim: failure rate 75% over 15 min (3 of 4 finished tasks failed; threshold 20%)"
        " — started",
        "jobsim: failure rate 0% over 15 min (0 of 0 finished tasks failed; threshold 20%)"
        " — cleared",
    ),
    Scenario(
        WORKER_DEAD,
        {},
        _dead_worker,
        _replacement,
        "jobsim: 1 worker dead (host-a pid 4242) — started",
        "jobsim: no dead worker left (each restarted or removed) — cleared",
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_each_condition_sends_one_message_as_it_starts_none_while_it_lasts_and_one_as_it_clears(
    db: Database, alert_settings: Settings, outbox: Outbox, scenario: Scenario
) -> None:
    settings = alert_settings.model_copy(update=scenario.settings)
    clock = ManualClock()
    assert check_alerts(db, settings, clock=clock) == []

    scenario.start(db, clock)
    assert [c.text for c in check_alerts(db, settings, clock=clock)] == [scenario.started]
    assert outbox.new() == [scenario.started]
    assert stored(db)[scenario.name] is True

    assert check_alerts(db, settings, clock=clock) == []
    assert outbox.new() == []

    scenario.clear(db, clock)
    assert [c.text for c in check_alerts(db, settings, clock=clock)] == [scenario.cleared]
    assert outbox.new() == [scenario.cleared]
    assert check_alerts(db, settings, clock=clock) == []
    assert outbox.new() == []
    assert stored(db)[scenario.name] is False


def test_the_email_goes_to_every_recipient_and_the_webhook_carries_structured_fields(
    db: Database, alert_settings: Settings, smtp: SmtpServer, hook: HookServer
) -> None:
    add_tasks(db, queue.QUEUED, 4)
    check_alerts(db, alert_settings.model_copy(update={"alert_backlog_threshold": 3}))

    [mail] = smtp.mailbox.messages
    assert mail["To"] == "ops@example.com, oncall@example.com"
    assert mail["From"] == "jobsim@example.com"
    assert "jobsim: queue backlog 4 tasks (threshold 3) — started" in mail.get_content()
    [body] = hook.received
    assert body["alert"] == QUEUE_BACKLOG
    assert body["state"] == "started"
    assert (body["value"], body["threshold"]) == (4, 3)
    assert body["summary"] == "queue backlog 4 tasks (threshold 3)"


def test_nothing_is_checked_or_stored_when_no_channel_is_configured(
    db: Database, settings: Settings
) -> None:
    add_tasks(db, queue.QUEUED, 4)
    quiet = settings.model_copy(update={"alert_backlog_threshold": 3, "alert_email_to": "a@b.c"})

    assert check_alerts(db, quiet) == []
    assert stored(db) == {}


def test_maintenance_runs_the_alert_check_at_the_end_of_its_tick(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    add_tasks(db, queue.QUEUED, 4)

    run_maintenance(db, alert_settings.model_copy(update={"alert_backlog_threshold": 3}))

    assert outbox.new() == ["jobsim: queue backlog 4 tasks (threshold 3) — started"]


# --- the worker-dead rule ----------------------------------------------------------------------


def test_a_running_worker_silent_past_the_limit_counts_as_dead_before_maintenance_marks_it(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    clock = ManualClock()
    add_worker(db, "w-1", "running", host="host-a", started=HOUR, beat=timedelta(0), clock=clock)
    check_alerts(db, alert_settings, clock=clock)
    assert outbox.new() == []

    limit = alert_settings.heartbeat_seconds * alert_settings.dead_after_heartbeats
    clock.advance(limit + 1)
    check_alerts(db, alert_settings, clock=clock)

    assert outbox.new() == ["jobsim: 1 worker dead (host-a pid 4242) — started"]


def test_a_dead_worker_is_not_replaced_by_a_worker_on_another_host(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    clock = ManualClock()
    _dead_worker(db, clock)
    add_worker(db, "w-b", "running", host="host-b", started=MINUTE, beat=timedelta(0), clock=clock)

    check_alerts(db, alert_settings, clock=clock)

    assert outbox.new() == ["jobsim: 1 worker dead (host-a pid 4242) — started"]


def test_a_replacement_that_later_stops_cleanly_does_not_bring_the_alert_back(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    clock = ManualClock()
    _dead_worker(db, clock)
    check_alerts(db, alert_settings, clock=clock)
    _replacement(db, clock)
    check_alerts(db, alert_settings, clock=clock)
    with db.write() as session:
        session.execute(update(Worker).where(Worker.id == "w-new").values(state="stopped"))

    check_alerts(db, alert_settings, clock=clock)

    assert [text.rsplit(" ", 1)[-1] for text in outbox.new()] == ["started", "cleared"]


def test_a_dead_worker_clears_when_its_row_is_pruned(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    clock = ManualClock()
    _dead_worker(db, clock)
    check_alerts(db, alert_settings, clock=clock)
    with db.write() as session:
        session.execute(delete(Worker))

    check_alerts(db, alert_settings, clock=clock)

    assert outbox.new()[-1].endswith("— cleared")


def test_a_worker_that_stopped_cleanly_is_not_dead(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    clock = ManualClock()
    add_worker(db, "w-1", "stopped", host="host-a", started=HOUR, beat=HOUR / 2, clock=clock)

    check_alerts(db, alert_settings, clock=clock)

    assert outbox.new() == []


def test_the_failure_rate_needs_the_minimum_number_of_finished_tasks(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    add_tasks(db, queue.FAILED, 3, finished_ago=MINUTE)

    check_alerts(db, alert_settings)

    assert outbox.new() == []


# --- the disk ----------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_nearly_full_disk_under_the_sqlite_file_alerts_and_clears(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    """Every real disk has less than 100% free, and none has less than 0%."""
    check_alerts(db, alert_settings.model_copy(update={"alert_disk_free_min_percent": 100.0}))
    check_alerts(db, alert_settings.model_copy(update={"alert_disk_free_min_percent": 0.0}))

    started, cleared = outbox.new()
    assert started.startswith("jobsim: disk free ")
    assert "(threshold 100%) — started" in started
    assert cleared.endswith("(threshold 0%) — cleared")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_disk_is_not_checked_on_postgresql(
    db: Database, alert_settings: Settings, outbox: Outbox
) -> None:
    full = alert_settings.model_copy(update={"alert_disk_free_min_percent": 100.0})

    [disk] = [c for c in evaluate(db, full) if c.name == DISK_SPACE]
    check_alerts(db, full)

    assert disk.active is None
    assert "not checked" in disk.summary
    assert outbox.new() == []
    assert DISK_SPACE not in stored(db)


# --- several processes -------------------------------------------------------------------------


def race(database_url: str, settings: Settings, checkers: int = 2) -> list[AlertChange]:
    """`checkers` processes' worth of check_alerts (own Database each) released at once."""
    barrier = threading.Barrier(checkers)
    results: list[list[AlertChange]] = []
    errors: list[BaseException] = []

    def check() -> None:
        db = Database(database_url)
        try:
            barrier.wait(timeout=10)
            results.append(check_alerts(db, settings))
        except BaseException as error:
            errors.append(error)
        finally:
            db.dispose()

    threads = [threading.Thread(target=check) for _ in range(checkers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return [change for result in results for change in result]


def test_two_checkers_racing_on_the_same_database_send_one_message_not_two(
    db: Database, database_url: str, alert_settings: Settings, outbox: Outbox
) -> None:
    settings = alert_settings.model_copy(update={"alert_backlog_threshold": 3})
    for _round in range(3):
        add_tasks(db, queue.QUEUED, 4)
        assert len(race(database_url, settings)) == 1
        remove_tasks(db, queue.QUEUED)
        assert len(race(database_url, settings)) == 1

    assert [text.rsplit(" ", 1)[-1] for text in outbox.new()] == ["started", "cleared"] * 3


# --- failures and secrets ----------------------------------------------------------------------


def test_a_failed_send_is_logged_not_retried_and_the_state_still_flips(
    db: Database,
    alert_settings: Settings,
    smtp: SmtpServer,
    hook: HookServer,
    alert_log: ListHandler,
) -> None:
    """Not retried: the state has moved on, and retrying would need the flip to wait for the
    send; the log line says which channel failed."""
    settings = alert_settings.model_copy(update={"alert_backlog_threshold": 3})
    smtp.mailbox.accept_password = "another password"
    hook.status = 500
    add_tasks(db, queue.QUEUED, 4)

    assert len(check_alerts(db, settings)) == 1
    assert stored(db)[QUEUE_BACKLOG] is True
    failures = [r for r in alert_log.records if r.getMessage() == "alert not sent"]
    assert sorted(r.__dict__["channel"] for r in failures) == ["email", "webhook"]
    assert check_alerts(db, settings) == []
    assert len(hook.received) == 1

    smtp.mailbox.accept_password = SMTP_PASSWORD
    hook.status = 200
    remove_tasks(db, queue.QUEUED)
    check_alerts(db, settings)
    assert smtp.mailbox.subjects == ["jobsim: queue backlog 0 tasks (threshold 3) — cleared"]
    assert hook.texts[-1] == smtp.mailbox.subjects[-1]


def test_an_unreachable_smtp_server_does_not_stop_the_webhook(
    db: Database, alert_settings: Settings, hook: HookServer, alert_log: ListHandler
) -> None:
    settings = alert_settings.model_copy(
        update={"alert_backlog_threshold": 3, "smtp_port": free_port()}
    )
    add_tasks(db, queue.QUEUED, 4)

    check_alerts(db, settings)

    assert hook.texts == ["jobsim: queue backlog 4 tasks (threshold 3) — started"]
    assert [r.__dict__["channel"] for r in alert_log.records if r.levelno >= logging.WARNING] == [
        "email"
    ]


def test_no_secret_appears_in_any_message_or_log_line(
    db: Database,
    alert_settings: Settings,
    smtp: SmtpServer,
    hook: HookServer,
    alert_log: ListHandler,
) -> None:
    clock = ManualClock()
    settings = alert_settings.model_copy(
        update={"alert_backlog_threshold": 3, "alert_dead_letter_threshold": 2}
    )
    add_tasks(db, queue.QUEUED, 4)
    add_tasks(db, queue.FAILED, 4, finished_ago=MINUTE)
    _dead_worker(db, clock)
    check_alerts(db, settings, clock=clock)
    hook.status = 404
    smtp.mailbox.accept_password = "another password"
    remove_tasks(db, queue.QUEUED)
    check_alerts(db, settings, clock=clock)

    assert len(hook.received) == 5  # four started (incl. the failure rate), one cleared
    assert any("alert not sent" in line for line in alert_log.lines)
    everything = [*smtp.mailbox.raw, *hook.raw, *(line.encode() for line in alert_log.lines)]
    for secret in SECRETS:
        assert not [text for text in everything if secret.encode() in text], secret
