"""Why is this a match? `?explain=true` on cached lists, fallback items and free-text matches, on
a real SQLite file and a real PostgreSQL server with the three-view mix: the views' parts add up
to the semantic similarity, the context parts to the bonus (the index's own rule), and the
shared fields are the ones both sides hold. No model is loaded to explain."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from jobsim.api.app import create_app
from jobsim.explain import Explainer, context_parts, same_fields, shared_title_terms
from jobsim.row_facts import PostingMeta
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.similarity import ScoringConfig, VectorIndex
from jobsim.storage.engine import Database
from jobsim.vector_recipe import Views
from tests.integration.test_api import CORPUS, create, ids, run_worker

MIX = "full:0.5,title:0.2,lexical:0.3"
WEIGHTS = {"full": 0.5, "title": 0.2, "lexical": 0.3}


@pytest.fixture
def mixed(settings: Settings) -> Settings:
    return settings.model_copy(update={"vector_views": MIX})


@pytest.fixture
def service(mixed: Settings, db: Database) -> Service:
    return Service(mixed, db)


@pytest.fixture
def client(mixed: Settings, service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(mixed, service)) as client:
        yield client


def create_corpus(client: TestClient) -> None:
    requirements = {
        "anchor": ["Five years of Python", "Fluent English"],
        "twin": ["five years of python", "German"],
    }
    for name, body in CORPUS.items():
        create(client, **{**body, "id": name, "requirements": requirements.get(name, [])})


def explained(client: TestClient, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    response = client.request(kwargs.pop("method", "GET"), url, params={"explain": True}, **kwargs)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def assert_adds_up(item: dict[str, Any], settings: Settings) -> dict[str, Any]:
    why: dict[str, Any] = item["explanation"]
    views = why["views"]
    assert [v["view"] for v in views] == ["full", "title", "lexical"]
    assert [v["weight"] for v in views] == [0.5, 0.2, 0.3]
    for view in views:
        assert -1 <= view["similarity"] <= 1
        assert view["contribution"] == pytest.approx(
            WEIGHTS[view["view"]] * view["similarity"], abs=2e-4
        )
    assert sum(v["contribution"] for v in views) == pytest.approx(why["semantic"], abs=3e-4)
    assert why["semantic"] == pytest.approx(item["semantic"], abs=2e-4)
    parts = why["context_parts"]
    assert sum(parts.values()) == pytest.approx(why["context"], abs=2e-4)
    assert why["context"] == pytest.approx(item["context"], abs=2e-4)
    assert (why["weight_semantic"], why["weight_context"]) == (
        settings.weight_semantic,
        settings.weight_context,
    )
    assert item["score"] == pytest.approx(
        why["weight_semantic"] * why["semantic"] + why["weight_context"] * why["context"],
        abs=1e-3,
    )
    return why


# --- cached lists ------------------------------------------------------------------------------


def test_every_item_of_a_cached_list_explains_its_score_from_the_stored_vectors(
    client: TestClient, mixed: Settings, db: Database, service: Service
) -> None:
    create_corpus(client)
    run_worker(mixed, db)

    plain = client.get("/api/jobs/anchor/similar").json()["data"]
    data = explained(client, "/api/jobs/anchor/similar")

    assert [i["id"] for i in data] == [i["id"] for i in plain]
    assert all(i["explanation"] is None for i in plain)
    by_id = {item["id"]: assert_adds_up(item, mixed) for item in data}
    twin = by_id["twin"]
    assert twin["same"] == {
        "category": True,
        "city": False,
        "region": False,
        "experience_level": True,
        "remote": False,
    }
    assert twin["context_parts"] == {"experience_level": 0.5, "category": 0.3, "location": 0.0}
    assert twin["shared"] == {
        "skills": ["python", "django", "postgresql"],
        "requirements": ["five years of python"],
        "title_terms": ["senior", "python", "backend", "developer"],
    }
    # The lexical view of identical titles is identical.
    assert twin["views"][2]["similarity"] == pytest.approx(1.0, abs=1e-4)
    local = by_id["local"]
    assert local["same"]["city"] is True  # "berlin" and "Berlin"
    assert local["shared"]["title_terms"] == ["backend", "developer", "python"]
    assert not service.matching.loaded  # explaining needs no model


def test_fallback_items_explain_what_they_share(client: TestClient) -> None:
    create_corpus(client)  # nothing embedded: the fallback

    data = explained(client, "/api/jobs/anchor/similar")

    assert data and all(item["source"] == "fallback" for item in data)
    for item in data:
        why = item["explanation"]
        assert (why["semantic"], why["views"]) == (None, [])
        assert why["same"]["category"] or why["same"]["city"]  # why it is there
        assert sum(why["context_parts"].values()) == pytest.approx(why["context"], abs=2e-4)


def test_a_topped_up_list_explains_its_fallback_items_too(
    client: TestClient, mixed: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(mixed, db)
    for name in ("twin", "colleague", "remote", "local"):
        client.post(f"/api/jobs/{name}/close")
    create(client, id="sales-berlin", category="Sales", title="Account Executive", tags=[])

    data = explained(client, "/api/jobs/anchor/similar")

    filler = next(item for item in data if item["id"] == "sales-berlin")
    assert filler["source"] == "fallback" and filler["score"] is None
    assert filler["explanation"]["same"]["city"] is True
    assert filler["explanation"]["views"] == []  # not embedded yet


# --- free text ---------------------------------------------------------------------------------


def test_free_text_matches_explain_themselves(
    client: TestClient, mixed: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(mixed, db)
    body = {
        "text": "Senior Python backend developer, Django and PostgreSQL, payments",
        "filters": {"city": "Berlin", "experience_level": "senior"},
    }

    data = explained(client, "/api/jobs/similar", method="POST", json=body)

    assert {"anchor", "twin", "local"} <= {item["id"] for item in data}
    by_id = {item["id"]: assert_adds_up(item, mixed) for item in data}
    anchor = by_id["anchor"]
    assert anchor["shared"]["skills"] == ["python", "django", "postgresql"]  # mentioned
    assert anchor["shared"]["title_terms"] == ["senior", "python", "backend", "developer"]
    assert anchor["same"]["city"] and anchor["same"]["experience_level"]
    assert not by_id["twin"]["same"]["city"]


def test_the_items_without_explain_carry_none(
    client: TestClient, mixed: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(mixed, db)

    answer = client.post("/api/jobs/similar", json={"text": "Python developer"}).json()

    assert ids(answer) and all(item["explanation"] is None for item in answer["data"])


# --- the parts, without a database ---------------------------------------------------------------

LEVELS = [None, "entry", "mid", "executive", "intern"]
PLACES = [(None, False), ("Berlin", False), ("berlin ", True), ("Paris", False), (None, True)]
CATEGORIES = [None, "IT", "it", "Sales"]


def metas() -> Iterator[PostingMeta]:
    for level, (city, remote), category in itertools.product(LEVELS, PLACES, CATEGORIES):
        yield PostingMeta(category=category, city=city, remote=remote, experience_level=level)


def test_the_context_parts_add_up_to_the_index_bonus_for_every_combination() -> None:
    others = list(metas())
    index = VectorIndex(dims=1, capacity=len(others))
    for i, meta in enumerate(others):
        index.upsert(str(i), np.ones(1, dtype=np.float32), meta)

    for anchor in metas():
        bonus = index.context_scores(anchor)
        for i, other in enumerate(others):
            parts = context_parts(anchor, other)
            same = same_fields(anchor, other)
            total = parts.experience_level + parts.category + parts.location
            assert total == pytest.approx(float(bonus[i]), abs=2e-4), (anchor, other)
            assert parts.experience_level in (0.0, 0.1, 0.25, 0.3, 0.5)
            assert parts.category == (0.3 if same.category else 0.0)
            assert parts.location in (0.0, 0.1, 0.2)
            assert (parts.location == 0.2) == (same.city or same.remote)


def test_shared_title_terms_are_case_folded_words_in_any_script() -> None:
    assert shared_title_terms("Старший кладовщик склада", "Кладовщик (склад)") == ["кладовщик"]
    assert shared_title_terms("STRASSENBAUER", "Straßenbauer m/w/d") == ["strassenbauer"]
    assert shared_title_terms("倉庫 作業員", "倉庫 スタッフ") == ["倉庫"]
    assert shared_title_terms("Nurse", "Welder") == []


def test_a_vector_that_does_not_fit_the_mix_has_no_view_parts() -> None:
    explainer = Explainer(Views.parse(MIX, lexical_dims=512), ScoringConfig())
    fits = np.ones(64 * 2 + 512, dtype=np.float32)
    other = np.ones(100, dtype=np.float32)

    assert [v.view for v in explainer.view_parts(fits, fits)] == ["full", "title", "lexical"]
    assert explainer.view_parts(other, other) == []
    assert explainer.view_parts(fits, None) == []
