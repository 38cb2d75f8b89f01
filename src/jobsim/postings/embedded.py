"""The "embedded" rule: a posting is embedded when it has a vector for the current vector model
made from its current content hash. A vector of another model, or of an older text, keeps
serving its lists but does not make the posting embedded (coverage, backfill and the similar
endpoint all read it this way)."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from jobsim.postings.listed import active_clause
from jobsim.storage.models import Embedding, Posting


def current_vector(model: str) -> ColumnElement[bool]:
    """SQL join condition from postings to the embedding that makes each one embedded."""
    return and_(
        Embedding.posting_id == Posting.id,
        Embedding.model == model,
        Embedding.content_hash == Posting.content_hash,
    )


def is_embedded(session: Session, posting: Posting, model: str) -> bool:
    found = session.scalar(
        select(Posting.id).join(Embedding, current_vector(model)).where(Posting.id == posting.id)
    )
    return found is not None


def embedded_counts(session: Session, model: str) -> tuple[int, int]:
    """Active postings, and how many of them are embedded for `model`."""
    active = session.scalar(select(func.count()).select_from(Posting).where(active_clause()))
    embedded = session.scalar(
        select(func.count())
        .select_from(Posting)
        .join(Embedding, current_vector(model))
        .where(active_clause())
    )
    return int(active or 0), int(embedded or 0)
