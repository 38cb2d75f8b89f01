"""How fast is a free-text match (POST /api/jobs/similar) at 10,000 and 100,000 postings?

For each size it writes that many synthetic postings with synthetic vectors of the current
vector model (clustered unit vectors, the model's width: 1280 dims on the default) into a fresh
SQLite file, then runs the production path, `TextMatcher.match`: the text embedded with the
posting recipe's views, the live index brought up to date (a lock-free read of the database),
scoring, filters and the rows of the answer. The first match loads the model and the index; the
timed ones follow, a mix of search phrases in several languages and a CV of about 2,000
characters, half of them with context options and filters. It prints the machine and versions,
then per size: load time, index memory, p50 / p95 of a match, the embedding's share, p50 with
`explain`, the fastest match, and the 1-minute load average at the end (on a machine others
share, the fastest match is the closest to its cost alone).

    .venv/bin/python benchmarks/free_text.py                      # the default local model
    .venv/bin/python benchmarks/free_text.py --embedder fake:384  # quick, no model
    .venv/bin/python benchmarks/free_text.py --threads 1          # one torch thread
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import timedelta
from importlib import metadata
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from jobsim.index_copy import SYNC_COUNTER, vector_to_bytes
from jobsim.matching import MatchFilters, MatchRequest, TextMatcher, text_inputs
from jobsim.postings.schema import EXPERIENCE_LEVELS
from jobsim.settings import Settings
from jobsim.similarity import FloatArray
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.storage.models import Counter, Embedding, Posting
from jobsim.storage.types import utcnow
from jobsim.vector_recipe import VectorRecipe

CHUNK = 5000
CATEGORIES = [f"Category {i}" for i in range(30)]
CITIES = ["Berlin", "Munich", "Warsaw", "Kraków", "Paris", "Madrid", "Lisbon", "Amsterdam"]
PHRASES = [
    "Senior Python developer",
    "Kierowca kat. C+E, transport międzynarodowy",
    "Pflegefachkraft Intensivstation Nachtdienst",
    "remote customer support in Spanish",
    "Data engineer Spark Airflow",
    "Électricien bâtiment CAP/BEP",
    "Warehouse operative forklift licence",
    "Junior accountant, IFRS, Excel",
]
CV = (
    "Jane Doe - Senior Backend Engineer\n"
    "Ten years building payment and logistics platforms in Python and Go. "
    "Designed event-driven services on PostgreSQL and Kafka, led a team of six, "
    "introduced code review and on-call practices, and cut the cost of the cloud bill by a third. "
) * 8


def populate(
    db: Database, size: int, model: str, anchors: FloatArray, rng: np.random.Generator
) -> None:
    """`size` listed job postings, each with a vector of `model` around one of 200 centres, the
    first of them the queries' own vectors (so every query has neighbours to find). Steady
    state: nothing was written in the last minutes, so the index's metadata sync re-reads
    nothing."""
    stamp = utcnow() - timedelta(days=1)
    dims = anchors.shape[1]
    centres = rng.standard_normal((200, dims)).astype(np.float32)
    centres[: len(anchors)] = anchors * np.float32(np.sqrt(dims))
    with db.write() as session:
        session.add(Counter(name=SYNC_COUNTER, value=1))
    for start in range(0, size, CHUNK):
        count = min(CHUNK, size - start)
        vectors = centres[rng.integers(0, 200, count)] + 0.8 * rng.standard_normal(
            (count, dims)
        ).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        postings: list[dict[str, object]] = []
        embeddings: list[dict[str, object]] = []
        for k in range(count):
            i = start + k
            postings.append(
                {
                    "id": f"p{i}",
                    "listing_type": "job",
                    "title": f"Synthetic posting {i}",
                    "description": "A synthetic posting for the free-text benchmark.",
                    "company": f"Company {i % 500}",
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "city": None if i % 9 == 0 else CITIES[i % len(CITIES)],
                    "remote": i % 9 == 0,
                    "experience_level": EXPERIENCE_LEVELS[i % len(EXPERIENCE_LEVELS)],
                    "status": "active",
                    "is_deleted": False,
                    "language": "en",
                    "content_hash": f"h{i}",
                    "version": 1,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "tags": [],
                    "requirements": [],
                }
            )
            embeddings.append(
                {
                    "posting_id": f"p{i}",
                    "model": model,
                    "dims": dims,
                    "content_hash": f"h{i}",
                    "vector": vector_to_bytes(vectors[k]),
                    "seq": 1,
                    "created_at": stamp,
                }
            )
        with db.write() as session:
            session.execute(insert(Posting), postings)
            session.execute(insert(Embedding), embeddings)


def requests() -> list[tuple[MatchRequest, str]]:
    """(request, kind): every phrase and the CV, plain and with context options and filters."""
    plain = MatchFilters()
    filtered = MatchFilters(city="Berlin", experience_level="senior", remote_only=False)
    remote = MatchFilters(remote=True, remote_only=True)
    out = []
    for filters in (plain, filtered, remote):
        out += [(MatchRequest(text=text, filters=filters), "phrase") for text in PHRASES]
        out.append((MatchRequest(text=CV, filters=filters), "cv"))
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) * 1000


def run_size(
    size: int, settings: Settings, rounds: int, rng: np.random.Generator, folder: Path
) -> str:
    recipe = VectorRecipe.from_settings(settings)
    db = Database(f"sqlite:///{folder / f'bench-{size}.db'}")
    migrate.upgrade(db)
    matcher = TextMatcher(settings, db, recipe)
    started = time.perf_counter()
    matcher.match(MatchRequest(text="warm up"))  # loads the model (and an empty index)
    model_s = time.perf_counter() - started
    vectorizer = matcher.ready()[0]  # kept: the timed matcher below shares its loaded model

    started = time.perf_counter()
    batch = requests()
    anchors = vectorizer.vectors([text_inputs(recipe, r.text) for r, _ in batch])
    populate(db, size, recipe.model, anchors, rng)
    write_s = time.perf_counter() - started
    matcher = TextMatcher(settings, db, recipe, embedder=vectorizer.embedder)
    started = time.perf_counter()
    first = matcher.match(MatchRequest(text=PHRASES[0]))
    load_s = time.perf_counter() - started
    assert first.total > 0, first.message
    index = matcher.ready()[1].index

    times: list[float] = []
    embed: list[float] = []
    explained: list[float] = []
    for r in range(rounds):
        request, _ = batch[r % len(batch)]
        started = time.perf_counter()
        matcher.match(request)
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        vectorizer.vectors([text_inputs(recipe, request.text)])
        embed.append(time.perf_counter() - started)
        started = time.perf_counter()
        matcher.match(request, explain=True)
        explained.append(time.perf_counter() - started)
    db.dispose()
    index_mb = index.matrix.nbytes / 2**20
    return (
        f"| {size:,} | {write_s:.0f} | {model_s:.1f} | {load_s:.1f} | {index_mb:.0f} "
        f"| {percentile(times, 50):.0f} | {percentile(times, 95):.0f} "
        f"| {percentile(embed, 50):.0f} | {percentile(explained, 50):.0f} "
        f"| {min(times) * 1000:.0f} | {os.getloadavg()[0]:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=54, help="timed matches per size")
    parser.add_argument("--embedder", help="default: JOBSIM_EMBEDDER (the local model)")
    parser.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    args = parser.parse_args()
    settings = Settings(embedder=args.embedder) if args.embedder else Settings()
    rng = np.random.default_rng(7)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores "
        f"({torch.get_num_threads()} torch threads); python {platform.python_version()}; "
        f"numpy {np.__version__}; torch {torch.__version__}; "
        f"sentence-transformers {metadata.version('sentence-transformers')}; "
        f"jobsim {metadata.version('jobsim')}"
    )
    recipe = VectorRecipe.from_settings(settings)
    print(f"model: {recipe.model}; SQLite; {args.rounds} timed matches per size, ", end="")
    print(f"{len(PHRASES)} phrases and a {len(CV):,}-character CV, with and without filters\n")
    print(
        "| postings | write s | model load s | first match (index load) s | index MB "
        "| p50 ms | p95 ms | embedding p50 ms | p50 with explain ms | fastest ms | load average |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="jobsim-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            print(run_size(size, settings, args.rounds, rng, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
