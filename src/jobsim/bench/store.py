"""Many postings written straight into a database, with stored vectors and, optionally, full
cached similar lists: the steady state of a large board, without embedding each posting.

The postings are the generator's (realistic titles, descriptions and metadata); the vectors
are given (synthetic ones at these sizes). Each list holds ten rows and, as its lowest score,
about what the posting's real top-10 would hold (jobsim.bench.vectors.list_floors): a worker
that then embeds new postings puts each into as many lists as it would on a real board.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert

from jobsim.bench.postings import generate_postings
from jobsim.bench.vectors import list_floors
from jobsim.index_copy import SYNC_COUNTER, vector_to_bytes
from jobsim.similarity import FloatArray
from jobsim.storage.engine import Database
from jobsim.storage.models import Counter, Embedding, ListState, Posting, SimilarEntry
from jobsim.storage.types import utcnow

CHUNK = 5_000
LIST_SIZE = 10


def posting_row(record: dict[str, Any], stamp: object) -> dict[str, Any]:
    location = record["location"]
    return {
        "id": record["id"],
        "listing_type": "job",
        "title": record["title"],
        "description": record["description"],
        "company": record["company"],
        "category": record["category"],
        "city": location["city"],
        "remote": location["remote"],
        "experience_level": record["experience_level"],
        "status": "active",
        "is_deleted": False,
        "language": record["language"],
        "content_hash": f"h-{record['id']}",
        "version": 1,
        "created_at": stamp,
        "updated_at": stamp,
        "tags": record["tags"],
        "requirements": record["requirements"],
    }


def populate(
    db: Database, model: str, vectors: FloatArray, *, seed: int, with_lists: bool = True
) -> list[str]:
    """One generated posting per vector, each with its vector of `model` and (with_lists) a
    full list; returns the ids. Nothing was written in the last minutes (steady state)."""
    stamp = utcnow() - timedelta(days=1)
    records = generate_postings(len(vectors), seed, "p")
    ids = [record["id"] for record in records]
    with db.write() as session:
        session.add(Counter(name=SYNC_COUNTER, value=1))
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        postings = [posting_row(record, stamp) for record in chunk]
        embeddings = [
            {
                "posting_id": record["id"],
                "model": model,
                "dims": vectors.shape[1],
                "content_hash": f"h-{record['id']}",
                "vector": vector_to_bytes(vectors[start + k]),
                "seq": 1,
                "created_at": stamp,
            }
            for k, record in enumerate(chunk)
        ]
        with db.write() as session:
            session.execute(insert(Posting), postings)
            session.execute(insert(Embedding), embeddings)
    if with_lists:
        rng = np.random.default_rng(seed)
        _write_lists(db, ids, list_floors(vectors, rng), stamp, rng)
    return ids


def _write_lists(
    db: Database, ids: list[str], floors: FloatArray, stamp: object, rng: np.random.Generator
) -> None:
    """Each posting's list: ten other postings near it in id order (a stand-in for its
    nearest neighbours: serving reads the rows, never the vectors), scored from its floor up."""
    n = len(ids)
    for start in range(0, n, CHUNK):
        rows = []
        for i in range(start, min(n, start + CHUNK)):
            offsets = rng.choice(
                np.arange(1, min(n, 200)), size=min(LIST_SIZE, n - 1), replace=False
            )
            for rank, offset in enumerate(offsets):
                score = float(floors[i]) + 0.005 * (LIST_SIZE - 1 - rank)
                rows.append(
                    {
                        "posting_id": ids[i],
                        "similar_id": ids[(i + int(offset)) % n],
                        "score": score,
                        "semantic": score,
                        "context": 0.5,
                        "computed_at": stamp,
                    }
                )
        states = [
            {"posting_id": ids[i], "count": LIST_SIZE, "floor": float(floors[i]), "seq": 1}
            for i in range(start, min(n, start + CHUNK))
        ]
        with db.write() as session:
            session.execute(insert(SimilarEntry), rows)
            session.execute(insert(ListState), states)
