"""`jobsim eval`: measure similar-list quality on a labelled CSV through the production path.

The postings go through the importer, the text recipe, the configured embedder, the worker's
scoring and list code, into a temporary SQLite database; the lists it writes are then scored
against the label column, which is never an input. Reference methods (random, the seed's
category/location fallback, TF-IDF) are scored on the same postings in the same run.
"""

from __future__ import annotations

import csv
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from jobsim.embedders.base import Embedder, FloatMatrix
from jobsim.errors import ValidationFailed
from jobsim.importing import normalize_record, read_records
from jobsim.service import Service
from jobsim.serving import SimilarFilters
from jobsim.settings import Settings
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting, SimilarEntry
from jobsim.vector_recipe import VectorRecipe
from jobsim.worker import Worker

Ranking = dict[str, list[str]]


@dataclass(frozen=True)
class MethodScore:
    method: str
    precision: float
    ndcg: float
    scored: int
    seconds: float


@dataclass
class EvalReport:
    path: Path
    label: str
    k: int
    postings: int
    labelled_groups: int
    embedder: str
    recipe: str
    embed_seconds: float = 0.0
    total_seconds: float = 0.0
    scores: list[MethodScore] = field(default_factory=list)

    @property
    def production(self) -> MethodScore:
        return self.scores[0]

    @property
    def throughput(self) -> float:
        return self.postings / self.embed_seconds if self.embed_seconds else float("inf")


@dataclass(frozen=True)
class LabelledSet:
    records: list[tuple[str, dict[str, Any] | None, str | None]]
    labels: dict[str, str]  # posting id -> label


class TimedEmbedder(Embedder):
    """Wraps an embedder to add up the seconds spent inside embed()."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0

    @property
    def dims(self) -> int:  # type: ignore[override]
        return self.inner.dims

    @property
    def max_batch(self) -> int:  # type: ignore[override]
        return self.inner.max_batch

    @property
    def max_input_chars(self) -> int:  # type: ignore[override]
        return self.inner.max_input_chars

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - start

    def check(self) -> None:
        self.inner.check()

    def close(self) -> None:
        self.inner.close()


# --- loading ---------------------------------------------------------------------------------


def load_labelled(path: Path, label: str) -> LabelledSet:
    """Postings from the CSV (as the importer reads them) and their labels, row by row."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or label not in reader.fieldnames:
            raise ValidationFailed(f"{path.name} has no column {label!r}")
        row_labels = [(row.get(label) or "").strip() for row in reader]
    # The label is never an input, even when its column is also a posting field (category...).
    label_fields = set(normalize_record({label: "x"})) | {label}
    records: list[tuple[str, dict[str, Any] | None, str | None]] = []
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for index, record in enumerate(read_records(path, "csv")):
        data = dict(record.data) if record.data is not None else None
        if data is not None:
            for name in label_fields:
                data.pop(name, None)
            posting_id = _unique_id(str(data.get("id") or f"row-{index + 1}"), seen)
            seen.add(posting_id)
            data["id"] = posting_id
            if index < len(row_labels) and row_labels[index]:
                labels[posting_id] = row_labels[index]
        records.append((record.source, data, record.error))
    return LabelledSet(records, labels)


def _unique_id(candidate: str, taken: set[str]) -> str:
    unique, n = candidate[:56], 1
    while unique in taken:
        n += 1
        unique = f"{candidate[:56]}~{n}"
    return unique


# --- metrics ---------------------------------------------------------------------------------


def eligible(labels: dict[str, str], k: int) -> list[str]:
    """Postings whose label has at least k+1 members (so k correct neighbours exist)."""
    sizes = Counter(labels.values())
    return [pid for pid, lab in labels.items() if sizes[lab] >= k + 1]


def precision_at_k(ranking: Ranking, labels: dict[str, str], k: int) -> tuple[float, float, int]:
    """(precision@k, nDCG@k, postings scored); a short list counts its missing slots as wrong."""
    ids = eligible(labels, k)
    if not ids:
        return 0.0, 0.0, 0
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(k))
    precisions, ndcgs = [], []
    for pid in ids:
        hits = [labels.get(other) == labels[pid] for other in ranking.get(pid, [])[:k]]
        precisions.append(sum(hits) / k)
        ndcgs.append(sum(1.0 / math.log2(r + 2) for r, hit in enumerate(hits) if hit) / ideal)
    return float(np.mean(precisions)), float(np.mean(ndcgs)), len(ids)


# --- methods ---------------------------------------------------------------------------------


def production_ranking(db: Database) -> Ranking:
    ranking: Ranking = {}
    with db.read() as session:
        rows = session.execute(
            select(SimilarEntry.posting_id, SimilarEntry.similar_id).order_by(
                SimilarEntry.posting_id, SimilarEntry.score.desc(), SimilarEntry.similar_id
            )
        )
        for owner, other in rows:
            ranking.setdefault(owner, []).append(other)
    return ranking


def random_ranking(ids: Sequence[str], k: int, seed: int = 13) -> Ranking:
    rng = random.Random(seed)
    ranking: Ranking = {}
    for pid in ids:
        sample = rng.sample(list(ids), min(k + 1, len(ids)))
        ranking[pid] = [o for o in sample if o != pid][:k]
    return ranking


def fallback_ranking(service: Service, ids: Sequence[str], k: int) -> Ranking:
    """The seed's fallback (same category or same city, newest first), via the service."""
    limit = SimilarFilters(limit=k)
    with service.db.read() as session:
        postings = {p.id: p for p in session.scalars(select(Posting))}
        return {
            pid: [item.id for item in service.similar.fallback_for(session, postings[pid], limit)]
            for pid in ids
            if pid in postings
        }


def tfidf_ranking(service: Service, ids: Sequence[str], k: int) -> Ranking:
    """Lexical reference: word TF-IDF (sublinear) over title + description, cosine top-k."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    with service.db.read() as session:
        postings = {p.id: p for p in session.scalars(select(Posting))}
    order = [pid for pid in ids if pid in postings]
    texts = [f"{postings[p].title}\n{postings[p].description}" for p in order]
    matrix = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    scores = (matrix @ matrix.T).toarray()
    np.fill_diagonal(scores, -np.inf)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return {pid: [order[j] for j in top[i]] for i, pid in enumerate(order)}


# --- the run ---------------------------------------------------------------------------------


def evaluate(
    path: Path,
    label: str,
    settings: Settings,
    embedder_factory: Callable[[Settings], Embedder],
    *,
    k: int = 10,
    references: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> EvalReport:
    started = time.perf_counter()
    labelled = load_labelled(path, label)
    with tempfile.TemporaryDirectory(prefix="jobsim-eval-") as tmp:
        run_settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{Path(tmp) / 'eval.db'}",
                "top_n": k,
                "maintenance_seconds": 1e9,
            }
        )
        db = Database(run_settings.database_url)
        try:
            migrate.upgrade(db)
            embedder = TimedEmbedder(embedder_factory(run_settings))
            recipe = VectorRecipe.from_settings(run_settings, embedder=embedder.name)
            service = Service(run_settings, db, recipe)
            report = service.postings.bulk_upsert(labelled.records)
            if report.errors:
                progress(f"{len(report.errors)} rows rejected by validation (not scored)")
            labels = {pid: lab for pid, lab in labelled.labels.items() if pid in set(report.ids)}
            progress(f"embedding {len(report.ids)} postings with {embedder.name}")
            with closing(embedder):
                Worker(run_settings, db, embedder, recipe=recipe).run(burst=True)
            result = EvalReport(
                path,
                label,
                k,
                len(report.ids),
                _groups(labels, k),
                recipe.model,
                _describe(recipe, run_settings),
                embed_seconds=embedder.seconds,
            )
            result.scores.append(_score("production", production_ranking(db), labels, k))
            if references:
                ids = list(labels)
                result.scores.append(_score("random", random_ranking(ids, k), labels, k))
                result.scores.append(
                    _timed("fallback", lambda: fallback_ranking(service, ids, k), labels, k)
                )
                result.scores.append(
                    _timed(
                        "tf-idf title+description",
                        lambda: tfidf_ranking(service, ids, k),
                        labels,
                        k,
                    )
                )
        finally:
            db.dispose()
    result.total_seconds = time.perf_counter() - started
    return result


def _groups(labels: dict[str, str], k: int) -> int:
    return sum(1 for size in Counter(labels.values()).values() if size >= k + 1)


def _describe(recipe: VectorRecipe, settings: Settings) -> str:
    return (
        f"{recipe.describe()} w_sem={settings.weight_semantic} "
        f"w_ctx={settings.weight_context} min_score={settings.min_score}"
    )


def _score(
    name: str, ranking: Ranking, labels: dict[str, str], k: int, seconds: float = 0.0
) -> MethodScore:
    precision, ndcg, scored = precision_at_k(ranking, labels, k)
    return MethodScore(name, precision, ndcg, scored, seconds)


def _timed(name: str, build: Callable[[], Ranking], labels: dict[str, str], k: int) -> MethodScore:
    start = time.perf_counter()
    ranking = build()
    return _score(name, ranking, labels, k, time.perf_counter() - start)


def format_report(report: EvalReport) -> str:
    k = report.k
    lines = [
        f"file: {report.path.name}   label: {report.label}   postings: {report.postings}   "
        f"labels with >= {k + 1} postings: {report.labelled_groups}",
        f"embedder: {report.embedder}",
        f"recipe: {report.recipe}",
        "",
        f"| method | precision@{k} | nDCG@{k} | postings scored |",
        "|---|---|---|---|",
    ]
    for score in report.scores:
        lines.append(
            f"| {score.method} | {score.precision:.3f} | {score.ndcg:.3f} | {score.scored} |"
        )
    lines += [
        "",
        f"embedding: {report.throughput:.1f} postings/s ({report.embed_seconds:.1f} s)   "
        f"total: {report.total_seconds:.1f} s",
        f"precision@{k}: {report.production.precision:.3f}",
    ]
    return "\n".join(lines)
