"""Alerts by email (SMTP) and webhook: a worker died, the queue backs up, tasks fail, dead
letters pile up, the disk holding the SQLite file fills up.

Every worker calls `check_alerts` at the end of its maintenance tick. Each condition's state
lives in the `alerts` table, and a transition (started or cleared) is claimed by one conditional
UPDATE (`... WHERE active = <old>`): when several processes check at once, exactly one of them
changes the row, and only that one sends, after its commit. A send that fails is logged and not
retried: the state has already moved on, so no other process sends it twice.
"""

from __future__ import annotations

import email.policy
import logging
import shutil
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jobsim import queue, worker_registry
from jobsim.clock import Clock, system_clock
from jobsim.errors import sanitize
from jobsim.settings import Settings
from jobsim.storage.dialect import upsert_insert
from jobsim.storage.engine import Database, affected_rows
from jobsim.storage.models import Alert, Worker

log = logging.getLogger("jobsim.alerts")

WORKER_DEAD = "worker_dead"
QUEUE_BACKLOG = "queue_backlog"
FAILURE_RATE = "failure_rate"
DEAD_LETTERS = "dead_letters"
DISK_SPACE = "disk_space"

FAILURE_WINDOW = timedelta(minutes=15)
SEND_TIMEOUT_SECONDS = 10.0
WORKERS_NAMED = 3
# Python folds a long subject next to an encoded "—" with a doubled space; RFC 5322 allows 998.
UNFOLDED = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Condition:
    """One condition as measured now; `active` is None where it cannot be checked here."""

    name: str
    active: bool | None
    summary: str
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class AlertChange:
    """A condition that started or cleared, claimed by this process to send."""

    condition: Condition
    changed_at: datetime

    @property
    def state(self) -> str:
        return "started" if self.condition.active else "cleared"

    @property
    def text(self) -> str:
        return f"jobsim: {self.condition.summary} — {self.state}"

    def payload(self) -> dict[str, Any]:
        """The webhook body: Slack's `text` plus the same facts as fields."""
        return {
            "text": self.text,
            "source": "jobsim",
            "alert": self.condition.name,
            "state": self.state,
            "summary": self.condition.summary,
            "value": self.condition.value,
            "threshold": self.condition.threshold,
            "changed_at": self.changed_at.isoformat(),
            "host": socket.gethostname(),
        }


def check_alerts(
    db: Database, settings: Settings, *, clock: Clock = system_clock
) -> list[AlertChange]:
    """Measure every condition, claim the transitions, send them; returns what this process sent
    (or tried to). Nothing at all happens when neither a webhook nor email is configured."""
    channels = configured_channels(settings)
    if not channels:
        return []
    changes = record_changes(db, evaluate(db, settings, clock=clock), clock())
    for change in changes:
        log.info(
            "alert",
            extra={"alert": change.condition.name, "state": change.state, "text": change.text},
        )
        deliver(change, channels, _secrets(settings))
    return changes


# --- measuring ---------------------------------------------------------------------------------


def evaluate(db: Database, settings: Settings, *, clock: Clock = system_clock) -> list[Condition]:
    """Every condition as it stands now (the disk is None, not checked, on PostgreSQL)."""
    now = clock()
    with db.read() as session:
        tasks = _tasks_by_state(session)
        conditions = [
            _dead_workers(session, settings, now),
            _backlog(tasks[queue.QUEUED], settings),
            _failure_rate(session, settings, now),
            _dead_letters(tasks[queue.FAILED], settings),
        ]
    return [*conditions, _disk_space(db, settings)]


def _dead_workers(session: Session, settings: Settings, now: datetime) -> Condition:
    """Active while a worker is dead (or silent past the limit) and not replaced: no worker on
    its host started after its last heartbeat (a supervisor's restart is such a worker, even
    once it has stopped in turn). It clears when each dead worker is replaced or pruned."""
    silent_for = worker_registry.silence_limit(settings)
    workers = worker_registry.all_workers(session)
    dead = [w for w in workers if _dead(w, now, silent_for)]
    unreplaced = [w for w in dead if not _replaced(w, workers)]
    return Condition(
        WORKER_DEAD,
        bool(unreplaced),
        _dead_workers_summary(unreplaced),
        value=len(unreplaced),
        threshold=0,
    )


def _dead(worker: Worker, now: datetime, silent_for: timedelta) -> bool:
    """Marked dead by maintenance, or silent and not marked yet."""
    silent = worker.state in worker_registry.ALIVE_STATES and not worker_registry.is_alive(
        worker, now, silent_for
    )
    return worker.state == "dead" or silent


def _replaced(dead: Worker, workers: Sequence[Worker]) -> bool:
    return any(w.hostname == dead.hostname and w.started_at > dead.heartbeat_at for w in workers)


def _dead_workers_summary(dead: Sequence[Worker]) -> str:
    if not dead:
        return "no dead worker left (each restarted or removed)"
    named = ", ".join(f"{w.hostname} pid {w.pid}" for w in dead[:WORKERS_NAMED])
    more = f" and {len(dead) - WORKERS_NAMED} more" if len(dead) > WORKERS_NAMED else ""
    noun = "worker" if len(dead) == 1 else "workers"
    return f"{len(dead)} {noun} dead ({named}{more})"


def _tasks_by_state(session: Session) -> dict[str, int]:
    return queue.totals(queue.counts(session))


def _backlog(queued: int, settings: Settings) -> Condition:
    threshold = settings.alert_backlog_threshold
    return Condition(
        QUEUE_BACKLOG,
        queued > threshold,
        f"queue backlog {queued} tasks (threshold {threshold})",
        value=queued,
        threshold=threshold,
    )


def _failure_rate(session: Session, settings: Settings, now: datetime) -> Condition:
    """Dead-lettered / finished tasks over the last 15 minutes; fewer finished tasks than
    `alert_failure_rate_min_tasks` is too little to judge, and counts as not active."""
    outcomes = queue.outcomes_since(session, now - FAILURE_WINDOW)
    failed = outcomes[queue.FAILED]
    finished = failed + outcomes[queue.SUCCEEDED]
    rate = failed / finished if finished else 0.0
    threshold = settings.alert_failure_rate_threshold
    enough = finished >= settings.alert_failure_rate_min_tasks
    return Condition(
        FAILURE_RATE,
        enough and rate > threshold,
        f"failure rate {rate:.0%} over 15 min ({failed} of {finished} finished tasks failed; "
        f"threshold {threshold:.0%})",
        value=round(rate, 4),
        threshold=threshold,
    )


def _dead_letters(failed: int, settings: Settings) -> Condition:
    threshold = settings.alert_dead_letter_threshold
    return Condition(
        DEAD_LETTERS,
        failed > threshold,
        f"dead letters {failed} (threshold {threshold})",
        value=failed,
        threshold=threshold,
    )


def _disk_space(db: Database, settings: Settings) -> Condition:
    """SQLite: free space of the filesystem holding the database file. PostgreSQL: the server's
    disk is not visible from here, so the condition is not checked (active None)."""
    minimum = settings.alert_disk_free_min_percent
    folder = _sqlite_folder(db)
    if folder is None:
        return Condition(
            DISK_SPACE, None, "disk space not checked (the database server's disk)", None, minimum
        )
    try:
        usage = shutil.disk_usage(folder)
    except OSError as error:
        return Condition(
            DISK_SPACE, None, f"disk space not checked ({error.strerror})", None, minimum
        )
    free = 100.0 * usage.free / usage.total if usage.total else 0.0
    return Condition(
        DISK_SPACE,
        free < minimum,
        f"disk free {free:.1f}% on {folder} (threshold {minimum:g}%)",
        value=round(free, 2),
        threshold=minimum,
    )


def _sqlite_folder(db: Database) -> Path | None:
    database = make_url(db.url).database if db.is_sqlite else None
    return Path(database).resolve().parent if database else None


# --- claiming transitions ----------------------------------------------------------------------


def record_changes(
    db: Database, conditions: Sequence[Condition], now: datetime
) -> list[AlertChange]:
    """Flip the stored state of each condition that changed; returns the flips this process
    made. A cheap read first: the write transaction is only opened when something differs."""
    measured = [c for c in conditions if c.active is not None]
    with db.read() as session:
        stored = {
            name: bool(active) for name, active in session.execute(select(Alert.name, Alert.active))
        }
    candidates = [c for c in measured if c.active != stored.get(c.name, False)]
    if not candidates:
        return []
    with db.write() as session:
        flipped = [c for c in candidates if _flip(session, c, now)]
    return [AlertChange(c, now) for c in flipped]


def _flip(session: Session, condition: Condition, now: datetime) -> bool:
    """One conditional UPDATE: on SQLite the write transaction holds the database lock; on
    PostgreSQL a concurrent UPDATE waits for the row, re-reads it and matches nothing."""
    _ensure_row(session, condition.name, now)
    result = session.execute(
        update(Alert)
        .where(Alert.name == condition.name, Alert.active.is_(not condition.active))
        .values(active=condition.active, changed_at=now, detail=condition.summary)
    )
    return affected_rows(result) == 1


def _ensure_row(session: Session, name: str, now: datetime) -> None:
    insert = upsert_insert(session, Alert).values(name=name, active=False, changed_at=now)
    session.execute(insert.on_conflict_do_nothing(index_elements=[Alert.name]))


# --- sending -----------------------------------------------------------------------------------


class Channel(Protocol):
    name: str

    def send(self, change: AlertChange) -> None: ...


class EmailChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.recipients = _addresses(settings.alert_email_to)

    def send(self, change: AlertChange) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
            smtp.send_message(self._message(change))

    def _message(self, change: AlertChange) -> EmailMessage:
        message = EmailMessage(policy=UNFOLDED)
        message["Subject"] = change.text
        message["From"] = self.settings.alert_email_from
        message["To"] = ", ".join(self.recipients)
        message["Date"] = format_datetime(change.changed_at)
        facts = change.payload()
        lines = [f"{key}: {facts[key]}" for key in ("alert", "state", "value", "threshold")]
        lines += [f"changed at: {facts['changed_at']}", f"sent by: {facts['host']}"]
        message.set_content("\n".join([change.text, "", *lines]) + "\n")
        return message


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, change: AlertChange) -> None:
        response = httpx.post(self.url, json=change.payload(), timeout=SEND_TIMEOUT_SECONDS)
        response.raise_for_status()


def configured_channels(settings: Settings) -> list[Channel]:
    """The webhook when its URL is set; email when both recipients and an SMTP host are."""
    channels: list[Channel] = []
    if settings.alert_webhook_url:
        channels.append(WebhookChannel(settings.alert_webhook_url.get_secret_value()))
    if _addresses(settings.alert_email_to) and settings.smtp_host:
        channels.append(EmailChannel(settings))
    return channels


def deliver(change: AlertChange, channels: Sequence[Channel], secrets: Sequence[str]) -> None:
    """Send on every channel; a failure is logged (sanitized) and never raised."""
    for channel in channels:
        try:
            channel.send(change)
        except Exception as error:
            log.warning(
                "alert not sent",
                extra={
                    "alert": change.condition.name,
                    "state": change.state,
                    "channel": channel.name,
                    "error": sanitize(f"{type(error).__name__}: {error}", secrets),
                },
            )


def _addresses(value: str) -> list[str]:
    return [address.strip() for address in value.split(",") if address.strip()]


def _secrets(settings: Settings) -> list[str]:
    """Values no log line may show; the webhook URL too, since Slack's carries its token."""
    keys = (
        settings.smtp_password,
        settings.api_key,
        settings.admin_token,
        settings.openai_api_key,
        settings.gemini_api_key,
        settings.alert_webhook_url,
    )
    return [key.get_secret_value() for key in keys if key is not None]
