"""The operator's commands (`jobsim tasks ...`, `recompute`, `reembed`, `enqueue`, `log-level`) on a
real SQLite file and the real PostgreSQL server, through click's runner in this process: the same
code path as the admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from jobsim.cli import main
from jobsim.errors import PermanentError
from jobsim.logs import configure_logging
from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import PostingWriter
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.testing import FakeEmbedder
from jobsim.worker import Worker


class RejectsNurses(FakeEmbedder):
    def embed(self, texts: object) -> object:  # type: ignore[override]
        if any("Nurse" in text for text in texts):  # type: ignore[attr-defined]
            raise PermanentError("provider rejected the input")
        return super().embed(texts)  # type: ignore[arg-type]


@pytest.fixture
def jobsim(database_url: str) -> Iterator[CliRunner]:
    yield CliRunner(env={"JOBSIM_DATABASE_URL": database_url, "JOBSIM_EMBEDDER": "fake:64"})
    configure_logging("INFO")  # the log-level command changes this process's level


def run(runner: CliRunner, *args: str) -> Result:
    result = runner.invoke(main, list(args), catch_exceptions=False)
    return result


def seed(db: Database, settings: Settings) -> None:
    with db.write() as session:
        for posting_id, title in (("cook", "Line Cook"), ("nurse", "Registered Nurse")):
            PostingWriter().create(
                session,
                PostingIn(
                    id=posting_id,
                    title=title,
                    description="Work shifts in a busy team, serving people every day.",
                ),
            )
    one_by_one = settings.model_copy(update={"batch_size": 1, "embedder": "fake:64"})
    Worker(one_by_one, db, RejectsNurses(64, name="fake:64")).run(burst=True)


def test_a_dead_letter_is_listed_shown_and_retried_from_the_command_line(
    jobsim: CliRunner, db: Database, settings: Settings
) -> None:
    seed(db, settings)

    listed = run(jobsim, "tasks", "list", "--state", "failed")
    assert listed.exit_code == 0
    assert "nurse" in listed.output and "provider rejected the input" in listed.output
    assert "cook" not in listed.output
    task_id = listed.output.split()[0]

    shown = json.loads(run(jobsim, "tasks", "show", task_id).output)
    assert (shown["posting_id"], shown["state"], shown["attempts"]) == ("nurse", "failed", 1)

    retried = run(jobsim, "tasks", "retry", task_id)
    assert retried.exit_code == 0 and "retry: 1 dead letters" in retried.output
    assert "retry: 0" in run(jobsim, "tasks", "retry").output  # nothing left to retry
    assert json.loads(run(jobsim, "tasks", "show", task_id).output)["state"] == "queued"
    missing = jobsim.invoke(main, ["tasks", "show", "99999"])
    assert missing.exit_code != 0 and "task 99999 not found" in str(missing.exception)


def test_recompute_reembed_enqueue_and_clear_report_what_they_queued(
    jobsim: CliRunner, db: Database, settings: Settings
) -> None:
    seed(db, settings)

    assert "recompute: 2 lists queued" in run(jobsim, "recompute").output  # both are listed
    assert "reembed: 2 postings queued" in run(jobsim, "reembed").output
    enqueued = run(jobsim, "enqueue", "cook", "ghost")
    assert enqueued.exit_code == 1
    assert "enqueue: 1 postings queued" in enqueued.output and "unknown: ghost" in enqueued.output
    cleared = run(jobsim, "tasks", "clear", "--older-than-days", "0")
    assert "clear: 2 finished tasks deleted" in cleared.output


def test_the_log_level_is_stored_for_every_process_and_shown(
    jobsim: CliRunner, db: Database
) -> None:
    assert run(jobsim, "log-level", "warning").output.strip() == "WARNING"
    assert run(jobsim, "log-level").output.strip() == "WARNING"
    assert run(jobsim, "log-level", "loud").exit_code == 2
