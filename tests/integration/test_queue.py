"""The task queue on a real SQLite file and a real PostgreSQL server: coalescing, leases,
fencing, retries and upkeep."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from jobsim import queue
from jobsim.clock import Clock, ManualClock, system_clock
from jobsim.postings.schema import PostingIn, PostingPatch
from jobsim.postings.writer import PostingWriter
from jobsim.retry import RetryDecision
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting, Task
from jobsim.storage.types import utcnow


def _tasks(db: Database, posting_id: str | None = None) -> list[Task]:
    with db.read() as session:
        query = select(Task).order_by(Task.id)
        if posting_id is not None:
            query = query.where(Task.posting_id == posting_id)
        return list(session.scalars(query))


def _task(db: Database, task_id: int) -> Task:
    with db.read() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task


def _enqueue(db: Database, *posting_ids: str, kind: str = queue.EMBED, **options: object) -> None:
    with db.write() as session:
        queue.enqueue_many(session, kind, posting_ids, **options)  # type: ignore[arg-type]


def _claim_one(
    db: Database, worker: str = "w1", lease: float = 60.0, clock: Clock = system_clock
) -> queue.ClaimedTask:
    claimed = queue.claim(db, worker, limit=1, lease_seconds=lease, clock=clock)
    assert len(claimed) == 1
    return claimed[0]


def _posting_in(posting_id: str) -> PostingIn:
    return PostingIn(
        id=posting_id,
        title="Backend Python Developer",
        description="Build and run Python services on PostgreSQL for a logistics platform.",
        category="Engineering",
        tags=["python", "postgresql"],
        location={"city": "Berlin"},
        experience_level="mid",
    )


@pytest.fixture
def clock() -> ManualClock:
    """Time that moves only when a test advances it: leases expire and retries fall due
    without sleeping."""
    return ManualClock()


# --- enqueue -------------------------------------------------------------------------------


def test_an_enqueue_inside_a_rolled_back_transaction_leaves_no_task(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.write() as session:
        queue.enqueue(session, queue.EMBED, "p1")
        assert session.scalar(select(Task.id).where(Task.posting_id == "p1")) is not None
        raise RuntimeError("boom")
    assert _tasks(db) == []


def test_a_posting_created_in_a_rolled_back_transaction_leaves_neither_posting_nor_task(
    db: Database,
) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        PostingWriter().create(session, _posting_in("job-1"))
        raise RuntimeError("rollback")
    with db.read() as session:
        assert session.get(Posting, "job-1") is None
    assert _tasks(db) == []


def test_a_created_posting_commits_with_exactly_one_queued_embed_task(db: Database) -> None:
    with db.write() as session:
        PostingWriter().create(session, _posting_in("job-1"), trace_id="trace-1")
    tasks = _tasks(db)
    assert [(t.kind, t.posting_id, t.state, t.trace_id) for t in tasks] == [
        (queue.EMBED, "job-1", queue.QUEUED, "trace-1")
    ]


def test_enqueueing_twice_coalesces_into_one_task_that_takes_the_higher_priority(
    db: Database,
) -> None:
    _enqueue(db, "p1", priority=queue.PRIORITY_BACKFILL, trace_id="first")
    _enqueue(db, "p1", priority=queue.PRIORITY_NEW, trace_id="second")
    _enqueue(db, "p1", priority=queue.PRIORITY_REFRESH)
    tasks = _tasks(db)
    assert len(tasks) == 1
    assert tasks[0].state == queue.QUEUED
    assert tasks[0].priority == queue.PRIORITY_NEW
    assert tasks[0].trace_id == "second"  # the newest trace id; a missing one does not erase it


def test_enqueueing_the_same_posting_for_two_kinds_gives_two_tasks(db: Database) -> None:
    _enqueue(db, "p1", kind=queue.EMBED)
    _enqueue(db, "p1", kind=queue.SIMILAR)
    assert sorted(t.kind for t in _tasks(db)) == [queue.EMBED, queue.SIMILAR]


def test_an_unknown_task_kind_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown task kind"), db.write() as session:
        queue.enqueue(session, "resize", "p1")


def test_a_hundred_rapid_updates_of_one_posting_leave_at_most_one_queued_embed_task(
    db: Database,
) -> None:
    writer = PostingWriter()
    with db.write() as session:
        writer.create(session, _posting_in("job-1"))
    for i in range(100):
        with db.write() as session:
            result = writer.update(
                session,
                "job-1",
                PostingPatch(description=f"Build and run Python services, revision number {i}."),
            )
            assert result.reembed
    embed = [t for t in _tasks(db, "job-1") if t.kind == queue.EMBED]
    assert len(embed) == 1
    assert embed[0].state == queue.QUEUED
    with db.read() as session:
        posting = session.get(Posting, "job-1")
        assert posting is not None
        assert posting.version == 101
    queued_by_kind = Counter(t.kind for t in _tasks(db) if t.state == queue.QUEUED)
    assert all(count == 1 for count in queued_by_kind.values())


def test_cancel_queued_drops_only_the_queued_task_of_that_kind(db: Database) -> None:
    _enqueue(db, "p1", kind=queue.EMBED)
    _enqueue(db, "p1", kind=queue.SIMILAR)
    with db.write() as session:
        assert queue.cancel_queued(session, queue.EMBED, "p1") == 1
        assert queue.cancel_queued(session, queue.EMBED, "p1") == 0
    assert [t.kind for t in _tasks(db)] == [queue.SIMILAR]


def test_has_pending_sees_only_queued_or_running_tasks_of_that_kind_and_posting(
    db: Database,
) -> None:
    def pending(kind: str, posting_id: str) -> bool:
        with db.read() as session:
            return queue.has_pending(session, kind, posting_id)

    _enqueue(db, "p1", "p2", kind=queue.SIMILAR)
    assert pending(queue.SIMILAR, "p1")
    assert not pending(queue.EMBED, "p1")
    assert not pending(queue.SIMILAR, "p3")
    running = {t.posting_id: t for t in queue.claim(db, "w1", limit=2)}
    assert pending(queue.SIMILAR, "p1")
    p1, p2 = running["p1"], running["p2"]
    with db.write() as session:
        queue.complete(session, p1.token, [p1.id])
        queue.settle_failure(session, p2.token, p2.id, RetryDecision("fail"), "boom")
    assert not pending(queue.SIMILAR, "p1")  # succeeded
    assert not pending(queue.SIMILAR, "p2")  # failed


# --- claim ---------------------------------------------------------------------------------


def test_a_claim_takes_the_highest_priority_first_and_leases_with_one_token(db: Database) -> None:
    _enqueue(db, "low", priority=queue.PRIORITY_BACKFILL)
    _enqueue(db, "high", priority=queue.PRIORITY_NEW)
    _enqueue(db, "mid", priority=queue.PRIORITY_REFRESH)
    first = queue.claim(db, "w1", limit=2, lease_seconds=30)
    assert {t.posting_id for t in first} == {"high", "mid"}
    assert len({t.token for t in first}) == 1
    assert all(t.attempts == 1 for t in first)
    stored = _task(db, first[0].id)
    assert stored.state == queue.RUNNING
    assert stored.lease_owner == "w1"
    assert stored.lease_token == first[0].token
    assert stored.lease_expires_at is not None
    remaining = stored.lease_expires_at - utcnow()
    assert timedelta(seconds=25) < remaining <= timedelta(seconds=30)
    assert [t.posting_id for t in queue.claim(db, "w2", limit=5)] == ["low"]
    assert queue.claim(db, "w3", limit=5) == []


def test_a_claim_skips_tasks_not_yet_due_and_other_kinds(db: Database) -> None:
    _enqueue(db, "later")
    _enqueue(db, "other", kind=queue.SIMILAR)
    with db.write() as session:
        session.execute(
            update(Task)
            .where(Task.posting_id == "later")
            .values(run_after=utcnow() + timedelta(minutes=5))
        )
    assert queue.claim(db, "w1", kinds=[queue.EMBED]) == []
    assert [t.posting_id for t in queue.claim(db, "w1", kinds=[queue.SIMILAR])] == ["other"]


def test_concurrent_claimers_never_get_the_same_task_twice(database_url: str) -> None:
    setup = Database(database_url)
    _enqueue(setup, *[f"p{i:03d}" for i in range(200)])
    claimed: list[int] = []
    completed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claimer(n: int) -> None:
        own = Database(database_url) if n % 2 else setup  # mix own and shared engines
        try:
            start.wait()
            while True:
                batch = queue.claim(own, f"w{n}", limit=5, lease_seconds=60)
                if not batch:
                    return
                with own.write() as session:
                    done = queue.complete(session, batch[0].token, [t.id for t in batch])
                with lock:
                    claimed.extend(t.id for t in batch)
                    completed.extend(done)
        except BaseException as error:  # surfaced by the main thread
            errors.append(error)
        finally:
            if own is not setup:
                own.dispose()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert len(claimed) == 200
        assert len(set(claimed)) == 200
        assert sorted(completed) == sorted(claimed)
        tasks = _tasks(setup)
        assert len(tasks) == 200
        assert {t.state for t in tasks} == {queue.SUCCEEDED}
        assert {t.attempts for t in tasks} == {1}
        assert all(t.finished_at is not None and t.lease_expires_at is None for t in tasks)
    finally:
        setup.dispose()


# --- leases and fencing --------------------------------------------------------------------


def test_a_worker_whose_lease_expired_cannot_complete_its_task(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", clock=clock)
    first = _claim_one(db, "slow", lease=0.2, clock=clock)
    clock.advance(0.4)
    second = _claim_one(db, "fast", lease=60, clock=clock)
    assert second.id == first.id
    assert second.token != first.token
    assert second.attempts == 2
    with db.write() as session:
        assert queue.complete(session, first.token, [first.id]) == set()
    stored = _task(db, first.id)
    assert stored.state == queue.RUNNING
    assert stored.lease_owner == "fast"
    assert stored.lease_token == second.token
    with db.write() as session:
        assert queue.complete(session, second.token, [second.id]) == {second.id}
    assert _task(db, first.id).state == queue.SUCCEEDED


def test_a_task_whose_lease_has_not_expired_is_not_reclaimed(db: Database) -> None:
    _enqueue(db, "p1")
    _claim_one(db, "w1", lease=60)
    assert queue.claim(db, "w2", limit=10, lease_seconds=60) == []


def test_a_heartbeat_extends_the_lease_so_the_task_is_not_reclaimed(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", clock=clock)
    task = _claim_one(db, "w1", lease=0.5, clock=clock)
    clock.advance(0.2)
    assert queue.heartbeat(db, task.token, 5.0, clock=clock) == 1
    clock.advance(0.5)  # past the original expiry
    assert queue.claim(db, "w2", limit=10, lease_seconds=60, clock=clock) == []
    stored = _task(db, task.id)
    assert stored.lease_token == task.token
    assert stored.lease_expires_at is not None
    assert stored.lease_expires_at > utcnow() + timedelta(seconds=3)


def test_a_heartbeat_with_a_lost_token_extends_nothing(db: Database, clock: ManualClock) -> None:
    _enqueue(db, "p1", clock=clock)
    first = _claim_one(db, "w1", lease=0.1, clock=clock)
    clock.advance(0.25)
    second = _claim_one(db, "w2", lease=0.1, clock=clock)
    assert queue.heartbeat(db, first.token, 60, clock=clock) == 0
    stored = _task(db, second.id)
    assert stored.lease_token == second.token
    assert stored.lease_expires_at is not None
    assert stored.lease_expires_at < utcnow() + timedelta(seconds=1)


def test_an_expired_lease_on_the_last_attempt_dead_letters_the_task(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", max_attempts=2, clock=clock)
    _claim_one(db, "w1", lease=0.1, clock=clock)
    clock.advance(0.25)
    again = _claim_one(db, "w2", lease=0.1, clock=clock)  # second and last attempt
    assert again.attempts == 2
    clock.advance(0.25)
    assert queue.claim(db, "w3", limit=10, lease_seconds=60, clock=clock) == []
    stored = _task(db, again.id)
    assert stored.state == queue.FAILED
    assert stored.attempts == 2
    assert stored.finished_at is not None
    assert stored.last_error is not None
    assert "lease expired" in stored.last_error


def _expire(db: Database, clock: ManualClock, tasks: list[queue.ClaimedTask]) -> None:
    """The worker holding `tasks` is killed: nothing settles them, their lease runs out."""
    clock.advance(0.25)
    assert all(_task(db, t.id).lease_token == t.token for t in tasks)


def test_a_lease_lost_in_a_batch_is_refunded_and_never_dead_letters_an_innocent_task(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", "p2", "p3", max_attempts=2, clock=clock)
    for kill in range(2):  # their batch killed twice: every attempt used, were they counted
        batch = queue.claim(db, f"w{kill}", limit=10, lease_seconds=0.1, clock=clock)
        assert len(batch) == 3, kill
        assert {t.attempts for t in batch} == {1}, kill
        assert batch[0].token.endswith(queue.BATCH)
        _expire(db, clock, batch)
    # Lost twice: suspects now, each claimed alone; none was dead-lettered.
    suspects = [_claim_one(db, f"s{n}", lease=0.1, clock=clock) for n in range(3)]
    assert sorted(t.posting_id for t in suspects) == ["p1", "p2", "p3"]
    assert {t.attempts for t in suspects} == {1}  # both batch losses refunded
    assert not any(t.token.endswith(queue.BATCH) for t in suspects)
    with db.write() as session:
        done = queue.complete(session, suspects[0].token, [suspects[0].id])
    assert done == {suspects[0].id}
    # A suspect lost while claimed alone may be the poison: that attempt counts.
    _expire(db, clock, suspects[1:])
    again = [_claim_one(db, f"t{n}", lease=60, clock=clock) for n in range(2)]
    assert {t.attempts for t in again} == {2}
    assert queue.claim(db, "idle", limit=10, clock=clock) == []
    assert [t.state for t in _tasks(db)] == [queue.SUCCEEDED, queue.RUNNING, queue.RUNNING]


def test_a_batch_lost_on_its_last_attempt_is_claimed_again_not_dead_lettered(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", "p2", max_attempts=1, clock=clock)
    batch = queue.claim(db, "w1", limit=10, lease_seconds=0.1, clock=clock)
    assert [t.attempts for t in batch] == [1, 1]  # the last attempt of each
    _expire(db, clock, batch)
    again = queue.claim(db, "w2", limit=10, lease_seconds=60, clock=clock)
    assert sorted(t.id for t in again) == sorted(t.id for t in batch)
    assert [t.attempts for t in again] == [1, 1]
    assert {t.state for t in _tasks(db)} == {queue.RUNNING}


def test_an_orphan_is_claimed_before_suspects_and_a_suspect_is_claimed_alone(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "o1", "o2", clock=clock)
    orphans = queue.claim(db, "w1", limit=2, lease_seconds=1.0, clock=clock)
    _enqueue(db, "s1", "s2", "s3", clock=clock)
    for worker in ("w2", "w3"):  # lost twice: suspects
        _expire(db, clock, queue.claim(db, worker, limit=3, lease_seconds=0.1, clock=clock))
    clock.advance(0.6)  # w1 is lost too: o1 and o2 are ordinary orphans, lost once
    assert all(_task(db, t.id).lease_token == t.token for t in orphans)
    _enqueue(db, "q1", clock=clock)
    first = queue.claim(db, "w4", limit=10, lease_seconds=60, clock=clock)
    assert sorted(t.posting_id for t in first) == ["o1", "o2", "q1"]
    assert {t.attempts for t in first} == {1}
    for n in range(3):
        alone = queue.claim(db, f"x{n}", limit=10, lease_seconds=60, clock=clock)
        assert len(alone) == 1 and alone[0].posting_id.startswith("s"), alone
        assert alone[0].attempts == 1 and not alone[0].token.endswith(queue.BATCH)
    assert queue.claim(db, "idle", limit=10, clock=clock) == []


def test_a_task_that_kills_every_worker_is_dead_lettered_and_its_batch_mates_complete(
    db: Database, clock: ManualClock
) -> None:
    ids = [f"p{n}" for n in range(12)]
    _enqueue(db, *ids, max_attempts=3, clock=clock)
    crashes = 0
    for turn in range(60):
        batch = queue.claim(db, f"w{turn}", limit=5, lease_seconds=0.1, clock=clock)
        if not batch:
            break
        if any(t.posting_id == "p3" for t in batch):
            crashes += 1  # the poison kills the process: the whole batch's lease runs out
            _expire(db, clock, batch)
            continue
        with db.write() as session:
            queue.complete(session, batch[0].token, [t.id for t in batch])
    tasks = {t.posting_id: t for t in _tasks(db)}
    poison = tasks.pop("p3")
    assert poison.state == queue.FAILED
    assert poison.attempts == poison.max_attempts == 3
    assert poison.last_error is not None and "last attempt" in poison.last_error
    assert {t.state for t in tasks.values()} == {queue.SUCCEEDED}
    assert max(t.attempts for t in tasks.values()) == 1  # the batch mates lost no attempt
    assert crashes == 2 + 3  # two in a batch (refunded), then three alone (counted)


def test_an_orphan_with_a_newer_pending_task_of_its_posting_is_retired_not_claimed_again(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", "p2", clock=clock)
    old = queue.claim(db, "killed", limit=10, lease_seconds=0.1, clock=clock)
    _enqueue(db, "p1", clock=clock)  # p1 edited while its task runs: a newer task
    newer = queue.claim(db, "w2", limit=10, lease_seconds=60, clock=clock)
    assert [t.posting_id for t in newer] == ["p1"]
    _expire(db, clock, old)  # the first worker is killed; the newer p1 task still runs
    again = queue.claim(db, "w3", limit=10, lease_seconds=60, clock=clock)
    # Claimed again, the old p1 task would embed and store p1 beside the newer one.
    assert [t.posting_id for t in again] == ["p2"]
    retired = _task(db, next(t.id for t in old if t.posting_id == "p1"))
    assert retired.state == queue.SUCCEEDED
    assert retired.last_error is not None and retired.last_error.startswith("superseded")
    assert _task(db, newer[0].id).lease_token == newer[0].token  # the newer one untouched


def test_of_two_orphans_of_one_posting_the_newer_is_claimed_again(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", clock=clock)
    old = _claim_one(db, "killed-1", lease=0.1, clock=clock)
    _enqueue(db, "p1", clock=clock)
    newer = _claim_one(db, "killed-2", lease=0.1, clock=clock)
    _expire(db, clock, [old, newer])
    again = queue.claim(db, "w3", limit=10, lease_seconds=60, clock=clock)
    assert [t.id for t in again] == [newer.id]
    assert _task(db, old.id).state == queue.SUCCEEDED


def test_still_held_reports_only_the_tasks_the_token_holds(db: Database) -> None:
    _enqueue(db, "p1", "p2")
    batch = queue.claim(db, "w1", limit=2, lease_seconds=60)
    ids = [t.id for t in batch]
    with db.write() as session:
        assert queue.still_held(session, batch[0].token, ids) == set(ids)
        assert queue.still_held(session, "not-a-token", ids) == set()
        queue.complete(session, batch[0].token, ids[:1])
        assert queue.still_held(session, batch[0].token, ids) == set(ids[1:])


# --- failures, release, supersede ----------------------------------------------------------


def test_a_retry_decision_requeues_the_task_later_with_the_attempt_counted(db: Database) -> None:
    _enqueue(db, "p1")
    task = _claim_one(db)
    before = utcnow()
    with db.write() as session:
        state = queue.settle_failure(
            session, task.token, task.id, RetryDecision("retry", 30.0), "timeout"
        )
    assert state == queue.QUEUED
    stored = _task(db, task.id)
    assert stored.state == queue.QUEUED
    assert stored.attempts == 1
    assert stored.last_error == "timeout"
    assert stored.lease_token is None
    assert stored.lease_owner is None
    assert before + timedelta(seconds=29) < stored.run_after < utcnow() + timedelta(seconds=31)
    assert queue.claim(db, "w2") == []  # not due yet


def test_a_delay_decision_requeues_the_task_and_refunds_the_attempt(db: Database) -> None:
    _enqueue(db, "p1")
    task = _claim_one(db)
    before = utcnow()
    with db.write() as session:
        state = queue.settle_failure(
            session, task.token, task.id, RetryDecision("delay", 12.0), "rate limited"
        )
    assert state == queue.QUEUED
    stored = _task(db, task.id)
    assert stored.attempts == 0
    assert before + timedelta(seconds=11) < stored.run_after < utcnow() + timedelta(seconds=13)


def test_a_retried_task_is_claimed_again_once_its_delay_has_passed(
    db: Database, clock: ManualClock
) -> None:
    _enqueue(db, "p1", clock=clock)
    task = _claim_one(db, clock=clock)
    with db.write() as session:
        queue.settle_failure(
            session, task.token, task.id, RetryDecision("retry", 30.0), "timeout", clock=clock
        )
    clock.advance(29)
    assert queue.claim(db, "w2", clock=clock) == []
    clock.advance(1)
    again = _claim_one(db, "w2", clock=clock)
    assert (again.id, again.attempts) == (task.id, 2)


def test_a_fail_decision_dead_letters_the_task_with_a_sanitized_error(db: Database) -> None:
    _enqueue(db, "p1")
    task = _claim_one(db)
    message = (
        "401 from provider: key sk-abcdef1234567890XYZ rejected; "
        "sent Authorization: Bearer xyz; password=hunter2"
    )
    with db.write() as session:
        state = queue.settle_failure(session, task.token, task.id, RetryDecision("fail"), message)
    assert state == queue.FAILED
    stored = _task(db, task.id)
    assert stored.state == queue.FAILED
    assert stored.finished_at is not None
    error = stored.last_error or ""
    assert "401 from provider" in error
    assert "sk-abcdef1234567890XYZ" not in error
    assert "xyz" not in error
    assert "hunter2" not in error
    assert error.count("[redacted]") == 3


def test_a_very_long_error_is_cut_before_it_is_stored(db: Database) -> None:
    _enqueue(db, "p1")
    task = _claim_one(db)
    with db.write() as session:
        queue.settle_failure(session, task.token, task.id, RetryDecision("fail"), "x" * 10_000)
    assert len(_task(db, task.id).last_error or "") <= 500


def test_settling_a_failure_with_a_lost_token_changes_nothing(db: Database) -> None:
    _enqueue(db, "p1")
    task = _claim_one(db)
    for decision in (RetryDecision("fail"), RetryDecision("retry", 1), RetryDecision("delay", 1)):
        with db.write() as session:
            assert queue.settle_failure(session, "stolen", task.id, decision, "x") is None
    stored = _task(db, task.id)
    assert stored.state == queue.RUNNING
    assert stored.lease_token == task.token
    assert stored.attempts == 1


def test_release_returns_tasks_to_the_queue_without_counting_the_attempt(db: Database) -> None:
    _enqueue(db, "p1", "p2")
    batch = queue.claim(db, "w1", limit=2, lease_seconds=60)
    with db.write() as session:
        assert queue.release(session, "wrong-token", [t.id for t in batch]) == 0
        assert queue.release(session, batch[0].token, [t.id for t in batch]) == 2
    for task in _tasks(db):
        assert task.state == queue.QUEUED
        assert task.attempts == 0
        assert task.lease_token is None
        assert task.run_after <= utcnow()
    again = queue.claim(db, "w2", limit=2, lease_seconds=60)
    assert sorted(t.id for t in again) == sorted(t.id for t in batch)
    assert {t.attempts for t in again} == {1}


def test_a_requeue_when_a_newer_queued_sibling_exists_supersedes_the_old_task(
    db: Database,
) -> None:
    _enqueue(db, "p1")
    running = _claim_one(db)
    _enqueue(db, "p1")  # the posting changed while the old task ran
    newer = [t for t in _tasks(db) if t.state == queue.QUEUED]
    assert len(newer) == 1 and newer[0].id != running.id
    with db.write() as session:
        state = queue.settle_failure(
            session, running.token, running.id, RetryDecision("retry", 0), "timeout"
        )
    assert state == queue.SUCCEEDED
    old = _task(db, running.id)
    assert old.state == queue.SUCCEEDED
    assert old.last_error == f"superseded by queued task {newer[0].id}"
    assert _task(db, newer[0].id).state == queue.QUEUED


def test_a_release_when_a_newer_queued_sibling_exists_supersedes_the_old_task(
    db: Database,
) -> None:
    _enqueue(db, "p1")
    running = _claim_one(db)
    _enqueue(db, "p1")
    with db.write() as session:
        assert queue.release(session, running.token, [running.id]) == 1
    states = [(t.id, t.state) for t in _tasks(db)]
    assert states == [(running.id, queue.SUCCEEDED), (running.id + 1, queue.QUEUED)]


# --- operations ----------------------------------------------------------------------------


def _set_finished(db: Database, posting_id: str, state: str, finished_at: datetime) -> None:
    with db.write() as session:
        session.execute(
            update(Task)
            .where(Task.posting_id == posting_id)
            .values(state=state, finished_at=finished_at)
        )


def test_prune_deletes_only_finished_tasks_older_than_their_retention(db: Database) -> None:
    now = utcnow()
    _enqueue(db, "old-ok", "new-ok", "old-failed", "new-failed", "queued")
    _set_finished(db, "old-ok", queue.SUCCEEDED, now - timedelta(days=2))
    _set_finished(db, "new-ok", queue.SUCCEEDED, now - timedelta(hours=2))
    _set_finished(db, "old-failed", queue.FAILED, now - timedelta(days=8))
    _set_finished(db, "new-failed", queue.FAILED, now - timedelta(days=2))
    with db.write() as session:
        pruned = queue.prune(
            session, succeeded_older_than=timedelta(days=1), failed_older_than=timedelta(days=7)
        )
    assert pruned == 2
    assert sorted(t.posting_id for t in _tasks(db)) == ["new-failed", "new-ok", "queued"]


def test_counts_report_every_kind_and_state(db: Database) -> None:
    with db.read() as session:
        empty = queue.counts(session)
        assert queue.oldest_queued_age_seconds(session) is None
    assert empty == {kind: dict.fromkeys(queue.STATES, 0) for kind in queue.KINDS}
    _enqueue(db, "a", "b", "c")
    _enqueue(db, "a", kind=queue.SIMILAR)
    queue.claim(db, "w1", kinds=[queue.EMBED], limit=1)
    _set_finished(db, "c", queue.FAILED, utcnow())
    with db.read() as session:
        table = queue.counts(session)
        age = queue.oldest_queued_age_seconds(session)
    assert table[queue.EMBED] == {"queued": 1, "running": 1, "succeeded": 0, "failed": 1}
    assert table[queue.SIMILAR] == {"queued": 1, "running": 0, "succeeded": 0, "failed": 0}
    assert age is not None and 0.0 <= age < 60.0


def test_the_oldest_queued_age_is_measured_on_the_clock(db: Database, clock: ManualClock) -> None:
    _enqueue(db, "a", clock=clock)
    clock.advance(90)
    _enqueue(db, "b", clock=clock)
    clock.advance(10)
    with db.read() as session:
        assert queue.oldest_queued_age_seconds(session, clock=clock) == pytest.approx(100.0)
