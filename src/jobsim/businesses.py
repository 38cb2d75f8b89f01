"""Similar businesses as a directory shows them: name, category, address, phone and website
with each item's score parts (the items come from jobsim.serving or jobsim.matching)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from jobsim.explain import Explanation
from jobsim.listing_types.business import Address, BusinessOut
from jobsim.matching import MatchResponse
from jobsim.postings.store import ListingStore
from jobsim.serving import SimilarItem, SimilarResponse, Source


class SimilarBusiness(BaseModel):
    """One similar business: where it is and how to reach it, and its score's parts."""

    id: str
    name: str
    category: str | None
    address: Address
    phone: str | None
    website: str | None
    score: float | None = None
    percentage: int | None = None
    semantic: float | None = None
    context: float | None = None
    source: Source = Field("semantic", description="fallback: same category or city, unscored")
    explanation: Explanation | None = Field(None, description="with ?explain=true")


class SimilarBusinesses(BaseModel):
    business_id: str | None = Field(None, description="absent for a free-text match")
    method: Literal["semantic", "fallback"]
    total: int
    data: list[SimilarBusiness]
    message: str | None


def similar_businesses(
    store: ListingStore[BusinessOut], items: list[SimilarItem]
) -> list[SimilarBusiness]:
    """Similar items (a cached list, its fallback, a free-text match) as businesses."""
    found = store.get_many(item.id for item in items)
    return [
        SimilarBusiness(
            **found[item.id].model_dump(include={"id", "name", "category", "phone", "website"}),
            address=found[item.id].address,
            **item.model_dump(
                include={"score", "percentage", "semantic", "context", "source", "explanation"}
            ),
        )
        for item in items
        if item.id in found
    ]


def as_similar_businesses(
    store: ListingStore[BusinessOut],
    answer: SimilarResponse | MatchResponse,
    business_id: str | None = None,
) -> SimilarBusinesses:
    """A business's similar list (`business_id`'s) or a free-text match, as businesses."""
    data = similar_businesses(store, answer.data)
    return SimilarBusinesses(
        business_id=business_id,
        method=answer.method,
        total=len(data),
        data=data,
        message=answer.message,
    )
