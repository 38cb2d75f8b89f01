"""Job postings: the first listing type. Their schema is jobsim.postings.schema, their recipe
the one the settings describe, their context bonus the seed's."""

from __future__ import annotations

from jobsim.context_bonus import JOB_BONUS
from jobsim.listing_types.base import ListingType

JOB = ListingType(name="job", label="posting", bonus=JOB_BONUS)
