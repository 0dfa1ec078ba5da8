"""The corrections store: one table, SQLAlchemy Core, SQLite by default or PostgreSQL via DATABASE_URL.

Every call runs in one dedicated native thread (app.offload.Offloader): a slow, locked or
unreachable database then holds up only corrections, never the event loop that answers drawings,
and the engine and its connection pool are only ever used from that thread.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, StatementError

from app.web import metrics

metadata = MetaData()
corrections = Table(
    "corrections", metadata,
    Column("id", Integer, primary_key=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("source", String(8), nullable=False),  # "strokes" or "picture"
    Column("strokes", Text),  # the strokes as JSON, for a drawing
    Column("image_png", LargeBinary),  # the 28x28 image the model saw, for a picture
    Column("width", Float),
    Column("height", Float),
    Column("label", SmallInteger, nullable=False),
    Column("model_digit", SmallInteger, nullable=False),
    Column("model_probabilities", Text, nullable=False),  # JSON list of ten
    Column("model_sha256", String(64), nullable=False),
    Column("digest", String(64), index=True, unique=True),  # sha256 of what was drawn or sent, and the label
    # Ids are never reused: SQLite would otherwise hand a deleted last id (and its delete check) to a new row.
    sqlite_autoincrement=True,
)
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATING = threading.Lock()
_log = logging.getLogger("app.corrections")


class StoreUnavailableError(Exception):
    """The database cannot be reached or written right now."""


class StoreFullError(Exception):
    """The store holds its budget of corrections; nothing more is stored until some are deleted."""


def make_engine(url: str) -> Engine:
    """An engine for url; a SQLite file's folder is created, and SQLite waits for locks instead of failing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})
        with engine.begin() as connection:  # several processes append: WAL lets readers and one writer coexist
            connection.execute(text("PRAGMA journal_mode=WAL"))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                         connect_args={"connect_timeout": 3})


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration, once across processes (gunicorn starts workers together)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with open(Path(engine.url.database).with_suffix(".migrate.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _run_upgrade(engine, config)
        return
    _run_upgrade(engine, config)


def _run_upgrade(engine: Engine, config: Config) -> None:
    # Alembic's `context` is one global per process: two stores migrating at once in one process (tests
    # make many apps) would swap each other's connections. Serving processes hold one store each.
    with _MIGRATING, engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # one migrating server at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(7319)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Breaker:
    """After a failure the database counts as down for `cool_down` seconds: calls fail at once instead of
    each waiting out a connect timeout. One log line when it goes down, one when it is back."""

    def __init__(self, cool_down: float = 5.0) -> None:
        self.cool_down = cool_down
        self.down_since: float | None = None
        self._retry_at = 0.0

    def check(self) -> None:
        """Raise StoreUnavailableError while the cool-down after a failure lasts."""
        if self.down_since is not None and time.monotonic() < self._retry_at:
            raise StoreUnavailableError("the database was unreachable moments ago")

    def failed(self, error: Exception) -> None:
        """Record a failure: start (or restart) the cool-down."""
        metrics.DATABASE_UP.set(0)
        if self.down_since is None:
            self.down_since = time.monotonic()
            _log.warning("corrections database unavailable: %s", error)
        self._retry_at = time.monotonic() + self.cool_down

    def succeeded(self) -> None:
        """Record a success: the database is up."""
        metrics.DATABASE_UP.set(1)
        if self.down_since is not None:
            _log.warning("corrections database back after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None


class CorrectionStore:
    """Add, list, count and delete corrections; every failure of the database is StoreUnavailableError."""

    def __init__(self, url: str, max_rows: int = 100_000, cool_down: float = 5.0) -> None:
        self.url = url
        self.max_rows = max_rows  # the storage budget: past it, new corrections are refused (StoreFullError)
        self.breaker = Breaker(cool_down)
        self._engine: Engine | None = None

    def _ready(self) -> Engine:
        """The engine, with the schema migrated; made on first use so a database that is down at start
        only delays corrections until it is back."""
        if self._engine is None:
            engine = make_engine(self.url)
            upgrade(engine)
            self._engine = engine
        return self._engine

    def add(self, row: dict) -> tuple[int, bool]:
        """Insert one correction; its id, and whether it is new (False: the same drawing or picture with the
        same label was stored before, under that id). StoreFullError past the storage budget."""
        values = {**row, "created": datetime.now(timezone.utc), "digest": digest_of(row),
                  "model_probabilities": json.dumps(row["model_probabilities"])}
        same = select(corrections.c.id).where(corrections.c.digest == values["digest"])

        def insert_within_budget(connection):
            stored = connection.execute(same).scalar_one_or_none()
            if stored is not None:
                return stored, False
            if connection.execute(select(func.count()).select_from(corrections)).scalar_one() >= self.max_rows:
                raise StoreFullError(f"the corrections store holds its maximum of {self.max_rows} corrections")
            return connection.execute(insert(corrections).values(**values)).inserted_primary_key[0], True
        try:
            return self._run(insert_within_budget)
        except IntegrityError:  # another worker or host stored the same one a moment ago
            return self._run(lambda connection: connection.execute(same).scalar_one()), False

    def latest(self, limit: int = 100, before: int | None = None) -> list[dict]:
        """The newest corrections first (those with an id under `before`, when given)."""
        query = select(corrections).order_by(corrections.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(corrections.c.id < before)
        return self._run(lambda c: [dict(r._mapping) for r in c.execute(query)])

    def all(self) -> list[dict]:
        """Every correction, oldest first."""
        query = select(corrections).order_by(corrections.c.id)
        return self._run(lambda c: [dict(r._mapping) for r in c.execute(query)])

    def count(self) -> int:
        return self._run(lambda c: c.execute(select(func.count()).select_from(corrections)).scalar_one())

    def delete(self, correction_id: int) -> bool:
        """Delete one correction; False when there was none with that id."""
        statement = delete(corrections).where(corrections.c.id == correction_id)
        return self._run(lambda c: c.execute(statement).rowcount > 0)

    def close(self) -> None:
        """Close the pooled connections (the next call opens new ones)."""
        if self._engine is not None:
            self._engine.dispose()

    def _run(self, work):
        self.breaker.check()
        try:
            with self._ready().begin() as connection:
                result = work(connection)
        except (StoreUnavailableError, StoreFullError, IntegrityError):
            raise
        except (StatementError, OverflowError) as error:
            if isinstance(error, DBAPIError) and _unavailable(error):
                self.breaker.failed(error)
                raise StoreUnavailableError(f"{type(error).__name__}: {error}".splitlines()[0][:300]) from error
            raise  # a statement the database refused (a value out of range): a bug to fix, not an outage
        except Exception as error:  # noqa: BLE001 - connection refused, locked, disk full...: all "unavailable"
            failure = StoreUnavailableError(f"{type(error).__name__}: {error}".splitlines()[0][:300])
            self.breaker.failed(failure)
            raise failure from error
        self.breaker.succeeded()
        return result


def _unavailable(error: DBAPIError) -> bool:
    """Whether a database error means the database cannot be used now (down, locked, full, a dropped
    connection), as opposed to a statement it refused."""
    return isinstance(error, (OperationalError, InterfaceError)) or bool(error.connection_invalidated)


def digest_of(row: dict) -> str:
    """What makes two corrections the same: the drawing (or the picture the model saw), its canvas and the label."""
    content = row.get("strokes") or ""
    picture = row.get("image_png") or b""
    parts = (row["source"], content, repr((row.get("width"), row.get("height"))), str(row["label"]))
    return hashlib.sha256("\n".join(parts).encode() + b"\n" + picture).hexdigest()
