"""Scenario 11 (bad input), the targeted part: bodies over the limit get 413 before they are read
whole (with and without Content-Length), over-long fields and lists get 422, invalid UTF-8, deep
nesting, NaN and huge `limit` values are rejected cleanly (4xx in the API's error shape, never a
5xx), and the vector check never lets NaN, infinities or a zero vector through (hypothesis).
The schemathesis sweep of the whole OpenAPI schema is test_schemathesis.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jobsim.api.app import create_app
from jobsim.embedders.base import validate_vectors
from jobsim.errors import PermanentError
from jobsim.service import Service
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from tests.support.chaos import backend_of, report

LIMIT = 4096


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"max_body_bytes": LIMIT})
    with TestClient(create_app(limited, Service(limited, db))) as test_client:
        yield test_client


def job(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Backend Python Developer",
        "description": "Build and run Python services on PostgreSQL for a logistics platform.",
        "category": "Engineering",
        **overrides,
    }


def test_bad_requests_are_rejected_cleanly(client: TestClient, database_url: str) -> None:
    answers: dict[str, int] = {}

    def check(name: str, response: Any, expected: set[int]) -> None:
        answers[name] = response.status_code
        assert response.status_code in expected, (name, response.status_code, response.text)
        body = response.json()
        assert {"error", "message", "trace_id"} <= set(body), (name, body)

    big = job(description="x" * (LIMIT * 2))
    check("over limit, Content-Length", client.post("/api/jobs", json=big), {413})

    def chunks() -> Iterator[bytes]:
        yield b'{"title": "Backend", "description": "'
        for _ in range(64):
            yield b"y" * 1024
        yield b'"}'

    check(
        "over limit, chunked",
        client.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"}),
        {413},
    )
    check("title too long", client.post("/api/jobs", json=job(title="T" * 201)), {422})
    check("too many tags", client.post("/api/jobs", json=job(tags=["t"] * 51)), {422})
    check("tag too long", client.post("/api/jobs", json=job(tags=["t" * 101])), {422})
    check(
        "invalid UTF-8",
        client.post(
            "/api/jobs",
            content=b'{"title": "Backend \xff\xfe dev", "description": "' + b"d" * 30 + b'"}',
            headers={"content-type": "application/json"},
        ),
        {400, 422},
    )
    check(
        "deep nesting",
        client.post(
            "/api/jobs",
            content=b'{"title": ' + b"[" * 1800 + b"]" * 1800 + b"}",
            headers={"content-type": "application/json"},
        ),
        {400, 422},
    )
    check(
        "NaN salary",
        client.post(
            "/api/jobs",
            content=b'{"title": "Backend dev", "description": "'
            + b"d" * 30
            + b'", "salary": {"min": NaN}}',
            headers={"content-type": "application/json"},
        ),
        {422},
    )
    check("huge similar limit", client.get("/api/jobs/x/similar", params={"limit": 10**30}), {422})
    check("huge list limit", client.get("/api/jobs", params={"limit": 10**30}), {422})
    check("negative list offset", client.get("/api/jobs", params={"offset": -1}), {422})
    check(
        "not JSON",
        client.post("/api/jobs", content=b"\x00\x01", headers={"content-type": "application/json"}),
        {400, 422},
    )
    report("11 bad input (targeted)", backend_of(database_url), answers=answers, server_errors=0)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=400, deadline=None)
@given(
    matrix=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 8)),
        elements=st.one_of(
            finite_or_not,
            st.sampled_from([0.0, 1e-45, 1e-30, 1e19, 3e38, 1e39, -3e38]),
        ),
    )
)
def test_the_vector_check_never_lets_nan_infinity_or_zero_through(matrix: np.ndarray) -> None:
    rows, dims = matrix.shape
    with np.errstate(all="ignore"):  # the input itself may overflow float32
        try:
            result = validate_vectors(matrix, rows, dims)
        except PermanentError:
            return
    assert result.dtype == np.float32 and result.shape == (rows, dims)
    assert np.all(np.isfinite(result))
    norms = np.linalg.norm(result.astype(np.float64), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3), norms
