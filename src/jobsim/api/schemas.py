"""Response models of the API itself (errors, bulk reports, probes); postings and similar lists
answer with the models of jobsim.postings.schema and jobsim.serving."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


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


class _CamelModel(BaseModel):
    """Fields written in camelCase, as the seed's Node service answered."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class QueueHealth(_CamelModel):
    pending: int
    processing: int
    failed: int


class WorkersHealth(_CamelModel):
    active: int


class EmbeddingMetrics(_CamelModel):
    coverage: str
    total_jobs: int
    jobs_with_embeddings: int
    queue: QueueHealth
    workers: WorkersHealth


class EmbeddingHealth(_CamelModel):
    status: Literal["healthy", "degraded"]
    timestamp: str
    metrics: EmbeddingMetrics


class HealthError(BaseModel):
    status: Literal["error"]
    error: str
