"""The periodic maintenance every worker runs, on a real SQLite file and a real PostgreSQL
server, through `run_maintenance` only: stale and expired lists get `similar` tasks, finished
tasks and gone workers are pruned, silent workers are marked dead, and a second run is harmless.

State is arranged by writing rows directly, with their timestamps already in the past."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from jobsim import queue
from jobsim.maintenance import MaintenanceReport, run_maintenance
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import ListState, Posting, SimilarEntry, Task
from jobsim.storage.models import Worker as WorkerRow
from jobsim.storage.types import utcnow

NOTHING = MaintenanceReport(
    expired_refills=0,
    stale_recomputes=0,
    tasks_pruned=0,
    workers_marked_dead=0,
    workers_pruned=0,
)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


# --- arranging rows ----------------------------------------------------------------------------


def add_posting(
    db: Database,
    posting_id: str,
    *,
    status: str = "active",
    is_deleted: bool = False,
    expires_at: datetime | None = None,
    similar_computed_at: datetime | None = None,
) -> None:
    now = utcnow()
    with db.write() as session:
        session.add(
            Posting(
                id=posting_id,
                title=f"Posting {posting_id}",
                description=f"The description of posting {posting_id}.",
                content_hash="0" * 64,
                status=status,
                is_deleted=is_deleted,
                expires_at=expires_at,
                created_at=now - 30 * DAY,
                updated_at=now - 30 * DAY,
            )
        )
        if similar_computed_at is not None:
            session.flush()
            session.add(
                ListState(
                    posting_id=posting_id,
                    count=0,
                    floor=None,
                    seq=0,
                    computed_at=similar_computed_at,
                )
            )


def add_to_list(db: Database, posting_id: str, similar_id: str) -> None:
    """Put `similar_id` into `posting_id`'s cached similar list."""
    with db.write() as session:
        session.add(
            SimilarEntry(
                posting_id=posting_id,
                similar_id=similar_id,
                score=0.9,
                semantic=0.9,
                context=0.5,
                computed_at=utcnow() - HOUR,
            )
        )


def add_task(
    db: Database,
    posting_id: str,
    state: str,
    *,
    age: timedelta,
    finished_ago: timedelta | None = None,
    kind: str = queue.SIMILAR,
) -> int:
    """A task created `age` ago, finished `finished_ago` ago (None: not finished)."""
    now = utcnow()
    running = state == queue.RUNNING
    task = Task(
        kind=kind,
        posting_id=posting_id,
        state=state,
        priority=queue.PRIORITY_NEW,
        attempts=0 if state == queue.QUEUED else 1,
        max_attempts=5,
        run_after=now - age,
        lease_owner="worker-1" if running else None,
        lease_token="0" * 32 if running else None,
        lease_expires_at=now - age + 2 * HOUR if running else None,
        last_error="boom" if state == queue.FAILED else None,
        created_at=now - age,
        updated_at=now - (finished_ago if finished_ago is not None else age),
        finished_at=None if finished_ago is None else now - finished_ago,
    )
    with db.write() as session:
        session.add(task)
        session.flush()
        return task.id


def add_worker(db: Database, worker_id: str, state: str, *, silent_for: timedelta) -> None:
    """A worker row whose last heartbeat was `silent_for` ago."""
    now = utcnow()
    heartbeat = now - silent_for
    with db.write() as session:
        session.add(
            WorkerRow(
                id=worker_id,
                hostname="test-host",
                pid=4242,
                state=state,
                embedder="fake:64",
                started_at=heartbeat - HOUR,
                heartbeat_at=heartbeat,
                stopped_at=heartbeat if state in ("stopped", "dead") else None,
            )
        )


# --- reading the outcome -----------------------------------------------------------------------


def queued(db: Database) -> dict[tuple[str, str], int]:
    """{(kind, posting id): priority} of every queued task."""
    with db.read() as session:
        rows = session.execute(
            select(Task.kind, Task.posting_id, Task.priority).where(Task.state == queue.QUEUED)
        )
        return {(kind, posting_id): priority for kind, posting_id, priority in rows}


def task_ids(db: Database) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(Task.id)))


def worker_states(db: Database) -> dict[str, str]:
    with db.read() as session:
        rows = session.execute(select(WorkerRow.id, WorkerRow.state))
        return {worker_id: state for worker_id, state in rows}


def silent_worker_settings(settings: Settings) -> Settings:
    """Heartbeats every 15 s, so "silent for four heartbeats" (60 s) leaves the test ample slack."""
    return settings.model_copy(update={"heartbeat_seconds": 15.0, "lease_seconds": 120.0})


# --- tests -------------------------------------------------------------------------------------


def test_maintenance_on_an_empty_database_does_nothing_and_reports_zeros(
    db: Database, settings: Settings
) -> None:
    assert run_maintenance(db, settings) == NOTHING
    assert task_ids(db) == set()


def test_a_listed_posting_whose_list_is_older_than_recompute_after_days_gets_a_backfill_task(
    db: Database, settings: Settings
) -> None:
    now = utcnow()
    recompute_after = timedelta(days=settings.recompute_after_days)
    add_posting(db, "stale", similar_computed_at=now - recompute_after - HOUR)
    add_posting(db, "fresh", similar_computed_at=now - recompute_after + HOUR)
    add_posting(db, "never-computed")  # its list comes with its embedding, not from maintenance

    report = run_maintenance(db, settings)

    assert report.stale_recomputes == 1
    assert queued(db) == {(queue.SIMILAR, "stale"): queue.PRIORITY_BACKFILL}


def test_closed_draft_and_deleted_postings_with_old_lists_are_not_queued(
    db: Database, settings: Settings
) -> None:
    long_ago = utcnow() - timedelta(days=settings.recompute_after_days) - DAY
    add_posting(db, "closed", status="closed", similar_computed_at=long_ago)
    add_posting(db, "draft", status="draft", similar_computed_at=long_ago)
    add_posting(db, "deleted", is_deleted=True, similar_computed_at=long_ago)

    report = run_maintenance(db, settings)

    assert report.stale_recomputes == 0
    assert queued(db) == {}


def test_an_expired_posting_still_in_another_posting_list_gets_a_refresh_similar_task(
    db: Database, settings: Settings
) -> None:
    now = utcnow()
    add_posting(db, "holder", similar_computed_at=now - HOUR)
    add_posting(db, "other-holder", similar_computed_at=now - HOUR)
    add_posting(db, "expired", expires_at=now - HOUR, similar_computed_at=now - HOUR)
    add_posting(db, "expires-later", expires_at=now + DAY, similar_computed_at=now - HOUR)
    add_posting(db, "expired-unlisted", expires_at=now - DAY)
    add_to_list(db, "holder", "expired")
    add_to_list(db, "other-holder", "expired")
    add_to_list(db, "holder", "expires-later")

    report = run_maintenance(db, settings)

    # One task for the expired posting: running it takes it out of every list that holds it.
    assert report.expired_refills == 1
    assert queued(db) == {(queue.SIMILAR, "expired"): queue.PRIORITY_REFRESH}


def test_finished_tasks_are_pruned_after_their_retention_and_unfinished_ones_never_are(
    db: Database, settings: Settings
) -> None:
    ancient = 60 * DAY
    gone = {
        add_task(db, "a", queue.SUCCEEDED, age=ancient, finished_ago=DAY + HOUR),
        add_task(db, "b", queue.FAILED, age=ancient, finished_ago=7 * DAY + HOUR),
    }
    kept = {
        add_task(db, "c", queue.SUCCEEDED, age=ancient, finished_ago=DAY - HOUR),
        add_task(db, "d", queue.FAILED, age=ancient, finished_ago=7 * DAY - HOUR),
        # A dead letter outlives a success: kept at two days where a success would be pruned.
        add_task(db, "e", queue.FAILED, age=ancient, finished_ago=2 * DAY),
        add_task(db, "f", queue.QUEUED, age=ancient),
        add_task(db, "g", queue.RUNNING, age=ancient),
        add_task(db, "h", queue.QUEUED, age=ancient, kind=queue.EMBED),
    }

    report = run_maintenance(db, settings)

    assert report.tasks_pruned == len(gone)
    assert task_ids(db) == kept


def test_workers_silent_for_over_four_heartbeats_are_marked_dead_and_fresh_ones_keep_running(
    db: Database, settings: Settings
) -> None:
    settings = silent_worker_settings(settings)
    beat = timedelta(seconds=settings.heartbeat_seconds)
    add_worker(db, "silent-running", "running", silent_for=5 * beat)
    add_worker(db, "silent-paused", "paused", silent_for=5 * beat)
    add_worker(db, "silent-starting", "starting", silent_for=5 * beat)
    add_worker(db, "fresh-running", "running", silent_for=beat)
    add_worker(db, "late-but-alive", "running", silent_for=3 * beat)
    add_worker(db, "fresh-paused", "paused", silent_for=beat)
    add_worker(db, "stopped", "stopped", silent_for=HOUR)

    report = run_maintenance(db, settings)

    assert report.workers_marked_dead == 3
    assert worker_states(db) == {
        "silent-running": "dead",
        "silent-paused": "dead",
        "silent-starting": "dead",
        "fresh-running": "running",
        "late-but-alive": "running",
        "fresh-paused": "paused",
        "stopped": "stopped",
    }


def test_stopped_and_dead_worker_rows_older_than_seven_days_are_removed_and_recent_ones_stay(
    db: Database, settings: Settings
) -> None:
    settings = silent_worker_settings(settings)
    add_worker(db, "stopped-long-ago", "stopped", silent_for=7 * DAY + HOUR)
    add_worker(db, "dead-long-ago", "dead", silent_for=30 * DAY)
    add_worker(db, "stopped-recently", "stopped", silent_for=7 * DAY - HOUR)
    add_worker(db, "dead-recently", "dead", silent_for=DAY)
    add_worker(db, "running", "running", silent_for=timedelta(seconds=1))

    report = run_maintenance(db, settings)

    assert report.workers_pruned == 2
    assert report.workers_marked_dead == 0
    assert worker_states(db) == {
        "stopped-recently": "stopped",
        "dead-recently": "dead",
        "running": "running",
    }


def test_the_report_counts_every_action_and_a_second_run_queues_no_duplicate_tasks(
    db: Database, settings: Settings
) -> None:
    settings = silent_worker_settings(settings)
    now = utcnow()
    long_ago = now - timedelta(days=settings.recompute_after_days) - DAY
    add_posting(db, "holder", similar_computed_at=now - HOUR)
    add_posting(db, "expired", expires_at=now - HOUR, similar_computed_at=now - HOUR)
    add_to_list(db, "holder", "expired")
    add_posting(db, "stale-1", similar_computed_at=long_ago)
    add_posting(db, "stale-2", similar_computed_at=long_ago - DAY)
    add_task(db, "old-success", queue.SUCCEEDED, age=3 * DAY, finished_ago=2 * DAY)
    add_task(db, "old-failure", queue.FAILED, age=30 * DAY, finished_ago=8 * DAY)
    add_task(db, "new-success", queue.SUCCEEDED, age=HOUR, finished_ago=HOUR)
    add_worker(db, "silent", "running", silent_for=timedelta(minutes=10))
    add_worker(db, "stopped-long-ago", "stopped", silent_for=10 * DAY)
    add_worker(db, "alive", "running", silent_for=timedelta(seconds=1))

    first = run_maintenance(db, settings)
    tasks_after_first = task_ids(db)
    queued_after_first = queued(db)
    second = run_maintenance(db, settings)

    assert first == MaintenanceReport(
        expired_refills=1,
        stale_recomputes=2,
        tasks_pruned=2,
        workers_marked_dead=1,
        workers_pruned=1,
    )
    assert queued_after_first == {
        (queue.SIMILAR, "expired"): queue.PRIORITY_REFRESH,
        (queue.SIMILAR, "stale-1"): queue.PRIORITY_BACKFILL,
        (queue.SIMILAR, "stale-2"): queue.PRIORITY_BACKFILL,
    }
    # Until a worker runs them, the same postings are found again; their queued tasks absorb it.
    assert second == MaintenanceReport(
        expired_refills=1,
        stale_recomputes=2,
        tasks_pruned=0,
        workers_marked_dead=0,
        workers_pruned=0,
    )
    assert task_ids(db) == tasks_after_first
    assert queued(db) == queued_after_first
    assert worker_states(db) == {"silent": "dead", "alive": "running"}


def test_maintenance_never_lowers_the_priority_of_a_task_already_queued_for_a_new_posting(
    db: Database, settings: Settings
) -> None:
    long_ago = utcnow() - timedelta(days=settings.recompute_after_days) - DAY
    add_posting(db, "stale", similar_computed_at=long_ago)
    queued_id = add_task(db, "stale", queue.QUEUED, age=HOUR)  # queued at PRIORITY_NEW

    report = run_maintenance(db, settings)

    assert report.stale_recomputes == 1
    assert task_ids(db) == {queued_id}
    assert queued(db) == {(queue.SIMILAR, "stale"): queue.PRIORITY_NEW}


def test_a_dead_worker_leases_are_released_so_the_next_claim_takes_its_tasks_at_once(
    db: Database, settings: Settings
) -> None:
    quiet = silent_worker_settings(settings)
    add_posting(db, "held")
    add_worker(db, "worker-1", "running", silent_for=timedelta(minutes=10))
    held = add_task(db, "held", queue.RUNNING, age=timedelta(minutes=11), kind=queue.EMBED)
    assert queue.claim(db, "worker-2", limit=10, lease_seconds=60) == []  # lease still valid

    report = run_maintenance(db, quiet)

    assert (report.workers_marked_dead, report.leases_released) == (1, 1)
    assert worker_states(db)["worker-1"] == "dead"
    claimed = queue.claim(db, "worker-2", limit=10, lease_seconds=60)
    assert [task.id for task in claimed] == [held]
    assert claimed[0].attempts == 2  # the dead worker's attempt counts, as for any lost lease
