"""Scenario 11 (bad input), the sweep: schemathesis against the app's own OpenAPI schema.

Every operation in the schema (the job, business, admin and health routes) gets generated
requests, valid (positive) and invalid (negative) ones, in every schemathesis phase (explicit
examples, coverage of boundaries, fuzzing, stateful sequences through inferred links). They go
to the in-process app on a real SQLite file, with the admin token, and every answer goes through
all of schemathesis' checks: no 5xx, only declared status codes, content types and headers,
bodies that match the declared response schema, invalid requests rejected with a 4xx, valid
ones not rejected, 405 with an Allow header for undeclared methods.

It runs schemathesis' engine (what `schemathesis run` drives) rather than its pytest plugin:
the plugin's lazy schema (`schemathesis.pytest.from_fixture`), needed to build the app on a
per-test database, fails on pytest 9 (`Function` has no `_nodeid`). Generation is derandomized
(fixed seed, no example database written), so CI runs draw nearly the same requests (the
stateful phase follows what earlier requests stored); the examples per operation grow with
JOBSIM_RELIABILITY_SCALE.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import GenerationMode
from schemathesis.engine import events, from_schema
from schemathesis.schemas import BaseSchema

from jobsim.api.app import create_app
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from tests.support.chaos import report, scale, scaled

ADMIN_TOKEN = "schemathesis-admin-token-0123456789abcdef"
EXAMPLES = scaled(20, 200)  # per operation, phase and generation mode


@dataclass(frozen=True)
class Excluded:
    """A failure the sweep tolerates, and why. `applies` reads the failing request and answer."""

    check: str
    why: str
    applies: Callable[[Any, str], bool]


# The fixed paths that a templated path of the API also matches (see EXCLUDED).
ALSO_TEMPLATED = {
    "/api/jobs/bulk",
    "/api/jobs/similar",
    "/api/businesses/bulk",
    "/api/businesses/similar",
    "/api/admin/tasks/clear",
    "/api/admin/tasks/retry",
}


def _answer_says(*fragments: str) -> Callable[[Any, str], bool]:
    return lambda _case, answer: any(fragment in answer for fragment in fragments)


def _bool_sent_as_number(case: Any, _answer: str) -> bool:
    filters = case.body.get("filters") if isinstance(case.body, dict) else None
    values = [case.body.get("limit")] if isinstance(case.body, dict) else []
    values += [filters.get("min_score")] if isinstance(filters, dict) else []
    return any(isinstance(value, bool) for value in values)


def _padded_text_too_short(case: Any, answer: str) -> bool:
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    padded = any(text != text.strip() for text in strings(case.body))
    return padded and "should have at least" in answer


EXCLUDED = [
    # Principled: rules between two values, which a JSON Schema cannot state (it has no
    # comparison of one property with another, nor of the body with the path). A schema-valid
    # request that breaks them is rightly refused with 422.
    Excluded(
        "positive_data_acceptance",
        "salary.min above salary.max (a comparison of two properties)",
        _answer_says("salary.min must not exceed salary.max"),
    ),
    Excluded(
        "positive_data_acceptance",
        "PUT with a body id other than the path's id (the body compared with the path)",
        _answer_says("the id in the body differs from the id in the path"),
    ),
    Excluded(
        "positive_data_acceptance",
        "same_city without a city (one property required by the value of another)",
        _answer_says("same_city needs a city"),
    ),
    # Principled: text fields are trimmed before their length is checked ("  ab" is "ab", too
    # short for 3); a JSON Schema minLength counts the raw characters.
    Excluded(
        "positive_data_acceptance",
        "a text that is long enough only with its surrounding spaces (trimmed first)",
        _padded_text_too_short,
    ),
    # Principled: the state of the database, not the shape of the request. A schema describes
    # shapes; creating an id that exists, or reusing a job's id for a business, is refused.
    Excluded(
        "positive_data_acceptance",
        "an id that already exists, or belongs to another listing type (stored state)",
        _answer_says("already exists", "belongs to a"),
    ),
    # Principled, as the URLs stand: a fixed path that is also a templated one. "bulk" and
    # "similar" are valid ids, so /api/jobs/bulk is also /api/jobs/{posting_id}, and GET, PUT,
    # PATCH and DELETE really are routed there (to the posting "bulk"): the Allow header says
    # so, while OpenAPI's "concrete paths first" reads the path as POST only. Likewise GET
    # /api/admin/tasks/clear is routed to /api/admin/tasks/{task_id} and refused with 422 (not
    # a task id) rather than 405. Reserving those ids, and routing only digits as task ids
    # (`{task_id:int}`), would settle it (reported: tests/integration/test_api.py walks every
    # documented path with a non-numeric id, and jobsim/postings owns the id rules).
    Excluded(
        "allow_header_conformance",
        "OPTIONS on a fixed path that is also a templated one (Allow names both)",
        lambda case, _answer: case.path in ALSO_TEMPLATED,
    ),
    Excluded(
        "unsupported_method",
        "another method on /api/admin/tasks/clear or /retry: a task id that is not a number",
        lambda case, answer: case.path in ALSO_TEMPLATED and "path.task_id" in answer,
    ),
    # OPEN (not principled; the fix is outside the API package, reported to the owners):
    # title, description and status are nullable in the request schemas (PostingFields in
    # jobsim/postings/schema.py, BusinessFields in jobsim/listing_types/business.py), but the
    # writer (jobsim/postings/writer.py) refuses null for them with 422.
    Excluded(
        "positive_data_acceptance",
        "OPEN: null title/description/status declared nullable, refused by the writer",
        _answer_says("cannot be null"),
    ),
    # OPEN: MatchRequest/MatchFilters (jobsim/matching.py) parse in pydantic's lax mode, so
    # JSON true/false is taken as a number (limit, filters.min_score); strict fields would refuse.
    Excluded(
        "negative_data_rejection",
        "OPEN: a boolean accepted as a number in a free-text match (jobsim/matching.py)",
        _bool_sent_as_number,
    ),
]


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[BaseSchema]:
    url = f"sqlite:///{tmp_path / 'jobsim.db'}"
    db = Database(url)
    migrate.upgrade(db)
    settings = Settings(
        database_url=url,
        embedder="fake:64",
        vector_views="full:1",
        glossary_dir="",
        admin_token=ADMIN_TOKEN,
        # The sweep is about the shapes of requests and answers; the rate limits have their
        # own scenario (12), and at the defaults most generated requests would get 429.
        match_requests_per_minute=1_000_000,
        admin_failed_auth_per_minute=1_000_000,
    )
    app = create_app(settings, Service(settings, db))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.update(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    schema.config.checks.update(included_check_names=["all"])
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES,
        deterministic=True,
    )
    try:
        yield schema
    finally:
        db.dispose()


@dataclass
class Sweep:
    scenarios: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def run_sweep(schema: BaseSchema) -> Sweep:
    """Run every phase of schemathesis on `schema`; the failures not in EXCLUDED."""
    sweep = Sweep()
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            sweep.errors.append(repr(event))
        if not isinstance(event, events.ScenarioFinished):
            continue
        sweep.scenarios += 1
        recorder = event.recorder
        for interaction in recorder.interactions.values():
            if interaction.response is not None:
                sweep.requests += 1
                sweep.statuses[interaction.response.status_code] += 1
        for node in recorder.cases.values():
            meta = node.value.meta
            if meta is not None:
                sweep.modes[meta.generation.mode.value] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                case = recorder.cases[case_id].value
                response = recorder.find_response(case_id=case_id)
                answer = response.text if response is not None else ""
                known = [e for e in EXCLUDED if e.check == check.name and e.applies(case, answer)]
                if known:
                    sweep.excluded[known[0].why] += 1
                    continue
                status = response.status_code if response is not None else None
                sweep.failures.append(
                    f"{recorder.label}: {check.name}: {check.failure_info.failure.title} "
                    f"(answered {status}: {answer[:300]})\n{check.failure_info.code_sample}"
                )
    return sweep


@pytest.mark.timeout(int(300 * max(scale(), 1)))
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    api_schema: BaseSchema,
) -> None:
    started = time.monotonic()
    sweep = run_sweep(api_schema)
    elapsed = time.monotonic() - started
    assert sweep.errors == [], sweep.errors
    assert sweep.failures == [], "\n\n".join(sweep.failures)
    # The sweep reached the app: both kinds of requests, and both kinds of answers.
    operations = len(list(api_schema.get_all_operations()))
    assert operations >= 30
    assert sweep.requests >= 10 * operations, sweep.requests
    assert sweep.modes["positive"] > 0 and sweep.modes["negative"] > 0, sweep.modes
    assert any(200 <= code < 300 for code in sweep.statuses), sweep.statuses
    assert not any(code >= 500 for code in sweep.statuses), sweep.statuses
    report(
        "11 schemathesis sweep",
        "sqlite",
        operations=operations,
        examples_per_operation=EXAMPLES,
        scenarios=sweep.scenarios,
        requests=sweep.requests,
        cases_by_mode=dict(sweep.modes),
        statuses=json.dumps(dict(sorted(sweep.statuses.items()))),
        excluded=dict(sweep.excluded),
        failures=0,
        elapsed_s=round(elapsed, 1),
    )


def test_the_answers_the_sweep_found_wrong_now_match_the_schema(
    api_schema: BaseSchema, tmp_path: Path
) -> None:
    """The bugs the sweep found, one request each (docs/reliability.md, bugs 7-9)."""
    app = api_schema.app
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    spec = app.openapi()
    with TestClient(app) as client:
        # 7: a 405 names every method of the path (Starlette named one route's only).
        answer = client.request("OPTIONS", "/api/jobs")
        assert answer.status_code == 405
        assert {"GET", "POST"} <= {m.strip() for m in answer.headers["allow"].split(",")}
        # 8: JSON booleans (or a fraction, or an id past 64 bits) are not task ids or days.
        for path, body in [
            ("/api/admin/tasks/retry", {"ids": [True]}),
            ("/api/admin/tasks/retry", {"ids": [-(2**80)]}),  # was a 500 (driver overflow)
            ("/api/admin/tasks/retry", {"ids": [1.5]}),
            ("/api/admin/tasks/clear", {"older_than_days": True}),
            ("/api/admin/tasks/clear", {"older_than_days": "5"}),
        ]:
            assert client.post(path, json=body, headers=admin).status_code == 422, (path, body)
        for path, body in [
            ("/api/admin/tasks/retry", {"ids": [7, 8.0]}),  # 8.0 is an integer to JSON Schema
            ("/api/admin/tasks/clear", {"older_than_days": 5}),
        ]:
            assert client.post(path, json=body, headers=admin).status_code == 200, (path, body)
        # 9: the answers the schema did not declare: 201 from PUT, 400 for a body not JSON.
        created = client.put(
            "/api/jobs/new-1",
            json={"title": "Python Developer", "description": "Build Python services " * 2},
        )
        assert created.status_code == 201, created.text
        assert "201" in spec["paths"]["/api/jobs/{posting_id}"]["put"]["responses"]
        assert "201" in spec["paths"]["/api/businesses/{business_id}"]["put"]["responses"]
        garbled = client.post(
            "/api/jobs", content=b"\x81\xff{", headers={"content-type": "application/json"}
        )
        assert garbled.status_code == 400, garbled.text
        for path in ("/api/jobs", "/api/jobs/similar", "/api/admin/tasks/retry"):
            assert "400" in spec["paths"][path]["post"]["responses"], path
