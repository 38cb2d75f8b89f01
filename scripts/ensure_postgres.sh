#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use answers on 127.0.0.1:5432; start it if not.
set -euo pipefail
host="${JOBSIM_PG_HOST:-127.0.0.1}"
if pg_isready -q -h "$host" -p 5432 2>/dev/null; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "PostgreSQL is not answering on $host:5432; starting it" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p 5432 && exit 0
    sleep 1
  done
fi
echo "PostgreSQL is not reachable on $host:5432; the test suite needs it" >&2
exit 1
