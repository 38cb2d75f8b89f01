"""Drop-in for the original board (seed 001, data flow 3), on a real SQLite file and a real
PostgreSQL server: its documented request, `GET /api/jobs/{id}/similar`, replayed with
`?format=seed` answers `{success, data, total, method, message}` with MongoDB-style `_id`s and
`similarityScore` / `similarityPercentage`, which its frontend reads; and short semantic lists
are topped up with fallback postings as the seed does, marked `source: fallback`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobsim.settings import Settings
from jobsim.storage.engine import Database
from tests.integration.test_api import create, create_corpus, ids, run_worker
from tests.support.app_client import open_client

SEED_KEYS = {"success", "data", "total", "method", "message"}
# The item fields the seed selects ('title company location salary category postedAt') and _id.
SEED_ITEM_KEYS = {"_id", "title", "company", "location", "salary", "category", "postedAt"}


def seed_request(client: TestClient, posting_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/jobs/{posting_id}/similar", params={"format": "seed", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seed_frontend(response: dict[str, Any]) -> list[str]:
    """What the seed's SimilarJobs component does with the answer (data flow 3, step 10):
    setJobs(response.data), setMethod(response.method), setMessage(response.message), then
    similarity bars when the method is semantic, else the "Computing..." message."""
    assert response["success"] is True
    jobs, method, message = response["data"], response["method"], response["message"]
    lines = [] if method == "semantic" else [f"Computing... {message}"]
    for job in jobs:
        where = job["location"]["city"] or ("Remote" if job["location"]["remote"] else "")
        line = f"{job['_id']}: {job['title']} at {job['company']} ({where}, {job['postedAt']})"
        if method == "semantic":
            percentage = job["similarityPercentage"]
            assert isinstance(percentage, int) and 0 <= percentage <= 100, job
            assert isinstance(job["similarityScore"], float | int), job
            line += f" [{'#' * (percentage // 10):<10}] {percentage}%"
        lines.append(line)
    return lines


# --- the seed's shape --------------------------------------------------------------------------


def test_before_embedding_the_seed_request_gets_the_seed_fallback_answer(
    client: TestClient,
) -> None:
    create_corpus(client)

    body = seed_request(client, "anchor")

    assert set(body) == SEED_KEYS
    assert (body["success"], body["method"]) == (True, "fallback")
    assert body["message"].startswith("Semantic matching in progress")
    assert body["total"] == len(body["data"]) > 0
    for item in body["data"]:
        assert set(item) >= SEED_ITEM_KEYS
        assert "id" not in item
        assert (item["similarityScore"], item["similarityPercentage"]) == (None, None)
        assert item["source"] == "fallback"
    rendered = seed_frontend(body)
    assert rendered[0].startswith("Computing... Semantic matching in progress")


def test_after_embedding_the_seed_request_gets_scored_items_in_the_list_order(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)

    body = seed_request(client, "anchor")
    ours = client.get("/api/jobs/anchor/similar").json()

    assert set(body) == SEED_KEYS
    assert (body["success"], body["method"], body["message"]) == (True, "semantic", None)
    assert [item["_id"] for item in body["data"]] == ids(ours)
    assert body["total"] == ours["total"] == len(body["data"])
    for item, mine in zip(body["data"], ours["data"], strict=True):
        assert item["similarityScore"] == mine["score"]
        assert item["similarityPercentage"] == mine["percentage"] == round(mine["score"] * 100)
        assert item["postedAt"] == mine["created_at"]
        assert (item["title"], item["company"], item["category"]) == (
            mine["title"],
            mine["company"],
            mine["category"],
        )
        assert item["location"] == mine["location"] and item["salary"] == mine["salary"]
    assert len(seed_frontend(body)) == body["total"]


def test_the_seed_shape_keeps_the_read_filters_and_explanations(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)

    body = seed_request(client, "anchor", remote_only=True, explain=True, fill=0)

    assert [item["_id"] for item in body["data"]] == ["remote"]
    assert body["data"][0]["explanation"]["shared"]["skills"] == ["python", "django"]


def test_the_openapi_document_describes_both_shapes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/jobs/{posting_id}/similar"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    names = {option["$ref"].rsplit("/", 1)[1] for option in schema["anyOf"]}
    seed_item = document["components"]["schemas"]["SeedSimilarItem"]["properties"]

    assert names == {"SimilarResponse", "SeedSimilarResponse"}
    assert {"_id", "similarityScore", "similarityPercentage", "postedAt"} <= set(seed_item)
    assert {"format", "fill", "explain"} <= {p["name"] for p in operation["parameters"]}


# --- short lists are topped up -----------------------------------------------------------------


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """A minimum only the near-duplicate clears: anchor's list holds the twin alone."""
    return settings.model_copy(update={"min_score": 0.9})


def test_a_short_list_is_topped_up_with_the_nearest_fallback_postings(
    strict: Settings, db: Database
) -> None:
    with open_client(strict, db) as client:
        create_corpus(client)
        run_worker(strict, db)
        # The newest Berlin posting, and an unrelated one: newest first would show it first.
        create(
            client,
            id="sales",
            title="Account Executive",
            description="Sell subscriptions to mid-market customers across the region.",
            category="Sales",
            tags=["crm"],
        )
        run_worker(strict, db)

        ours = client.get("/api/jobs/anchor/similar").json()
        body = seed_request(client, "anchor")

        assert ours["method"] == body["method"] == "semantic"
        assert (ours["data"][0]["id"], ours["data"][0]["source"]) == ("twin", "semantic")
        fillers = ours["data"][1:]
        assert len(fillers) == strict.fill_short_lists - 1
        assert {i["id"] for i in fillers} <= {"colleague", "local", "remote"}  # not "sales"
        assert all(i["source"] == "fallback" and i["score"] is None for i in fillers)
        assert ours["total"] == len(ours["data"])
        # The seed scores what it shows without a cached score as 0 (`matchData?.score || 0`).
        assert [(i["similarityScore"], i["similarityPercentage"]) for i in body["data"][1:]] == [
            (0.0, 0),
            (0.0, 0),
        ]
        assert [i["source"] for i in body["data"]] == ["semantic", "fallback", "fallback"]
        assert len(seed_frontend(body)) == 3


def test_filling_follows_fill_and_the_setting_and_the_read_filters(
    strict: Settings, db: Database
) -> None:
    with open_client(strict, db) as client:
        create_corpus(client)
        run_worker(strict, db)

        def found(**params: Any) -> list[tuple[str, str]]:
            response = client.get("/api/jobs/anchor/similar", params=params)
            assert response.status_code == 200, response.text
            assert response.json()["method"] == "semantic"
            return [(i["id"], i["source"]) for i in response.json()["data"]]

        assert found(fill=0) == [("twin", "semantic")]
        everything = found(fill=5)
        assert len(everything) == 4  # twin, then the whole pool: colleague, remote, local
        assert len({posting_id for posting_id, _ in everything}) == 4
        assert "anchor" not in {posting_id for posting_id, _ in everything}
        assert len(found(fill=5, limit=2)) == 2  # never past the limit
        assert [p for p, _ in found(fill=5, remote_only=True)] == ["remote"]
        same_company = {p for p, _ in found(fill=5, exclude_same_company=True)}
        assert same_company.isdisjoint({"colleague"})  # Acme's, like the anchor
        assert all(source == "fallback" for _, source in everything[1:])
    with open_client(strict.model_copy(update={"fill_short_lists": 0}), db) as client:
        assert [i["id"] for i in client.get("/api/jobs/anchor/similar").json()["data"]] == ["twin"]


def test_a_long_enough_list_is_not_topped_up(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)

    data = client.get("/api/jobs/anchor/similar", params={"fill": 3}).json()["data"]

    assert len(data) >= 3 and all(item["source"] == "semantic" for item in data)
