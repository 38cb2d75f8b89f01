"""What makes a listing type: its name, its text recipe and its context bonus.

The queue, the worker, the lists, the admin views and the metrics are shared by every type and
know nothing of any one; a type brings only these (and, in jobsim.api, its routes).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobsim.context_bonus import ContextBonus
from jobsim.postings.recipe import TextRecipe


@dataclass(frozen=True)
class ListingType:
    name: str  # stored in postings.listing_type; lists never mix two types
    label: str  # what one listing is called in messages ("posting", "business")
    bonus: ContextBonus
    # None: the recipe the settings describe (JOBSIM_TEXT_FIELDS...), the job postings' one.
    text: TextRecipe | None = None
