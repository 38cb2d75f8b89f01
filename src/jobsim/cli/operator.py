"""An operator's commands, the same code paths as the admin API: status, backfill, tasks,
recompute, reembed, enqueue, log-level."""

from __future__ import annotations

import getpass
import json
import sys

import click

from jobsim import queue
from jobsim.admin import ActionResult
from jobsim.cli.base import Context, main, pass_context
from jobsim.runtime_settings import LOG_LEVELS


@main.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be queued.")
@pass_context
def backfill(context: Context, dry_run: bool) -> None:
    """Queue every active posting that has no vector for the current model and text."""
    from tqdm import tqdm

    admin = context.service().admin
    missing = admin.count_missing_embeddings()
    if dry_run:
        click.echo(
            f"{missing} postings would be queued for embedding with {context.settings.embedder}"
        )
        return
    with tqdm(total=missing, unit="posting", desc="queueing", disable=missing == 0) as bar:
        last = 0
        for done in admin.backfill():
            bar.update(done - last)
            last = done
    click.echo(f"queued {missing} postings; run `jobsim worker` to embed them")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_context
def status(context: Context, as_json: bool) -> None:
    """Embedding coverage, queue and workers."""
    report = context.service().ops.status()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    postings, embeddings, tasks = report["postings"], report["embeddings"], report["queue"]
    click.echo(f"embedder: {report['embedder']} (vectors: {report['vector_model']})")
    several_types = len(report["listing_types"]) > 1
    click.echo(
        ("listings, all types: " if several_types else "postings: ")
        + ", ".join(f"{v} {k}" for k, v in postings.items())
    )
    click.echo(
        f"embeddings: {embeddings['current']} current, {embeddings['missing']} missing "
        f"({embeddings['coverage']:.1%} of active)"
    )
    if len(report["models"]) > 1:
        for row in report["models"]:
            marks = [m for m in ("current", "serving") if row[m]]
            click.echo(
                f"model {row['model']}: {row['embedded']} embedded ({row['coverage']:.1%}), "
                f"{row['vectors']} vectors" + (f" [{', '.join(marks)}]" if marks else "")
            )
    click.echo(f"similar lists: {report['similar_lists']['computed']} computed")
    if several_types:  # a board of jobs only has nothing more to say here
        click.echo(
            "listing types: "
            + ", ".join(
                f"{row['listing_type']} {row['active']} ({row['coverage']:.0%} embedded)"
                for row in report["listing_types"]
            )
        )
    if report["languages"]:
        click.echo(
            "languages: "
            + ", ".join(
                f"{row['language']} {row['active']} ({row['coverage']:.0%} embedded"
                + (", glossed to English)" if row["glossed"] else ")")
                for row in report["languages"]
            )
        )
    for kind, states in tasks["tasks"].items():
        click.echo(f"queue {kind}: " + ", ".join(f"{v} {k}" for k, v in states.items()))
    if tasks["oldest_queued_age_seconds"] is not None:
        click.echo(f"oldest queued task: {tasks['oldest_queued_age_seconds']:.0f}s")
    for w in report["workers"]:
        click.echo(
            f"worker {w['id']}: {w['state']}, heartbeat {w['heartbeat_age_seconds']}s "
            f"ago, {w['processed']} processed, {w['failed']} failed"
        )


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def _echo_action(result: ActionResult, what: str) -> None:
    click.echo(f"{result.action}: {result.count} {what}")


@main.group()
def tasks() -> None:
    """Inspect and retry background tasks (the dead letters are the failed ones)."""


@tasks.command("list")
@click.option("--state", type=click.Choice(queue.STATES))
@click.option("--kind", type=click.Choice(queue.KINDS))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True)
@pass_context
def tasks_list(
    context: Context, state: str | None, kind: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Tasks, newest first."""
    page = context.service().ops.tasks(state=state, kind=kind, limit=limit, offset=offset)
    if as_json:
        click.echo(page.model_dump_json(indent=2))
        return
    for task in page.items:
        error = f"  {task.last_error}" if task.last_error else ""
        click.echo(
            f"{task.id:>8}  {task.kind:<8} {task.state:<9} {task.posting_id}  "
            f"attempts {task.attempts}/{task.max_attempts}{error}"
        )
    click.echo(f"{len(page.items)} of {page.total} tasks")


@tasks.command("show")
@click.argument("task_id", type=click.IntRange(1))
@pass_context
def tasks_show(context: Context, task_id: int) -> None:
    """One task with its attempts, times, trace id and last error."""
    click.echo(context.service().ops.task(task_id).model_dump_json(indent=2))


@tasks.command("retry")
@click.argument("task_ids", nargs=-1, type=click.IntRange(1))
@pass_context
def tasks_retry(context: Context, task_ids: tuple[int, ...]) -> None:
    """Send dead letters back to the queue (all of them when no id is given)."""
    result = context.service().admin.retry(list(task_ids) or None, who=_who())
    _echo_action(result, "dead letters back in the queue")


@tasks.command("clear")
@click.option("--older-than-days", required=True, type=click.FloatRange(0, 3650))
@pass_context
def tasks_clear(context: Context, older_than_days: float) -> None:
    """Delete succeeded and failed tasks finished more than N days ago."""
    result = context.service().admin.clear(older_than_days, who=_who())
    _echo_action(result, "finished tasks deleted")


@main.command()
@pass_context
def recompute(context: Context) -> None:
    """Queue a similar-list recompute for every listed posting."""
    _echo_action(context.service().admin.recompute(who=_who()), "lists queued")


@main.command()
@pass_context
def reembed(context: Context) -> None:
    """Queue a re-embedding of every active posting (old vectors serve until replaced)."""
    _echo_action(context.service().admin.reembed(who=_who()), "postings queued")


@main.command()
@click.argument("posting_ids", nargs=-1, required=True)
@pass_context
def enqueue(context: Context, posting_ids: tuple[str, ...]) -> None:
    """Queue an embedding for the postings given."""
    result = context.service().admin.enqueue(list(posting_ids), who=_who())
    _echo_action(result, "postings queued")
    if result.unknown:
        click.echo("unknown: " + ", ".join(result.unknown), err=True)
        sys.exit(1)


@main.command("log-level")
@click.argument("level", required=False, type=click.Choice(LOG_LEVELS, case_sensitive=False))
@pass_context
def log_level(context: Context, level: str | None) -> None:
    """Show the log level every process follows, or set it."""
    admin = context.service().admin
    click.echo(admin.set_log_level(level, who=_who()) if level else admin.log_level())
