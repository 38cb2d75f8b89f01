"""The listing types jobsim serves, registered in this one place: job postings and businesses.

A type is a small module (its schema, text recipe and context bonus; its routes live in
jobsim.api); everything else — queue, worker, lists, admin, metrics — is shared and reads only
what is registered here.
"""

from __future__ import annotations

from dataclasses import replace

from jobsim.listing_types.base import ListingType
from jobsim.listing_types.business import BUSINESS
from jobsim.listing_types.job import JOB
from jobsim.postings.recipe import TextRecipe
from jobsim.settings import Settings
from jobsim.similarity import ScoringConfig

LISTING_TYPES: dict[str, ListingType] = {kind.name: kind for kind in (JOB, BUSINESS)}

__all__ = ["BUSINESS", "JOB", "LISTING_TYPES", "ListingType", "scoring_config", "with_type_recipes"]


def scoring_config(settings: Settings) -> ScoringConfig:
    """The scoring the settings describe, with every registered type's context bonus."""
    bonuses = {name: kind.bonus for name, kind in LISTING_TYPES.items()}
    return ScoringConfig.from_settings(settings, bonuses)


def with_type_recipes(recipe: TextRecipe) -> TextRecipe:
    """`recipe` (the job postings' one) knowing the text recipe of every other type."""
    own = tuple((name, kind.text) for name, kind in LISTING_TYPES.items() if kind.text is not None)
    return replace(recipe, by_type=own)
