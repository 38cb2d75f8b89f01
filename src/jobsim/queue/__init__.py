"""The task queue, the one home of every statement on the tasks table.

core.py runs tasks (enqueue, heartbeat, complete, retry, release, prune); claim.py leases them
to workers, with the rules for lost leases and poison; wakeup.py wakes idle workers when tasks
are queued; reports.py is what an operator reads (counts, ages, throughput, tasks);
operator.py is what an operator does (retry dead letters, clear finished tasks, release dead
workers' leases).
"""

from __future__ import annotations

from jobsim.queue.claim import BATCH, claim, claim_statement
from jobsim.queue.core import (
    EMBED,
    FAILED,
    KINDS,
    PRIORITY_BACKFILL,
    PRIORITY_NEW,
    PRIORITY_REFRESH,
    QUEUED,
    REEMBED,
    RUNNING,
    SIMILAR,
    STATES,
    SUCCEEDED,
    ClaimedTask,
    Kind,
    State,
    cancel_queued,
    complete,
    enqueue,
    enqueue_many,
    has_pending,
    heartbeat,
    prune,
    release,
    settle_failure,
    still_held,
)
from jobsim.queue.operator import clear_finished, release_leases_of, retry_failed
from jobsim.queue.reports import (
    MinuteCount,
    counts,
    get_task,
    list_tasks,
    oldest_queued_age_seconds,
    outcomes_since,
    pending_task_ids,
    per_minute,
    postings_with_tasks,
    totals,
)
from jobsim.queue.wakeup import WorkSignal, notify_queued

__all__ = [
    "BATCH",
    "EMBED",
    "FAILED",
    "KINDS",
    "PRIORITY_BACKFILL",
    "PRIORITY_NEW",
    "PRIORITY_REFRESH",
    "QUEUED",
    "REEMBED",
    "RUNNING",
    "SIMILAR",
    "STATES",
    "SUCCEEDED",
    "ClaimedTask",
    "Kind",
    "MinuteCount",
    "State",
    "WorkSignal",
    "cancel_queued",
    "claim",
    "claim_statement",
    "clear_finished",
    "complete",
    "counts",
    "enqueue",
    "enqueue_many",
    "get_task",
    "has_pending",
    "heartbeat",
    "list_tasks",
    "notify_queued",
    "oldest_queued_age_seconds",
    "outcomes_since",
    "pending_task_ids",
    "per_minute",
    "postings_with_tasks",
    "prune",
    "release",
    "release_leases_of",
    "retry_failed",
    "settle_failure",
    "still_held",
    "totals",
]
