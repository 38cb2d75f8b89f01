"""The real `jobsim` command in subprocesses, on a SQLite file and on the PostgreSQL server, with
the fast fake embedder: import, worker, similar, status, backfill, graceful shutdown, mongoexport
input, schema set-up on each backend, and the quick start with the real local model."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from jobsim.settings import DEFAULT_EMBEDDER
from jobsim.storage import migrate
from jobsim.storage.engine import Database
from jobsim.storage.models import Posting
from jobsim.storage.models import Worker as WorkerRow

CLI_TIMEOUT = 90

PAYMENTS = "Build Python APIs with Django and PostgreSQL for our payments platform, review code"
JOBS = [  # one near-duplicate pair (py-berlin, py-munich); the broken row is line 5 of the file
    ("id", "title", "description", "company", "category", "city", "tags"),
    (
        "py-berlin",
        "Senior Python Backend Developer",
        f"{PAYMENTS} and mentor the team.",
        "Acme",
        "Engineering",
        "Berlin",
        "python|django|postgresql",
    ),
    (
        "py-munich",
        "Senior Python Backend Developer",
        f"{PAYMENTS} and mentor our team.",
        "Globex",
        "Engineering",
        "Munich",
        "python|django|postgresql",
    ),
    (
        "nurse",
        "Registered Nurse",
        "Care for patients on the cardiology ward, give medication and document treatment plans.",
        "City Hospital",
        "Healthcare",
        "Hamburg",
        "nursing|patient care",
    ),
    ("broken", "Ok", "too short", "Nobody", "Engineering", "Berlin", "python"),
    (
        "sales",
        "Account Executive",
        "Sell enterprise software subscriptions to mid-market customers across the DACH region.",
        "Initech",
        "Sales",
        "Berlin",
        "sales|crm",
    ),
    (
        "chef",
        "Sous Chef",
        "Prepare seasonal dishes, run the kitchen line on busy evenings and train junior cooks.",
        "Bistro Nord",
        "Hospitality",
        "Hamburg",
        "cooking|kitchen",
    ),
    (
        "frontend",
        "Frontend Developer",
        "Build React interfaces in TypeScript for our payments dashboard with the design team.",
        "Acme",
        "Engineering",
        "Berlin",
        "react|typescript",
    ),
]
VALID_IDS = {"py-berlin", "py-munich", "nurse", "sales", "chef", "frontend"}
BROKEN_LINE = 5


def cli_env(database_url: str, embedder: str | None = "fake:64", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSIM_")}
    env["JOBSIM_DATABASE_URL"] = database_url
    if embedder is not None:
        env["JOBSIM_EMBEDDER"] = embedder
    env.update({f"JOBSIM_{name.upper()}": value for name, value in extra.items()})
    return env


def jobsim(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobsim.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def queued_or_running(status: dict[str, Any]) -> int:
    tasks = status["queue"]["tasks"]
    return sum(states["queued"] + states["running"] for states in tasks.values())


def write_csv(directory: Path, *, broken_row: bool = True) -> Path:
    path = directory / "jobs.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerows(row for row in JOBS if broken_row or row[0] != "broken")
    return path


@contextmanager
def new_postgres_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database (no schema yet) on the test PostgreSQL server, dropped afterwards."""
    server = make_url(postgres_url)
    name = f"jobsim_cli_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(
        server.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --- one imported and embedded database per backend, shared by the read-only tests -------------


@dataclass(frozen=True)
class Imported:
    directory: Path
    env: dict[str, str]
    # PostgreSQL only: the import tried before `jobsim db upgrade`, and the upgrade itself.
    refused: subprocess.CompletedProcess[str] | None
    upgraded: subprocess.CompletedProcess[str] | None
    imported: subprocess.CompletedProcess[str]
    worker: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def imported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Imported]:
    """The CLI sets each backend up its own way: a SQLite file that does not exist yet is created
    and migrated by the first command; an empty PostgreSQL database needs `jobsim db upgrade`."""
    backend: str = request.param
    directory = tmp_path_factory.mktemp(f"cli-{backend}")
    csv_path = write_csv(directory)

    def import_and_embed(
        env: dict[str, str],
        refused: subprocess.CompletedProcess[str] | None = None,
        upgraded: subprocess.CompletedProcess[str] | None = None,
    ) -> Imported:
        imported = jobsim("import", str(csv_path), env=env, cwd=directory)
        worker = jobsim("worker", "--burst", env=env, cwd=directory)
        return Imported(directory, env, refused, upgraded, imported, worker)

    if backend == "sqlite":
        yield import_and_embed(cli_env(f"sqlite:///{directory / 'jobsim.db'}"))
        return
    with new_postgres_database(request.getfixturevalue("postgres_url")) as url:
        env = cli_env(url)
        refused = jobsim("import", str(csv_path), env=env, cwd=directory)
        upgraded = jobsim("db", "upgrade", env=env, cwd=directory)
        yield import_and_embed(env, refused, upgraded)


def test_importing_a_csv_stores_the_valid_rows_and_reports_the_invalid_one_by_line(
    imported: Imported,
) -> None:
    result = imported.imported

    assert result.returncode == 1
    assert "imported jobs.csv: 6 created, 0 updated, 0 unchanged" in result.stdout
    assert "1 rejected" in result.stdout
    rejected = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(rejected) == 1
    assert f"jobs.csv:{BROKEN_LINE}" in rejected[0]
    assert "title:" in rejected[0] and "description:" in rejected[0]
    database = Database(imported.env["JOBSIM_DATABASE_URL"])
    try:
        with database.read() as session:
            stored = {p.id: p for p in session.scalars(select(Posting))}
    finally:
        database.dispose()
    assert set(stored) == VALID_IDS
    assert stored["py-berlin"].tags == ["python", "django", "postgresql"]
    assert (stored["py-berlin"].company, stored["py-berlin"].city) == ("Acme", "Berlin")
    assert stored["nurse"].tags == ["nursing", "patient care"]


@pytest.mark.parametrize("imported", ["sqlite"], indirect=True)
def test_on_sqlite_the_first_command_creates_and_migrates_the_database_file_itself(
    imported: Imported,
) -> None:
    # SQLite only: PostgreSQL is never migrated implicitly (the test below).
    database = Database(imported.env["JOBSIM_DATABASE_URL"])
    try:
        revision = migrate.current_revision(database)
    finally:
        database.dispose()

    assert (imported.directory / "jobsim.db").is_file()
    assert revision is not None
    assert revision == migrate.head_revision()


@pytest.mark.parametrize("imported", ["postgresql"], indirect=True)
def test_on_postgresql_the_cli_refuses_an_unmigrated_database_until_db_upgrade(
    imported: Imported,
) -> None:
    assert imported.refused is not None and imported.upgraded is not None

    assert imported.refused.returncode != 0
    assert "jobsim db upgrade" in imported.refused.stderr
    assert ok(imported.upgraded).startswith("database at revision ")
    assert imported.imported.returncode == 1  # the broken row, as on SQLite
    assert not (imported.directory / "jobsim.db").exists()  # no SQLite file on the side


def test_worker_burst_embeds_every_imported_posting_and_exits(imported: Imported) -> None:
    output = ok(imported.worker)

    assert "embedded 6" in output
    assert "failed 0" in output


def test_similar_prints_a_semantic_list_led_by_the_near_duplicate_posting(
    imported: Imported,
) -> None:
    lines = ok(jobsim("similar", "py-berlin", env=imported.env, cwd=imported.directory))
    lines_list = lines.splitlines()

    assert lines_list[0].startswith("py-berlin  Senior Python Backend Developer")
    assert lines_list[1] == "method: semantic"
    ranked = [line.strip() for line in lines_list[2:] if line.strip()]
    assert ranked[0].startswith("1.")
    assert "Senior Python Backend Developer  (Globex, Munich)" in ranked[0]
    assert "%" in ranked[0]
    assert all("py-berlin" not in line for line in ranked)


def test_similar_json_parses_and_ranks_the_near_duplicate_first(imported: Imported) -> None:
    result = as_json(
        jobsim("similar", "py-berlin", "--json", env=imported.env, cwd=imported.directory)
    )

    assert result["posting_id"] == "py-berlin"
    assert result["method"] == "semantic"
    assert result["data"][0]["id"] == "py-munich"
    assert result["data"][0]["semantic"] > 0.9
    # Scored matches first, best first; a list shorter than 3 is topped up with fallback
    # postings (JOBSIM_FILL_SHORT_LISTS), which carry no score.
    sources = [item["source"] for item in result["data"]]
    assert sources == sorted(sources, key=lambda source: source == "fallback")
    scores = [item["score"] for item in result["data"] if item["source"] == "semantic"]
    assert scores == sorted(scores, reverse=True)
    assert "py-berlin" not in [item["id"] for item in result["data"]]
    unknown = jobsim("similar", "no-such-posting", env=imported.env, cwd=imported.directory)
    assert unknown.returncode == 2
    assert "not found" in unknown.stderr


def test_status_json_shows_full_coverage_and_nothing_queued(imported: Imported) -> None:
    status = as_json(jobsim("status", "--json", env=imported.env, cwd=imported.directory))
    plain = ok(jobsim("status", env=imported.env, cwd=imported.directory))

    assert status["embedder"] == "fake:64"
    assert status["postings"]["active"] == 6
    assert status["embeddings"] == {"current": 6, "missing": 0, "coverage": 1.0}
    assert status["similar_lists"]["computed"] == 6
    assert queued_or_running(status) == 0
    assert status["queue"]["tasks"]["embed"]["succeeded"] == 6
    assert [w["state"] for w in status["workers"]] == ["stopped"]
    assert "embeddings: 6 current, 0 missing (100.0% of active)" in plain
    assert "postings: 6 active, 0 closed, 0 draft, 0 deleted" in plain


# --- tests with their own database -------------------------------------------------------------


def test_backfill_dry_run_counts_nothing_after_embedding_and_everything_after_a_model_change(
    database_url: str, tmp_path: Path
) -> None:
    old, new = cli_env(database_url), cli_env(database_url, embedder="fake:32")
    ok(jobsim("import", str(write_csv(tmp_path, broken_row=False)), env=old, cwd=tmp_path))
    ok(jobsim("worker", "--burst", env=old, cwd=tmp_path))

    nothing = ok(jobsim("backfill", "--dry-run", env=old, cwd=tmp_path))
    everything = ok(jobsim("backfill", "--dry-run", env=new, cwd=tmp_path))
    before = as_json(jobsim("status", "--json", env=new, cwd=tmp_path))

    assert nothing.strip() == "0 postings would be queued for embedding with fake:64"
    assert everything.strip() == "6 postings would be queued for embedding with fake:32"
    assert queued_or_running(before) == 0  # a dry run queues nothing

    queued = ok(jobsim("backfill", env=new, cwd=tmp_path))
    after = as_json(jobsim("status", "--json", env=new, cwd=tmp_path))
    serving = as_json(jobsim("similar", "py-berlin", "--json", env=new, cwd=tmp_path))

    assert "queued 6 postings" in queued
    assert after["queue"]["tasks"]["embed"]["queued"] == 6
    assert after["embeddings"]["coverage"] == 0.0
    assert serving["method"] == "semantic"  # the old model's lists keep serving meanwhile
    assert serving["data"][0]["id"] == "py-munich"

    ok(jobsim("worker", "--burst", env=new, cwd=tmp_path))
    done = as_json(jobsim("status", "--json", env=new, cwd=tmp_path))

    assert done["embeddings"]["coverage"] == 1.0
    assert queued_or_running(done) == 0
    assert ok(jobsim("backfill", "--dry-run", env=new, cwd=tmp_path)).startswith("0 postings")


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_running_worker_stops_on_sigterm_within_the_grace_period_and_is_marked_stopped(
    database_url: str, tmp_path: Path
) -> None:
    grace = 5.0
    env = cli_env(
        database_url, shutdown_grace_seconds=str(grace), poll_seconds="0.1", heartbeat_seconds="0.5"
    )
    ok(jobsim("import", str(write_csv(tmp_path, broken_row=False)), env=env, cwd=tmp_path))
    database = Database(database_url)

    def workers() -> list[WorkerRow]:
        with database.read() as session:
            return list(session.scalars(select(WorkerRow)))

    def embedded_all() -> bool:
        return bool(workers()) and workers()[0].processed >= 6

    process = subprocess.Popen(
        [sys.executable, "-m", "jobsim.cli", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(embedded_all, 30, "the worker to embed the imported postings")
        assert process.poll() is None  # without --burst it keeps waiting for work
        assert workers()[0].state == "running"

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=grace + 5)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    try:
        rows = workers()
    finally:
        database.dispose()

    assert process.returncode == 0, stderr
    assert elapsed < grace
    assert "embedded 6" in stdout
    assert len(rows) == 1
    assert rows[0].state == "stopped"
    assert rows[0].stopped_at is not None
    assert rows[0].pid == process.pid


MONGOEXPORT_LINES = [
    {
        "_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"},
        "title": "Data Engineer",
        "description": "Build Spark and Python pipelines that feed our analytics warehouse.",
        "companyName": "Acme",
        "category": "Engineering",
        "location": {"city": "Berlin", "remote": False},
        "experienceLevel": "senior",
        "salary": {
            "min": {"$numberInt": "60000"},
            "max": {"$numberInt": "80000"},
            "currency": "EUR",
        },
        "tags": ["python", "spark"],
        "status": "active",
        "createdAt": {"$date": "2024-03-01T10:00:00.000Z"},
        "expiresAt": {"$date": {"$numberLong": "4102444800000"}},
        "isDeleted": False,
    },
    {
        "_id": {"$oid": "64b7f0c2a1b2c3d4e5f60719"},
        "title": "Analytics Engineer",
        "description": "Model warehouse data with dbt and Python for the analytics team.",
        "companyName": "Globex",
        "category": "Engineering",
        "location": {"city": "Munich", "remote": True},
        "createdAt": {"$date": {"$numberLong": "1709287200000"}},
    },
    {
        "_id": {"$oid": "64b7f0c2a1b2c3d4e5f6071a"},
        "title": "Removed Posting",
        "description": "This posting was deleted on the board and must not be imported.",
        "isDeleted": True,
        "createdAt": {"$date": "2024-01-01T00:00:00Z"},
    },
]


def test_a_mongoexport_json_lines_file_imports_with_object_ids_and_extended_json(
    database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url)
    path = tmp_path / "jobs.json"  # mongoexport writes JSON Lines, even into a .json file
    path.write_text("".join(json.dumps(line) + "\n" for line in MONGOEXPORT_LINES))

    output = ok(jobsim("import", str(path), env=env, cwd=tmp_path))

    assert "2 created" in output and "1 deleted skipped" in output and "0 rejected" in output
    database = Database(database_url)
    try:
        with database.read() as session:
            stored = {p.id: p for p in session.scalars(select(Posting))}
    finally:
        database.dispose()
    assert set(stored) == {"64b7f0c2a1b2c3d4e5f60718", "64b7f0c2a1b2c3d4e5f60719"}
    data = stored["64b7f0c2a1b2c3d4e5f60718"]
    assert (data.company, data.city, data.remote) == ("Acme", "Berlin", False)
    assert data.experience_level == "senior"
    assert (data.salary_min, data.salary_max, data.salary_currency) == (60000, 80000, "EUR")
    assert data.tags == ["python", "spark"]
    assert data.expires_at == datetime(2100, 1, 1, tzinfo=UTC)
    assert stored["64b7f0c2a1b2c3d4e5f60719"].remote is True

    ok(jobsim("worker", "--burst", env=env, cwd=tmp_path))
    result = as_json(jobsim("similar", "64b7f0c2a1b2c3d4e5f60718", "--json", env=env, cwd=tmp_path))
    assert result["method"] == "semantic"
    assert [item["id"] for item in result["data"]] == ["64b7f0c2a1b2c3d4e5f60719"]


# --- the quick start with the real model -------------------------------------------------------


# SQLite only: the quick start is the zero-configuration default, a SQLite file in the cwd.
@pytest.mark.slow
def test_demo_with_the_default_local_model_prints_semantic_similar_jobs(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'demo.db'}", embedder=None)

    result = jobsim("demo", "--show", "1", env=env, cwd=tmp_path, timeout=240)

    output = ok(result)
    assert f"embedding with {DEFAULT_EMBEDDER}" in output
    assert "method: semantic" in output.splitlines()
    assert "sample postings:" in output
    assert "sample businesses: 60 created" in output
    # Similar businesses: the five others of the same kind come first.
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("biz-"))
    category = lines[header].split("[", 1)[1].split(" · ")[0]
    items = lines[header + 2 : header + 7]
    assert all(f"({category}," in item for item in items), lines[header : header + 8]

    # The README's first new posting, word for word, finds the occupations it names.
    example = tmp_path / "readme-example.json"
    example.write_text(json.dumps([{"id": "readme-example", **readme_posting()}]))
    ok(jobsim("import", str(example), env=env, cwd=tmp_path))
    ok(jobsim("worker", "--burst", env=env, cwd=tmp_path, timeout=240))
    similar = as_json(jobsim("similar", "readme-example", "--json", env=env, cwd=tmp_path))
    assert similar["method"] == "semantic"
    titles = {item["title"] for item in similar["data"] if item["source"] == "semantic"}
    assert {"Software architect", "ICT application developer", "Database developer"} <= titles


def readme_posting() -> dict[str, Any]:
    """The JSON body of the README's `curl -XPOST .../api/jobs` example."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    after = readme.split("-XPOST localhost:8000/api/jobs", 1)[1]
    body: dict[str, Any] = json.loads(after.split("-d '", 1)[1].split("'", 1)[0])
    return body


def stderr_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal of 120 columns (a new one has none, and a
    progress bar would draw nothing); returns the exit code and what reached the terminal."""
    terminal, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "jobsim.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=child_side,
    )
    os.close(child_side)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child closed its side
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    code = process.wait(timeout=CLI_TIMEOUT)
    reader.join(timeout=10)
    os.close(terminal)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_the_demo_draws_its_progress_bar_on_a_terminal_and_not_into_a_pipe(
    tmp_path: Path,
) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'piped.db'}", log_level="WARNING")
    piped = jobsim("demo", "--show", "0", env=env, cwd=tmp_path)
    assert "embedded 460 postings" in ok(piped)
    assert "task/s" not in piped.stderr  # a log gets no refreshes

    env = cli_env(f"sqlite:///{tmp_path / 'terminal.db'}", log_level="WARNING")
    code, terminal = stderr_on_a_terminal(["demo", "--show", "0"], env, tmp_path)
    assert code == 0, terminal
    assert "worker: 100%" in terminal and "460/460" in terminal
