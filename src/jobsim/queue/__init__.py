"""The task queue, the one home of every statement on the tasks table.

core.py runs tasks (enqueue, claim, heartbeat, complete, retry, release, prune); reports.py is
what an operator reads (counts, ages, throughput, tasks); operator.py is what an operator does
(retry dead letters, clear finished tasks, release dead workers' leases).
"""

from __future__ import annotations

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
    claim,
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
    per_minute,
    postings_with_tasks,
)

__all__ = [
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
    "cancel_queued",
    "claim",
    "clear_finished",
    "complete",
    "counts",
    "enqueue",
    "enqueue_many",
    "get_task",
    "has_pending",
    "heartbeat",
    "list_tasks",
    "oldest_queued_age_seconds",
    "outcomes_since",
    "per_minute",
    "postings_with_tasks",
    "prune",
    "release",
    "release_leases_of",
    "retry_failed",
    "settle_failure",
    "still_held",
]
