#!/usr/bin/env bash
# Try deploy/Procfile for real: the API and 2 workers under honcho, on a temporary SQLite file
# with the fake embedder, a throwaway webhook receiver for alerts; post three postings, read
# the status and a similar list, kill a worker started outside honcho (worker_dead alert),
# restart it (cleared), then SIGTERM honcho and check every worker exited 0 with "worker stopped".
#
# Usage: deploy/try_procfile.sh   (needs `honcho` on PATH or in $HONCHO, and jobsim in .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
honcho=${HONCHO:-honcho}
trial=$(mktemp -d /tmp/jobsim-procfile.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
hook_port=$(free_port)
export PATH="$root/.venv/bin:$PATH"

cat >"$trial/jobsim.env" <<EOF
JOBSIM_DATABASE_URL=sqlite:///$trial/jobsim.db
JOBSIM_EMBEDDER=fake:64
JOBSIM_GLOSSARY_DIR=
JOBSIM_HEARTBEAT_SECONDS=2
JOBSIM_MAINTENANCE_SECONDS=3
JOBSIM_ALERT_WEBHOOK_URL=http://127.0.0.1:$hook_port/hook
EOF
set -a && . "$trial/jobsim.env" && set +a

cat >"$trial/receiver.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        print(self.rfile.read(int(self.headers["Content-Length"])).decode(), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
EOF

step() { printf '\n== %s\n' "$*"; }
cleanup() {  # whatever is still running when the script ends, also on a failed check
  for pid in ${restarted:-} ${extra:-} ${supervisor:-} ${receiver:-}; do
    kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

step "jobsim db upgrade"
jobsim db upgrade
python3 "$trial/receiver.py" "$hook_port" >"$trial/hooks.log" 2>&1 &
receiver=$!

step "honcho start -f deploy/Procfile -c worker=2 -p $api_port"
"$honcho" start -f deploy/Procfile -d "$root" -e "$trial/jobsim.env" -c worker=2 -p "$api_port" \
  >"$trial/honcho.log" 2>&1 &
supervisor=$!
for _ in $(seq 50); do curl -sf "localhost:$api_port/api/jobs?limit=1" >/dev/null && break; sleep 0.2; done

step "POST /api/jobs (3 postings)"
post() {
  curl -sf -XPOST "localhost:$api_port/api/jobs" -H 'content-type: application/json' \
    -d "{\"title\": \"$1\", \"description\": \"$2\", \"category\": \"IT\", \"location\": {\"city\": \"Berlin\"}}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
first=$(post "Senior Python Developer" "Build APIs in Python and FastAPI for our job board.")
post "Backend Engineer (Python)" "Design Python services and REST APIs with FastAPI and PostgreSQL." >/dev/null
post "Pastry Chef" "Bake bread, cakes and pastries in our Berlin bakery." >/dev/null
echo "created 3, the first is $first"
sleep 3

step "jobsim status"
jobsim status
step "GET /api/jobs/$first/similar"
curl -sf "localhost:$api_port/api/jobs/$first/similar" |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["method"], [(i["title"], i["score"]) for i in d["data"]])'

step "a third worker outside honcho, killed with SIGKILL, then restarted"
jobsim worker >"$trial/extra.log" 2>&1 &
extra=$!
sleep 3
kill -KILL "$extra"
wait "$extra" 2>/dev/null || true
sleep 14
jobsim worker >"$trial/restarted.log" 2>&1 &
restarted=$!
sleep 6
kill -TERM "$restarted"
wait "$restarted" && echo "restarted worker exit code 0"
sleep 5
echo "webhook messages:"
python3 -c 'import json, sys; [print(" ", json.loads(l)["text"]) for l in open(sys.argv[1])]' "$trial/hooks.log"

step "SIGTERM to honcho"
kill -TERM "$supervisor"
status=0
wait "$supervisor" || status=$?
echo "honcho exit status $status"
grep -E 'system +\||worker stopped' "$trial/honcho.log" | cut -c1-160

step "checks"
test "$(grep -c '"msg": "worker stopped"' "$trial/honcho.log")" -eq 2
test "$(grep -c 'worker.[12] stopped (rc=0)' "$trial/honcho.log")" -eq 2
test "$(grep -c '"state":"started"' "$trial/hooks.log")" -eq 1
test "$(grep -c '"state":"cleared"' "$trial/hooks.log")" -eq 1
echo "ok: both workers stopped cleanly (rc=0); one worker_dead alert started and one cleared"
echo "logs in $trial"
