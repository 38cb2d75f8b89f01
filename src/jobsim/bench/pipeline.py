"""Figure 1: postings imported, claimed, embedded, stored and given similar lists, against the
model's raw batch throughput (same postings, same run, timed before and after the pipeline),
and with the FakeEmbedder (the pure pipeline) on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, event

from jobsim import metrics
from jobsim.bench.config import FULL
from jobsim.bench.databases import fresh_database
from jobsim.bench.postings import generate_postings
from jobsim.bench.run import BenchRun
from jobsim.bench.table import Figure
from jobsim.embedders.base import Embedder
from jobsim.embedders.registry import create_embedder
from jobsim.evaluation import TimedEmbedder
from jobsim.postings.store import PostingStore
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer
from jobsim.worker import Worker

FAKE = "fake:384"
MODEL_SHARE = 0.85
PIPELINE_RATE = 1_500.0


def records_as_postings(records: list[dict[str, Any]], recipe: VectorRecipe) -> list[Posting]:
    """The ORM rows the worker would read, without a database (for the raw measurement)."""
    with_ids = []
    for record in records:
        location = record["location"]
        with_ids.append(
            Posting(
                id=record["id"],
                title=record["title"],
                description=record["description"],
                category=record["category"],
                tags=record["tags"],
                requirements=record["requirements"],
                city=location["city"],
                remote=location["remote"],
                language=record["language"],
            )
        )
    return with_ids


def raw_rate(
    embedder: Embedder, recipe: VectorRecipe, records: list[dict[str, Any]], batch: int
) -> tuple[float, np.ndarray]:
    """Postings per second inside the model (its batch calls alone), and the vectors."""
    timed = TimedEmbedder(embedder)
    vectorizer = PostingVectorizer(timed, recipe)
    inputs = [vectorizer.inputs(p) for p in records_as_postings(records, recipe)]
    vectorizer.vectors(inputs[:batch])  # warm-up
    vectorizer.cache.clear()  # the model itself is timed: no text answered from memory
    timed.seconds = 0.0
    parts = [vectorizer.vectors(inputs[i : i + batch]) for i in range(0, len(inputs), batch)]
    return len(inputs) / timed.seconds, np.vstack(parts)


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline's rate, and where its time went: in the database (statements and commits),
    in the embedder's batch calls (text preparation included), and in the rest (list upkeep
    and the scans in Python and numpy, planning, the ORM)."""

    postings: int
    seconds: float
    database_seconds: float
    embedding_seconds: float

    @property
    def rate(self) -> float:
        return self.postings / self.seconds

    def split(self) -> str:
        """Milliseconds a posting, by part."""
        database, embedding = self.database_seconds, self.embedding_seconds
        rest = self.seconds - database - embedding
        per = 1000 / self.postings
        return (
            f"a posting {self.seconds * per:.2f} ms: database {database * per:.2f}, "
            f"embedding {embedding * per:.2f}, the rest {rest * per:.2f}"
        )


def pipeline_rate(
    url: str, embedder: Embedder, records: list[dict[str, Any]], settings: Settings
) -> PipelineRun:
    """Postings per second from import to similar lists: bulk import, then one worker drains
    the queue (claim, embed, store, lists)."""
    settings = settings.model_copy(update={"database_url": url})
    recipe = VectorRecipe.from_settings(settings)
    db = Database(url)
    try:
        with DatabaseClock(db.engine) as database:
            started = time.perf_counter()
            store = PostingStore(db, recipe.text)
            report = store.bulk_upsert(("bench", record, None) for record in records)
            worker = Worker(settings, db, embedder, recipe=recipe)
            totals = worker.run(burst=True)
            elapsed = time.perf_counter() - started
    finally:
        db.dispose()
    if report.created != len(records) or totals.embedded != len(records):
        raise RuntimeError(
            f"pipeline incomplete: {report.created} imported, {totals.embedded} embedded "
            f"of {len(records)}"
        )
    embedding = _histogram_total(worker.counters, metrics.EMBEDDING_DURATION)
    return PipelineRun(len(records), elapsed, database.seconds, embedding)


class DatabaseClock:
    """Seconds an engine's connections spend in the database driver: each statement, and each
    commit (from the commit to the connection's return to the pool, which follows it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seconds = 0.0
        self._started: dict[int, float] = {}
        self._listeners: list[tuple[Any, str, Any]] = [
            (engine, "before_cursor_execute", self._begin_statement),
            (engine, "after_cursor_execute", self._end_statement),
            (engine, "commit", self._begin_commit),
            (engine.pool, "checkin", self._end_commit),
        ]

    def __enter__(self) -> DatabaseClock:
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)
        return self

    def __exit__(self, *_: object) -> None:
        for target, name, listener in self._listeners:
            event.remove(target, name, listener)

    def _begin_statement(self, connection: Any, *_: Any) -> None:
        self._start(id(connection.connection.dbapi_connection))

    def _end_statement(self, connection: Any, *_: Any) -> None:
        self._stop(id(connection.connection.dbapi_connection))

    def _begin_commit(self, connection: Any) -> None:
        self._start(id(connection.connection.dbapi_connection))

    def _end_commit(self, dbapi_connection: Any, _record: Any) -> None:
        self._stop(id(dbapi_connection))

    def _start(self, key: int) -> None:
        self._started[key] = time.perf_counter()

    def _stop(self, key: int) -> None:
        started = self._started.pop(key, None)
        if started is not None:
            self.seconds += time.perf_counter() - started


def _histogram_total(counters: metrics.Accumulator, spec: metrics.HistogramSpec) -> float:
    """The sum of every observation of `spec` in `counters` (seconds, for a duration)."""
    histogram = counters.snapshot()["histograms"].get(spec.name, {})
    return float(sum(total for _, _, total in histogram.get("series", [])))


def pipeline_figures(run: BenchRun) -> list[Figure]:
    config = run.config
    settings = Settings(embedder=config.model or Settings().embedder)
    figures = [_model_figure(run, settings)]
    fake_settings = settings.model_copy(update={"embedder": FAKE})
    embedder = create_embedder(FAKE, fake_settings)
    records = generate_postings(config.pipeline_postings, config.seed, "pipe")
    size = run.size_note(config.pipeline_postings, FULL.pipeline_postings, "postings")
    for label, server in (("SQLite", None), ("PostgreSQL", config.database_url)):
        what = f"pipeline with the FakeEmbedder, {label}, {config.pipeline_postings:,} postings"
        number = "1b" if label == "SQLite" else "1c"
        if label == "PostgreSQL" and server is None:
            figures.append(Figure.not_measured(number, what, "postings/s", ">=", PIPELINE_RATE))
            continue
        with (
            run.step(f"figure 1: FakeEmbedder pipeline, {label}"),
            fresh_database(run, f"pipeline_{label.lower()}", server) as url,
        ):
            measured = pipeline_rate(url, embedder, records, fake_settings)
        figures.append(
            Figure(
                number,
                f"{what} ({measured.split()}){size}",
                measured.rate,
                "postings/s",
                ">=",
                PIPELINE_RATE,
            )
        )
    return figures


def _model_figure(run: BenchRun, settings: Settings) -> Figure:
    config = run.config
    recipe = VectorRecipe.from_settings(settings)
    records = generate_postings(config.model_postings, config.seed + 1, "model")
    with run.step(f"figure 1: {settings.embedder}, {config.model_postings} postings"):
        embedder = create_embedder(settings.embedder, settings)
        embedder.check()
        before, vectors = raw_rate(embedder, recipe, records, settings.batch_size)
        run.anchors = vectors.astype(np.float32)
        with fresh_database(run, "pipeline_model") as url:
            rate = pipeline_rate(url, embedder, records, settings).rate
        # The reference is measured on both sides of the pipeline, which ran between them: a
        # shared host's speed drifts by more than the pipeline's share within minutes, and
        # their mean follows a steady drift.
        after, _ = raw_rate(embedder, recipe, records, settings.batch_size)
        embedder.close()
    raw = (before + after) / 2
    run.measured["model_rate"] = raw
    size = run.size_note(config.model_postings, FULL.model_postings, "postings")
    return Figure(
        "1a",
        f"pipeline with {settings.embedder} ({rate:.1f}/s) / the model's raw batch "
        f"throughput, the mean of before and after it ({before:.1f} / {after:.1f}/s), "
        f"SQLite{size}",
        rate / raw,
        "x",
        ">=",
        MODEL_SHARE,
    )
