#!/usr/bin/env bash
# Install jobsim and run the main job on the embedded default: a SQLite file (./jobsim.db) and
# the offline local model. Loads the bundled sample postings, embeds them, prints similar jobs.
# Extra arguments go to `jobsim demo` (e.g. --serve to keep serving the API afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh 2> >(grep -v "^WARNING: Location" >&2)
exec .venv/bin/jobsim --log-level WARNING demo "$@"
