"""The main job's commands: db upgrade, serve, worker, import, similar, match, demo, eval."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jobsim.cli.base import Context, main, make_embedder, pass_context
from jobsim.logs import configure_logging
from jobsim.settings import Settings
from jobsim.storage import migrate

if TYPE_CHECKING:
    from fastapi import FastAPI

    from jobsim.listing_types.business import BusinessOut
    from jobsim.postings.schema import PostingOut
    from jobsim.service import Service
    from jobsim.serving import SimilarResponse

SAMPLE_FILE = "sample_postings.jsonl"
SAMPLE_BUSINESSES = "sample_businesses.jsonl"
ListingTypeOption = click.option(
    "--type",
    "listing_type",
    type=click.Choice(["job", "business"]),
    default="job",
    show_default=True,
    help="Job postings or business listings.",
)


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
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="API processes sharing the port (uvicorn workers); about one per core.",
)
@click.option("--with-worker", is_flag=True, help="Also run a worker in this process.")
@pass_context
def serve(context: Context, host: str, port: int, workers: int, with_worker: bool) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from jobsim.api.app import create_app

    settings = context.settings
    if workers > 1:
        if with_worker:
            raise click.UsageError(
                "--with-worker runs a worker inside a single API process; with --workers, "
                "run `jobsim worker` beside the API"
            )
        context.service()  # checked once, here: the settings, the schema, the vector recipe
        context.close()
        # uvicorn starts each process afresh and builds its app there (served_app): the
        # options given here reach them as the JOBSIM_ variables they stand for.
        os.environ.update({f"JOBSIM_{k.upper()}": str(v) for k, v in context.overrides.items()})
        _serve_processes(host, port, workers, settings.log_level.lower())
        return
    service = context.service()
    # The worker lives in the app's lifespan: uvicorn ends the process right after its own
    # shutdown (re-raising SIGTERM), so code after uvicorn.run would never run.
    worker = (lambda: _embedded_worker(context)) if with_worker else None
    app = create_app(settings, service, alongside=worker)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())


def _serve_processes(host: str, port: int, workers: int, log_level: str) -> None:
    """`uvicorn.run(..., workers=N)` with one change: the listening socket is declared TCP.
    uvicorn binds it with protocol 0, which the accepted connections inherit, and asyncio only
    sets TCP_NODELAY on a socket that says it is TCP; without it every keep-alive answer after
    the first waits about 40 ms for the client's delayed ACK (Kludex/uvicorn#3149)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        f"{__name__}:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    bound = config.bind_socket()
    listener = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, bound.detach())
    try:
        Multiprocess(config, sockets=[listener]).run()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


def served_app() -> FastAPI:
    """The app of one process of `jobsim serve --workers N`, called by uvicorn in each: the
    settings from the environment, the service built (and disposed of) by the app itself."""
    from jobsim.api.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, fmt=settings.log_format)
    return create_app(settings)


@contextmanager
def _embedded_worker(context: Context) -> Iterator[None]:
    """A worker thread for the server's lifetime; at shutdown it finishes its batch within the
    grace period, or gives the batch back to the queue."""
    the_worker = context.worker()
    thread = threading.Thread(target=the_worker.run, name="jobsim-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        the_worker.stop()
        thread.join(timeout=context.settings.shutdown_grace_seconds)
        if thread.is_alive():
            the_worker.release_held()
        else:
            the_worker.embedder.close()


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "jsonl", "csv"]),
    help="Default: from the extension or the content.",
)
@ListingTypeOption
@pass_context
def import_command(context: Context, path: Path, fmt: str | None, listing_type: str) -> None:
    """Import postings (or businesses) from JSON, JSON Lines, CSV or mongoexport output."""
    from jobsim.importing import import_file

    service = context.service()
    if listing_type == "business":
        report = import_file(service.businesses, path, fmt, as_read=True)
    else:
        report = import_file(service.postings, path, fmt)
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
@click.argument("posting_id")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True)
@ListingTypeOption
@pass_context
def similar(
    context: Context, posting_id: str, limit: int, as_json: bool, listing_type: str
) -> None:
    """Print the postings (or businesses) most similar to POSTING_ID."""
    from jobsim.serving import SimilarFilters

    service = context.service()
    if listing_type == "business":
        business = service.businesses.get(posting_id)
        answer = service.similar.for_posting(
            posting_id, SimilarFilters(limit=limit), listing_type="business"
        )
        if as_json:
            click.echo(json.dumps(answer.model_dump(), indent=2, ensure_ascii=False))
            return
        print_similar_businesses(service, business, answer)
        return
    posting = service.postings.get(posting_id)
    result = service.similar.for_posting(posting_id, SimilarFilters(limit=limit))
    if as_json:
        click.echo(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
        return
    print_similar(posting, result)


@main.command()
@click.argument("text")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--city", help="Context: same city scores higher.")
@click.option("--remote", is_flag=True, help="Context: remote postings score higher.")
@click.option(
    "--level",
    type=click.Choice(["entry", "junior", "mid", "senior", "lead", "executive"]),
    help="Context: the experience level.",
)
@click.option("--category", help="Context: same category scores higher.")
@click.option("--remote-only", is_flag=True, help="Only remote postings.")
@click.option("--same-city", is_flag=True, help="Only postings in --city.")
@click.option("--explain", is_flag=True, help="Why each posting matches.")
@click.option("--json", "as_json", is_flag=True)
@ListingTypeOption
@pass_context
def match(
    context: Context,
    text: str,
    limit: int,
    city: str | None,
    remote: bool,
    level: str | None,
    category: str | None,
    remote_only: bool,
    same_city: bool,
    explain: bool,
    as_json: bool,
    listing_type: str,
) -> None:
    """Print the postings (or businesses) most similar to TEXT (a CV, a profile or a search
    phrase)."""
    from pydantic import ValidationError

    from jobsim.matching import MatchRequest

    try:
        request = MatchRequest.model_validate(
            {
                "text": text,
                "limit": limit,
                "filters": {
                    "city": city,
                    "remote": remote,
                    "experience_level": level,
                    "category": category,
                    "remote_only": remote_only,
                    "same_city": same_city,
                },
            }
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise click.UsageError(problems) from None
    service = context.service()
    matcher = service.matching
    try:
        result = matcher.match(request, listing_type=listing_type, explain=explain)
    finally:
        matcher.close()
    if as_json:
        click.echo(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
        return
    click.echo(f"language: {result.language}" + (f" — {result.message}" if result.message else ""))
    if listing_type == "business":
        from jobsim.businesses import similar_businesses

        for rank, found in enumerate(similar_businesses(service.businesses, result.data), 1):
            where = ", ".join(p for p in (found.address.city, found.address.region) if p) or "-"
            click.echo(f"  {rank:>2}. {found.percentage:>3}%  {found.name}  ({where})")
        return
    for rank, item in enumerate(result.data, 1):
        where = item.location.city or ("remote" if item.location.remote else "-")
        click.echo(
            f"  {rank:>2}. {item.percentage:>3}%  {item.title}  ({item.company or '-'}, {where})"
        )
        why = item.explanation
        if why is not None:
            views = " · ".join(f"{v.view} {v.contribution:+.2f}" for v in why.views)
            shared = ", ".join(dict.fromkeys([*why.shared.title_terms, *why.shared.skills])) or "-"
            click.echo(f"        semantic {views}; context {why.context:.2f}; shared: {shared}")


def print_similar(posting: PostingOut, result: SimilarResponse) -> None:
    where = posting.location.city or ("remote" if posting.location.remote else "-")
    click.echo(f"{posting.id}  {posting.title}  [{posting.category or '-'} · {where}]")
    click.echo(f"method: {result.method}" + (f" — {result.message}" if result.message else ""))
    for rank, item in enumerate(result.data, 1):
        score = f"{item.percentage:>3}%" if item.percentage is not None else "   -"
        city = item.location.city or ("remote" if item.location.remote else "-")
        click.echo(f"  {rank:>2}. {score}  {item.title}  ({item.company or '-'}, {city})")


def print_similar_businesses(
    service: Service, business: BusinessOut, result: SimilarResponse
) -> None:
    from jobsim.businesses import similar_businesses

    place = business.address.city or "-"
    click.echo(f"{business.id}  {business.name}  [{business.category or '-'} · {place}]")
    click.echo(f"method: {result.method}" + (f" — {result.message}" if result.message else ""))
    for rank, item in enumerate(similar_businesses(service.businesses, result.data), 1):
        score = f"{item.percentage:>3}%" if item.percentage is not None else "   -"
        where = ", ".join(p for p in (item.address.city, item.address.region) if p) or "-"
        click.echo(f"  {rank:>2}. {score}  {item.name}  ({item.category or '-'}, {where})")


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
    """Load the bundled sample postings and businesses, embed them, and print similar jobs
    and similar businesses."""
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
    directory = resources.files("jobsim.data").joinpath(SAMPLE_BUSINESSES)
    with resources.as_file(directory) as path:
        businesses = import_file(service.businesses, path, as_read=True)
    click.echo(
        f"sample businesses: {businesses.created} created, {businesses.updated} updated, "
        f"{businesses.unchanged} unchanged"
    )
    click.echo(f"embedding with {settings.embedder} ...")
    the_worker = context.worker()
    with closing(the_worker.embedder):
        totals = _with_progress(service, lambda: the_worker.run(burst=True))
    click.echo(f"embedded {totals.embedded} postings; lists refreshed: {totals.lists_refreshed}")
    for posting_id in report.ids[:: max(len(report.ids) // max(show, 1), 1)][:show]:
        click.echo("")
        print_similar(service.postings.get(posting_id), service.similar.for_posting(posting_id))
    step = max(len(businesses.ids) // max(show, 1), 1)
    for business_id in businesses.ids[step // 2 :: step][: max(show - 1, 1) if show else 0]:
        click.echo("")
        answer = service.similar.for_posting(business_id, listing_type="business")
        print_similar_businesses(service, service.businesses.get(business_id), answer)
    click.echo(
        "\nTry: jobsim similar <id> [--type business] · jobsim status · jobsim serve --with-worker"
    )
    if then_serve:
        context.overrides["log_level"] = settings.log_level
        # invoke fills in the options not given (one API process) as the command line would.
        click.get_current_context().invoke(serve, host="127.0.0.1", port=port, with_worker=True)


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
    # disable=None: no bar where stderr is not a terminal (a log would get a line a refresh).
    with tqdm(total=total, unit="task", desc="worker", disable=None) as bar:
        if bar.disable:
            return work()

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
