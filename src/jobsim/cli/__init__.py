"""The `jobsim` command line (`python -m jobsim.cli` works too)."""

from __future__ import annotations

from jobsim.cli import bench, commands, model, operator
from jobsim.cli.base import main, run

__all__ = ["bench", "commands", "main", "model", "operator", "run"]
