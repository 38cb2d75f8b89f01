"""Job postings: the first listing type. Their schema is jobsim.postings.schema, their recipe
the one the settings describe, their context bonus the seed's."""

from __future__ import annotations

from jobsim.listing_types.base import ListingType
from jobsim.similarity import JOB_BONUS

JOB = ListingType(name="job", label="posting", bonus=JOB_BONUS)
