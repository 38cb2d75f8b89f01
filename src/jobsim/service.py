"""What the HTTP API and the CLI both call, built once from the settings, the database and the
vector recipe: posting and business writes and reads, similar-list serving, free-text matching,
operations reports and admin actions. No HTTP and no argv here."""

from __future__ import annotations

from jobsim.admin import AdminActions
from jobsim.listing_types.business import BUSINESS, BusinessIn, BusinessOut, as_new_listing
from jobsim.matching import TextMatcher
from jobsim.ops import Operations
from jobsim.postings.store import ListingStore, PostingStore
from jobsim.serving import SimilarReader
from jobsim.settings import Settings
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe


class Service:
    def __init__(
        self, settings: Settings, db: Database | None = None, recipe: VectorRecipe | None = None
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.recipe = recipe or VectorRecipe.from_settings(settings)
        self.postings = PostingStore(self.db, self.recipe.text, max_attempts=settings.max_attempts)
        self.businesses = ListingStore(
            self.db,
            self.recipe.text,
            listing_type=BUSINESS.name,
            present=BusinessOut.of,
            parse=lambda raw: as_new_listing(BusinessIn.model_validate(raw)),
            max_attempts=settings.max_attempts,
        )
        self.similar = SimilarReader(settings, self.db, self.recipe)
        self.matching = TextMatcher(settings, self.db, self.recipe)
        self.ops = Operations(settings, self.db, self.recipe)
        self.admin = AdminActions(settings, self.db, self.recipe)
