"""SQLAlchemy 2.0 models: postings, their embeddings and similar lists, tasks and workers.

The schema is the same on SQLite and PostgreSQL; Alembic migrations create it and a test
compares the migrated schema with these models on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jobsim.storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 64


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Posting(Base):
    """A listing a board pushed to us (a job by default; `listing_type` allows others)."""

    __tablename__ = "postings"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    listing_type: Mapped[str] = mapped_column(String(32), default="job", server_default="job")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    company: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    remote: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    hybrid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    experience_level: Mapped[str | None] = mapped_column(String(16))
    salary_min: Mapped[float | None] = mapped_column(Float)
    salary_max: Mapped[float | None] = mapped_column(Float)
    salary_currency: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    language: Mapped[str] = mapped_column(String(16), default="unknown", server_default="unknown")
    # Fields only one listing type has (a business's street, phone and website).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_postings_status_expires", "status", "is_deleted", "expires_at"),
        Index("ix_postings_category", "category"),
        Index("ix_postings_city", "city"),
        Index("ix_postings_updated_at", "updated_at"),
        # Edited postings (jobsim.index_copy.changed_postings reads them at every sync).
        Index(
            "ix_postings_edited",
            "updated_at",
            "version",
            "id",
            sqlite_where=text("version > 1"),
            postgresql_where=text("version > 1"),
        ),
        Index("ix_postings_created_at", "created_at"),
        Index("ix_postings_listing_type", "listing_type"),
    )


class Embedding(Base):
    """One vector per (posting, model); the content hash says which text it was made from.

    `seq` is assigned under the similarity write lock, so it orders embeddings by commit and
    lets every worker's in-memory index catch up with `seq > last_seen`.
    """

    __tablename__ = "embeddings"

    posting_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("postings.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    dims: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_embeddings_model_seq", "model", "seq"),)


class SimilarEntry(Base):
    """One row of a posting's cached top-N list, with the parts its score is made of."""

    __tablename__ = "similar"

    posting_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("postings.id", ondelete="CASCADE"), primary_key=True
    )
    similar_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("postings.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
    semantic: Mapped[float] = mapped_column(Float)
    context: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_similar_similar_id", "similar_id"),)


class ListState(Base):
    """A posting's cached list: its size, its lowest score, the sync sequence and time of its
    last write (workers read count and floor to decide in memory whether a new posting enters
    it). A row of its own, not columns of the posting: a new posting enters about ten lists,
    and rewriting ten wide posting rows (on PostgreSQL with every index of each) cost more
    than the entries did."""

    __tablename__ = "list_states"

    posting_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("postings.id", ondelete="CASCADE"), primary_key=True
    )
    count: Mapped[int] = mapped_column(Integer)
    floor: Mapped[float | None] = mapped_column(Float)
    seq: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_list_states_seq", "seq"),
        Index("ix_list_states_computed_at", "computed_at"),
    )


class Task(Base):
    """A unit of background work; only jobsim.queue reads or writes this table."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    posting_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # latest attempt's claim
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "uq_tasks_one_queued_per_posting",
            "kind",
            "posting_id",
            unique=True,
            sqlite_where=text("state = 'queued'"),
            postgresql_where=text("state = 'queued'"),
        ),
        Index("ix_tasks_claim", "state", "priority", "run_after"),
        # The claim's order within a priority level (jobsim.queue.claim.claim_statement).
        Index(
            "ix_tasks_queued",
            "priority",
            "run_after",
            "id",
            sqlite_where=text("state = 'queued'"),
            postgresql_where=text("state = 'queued'"),
        ),
        Index("ix_tasks_posting", "posting_id"),
        Index("ix_tasks_lease", "state", "lease_expires_at"),
        Index("ix_tasks_finished", "state", "finished_at"),
    )


class Worker(Base):
    """A registered worker process and its latest heartbeat."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    embedder: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    memory_mb: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Tasks in the batch in hand (0 between batches).
    current_batch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # This process's counters (jobsim.metrics), written at each heartbeat; /metrics sums them.
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RuntimeSetting(Base):
    """A setting changed at run time (the log level) that every process picks up."""

    __tablename__ = "runtime_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Base):
    """One alert condition's state, so it is sent once when it starts and once when it clears,
    by exactly one process."""

    __tablename__ = "alerts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str | None] = mapped_column(Text)


class Counter(Base):
    """Named monotonic counters; `sync_seq` is bumped once per similarity write transaction."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
