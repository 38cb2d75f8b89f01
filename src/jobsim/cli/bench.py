"""`jobsim bench`: the benchmark table (see jobsim.bench)."""

from __future__ import annotations

import click

from jobsim.cli.base import main


@main.command()
@click.option("--quick", is_flag=True, help="Smaller sizes (under 3 minutes on 2 cores).")
@click.option(
    "--database",
    "database",
    metavar="URL",
    help="A PostgreSQL server (postgresql://user@host/db) for the PostgreSQL figures; the "
    "benchmark works in schemas of its own there and drops them at the end.",
)
def bench(quick: bool, database: str | None) -> None:
    """Run the benchmarks on generated postings and print one table: each figure's value,
    target, ratio and PASS/FAIL."""
    from jobsim.bench import FULL, QUICK, run_bench

    config = (QUICK if quick else FULL).with_database(database)
    result = run_bench(config)
    click.echo(result.report)
