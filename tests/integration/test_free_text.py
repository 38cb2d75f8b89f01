"""Similar to free text (POST /api/jobs/similar and `jobsim match`) on a real SQLite file and a
real PostgreSQL server: the text embedded with the posting recipe's views, answered from a live
read-only index kept in sync without the similarity lock, context options and filters, the
listed rule, validation, the per-client rate limit, nothing stored, and the listing-type seam."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from jobsim import matching
from jobsim.api.ratelimit import RequestRate
from jobsim.cli import main
from jobsim.matching import MatchRequest, text_inputs
from jobsim.postings.recipe import TITLE_MAX_CHARS
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import Embedding, Posting, SimilarEntry, Task
from jobsim.vector_recipe import VectorRecipe
from tests.integration.test_api import CORPUS, create, create_corpus, ids, run_worker
from tests.support.app_client import open_client

PHRASE = "Senior Python backend developer, Django and PostgreSQL, payments"


def match(client: TestClient, text: str = PHRASE, **body: Any) -> dict[str, Any]:
    response = client.post("/api/jobs/similar", json={"text": text, **body})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def row_counts(db: Database) -> tuple[int, ...]:
    with db.read() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (Posting, Embedding, SimilarEntry, Task)
        )


# --- the match ---------------------------------------------------------------------------------


def test_a_text_finds_the_postings_that_share_its_meaning_best_first_and_stores_nothing(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)
    before = row_counts(db)

    answer = match(client)

    assert row_counts(db) == before  # neither the text nor its vector is kept
    assert answer["method"] == "semantic"
    assert answer["listing_type"] == "job"
    assert answer["model"] == settings.embedder
    assert answer["message"] is None
    found = ids(answer)
    assert found[0] in ("anchor", "twin")
    assert {"anchor", "twin", "colleague", "remote", "local"} <= set(found)
    assert answer["total"] == len(found)
    scores = [item["score"] for item in answer["data"]]
    assert scores == sorted(scores, reverse=True)
    for item in answer["data"]:
        assert item["source"] == "semantic"
        assert item["score"] >= settings.match_min_score
        assert item["percentage"] == round(item["score"] * 100)
        assert item["explanation"] is None
        assert item["score"] == pytest.approx(
            settings.weight_semantic * item["semantic"] + settings.weight_context * item["context"],
            abs=1e-3,
        )


def test_the_text_is_embedded_like_a_posting_made_of_it_alone(
    client: TestClient, settings: Settings, db: Database
) -> None:
    # With only the full view, a text equal to a posting's recipe text is that posting's vector.
    create(
        client,
        id="plain",
        title="Warehouse Operative",
        description="Pick and pack orders in a busy warehouse near the airport.",
        category=None,
        tags=[],
    )
    run_worker(settings, db)

    answer = match(
        client, "Warehouse Operative\nPick and pack orders in a busy warehouse near the airport."
    )

    assert ids(answer)[0] == "plain"
    assert answer["data"][0]["semantic"] == pytest.approx(1.0, abs=1e-4)


def test_each_view_reads_what_it_reads_of_a_posting() -> None:
    recipe = VectorRecipe.from_settings(Settings(glossary_dir="", text_max_chars=120))
    cv = "<p>Jane Doe — <b>Senior Data Engineer</b></p>\n" + (
        "I build and run data pipelines with Spark and Airflow for retail companies. " * 10
    )

    inputs = text_inputs(recipe, cv)

    # full: the whole text, cleaned and cut like a posting's recipe text; title and lexical:
    # its opening, cut like a posting's title text; the language from what the views read.
    assert inputs.full_text.startswith("Jane Doe — Senior Data Engineer\n\nI build and run")
    assert len(inputs.full_text) <= 120
    assert inputs.title_text.startswith(inputs.full_text[:100])
    assert len(inputs.title_text) <= TITLE_MAX_CHARS
    assert "<" not in inputs.full_text + inputs.title_text
    assert inputs.language == "en"


def test_context_options_move_the_context_part_and_filters_drop_postings(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)

    plain = {i["id"]: i for i in match(client)["data"]}
    berlin = {
        i["id"]: i
        for i in match(
            client,
            filters={"city": "berlin", "experience_level": "senior", "category": "Engineering"},
        )["data"]
    }

    # colleague: Berlin, mid, Engineering; twin: Munich, senior, Engineering.
    assert berlin["colleague"]["context"] == pytest.approx(0.3 + 0.3 + 0.2, abs=1e-4)
    assert berlin["twin"]["context"] == pytest.approx(0.5 + 0.3 + 0.0, abs=1e-4)
    assert plain["colleague"]["context"] == pytest.approx(0.25 + 0.1, abs=1e-4)
    for posting_id in plain.keys() & berlin.keys():
        assert berlin[posting_id]["semantic"] == plain[posting_id]["semantic"]

    def found(**filters: Any) -> set[str]:
        return set(ids(match(client, filters=filters)))

    assert found(remote_only=True) == {"remote"}
    assert found(city="BERLIN ", same_city=True) == {"anchor", "colleague", "local"}
    assert found(exclude_company="acme") == set(plain) - {"anchor", "colleague"}
    assert found(city="Atlantis", same_city=True) == set()
    best = sorted((i["score"] for i in plain.values()), reverse=True)
    floor = (best[1] + best[2]) / 2
    assert found(min_score=floor) == {
        posting_id for posting_id, item in plain.items() if item["score"] >= floor
    }
    assert found(min_score=-1) == set(plain)  # never below the setting


def test_a_text_match_has_its_own_minimum_score_and_the_lists_keep_theirs(
    settings: Settings, db: Database
) -> None:
    # The lists' minimum between the match's scores: postings the match finds under it stay
    # out of every cached list.
    with open_client(settings, db) as client:
        create_corpus(client)
        run_worker(settings, db)
        scores = sorted(i["score"] for i in match(client)["data"])
    lists_floor = (scores[0] + scores[-1]) / 2
    both = settings.model_copy(update={"min_score": lists_floor, "match_min_score": 0.05})
    Service(both, db).admin.recompute(who="test")  # every list again, under the new minimum
    run_worker(both, db)
    with open_client(both, db) as client:
        found = match(client)["data"]
    with db.read() as session:
        lowest_entry = session.scalar(select(func.min(SimilarEntry.score)))

    assert min(i["score"] for i in found) < lists_floor <= max(i["score"] for i in found)
    assert all(i["score"] >= 0.05 for i in found)
    assert lowest_entry is not None and lowest_entry >= lists_floor


def test_a_text_in_another_script_finds_postings_in_it_and_reports_its_language(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    create(
        client,
        id="ru-driver",
        title="Водитель грузовика",
        description="Перевозка грузов по России, водительские права категории C, опыт работы.",
        tags=[],
    )
    run_worker(settings, db)

    answer = match(client, "Водитель грузовика с правами категории C и опытом работы")

    assert answer["language"] == "ru"
    assert ids(answer)[0] == "ru-driver"


def test_the_index_follows_the_database_new_closed_and_reopened_postings(
    client: TestClient, settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert match(client)["message"] == matching.NOTHING_EMBEDDED
    create_corpus(client)
    run_worker(settings, db)
    first = set(ids(match(client)))
    assert "twin" in first

    create(client, **{**CORPUS["twin"], "id": "newcomer", "company": "Hooli"})
    run_worker(settings, db)  # a vector stored after this process loaded its index
    client.post("/api/jobs/twin/close")  # closed now: never shown, even before a meta sync
    after = set(ids(match(client)))

    assert "newcomer" in after
    assert "twin" not in after

    monkeypatch.setattr(matching, "META_SYNC_SECONDS", 0.0)
    match(client)  # syncs the metadata now, and will each time from here on
    client.put("/api/jobs/twin", json={**CORPUS["twin"], "status": "active"})
    assert "twin" in ids(match(client))


def test_a_match_answers_while_a_worker_holds_the_similarity_lock(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)
    answers: list[dict[str, Any]] = []

    with db.write() as session:
        db.lock_similarity(session)  # as a worker does (SQLite: BEGIN IMMEDIATE already holds it)
        session.execute(text("SELECT 1"))
        thread = threading.Thread(target=lambda: answers.append(match(client)))
        thread.start()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the match waited for the similarity lock"

    assert "twin" in ids(answers[0])


def test_only_the_listing_type_asked_for_is_searched(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    twin = CORPUS["twin"]
    business = {"id": "biz", "name": twin["title"], "description": twin["description"]}
    assert client.post("/api/businesses", json=business).status_code == 201
    run_worker(settings, db)

    assert "biz" not in ids(match(client))
    service = client.app.state.service  # type: ignore[attr-defined]
    request = MatchRequest(text=PHRASE)
    businesses = service.matching.match(request, listing_type="business")
    assert [item.id for item in businesses.data] == ["biz"]
    assert businesses.listing_type == "business"


# --- the request -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "ab"}, "text"),
        ({"text": "   ab   "}, "text"),
        ({"text": "x" * 20_001}, "text"),
        ({"text": PHRASE, "limit": 0}, "limit"),
        ({"text": PHRASE, "limit": 101}, "limit"),
        ({"text": PHRASE, "filters": {"level": "senior"}}, "filters.level"),
        ({"text": PHRASE, "filters": {"experience_level": "guru"}}, "filters.experience_level"),
        ({"text": PHRASE, "filters": {"same_city": True}}, "filters"),
        ({"text": PHRASE, "filters": {"min_score": 2}}, "filters.min_score"),
        ({}, "text"),
    ],
)
def test_invalid_requests_are_422_naming_the_field_without_echoing_the_text(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/jobs/similar", json=body)

    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "validation_failed"
    assert any(detail["field"] == field for detail in answer["detail"]), answer
    assert "xxxx" not in response.text and "guru" not in response.text


def test_the_longest_text_allowed_is_answered(
    client: TestClient, settings: Settings, db: Database
) -> None:
    create_corpus(client)
    run_worker(settings, db)

    answer = match(client, (PHRASE + ". ") * (20_000 // (len(PHRASE) + 2)))

    assert "anchor" in ids(answer)


def test_more_matches_than_allowed_a_minute_are_429_with_retry_after(
    settings: Settings, db: Database
) -> None:
    limited = settings.model_copy(update={"match_requests_per_minute": 2})
    with open_client(limited, db) as client:
        assert client.post("/api/jobs/similar", json={"text": PHRASE}).status_code == 200
        assert client.post("/api/jobs/similar", json={"text": "x"}).status_code == 422  # counts
        refused = client.post("/api/jobs/similar", json={"text": PHRASE})

        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"] == "too_many_requests"
        assert client.get("/api/jobs").status_code == 200  # other endpoints are not limited


def test_the_rate_is_counted_per_client_over_a_sliding_minute() -> None:
    rate = RequestRate(2, window=0.2)

    assert [rate.take("a"), rate.take("a"), rate.take("b")] == [None, None, None]
    assert rate.take("a") == 1  # seconds, rounded up
    threading.Event().wait(0.25)
    assert rate.take("a") is None


def test_the_openapi_document_describes_the_match(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/jobs/similar"]["post"]

    assert {"200", "422", "429", "503"} <= set(operation["responses"])
    assert "requestBody" in operation
    assert any(p["name"] == "explain" for p in operation["parameters"])


def test_jobsim_match_prints_the_matches_and_their_json(
    settings: Settings, db: Database, client: TestClient
) -> None:
    create_corpus(client)
    run_worker(settings, db)
    runner = CliRunner(
        env={
            "JOBSIM_DATABASE_URL": settings.database_url,
            "JOBSIM_EMBEDDER": settings.embedder,
            "JOBSIM_VECTOR_VIEWS": settings.vector_views,
            "JOBSIM_VECTOR_EXPANSION": str(settings.vector_expansion),
            "JOBSIM_MATCH_MIN_SCORE": str(settings.match_min_score),
        }
    )

    table = runner.invoke(main, ["match", PHRASE, "--limit", "3"], catch_exceptions=False)
    as_json = runner.invoke(
        main, ["match", PHRASE, "--remote-only", "--json", "--explain"], catch_exceptions=False
    )

    assert table.exit_code == 0, table.output
    assert "Senior Python Backend Developer" in table.output
    assert len([line for line in table.output.splitlines() if "%" in line]) == 3
    answer = json.loads(as_json.output)
    assert [item["id"] for item in answer["data"]] == ["remote"]
    assert answer["data"][0]["explanation"]["views"]
    bad = runner.invoke(main, ["match", "ab"])
    assert bad.exit_code != 0 and "text" in bad.output
