"""Response models: they make the OpenAPI document match what the endpoints really return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class LocationOut(BaseModel):
    city: str | None
    region: str | None
    remote: bool
    hybrid: bool


class SalaryOut(BaseModel):
    min: float | None
    max: float | None
    currency: str | None


class PostingOut(BaseModel):
    id: str
    listing_type: str
    title: str
    description: str
    company: str | None
    category: str | None
    tags: list[str]
    requirements: list[str]
    location: LocationOut
    experience_level: str | None
    salary: SalaryOut
    status: str
    expires_at: str | None
    language: str
    version: int
    created_at: str
    updated_at: str


class PostingPage(BaseModel):
    items: list[PostingOut]
    total: int
    limit: int
    offset: int


class SimilarItem(BaseModel):
    id: str
    title: str
    company: str | None
    category: str | None
    location: LocationOut
    experience_level: str | None
    salary: SalaryOut
    created_at: str
    score: float | None
    percentage: int | None
    semantic: float | None
    context: float | None


class SimilarResponse(BaseModel):
    posting_id: str
    method: Literal["semantic", "fallback"]
    total: int
    data: list[SimilarItem]
    message: str | None
    computed_at: str | None
    recompute_queued: bool


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    error: str
    message: str
    detail: list[FieldError] = []
    trace_id: str | None = None


class BulkItemError(BaseModel):
    index: int
    source: str
    id: str | None
    errors: list[FieldError]


class BulkResponse(BaseModel):
    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    errors: list[BulkItemError]
    ids: list[str]


class HealthStatus(BaseModel):
    status: Literal["ok", "ready", "unavailable"]
    detail: str | None = None
