"""The `jobsim` command: serve, worker, import, backfill, similar, status, demo, db upgrade."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError as SettingsError

from jobsim.errors import ConfigurationError, JobsimError
from jobsim.logs import configure_logging
from jobsim.settings import Settings
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe

if TYPE_CHECKING:
    from jobsim.embedders.base import Embedder
    from jobsim.postings.schema import PostingOut
    from jobsim.service import Service
    from jobsim.serving import SimilarResponse
    from jobsim.worker import Worker

SAMPLE_FILE = "sample_postings.jsonl"


class Context:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self._settings: Settings | None = None
        self._db: Database | None = None
        self._recipe: VectorRecipe | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings(**self.overrides)
            except SettingsError as error:
                # Only field names and rule messages: the input may hold API keys.
                problems = "; ".join(
                    f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: {e['msg']}"
                    for e in error.errors()
                )
                raise click.ClickException(f"invalid configuration: {problems}") from None
        return self._settings

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def database(self, *, upgrade: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
            if upgrade:
                ensure_schema(self._db)
        return self._db

    @property
    def recipe(self) -> VectorRecipe:
        """How postings become vectors, built once from the settings."""
        if self._recipe is None:
            try:
                self._recipe = VectorRecipe.from_settings(self.settings)
            except ConfigurationError as error:
                raise click.ClickException(f"invalid configuration: {error}") from None
        return self._recipe

    def service(self) -> Service:
        from jobsim.service import Service

        return Service(self.settings, self.database(), self.recipe)

    def worker(self) -> Worker:
        from jobsim.worker import Worker

        settings = self.settings
        return Worker(settings, self.database(), make_embedder(settings), recipe=self.recipe)


def ensure_schema(db: Database) -> None:
    """SQLite (the embedded default) migrates itself; PostgreSQL must be upgraded explicitly."""
    if migrate.current_revision(db) == migrate.head_revision():
        return
    if db.is_sqlite:
        migrate.upgrade(db)
        return
    raise click.ClickException("the database schema is not up to date: run `jobsim db upgrade`")


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--database-url",
    envvar="JOBSIM_DATABASE_URL",
    help="sqlite:///file.db or postgresql://user@host/db (default: sqlite:///jobsim.db)",
)
@click.option(
    "--embedder",
    envvar="JOBSIM_EMBEDDER",
    help="local:all-MiniLM-L6-v2 (default), openai:<model>, gemini:<model>, ...",
)
@click.option("--log-level", envvar="JOBSIM_LOG_LEVEL", default="INFO", show_default=True)
@click.pass_context
def main(
    ctx: click.Context, database_url: str | None, embedder: str | None, log_level: str
) -> None:
    """jobsim: semantic similar jobs for job boards."""
    configure_logging(log_level)
    ctx.obj = Context({"database_url": database_url, "embedder": embedder, "log_level": log_level})
    ctx.call_on_close(ctx.obj.close)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(context: Context, revision: str) -> None:
    """Apply the schema migrations."""
    database = context.database(upgrade=False)
    migrate.upgrade(database, revision)
    click.echo(f"database at revision {migrate.current_revision(database)}")


def make_embedder(settings: Settings) -> Embedder:
    from jobsim.embedders.registry import create_embedder

    return create_embedder(settings.embedder, settings)


@main.command()
@click.option("--burst", is_flag=True, help="Drain the runnable tasks, then exit.")
@click.option("--batch-size", type=click.IntRange(1, 1024), help="Tasks per claim.")
@pass_context
def worker(context: Context, burst: bool, batch_size: int | None) -> None:
    """Run a background worker (any number may run at once)."""
    if batch_size:
        context.overrides["batch_size"] = batch_size
    the_worker = context.worker()
    with closing(the_worker.embedder):
        totals = the_worker.run(burst=burst, install_signal_handlers=True)
    click.echo(
        f"worker {the_worker.id}: embedded {totals.embedded}, succeeded "
        f"{totals.succeeded}, retried {totals.retried}, failed {totals.failed}"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--with-worker", is_flag=True, help="Also run a worker in this process.")
@pass_context
def serve(context: Context, host: str, port: int, with_worker: bool) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from jobsim.api.app import create_app

    settings = context.settings
    service = context.service()
    app = create_app(settings, service)
    with _embedded_worker(context) if with_worker else _nothing():
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _embedded_worker(context: Context) -> Iterator[None]:
    the_worker = context.worker()
    thread = threading.Thread(target=the_worker.run, name="jobsim-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        the_worker.stop()
        thread.join(timeout=context.settings.shutdown_grace_seconds)
        if not thread.is_alive():
            the_worker.embedder.close()


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "jsonl", "csv"]),
    help="Default: from the extension or the content.",
)
@pass_context
def import_command(context: Context, path: Path, fmt: str | None) -> None:
    """Import postings from JSON, JSON Lines, CSV or mongoexport output."""
    from jobsim.importing import import_file

    report = import_file(context.service().postings, path, fmt)
    for error in report.errors[:50]:
        fields = "; ".join(f"{e['field']}: {e['message']}" for e in error.errors)
        click.echo(f"  skipped {error.source}: {fields}", err=True)
    if len(report.errors) > 50:
        click.echo(f"  ... and {len(report.errors) - 50} more rejected records", err=True)
    click.echo(
        f"imported {path.name}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} deleted skipped, "
        f"{len(report.errors)} rejected"
    )
    if report.errors:
        sys.exit(1)


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
@click.argument("posting_id")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True)
@pass_context
def similar(context: Context, posting_id: str, limit: int, as_json: bool) -> None:
    """Print the postings most similar to POSTING_ID."""
    from jobsim.serving import SimilarFilters

    service = context.service()
    posting = service.postings.get(posting_id)
    result = service.similar.for_posting(posting_id, SimilarFilters(limit=limit))
    if as_json:
        click.echo(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
        return
    print_similar(posting, result)


def print_similar(posting: PostingOut, result: SimilarResponse) -> None:
    where = posting.location.city or ("remote" if posting.location.remote else "-")
    click.echo(f"{posting.id}  {posting.title}  [{posting.category or '-'} · {where}]")
    click.echo(f"method: {result.method}" + (f" — {result.message}" if result.message else ""))
    for rank, item in enumerate(result.data, 1):
        score = f"{item.percentage:>3}%" if item.percentage is not None else "   -"
        city = item.location.city or ("remote" if item.location.remote else "-")
        click.echo(f"  {rank:>2}. {score}  {item.title}  ({item.company or '-'}, {city})")


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
    click.echo("postings: " + ", ".join(f"{v} {k}" for k, v in postings.items()))
    click.echo(
        f"embeddings: {embeddings['current']} current, {embeddings['missing']} missing "
        f"({embeddings['coverage']:.1%} of active)"
    )
    click.echo(f"similar lists: {report['similar_lists']['computed']} computed")
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


@main.command()
@click.option(
    "--show",
    default=3,
    show_default=True,
    type=click.IntRange(0, 20),
    help="How many sample postings to print similar jobs for.",
)
@click.option("--serve", "then_serve", is_flag=True, help="Keep serving the API afterwards.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@pass_context
def demo(context: Context, show: int, then_serve: bool, port: int) -> None:
    """Load the bundled sample postings, embed them, and print similar jobs."""
    from jobsim.importing import import_file

    settings = context.settings
    service = context.service()
    sample = resources.files("jobsim.data").joinpath(SAMPLE_FILE)
    with resources.as_file(sample) as path:
        report = import_file(service.postings, path)
    click.echo(
        f"sample postings: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged ({settings.database_url})"
    )
    click.echo(f"embedding with {settings.embedder} ...")
    the_worker = context.worker()
    with closing(the_worker.embedder):
        totals = _with_progress(service, lambda: the_worker.run(burst=True))
    click.echo(f"embedded {totals.embedded} postings; lists refreshed: {totals.lists_refreshed}")
    for posting_id in report.ids[:: max(len(report.ids) // max(show, 1), 1)][:show]:
        click.echo("")
        print_similar(service.postings.get(posting_id), service.similar.for_posting(posting_id))
    click.echo("\nTry: jobsim similar <id> · jobsim status · jobsim serve --with-worker")
    if then_serve:
        context.overrides["log_level"] = settings.log_level
        serve.callback(host="127.0.0.1", port=port, with_worker=True)  # type: ignore[misc]


@main.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--label", required=True, help="The CSV column holding the true class.")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--embedder", help="Embedder spec for this run, e.g. local:/path/to/model.")
@click.option("--glossary-dir", help="FreeDict dictionaries for glosses ('' = none).")
@click.option("--text-fields", help="Recipe fields, e.g. title,tags,description.")
@click.option("--title-repeat", type=click.IntRange(1, 5))
@click.option("--max-chars", type=click.IntRange(100, 100_000))
@click.option("--views", help="View mix, e.g. full:0.5,title:0.2,lexical:0.3.")
@click.option("--lexical-dims", type=click.IntRange(64, 8192))
@click.option("--weight-semantic", type=click.FloatRange(0, 1))
@click.option("--weight-context", type=click.FloatRange(0, 1))
@click.option("--no-references", is_flag=True, help="Skip random / fallback / TF-IDF.")
@pass_context
def eval_command(
    context: Context,
    path: Path,
    label: str,
    k: int,
    embedder: str | None,
    glossary_dir: str | None,
    text_fields: str | None,
    title_repeat: int | None,
    max_chars: int | None,
    views: str | None,
    lexical_dims: int | None,
    weight_semantic: float | None,
    weight_context: float | None,
    no_references: bool,
) -> None:
    """Score similar lists against a labelled CSV through the production path.

    Options given here override JOBSIM_* settings (and `jobsim --embedder`). The last line
    printed is `precision@K: 0.xxx` for that configuration.
    """
    from jobsim.evaluation import evaluate, format_report

    overrides = {
        "embedder": embedder,
        "glossary_dir": glossary_dir,
        "text_fields": text_fields,
        "title_repeat": title_repeat,
        "text_max_chars": max_chars,
        "vector_views": views,
        "lexical_dims": lexical_dims,
        "weight_semantic": weight_semantic,
        "weight_context": weight_context,
    }
    context.overrides.update({key: v for key, v in overrides.items() if v is not None})
    report = evaluate(
        path,
        label,
        context.settings,
        make_embedder,
        k=k,
        references=not no_references,
        progress=lambda message: click.echo(message, err=True),
    )
    click.echo(format_report(report))


def _with_progress(service: Any, work: Any) -> Any:
    from tqdm import tqdm

    from jobsim import queue

    def remaining() -> int:
        with service.db.read() as session:
            counts = queue.counts(session)
        return sum(counts[k][queue.QUEUED] + counts[k][queue.RUNNING] for k in counts)

    total = remaining()
    done = threading.Event()
    with tqdm(total=total, unit="task", desc="worker") as bar:

        def poll() -> None:
            while not done.wait(0.5):
                bar.n = max(total - remaining(), 0)
                bar.refresh()

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        try:
            result = work()
        finally:
            done.set()
            watcher.join()
            bar.n = total
            bar.refresh()
    return result


def run() -> None:
    try:
        main(standalone_mode=True)
    except JobsimError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
