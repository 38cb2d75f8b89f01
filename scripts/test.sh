#!/usr/bin/env bash
# Install jobsim with its dev tools and run everything CI runs: ruff, ruff format, mypy, pytest
# (against a real SQLite file and the PostgreSQL server on 127.0.0.1:5432, started if down).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev 2> >(grep -v "^WARNING: Location" >&2)
bash scripts/ensure_postgres.sh
.venv/bin/ruff check src tests scripts benchmarks
.venv/bin/ruff format --check src tests scripts benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
