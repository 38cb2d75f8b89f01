"""Response models of the API itself (errors, bulk reports, probes); postings and similar lists
answer with the models of jobsim.postings.schema and jobsim.serving."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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
