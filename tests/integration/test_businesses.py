"""Business listings (seed 003) on a real SQLite file and a real PostgreSQL server: their own
routes and the seed's, the same queue and workers as job postings, their own text recipe and
context bonus (same kind, nearby first), never mixed with job postings, the fallback, the
seed's bulk and job-status endpoints, free-text matches and CSV imports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from jobsim.api.app import create_app
from jobsim.cli import main
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import ListState, Posting
from tests.integration.test_api import create, ids, run_worker

TOKEN = "business-admin-T0ken-5d1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BAKERY = {
    "name": "Crust & Crumb",
    "category": "Bakery",
    "description": "Sourdough and rye bread baked before dawn, croissants and birthday cakes.",
    "address": {"street": "1 Church Lane", "city": "Northfield", "region": "Lakeshire"},
    "phone": "+44 1201 880060",
    "website": "https://crust-crumb.example.com",
    "tags": ["bread", "cakes"],
}


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, Service(settings, db))) as client:
        yield client


def add(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/businesses", json={**BAKERY, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def similar(client: TestClient, business_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/businesses/{business_id}/similar", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def load_sample(client: TestClient) -> None:
    sample = resources.files("jobsim.data").joinpath("sample_businesses.jsonl")
    items = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    response = client.post("/api/businesses/bulk", json=items)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 60


def test_a_business_is_stored_with_its_address_phone_and_website_and_embedded_by_the_workers(
    client: TestClient, settings: Settings, db: Database
) -> None:
    created = add(client, id="crust")
    assert created["name"] == "Crust & Crumb"
    assert created["address"] == BAKERY["address"]
    assert (created["phone"], created["website"]) == (BAKERY["phone"], BAKERY["website"])

    run_worker(settings, db)

    with db.read() as session:
        row = session.get(Posting, "crust")
        assert row is not None and row.listing_type == "business"
        assert session.get_one(ListState, "crust").computed_at is not None
    assert client.get("/api/businesses/crust").json() == created


def test_similar_businesses_are_the_same_kind_nearby_first_and_never_job_postings(
    client: TestClient, settings: Settings, db: Database
) -> None:
    load_sample(client)
    # A job posting whose text is a bakery's: it must not enter any business list.
    create(
        client,
        id="baker-job",
        title="Baker for sourdough bread and cakes",
        description="Sourdough and rye bread baked before dawn, croissants and cakes.",
        category="Bakery",
        location={"city": "Northfield"},
    )
    run_worker(settings, db)

    answer = similar(client, "biz-bakery-northfield")
    assert answer["method"] == "semantic"
    assert "baker-job" not in ids(answer)
    bakeries = [item for item in answer["data"] if item["category"] == "Bakery"]
    assert len(bakeries) == 5, "every other bakery of the sample is in the list"
    assert answer["data"][:5] == bakeries, "the same kind of business comes first"
    # Nearby counts: the bakery in the same region gets the larger context part.
    context = {item["address"]["region"]: item["context"] for item in bakeries}
    assert context["Lakeshire"] == pytest.approx(0.7)
    assert context["Highlands"] == context["Coastal County"] == pytest.approx(0.5)
    first = bakeries[0]
    assert first["phone"] and first["website"].startswith("https://")

    jobs = client.get("/api/jobs/baker-job/similar").json()
    assert not any(item["id"].startswith("biz-") for item in jobs["data"])


def test_the_context_bonus_puts_the_same_city_then_the_same_region_first(
    client: TestClient, settings: Settings, db: Database
) -> None:
    text = {"description": "Bread and cakes.", "tags": []}
    add(client, id="here", **text)
    add(client, id="far", **text, address={"city": "Ironridge", "region": "Highlands"})
    add(client, id="region", **text, address={"city": "Millbrook", "region": "Lakeshire"})
    add(client, id="town", **text, address={"city": "Northfield", "region": "Lakeshire"})
    run_worker(settings, db)

    answer = similar(client, "here", explain="true")
    assert ids(answer) == ["town", "region", "far"]
    parts = [item["explanation"]["context_parts"]["location"] for item in answer["data"]]
    assert parts == [0.4, 0.2, 0.0]
    assert answer["data"][0]["explanation"]["same"]["city"] is True


def test_jobs_and_businesses_do_not_see_each_other_by_id(client: TestClient) -> None:
    add(client, id="crust")
    create(client, id="a-job")

    assert client.get("/api/jobs/crust").status_code == 404
    assert client.get("/api/businesses/a-job").status_code == 404
    assert client.get("/api/jobs/crust/similar").status_code == 404
    assert client.patch("/api/businesses/a-job", json={"phone": "123 456"}).status_code == 404
    clash = client.post("/api/businesses", json={**BAKERY, "id": "a-job"})
    assert clash.status_code == 409 and "already exists" in clash.json()["message"]
    put = client.put("/api/businesses/a-job", json=BAKERY)
    assert put.status_code == 409 and "belongs to a job listing" in put.json()["message"]
    listed = client.get("/api/businesses").json()
    assert [item["id"] for item in listed["items"]] == ["crust"]
    assert [item["id"] for item in client.get("/api/jobs").json()["items"]] == ["a-job"]


def test_a_patch_merges_the_details_and_re_embeds_only_when_the_text_changes(
    client: TestClient, settings: Settings, db: Database
) -> None:
    add(client, id="crust")
    run_worker(settings, db)

    phone = client.patch("/api/yellow-books/crust", json={"phone": "+44 1999 123456"})
    assert phone.status_code == 200, phone.text
    body = phone.json()
    assert body["phone"] == "+44 1999 123456"
    assert body["address"]["street"] == "1 Church Lane", "the other details are kept"
    assert body["_embeddingJob"] == {
        "id": None,
        "status": "unchanged",
        "message": "The embedded text did not change",
    }

    # The address is no part of the embedded text (it scores through the context bonus).
    moved = client.patch("/api/yellow-books/crust", json={"address": "9 Mill Road"}).json()
    assert moved["address"] == {"street": "9 Mill Road", "city": None, "region": None}
    assert moved["_embeddingJob"]["status"] == "unchanged"
    assert moved["website"] == BAKERY["website"]

    text = client.patch("/api/yellow-books/crust", json={"description": "Gluten-free bread."})
    assert text.json()["_embeddingJob"]["status"] == "queued"


def test_the_seed_routes_create_queue_and_report_the_embedding_job(
    client: TestClient, settings: Settings, db: Database
) -> None:
    # The seed's own example request: the address is one line, the description is short.
    created = client.post(
        "/api/yellow-books",
        json={
            "name": "Test Coffee Shop",
            "category": "Cafe",
            "address": "123 Main St",
            "phone": "555-1234",
            "description": "Best coffee in town",
        },
    )
    assert created.status_code == 201, created.text
    entry = created.json()
    job = entry["_embeddingJob"]
    assert job["status"] == "queued" and isinstance(job["id"], int)
    assert entry["address"]["street"] == "123 Main St"

    waiting = client.get(f"/api/admin/jobs/{job['id']}", headers=AUTH).json()
    assert waiting["state"] == "waiting"
    assert waiting["businessId"] == entry["id"]
    assert waiting["processedOn"] is None and waiting["finishedOn"] is None

    run_worker(settings, db)

    done = client.get(f"/api/admin/jobs/{job['id']}", headers=AUTH).json()
    assert done["state"] == "completed"
    assert done["attemptsMade"] == 1 and done["failedReason"] is None
    assert done["finishedOn"] >= done["processedOn"] > 0
    assert client.get(f"/api/admin/jobs/{job['id']}").status_code == 401
    assert client.get("/api/admin/jobs/999999", headers=AUTH).status_code == 404


def test_the_seed_bulk_endpoint_queues_each_business_and_names_unknown_ids(
    client: TestClient, settings: Settings, db: Database
) -> None:
    add(client, id="crust")
    add(client, id="loaf", name="Golden Oven")
    create(client, id="a-job")
    run_worker(settings, db)

    body = {"businessIds": ["crust", "loaf", "nope", "a-job"]}
    assert client.post("/api/admin/embeddings/bulk", json=body).status_code == 401
    response = client.post("/api/admin/embeddings/bulk", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["queued"] == 2
    assert [job["businessId"] for job in answer["jobs"]] == ["crust", "loaf"]
    assert answer["unknown"] == ["nope", "a-job"]
    for job in answer["jobs"]:
        state = client.get(f"/api/admin/jobs/{job['jobId']}", headers=AUTH).json()["state"]
        assert state == "waiting"


def test_a_business_not_embedded_yet_gets_the_same_category_or_city_as_fallback(
    client: TestClient,
) -> None:
    add(client, id="crust")
    add(client, id="loaf", name="Golden Oven")
    add(
        client,
        id="gym",
        name="Iron Temple Gym",
        category="Fitness Centre",
        address={"city": "Ironridge"},
    )
    create(client, id="a-job", category="Bakery")

    answer = similar(client, "crust")
    assert answer["method"] == "fallback"
    assert ids(answer) == ["loaf"]
    assert answer["data"][0]["source"] == "fallback"


def test_a_free_text_finds_businesses_only(
    client: TestClient, settings: Settings, db: Database
) -> None:
    load_sample(client)
    create(client, id="baker-job", title="Baker", description="Sourdough bread and cakes " * 3)
    run_worker(settings, db)

    response = client.post(
        "/api/businesses/similar",
        json={"text": "sourdough bread and birthday cakes", "filters": {"city": "Northfield"}},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"], answer
    assert all(item["id"].startswith("biz-") for item in answer["data"])
    assert answer["data"][0]["category"] == "Bakery"


def test_jobsim_import_reads_a_business_csv_and_reports_bad_rows(
    settings: Settings, db: Database, client: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "directory.csv"
    path.write_text(
        "id,name,category,description,street,city,region,phone,website,tags\n"
        "b1,Crust & Crumb,Bakery,Sourdough bread,1 Church Lane,Northfield,Lakeshire,"
        '+44 1201 880060,https://crust.example.com,"bread, cakes"\n'
        "b2,X,Bakery,too short a name,,,,,,\n",
        encoding="utf-8",
    )
    env = {"JOBSIM_DATABASE_URL": settings.database_url, "JOBSIM_EMBEDDER": "fake:64"}
    result = CliRunner().invoke(main, ["import", "--type", "business", str(path)], env=env)

    assert result.exit_code == 1, result.output
    assert "1 created" in result.output and "1 rejected" in result.output
    assert "name" in result.output
    with db.read() as session:
        row = session.scalars(select(Posting).where(Posting.id == "b1")).one()
    assert (row.listing_type, row.city, row.region) == ("business", "Northfield", "Lakeshire")
    assert row.details == {
        "street": "1 Church Lane",
        "phone": "+44 1201 880060",
        "website": "https://crust.example.com",
    }
    assert row.tags == ["bread", "cakes"]
    create(client)  # one job posting beside the business
    status = CliRunner().invoke(main, ["status"], env=env)
    assert "listings, all types: 2 active, 0 closed, 0 draft, 0 deleted" in status.output
    assert "listing types: business 1 (0% embedded), job 1 (0% embedded)" in status.output
