"""The reliability scenarios (issue 11): every test here carries the `reliability` marker, so
`pytest -m reliability` runs the set; the short versions also run in the normal suite.
JOBSIM_RELIABILITY_SCALE (tests/support/chaos.py) lengthens them: 1 (the default) is the short CI
version, 10 the sizes the issue names. Figures are printed (`pytest -s`) and, with
JOBSIM_RELIABILITY_RESULTS=<file>, appended to that file as JSON lines."""

from __future__ import annotations

import random
from typing import Any

import pytest

from jobsim.postings.schema import PostingIn
from jobsim.postings.writer import PostingWriter
from jobsim.storage.engine import Database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)


ROLES = [
    "Python Backend Developer",
    "Data Engineer",
    "Frontend Developer",
    "Registered Nurse",
    "Intensive Care Nurse",
    "Line Cook",
    "Account Executive",
    "DevOps Engineer",
    "Machine Learning Engineer",
    "Warehouse Operative",
    "Truck Driver",
    "Accountant",
    "Sales Manager",
    "Java Developer",
    "Product Designer",
    "Customer Support Agent",
]
SKILLS = [
    "python",
    "django",
    "postgresql",
    "react",
    "typescript",
    "spark",
    "airflow",
    "kubernetes",
    "patient care",
    "medication",
    "grill",
    "food safety",
    "saas",
    "negotiation",
    "excel",
    "forklift",
    "logistics",
    "java",
    "spring",
    "figma",
    "zendesk",
    "aws",
    "terraform",
    "sql",
]
CATEGORIES = ["Engineering", "Data", "Healthcare", "Hospitality", "Sales", "Logistics"]
CITIES = ["Berlin", "Munich", "Hamburg", "Cologne", None]
LEVELS = ["junior", "mid", "senior", None]


def posting_fields(rng: random.Random, n: int) -> dict[str, Any]:
    role = rng.choice(ROLES)
    skills = rng.sample(SKILLS, 3)
    city = rng.choice(CITIES)
    fields: dict[str, Any] = {
        "title": f"{rng.choice(['', 'Senior ', 'Junior ', 'Lead '])}{role}",
        "description": f"Work on {' and '.join(skills)} for team {n % 37} in our "
        f"{rng.choice(['logistics', 'fintech', 'health', 'retail', 'travel'])} business.",
        "category": rng.choice(CATEGORIES),
        "tags": skills,
        "location": {"city": city} if city else {"remote": True},
    }
    level = rng.choice(LEVELS)
    if level:
        fields["experience_level"] = level
    return fields


def create_postings(db: Database, count: int, *, seed: int = 11, prefix: str = "p") -> list[str]:
    """`count` varied postings (ids prefix00000...), each with its embed task, in chunks."""
    rng = random.Random(seed)
    ids = [f"{prefix}{n:05d}" for n in range(count)]
    writer = PostingWriter()
    for start in range(0, count, 250):
        with db.write() as session:
            for n in range(start, min(start + 250, count)):
                writer.create(session, PostingIn(id=ids[n], **posting_fields(rng, n)))
    return ids
