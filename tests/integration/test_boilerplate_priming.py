"""A worker weighs a description by the boilerplate it shares with the postings already in the
database, even when each batch holds one posting (jobsim.boilerplate, view_weights)."""

from __future__ import annotations

import numpy as np
import pytest

from jobsim.index_copy import stored_vectors
from jobsim.postings.schema import PostingIn
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.testing import FakeEmbedder
from jobsim.vector_recipe import VectorRecipe
from jobsim.worker import Worker

AGENCY = "We are a global staffing agency with offices in forty countries and many happy clients."
JOBS = ["Welder", "Cashier", "Driver", "Nurse", "Baker", "Painter"]


def full_view_weights(settings: Settings, db: Database) -> dict[str, float]:
    """Each stored vector's full-view weight: the squared norm of its first 64 dimensions."""
    service = Service(settings, db)
    for job in JOBS:
        service.postings.create(
            PostingIn.model_validate(
                {"id": job.lower(), "title": job, "description": f"{AGENCY} {job} wanted."}
            )
        )
    Worker(settings, db, FakeEmbedder(64, name=settings.embedder)).run(burst=True)
    model = VectorRecipe.from_settings(settings).model
    with db.read() as session:
        return {
            pid: float(np.sum(np.frombuffer(raw, dtype=np.float32)[:64] ** 2))
            for pid, raw, _ in stored_vectors(session, model)
        }


def test_the_worker_primes_its_filter_from_the_database_before_the_first_batch(
    settings: Settings, db: Database
) -> None:
    # One posting a batch: without priming, the first ones would see no shared text.
    settings = settings.model_copy(update={"batch_size": 1, "vector_views": "full:0.6,title:0.4"})
    weights = full_view_weights(settings, db)
    assert sorted(weights) == sorted(job.lower() for job in JOBS)
    for job in JOBS:
        share = len(f"{job} wanted.") / len(f"{AGENCY} {job} wanted.")
        assert weights[job.lower()] == pytest.approx(0.6 * share, abs=1e-5), job


def test_a_recipe_that_does_not_weigh_boilerplate_keeps_the_mix_fixed(
    settings: Settings, db: Database
) -> None:
    settings = settings.model_copy(
        update={
            "batch_size": 1,
            "vector_views": "full:0.6,title:0.4",
            "text_weigh_boilerplate": False,
        }
    )
    weights = full_view_weights(settings, db)
    assert weights == pytest.approx(dict.fromkeys(weights, 0.6), abs=1e-5)
