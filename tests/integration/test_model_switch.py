"""Changing the embedding model without downtime (jobsim.model_switch), end to end on a real
SQLite file and a real PostgreSQL server with two fake models: the new model is prepared while
the old lists keep serving, both models' coverage is reported, the lists switch over in one
step to exactly the new model's top-N, a worker of the old model stops instead of writing, and
the old vectors are pruned."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from jobsim.cli import main
from jobsim.errors import ValidationFailed
from jobsim.model_switch import ModelSwitch
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, SimilarEntry, Task
from jobsim.testing import FakeEmbedder
from jobsim.vector_recipe import VectorRecipe
from jobsim.vectorizer import PostingVectorizer
from jobsim.worker import Worker
from tests.integration.test_api import CORPUS, create, create_corpus, similar
from tests.support.chaos import assert_lists_match_oracle

NEW = "fake:32"


def new_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"embedder": NEW})


def switcher(settings: Settings, db: Database) -> ModelSwitch:
    vectorizer = PostingVectorizer(FakeEmbedder(32, name=NEW), VectorRecipe.from_settings(settings))
    return ModelSwitch(settings, db, vectorizer)


def worker(settings: Settings, db: Database, dims: int) -> Worker:
    return Worker(settings, db, FakeEmbedder(dims, name=settings.embedder))


def list_rows(db: Database) -> list[tuple[str, str, float]]:
    with db.read() as session:
        rows = session.execute(
            select(SimilarEntry.posting_id, SimilarEntry.similar_id, SimilarEntry.score)
        )
        return sorted((a, b, round(s, 6)) for a, b, s in rows)


def test_the_new_model_is_prepared_while_the_old_lists_serve_then_switched_in_one_step(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    worker(settings, db, 64).run(burst=True)
    old_lists = list_rows(db)
    assert old_lists

    switch = switcher(new_settings(settings), db)
    prepared = switch.prepare(batch_size=3)

    assert prepared == len(CORPUS)
    assert list_rows(db) == old_lists, "preparing writes no list"
    assert similar(client, "anchor")["method"] == "semantic", "the old lists keep serving"
    models = {row.model: row for row in Service(new_settings(settings), db).ops.embeddings().models}
    assert models[NEW].coverage == 1.0 and models[NEW].current
    assert models["fake:64"].coverage == 1.0 and models["fake:64"].serving is False

    # A posting created during the switch is embedded by the old model's worker only.
    create(client, id="late", title="Late Python developer")
    worker(settings, db, 64).run(burst=True)
    with pytest.raises(ValidationFailed, match="below"):
        switch.switch(min_coverage=1.0)

    report = switch.switch(min_coverage=0.5)

    assert (report.model, report.queued) == (NEW, 1)
    assert list_rows(db) != old_lists
    assert_lists_match_oracle(db, new_settings(settings), NEW)
    status = Service(new_settings(settings), db).ops.status()
    serving = [row["model"] for row in status["models"] if row["serving"]]
    assert serving == [NEW]

    # The old model's worker stops instead of writing lists from retired vectors...
    old = worker(settings, db, 64)
    old.run(burst=True)
    assert old.totals.claimed == 0
    # ... and one that claimed a batch just before the switch gives it back, attempt refunded.
    old.run_once()
    with db.read() as session:
        tasks = list(session.scalars(select(Task).where(Task.state == "queued")))
    assert [(t.posting_id, t.attempts) for t in tasks] == [("late", 0)]

    worker(new_settings(settings), db, 32).run(burst=True)
    assert_lists_match_oracle(db, new_settings(settings), NEW)
    assert "late" in {row[0] for row in list_rows(db)}

    assert switch.prune() == len(CORPUS) + 1
    with db.read() as session:
        assert set(session.scalars(select(Embedding.model).distinct())) == {NEW}


def test_pruning_before_a_switch_is_refused_and_the_cli_tells_the_story(
    settings: Settings, db: Database, client: TestClient
) -> None:
    create_corpus(client)
    worker(settings, db, 64).run(burst=True)
    env = {
        "JOBSIM_DATABASE_URL": settings.database_url,
        "JOBSIM_EMBEDDER": NEW,
        "JOBSIM_VECTOR_VIEWS": "full:1",
        "JOBSIM_VECTOR_EXPANSION": "0",
        "JOBSIM_MIN_SCORE": str(settings.min_score),
    }
    runner = CliRunner()

    refused = runner.invoke(main, ["model", "prune"], env=env)
    assert refused.exit_code == 1 and "not the serving model" in refused.output

    prepared = runner.invoke(main, ["model", "prepare"], env=env)
    assert prepared.exit_code == 0, prepared.output
    assert f"{NEW}: {len(CORPUS)} of {len(CORPUS)} active listings (100.0%)" in prepared.output

    status = runner.invoke(main, ["status"], env=env)
    assert f"model {NEW}: {len(CORPUS)} embedded (100.0%)" in status.output
    assert "model fake:64:" in status.output

    switched = runner.invoke(main, ["model", "switch"], env=env)
    assert switched.exit_code == 0, switched.output
    assert f"switched to {NEW}" in switched.output

    pruned = runner.invoke(main, ["model", "prune"], env=env)
    assert pruned.exit_code == 0 and f"deleted {len(CORPUS)} vectors" in pruned.output
