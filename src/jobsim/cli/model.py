"""`jobsim model prepare | switch | prune`: changing the embedding model without downtime
(jobsim.model_switch). Run them with the NEW model's settings."""

from __future__ import annotations

from contextlib import closing

import click

from jobsim.cli.base import Context, main, make_embedder, pass_context
from jobsim.errors import ValidationFailed
from jobsim.model_switch import Coverage, ModelSwitch
from jobsim.vectorizer import PostingVectorizer


@main.group()
def model() -> None:
    """Change the embedding model without downtime: prepare, switch, prune."""


def _switch(context: Context) -> ModelSwitch:
    embedder = make_embedder(context.settings)
    vectorizer = PostingVectorizer(embedder, context.recipe)
    return ModelSwitch(context.settings, context.database(), vectorizer)


def _echo(coverage: Coverage) -> None:
    click.echo(
        f"{coverage.model}: {coverage.embedded} of {coverage.active} active listings "
        f"({coverage.ratio:.1%})"
    )


@model.command()
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 1024))
@pass_context
def prepare(context: Context, batch_size: int) -> None:
    """Embed every active listing for the new model; the serving lists stay untouched."""
    switch = _switch(context)
    with closing(switch.vectorizer.embedder):
        done = switch.prepare(batch_size=batch_size, progress=_echo)
    click.echo(f"prepared {done} vectors")
    _echo(switch.coverage())


@model.command("switch")
@click.option(
    "--min-coverage",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Switch only when the new model covers at least this share of active listings.",
)
@pass_context
def switch_command(context: Context, min_coverage: float) -> None:
    """Replace every list with the new model's in one transaction; it serves from then on."""
    switch = _switch(context)
    with closing(switch.vectorizer.embedder):
        try:
            report = switch.switch(min_coverage=min_coverage)
        except ValidationFailed as error:
            raise click.ClickException(str(error)) from None
    click.echo(
        f"switched to {report.model} (from {report.previous or 'the previous model'}): "
        f"{report.lists} lists rebuilt, {report.queued} listings queued for embedding; "
        "restart the API and workers with the new settings, then `jobsim model prune`"
    )


@model.command()
@pass_context
def prune(context: Context) -> None:
    """Delete the vectors of every model but the serving one."""
    switch = _switch(context)
    with closing(switch.vectorizer.embedder):
        try:
            deleted = switch.prune()
        except ValidationFailed as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"deleted {deleted} vectors of other models")
