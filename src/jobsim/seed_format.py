"""The original board's response shape for a similar list (`?format=seed`): what its frontend
reads (seed 001, data flow 3), made from jobsim's answer (`SimilarReader.answer`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobsim.explain import Explanation
from jobsim.postings.schema import LocationOut, SalaryOut
from jobsim.serving import Source


class SeedSimilarItem(BaseModel):
    """An item as the original board's frontend reads it (seed 001, data flow 3): the posting's
    `_id`, title, company, location, salary, category and `postedAt`, with `similarityScore`
    and `similarityPercentage` on a semantic answer."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    title: str
    company: str | None
    category: str | None
    location: LocationOut
    salary: SalaryOut
    experience_level: str | None = Field(alias="experienceLevel")
    posted_at: str = Field(alias="postedAt")
    similarity_score: float | None = Field(alias="similarityScore")
    similarity_percentage: int | None = Field(alias="similarityPercentage")
    source: Source
    explanation: Explanation | None = None


class SeedSimilarResponse(BaseModel):
    """`?format=seed`: the original board's response, `{success, data, total, method, message}`."""

    success: Literal[True] = True
    data: list[SeedSimilarItem]
    total: int
    method: Literal["semantic", "fallback"]
    message: str | None


def seed_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """`?format=seed`: jobsim's answer (`SimilarReader.answer`) in SeedSimilarResponse's shape,
    as JSON-ready data by alias."""
    method = answer["method"]
    return {
        "success": True,
        "data": [seed_item(item, method) for item in answer["data"]],
        "total": answer["total"],
        "method": method,
        "message": answer["message"],
    }


def seed_item(item: dict[str, Any], method: str) -> dict[str, Any]:
    """One item of jobsim's answer as SeedSimilarItem shows it."""
    score, percentage = item["score"], item["percentage"]
    if method == "semantic" and score is None:
        # The seed scores what it found without a cached score as 0 (`matchData?.score
        # || 0`), so its similarity bars always get a number; `source` tells them apart.
        score, percentage = 0.0, 0
    return {
        "_id": item["id"],
        "title": item["title"],
        "company": item["company"],
        "category": item["category"],
        "location": item["location"],
        "salary": item["salary"],
        "experienceLevel": item["experience_level"],
        "postedAt": item["created_at"],
        "similarityScore": score,
        "similarityPercentage": percentage,
        "source": item["source"],
        "explanation": item["explanation"],
    }
