"""Storage: migrations produce the models' schema, SQLite is tuned, datetimes stay UTC."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    create_engine,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError, ProgrammingError

from jobsim.storage import migrate
from jobsim.storage.engine import SQLITE_BUSY_TIMEOUT_MS, Database
from jobsim.storage.models import Base, Counter, Embedding, ListState, SimilarEntry
from jobsim.storage.types import UTCDateTime

POSTGRES_SERVER = os.environ.get("JOBSIM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def _admin(sql: str) -> None:
    engine = create_engine(
        POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database that no migration has touched yet."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield database
        database.dispose()
        return
    name = f"jobsim_fresh_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(f'CREATE DATABASE "{name}"')
    database = Database(f"{POSTGRES_SERVER}/{name}")
    try:
        yield database
    finally:
        database.dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _schema_diff(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_a_fresh_database_has_no_revision_until_upgraded(fresh_db: Database) -> None:
    assert migrate.current_revision(fresh_db) is None
    migrate.upgrade(fresh_db)
    assert migrate.head_revision() is not None
    assert migrate.current_revision(fresh_db) == migrate.head_revision()


def test_upgrading_a_fresh_database_gives_exactly_the_schema_of_the_models(
    fresh_db: Database,
) -> None:
    migrate.upgrade(fresh_db)
    assert _schema_diff(fresh_db) == []


def test_the_schema_diff_is_not_empty_before_the_upgrade(fresh_db: Database) -> None:
    # Guards the comparison itself: an empty database must differ from the models.
    diff = _schema_diff(fresh_db)
    added_tables = {d[1].name for d in diff if isinstance(d, tuple) and d[0] == "add_table"}
    assert added_tables == set(Base.metadata.tables)


def test_upgrading_twice_is_a_no_op(fresh_db: Database) -> None:
    migrate.upgrade(fresh_db)
    migrate.upgrade(fresh_db)
    assert migrate.current_revision(fresh_db) == migrate.head_revision()
    assert _schema_diff(fresh_db) == []


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with db.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert str(mode).lower() == "wal"
        assert timeout == SQLITE_BUSY_TIMEOUT_MS
        assert timeout >= 1000
        assert foreign_keys == 1
    finally:
        db.dispose()


def test_an_in_memory_sqlite_database_is_refused() -> None:
    from jobsim.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Database("sqlite:///:memory:")


_probe_metadata = MetaData()
_probe = Table(
    "utc_probe",
    _probe_metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime()),
)


@pytest.fixture
def probe_db(db: Database) -> Iterator[Database]:
    _probe_metadata.create_all(db.engine)
    yield db
    _probe_metadata.drop_all(db.engine)


def test_utc_datetimes_round_trip_as_aware_utc_values(probe_db: Database) -> None:
    utc_value = datetime(2030, 5, 17, 13, 45, 12, 123456, tzinfo=UTC)
    plus_five = datetime(2030, 5, 17, 18, 45, 12, 123456, tzinfo=timezone(timedelta(hours=5)))
    naive = datetime(2030, 1, 1, 0, 0, 0)
    with probe_db.write() as session:
        session.execute(
            insert(_probe),
            [
                {"id": 1, "at": utc_value},
                {"id": 2, "at": plus_five},
                {"id": 3, "at": naive},
                {"id": 4, "at": None},
            ],
        )
    with probe_db.read() as session:
        rows = dict(session.execute(select(_probe.c.id, _probe.c.at)).all())
    for value in (rows[1], rows[2], rows[3]):
        assert value is not None
        assert value.utcoffset() == timedelta(0)
    assert rows[1] == utc_value
    assert rows[2] == utc_value  # same instant, given in another zone
    assert rows[3] == naive.replace(tzinfo=UTC)  # naive values are taken as UTC
    assert rows[4] is None


def test_utc_datetimes_compare_correctly_in_sql(probe_db: Database) -> None:
    base = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)
    with probe_db.write() as session:
        session.execute(
            insert(_probe),
            [{"id": i, "at": base + timedelta(minutes=i)} for i in range(1, 6)],
        )
    # 12:03 UTC expressed in UTC+2: only rows strictly after it (12:04, 12:05) match.
    cutoff = (base + timedelta(minutes=3)).astimezone(timezone(timedelta(hours=2)))
    with probe_db.read() as session:
        later = session.scalars(select(_probe.c.id).where(_probe.c.at > cutoff)).all()
    assert sorted(later) == [4, 5]


def test_a_non_datetime_value_is_rejected_by_the_utc_column(probe_db: Database) -> None:
    with pytest.raises(Exception, match="expected datetime"), probe_db.write() as session:
        session.execute(insert(_probe), [{"id": 1, "at": "2030-01-01"}])


def test_a_read_sees_committed_writes_and_leaves_no_transaction_open(db: Database) -> None:
    with db.write() as session:
        session.add(Counter(name="probe", value=1))
    read = select(Counter.value).where(Counter.name == bindparam("name"))
    assert [tuple(row) for row in db.read_rows(read, {"name": "probe"})] == [(1,)]
    if not db.is_sqlite:
        # Its own transaction: no BEGIN, no transaction id, the clock moves between reads.
        first, second = (db.read_rows(select(func.now()), {})[0][0] for _ in range(2))
        assert second > first
        xid = db.read_rows(select(func.pg_current_xact_id_if_assigned()), {})
        assert xid[0][0] is None
    with db.write() as session:
        assert session.execute(read, {"name": "probe"}).scalar_one() == 1


def test_a_read_does_not_wait_for_a_writer_holding_the_write_lock(db: Database) -> None:
    with db.write() as session:
        session.add(Counter(name="probe", value=1))
    with db.write() as writer:
        writer.execute(update(Counter).where(Counter.name == "probe").values(value=2))
        # The writer's transaction is open (SQLite: BEGIN IMMEDIATE holds the write lock).
        assert db.read_rows(select(Counter.value), {}) == [(1,)]
    assert db.read_rows(select(Counter.value), {}) == [(2,)]


def test_a_read_gives_the_engines_rows_and_raises_the_engines_errors(db: Database) -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with db.write() as session:
        session.add(Counter(name="probe", value=7))
        session.add(Counter(name="other", value=8))
    statement = (
        select(Counter.name, Counter.value, bindparam("at", type_=UTCDateTime()).label("at"))
        .where(Counter.value >= bindparam("least"))
        .order_by(Counter.name)
    )
    with db.read() as session:
        engine_rows = session.execute(statement, {"at": at, "least": 7}).all()
    rows = db.read_rows(statement, {"at": at, "least": 7})
    assert [tuple(row) for row in rows] == [tuple(row) for row in engine_rows]
    assert [(row.name, row.value) for row in rows] == [("other", 8), ("probe", 7)]
    assert rows[0].at == at and rows[0].at.utcoffset() == timedelta(0)
    absent = Table("absent", MetaData(), Column("id", Integer))  # never created
    with pytest.raises(OperationalError if db.is_sqlite else ProgrammingError, match="absent"):
        db.read_rows(select(absent.c.id), {})


def test_a_write_after_a_read_is_still_one_transaction(db: Database) -> None:
    """The pooled connection a read used must not stay in autocommit for writers."""
    for _ in range(3):  # every pooled connection has served a read
        db.read_rows(select(Counter.value), {})
    with pytest.raises(RuntimeError, match="abandoned"), db.write() as session:
        session.add(Counter(name="half", value=1))
        session.flush()
        raise RuntimeError("abandoned")
    with db.read() as session:
        assert session.execute(select(Counter.value).where(Counter.name == "half")).all() == []


def test_the_list_state_columns_move_to_their_own_table_with_their_values(
    fresh_db: Database,
) -> None:
    """0007: a posting's list count, floor, sequence and computed time become its list_states
    row; a posting whose list was never written gets none; the rows that reference postings
    (vectors, list entries) survive the table's rebuild on SQLite."""
    migrate.upgrade(fresh_db, "0006")
    computed = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    posting = (
        "INSERT INTO postings (id, title, description, tags, requirements, content_hash, "
        "created_at, updated_at, similar_count, similar_floor, list_seq, similar_computed_at) "
        "VALUES (:id, 't', 'd', '[]', '[]', 'h', :at, :at, :count, :floor, :seq, :computed)"
    )
    with fresh_db.engine.begin() as connection:
        listed = {"count": 10, "floor": 0.42, "seq": 7, "computed": computed}
        never = {"count": 0, "floor": None, "seq": 0, "computed": None}
        connection.execute(
            text(posting).bindparams(_AT, _COMPUTED), {"id": "listed", "at": computed, **listed}
        )
        connection.execute(
            text(posting).bindparams(_AT, _COMPUTED), {"id": "never", "at": computed, **never}
        )
        connection.execute(
            text(
                "INSERT INTO embeddings (posting_id, model, dims, content_hash, vector, seq, "
                "created_at) VALUES ('listed', 'm', 1, 'h', :vector, 1, :at)"
            ).bindparams(_AT),
            {"vector": b"\0\0\0\0", "at": computed},
        )
        connection.execute(
            text(
                'INSERT INTO "similar" (posting_id, similar_id, score, semantic, context, '
                "computed_at) VALUES ('listed', 'never', 0.5, 0.5, 0.5, :at)"
            ).bindparams(_AT),
            {"at": computed},
        )
    migrate.upgrade(fresh_db)
    with fresh_db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Embedding)) == 1
        assert connection.scalar(select(func.count()).select_from(SimilarEntry)) == 1
        rows = connection.execute(
            select(ListState.posting_id, ListState.count, ListState.floor, ListState.seq)
        ).all()
        computed_at = connection.scalar(select(ListState.computed_at))
    assert [tuple(row) for row in rows] == [("listed", 10, 0.42, 7)]
    assert computed_at == computed
    assert _schema_diff(fresh_db) == []


_AT = bindparam("at", type_=UTCDateTime())
_COMPUTED = bindparam("computed", type_=UTCDateTime())


def test_vectors_are_stored_without_compression_on_postgresql(fresh_db: Database) -> None:
    """0008: PostgreSQL keeps vectors out of line and uncompressed (float bytes do not compress;
    trying cost more than the insert)."""
    if fresh_db.is_sqlite:
        pytest.skip("a PostgreSQL column storage")
    migrate.upgrade(fresh_db, "0007")
    assert _vector_storage(fresh_db) == "x"  # EXTENDED, PostgreSQL's default for bytea
    migrate.upgrade(fresh_db)
    assert _vector_storage(fresh_db) == "e"  # EXTERNAL


def _vector_storage(db: Database) -> str:
    with db.engine.connect() as connection:
        storage = connection.scalar(
            text(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'embeddings'::regclass AND attname = 'vector'"
            )
        )
    return str(storage)
