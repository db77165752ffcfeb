"""Where the clinic records live and how to connect to them.

The database is chosen by URL: an explicit one (the ``--db`` option), else the
``KETAMINE_PTSD_DB`` environment variable, else SQLite in the user's data folder
(``platformdirs.user_data_dir("ketamine-ptsd")/records.sqlite``). PostgreSQL is reached
through ``postgresql+psycopg://user@host:port/database`` (``postgresql://`` and
``postgres://`` are read the same way).

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit returns only once it is on
disk, so an acknowledged write survives a crash), foreign keys on, and every transaction
opened with ``BEGIN IMMEDIATE`` so two writing processes queue for the lock instead of
failing half-way; ``busy_timeout`` bounds the wait.

Statement parameters are kept out of database error messages (``hide_parameters``), so a
failed write cannot put patient data into a traceback or a log.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from ketamine_ptsd.errors import InputError, KetaminePTSDError

ENV_VAR = "KETAMINE_PTSD_DB"
APP_NAME = "ketamine-ptsd"
SQLITE_FILE = "records.sqlite"
# How long a writer waits for another process's transaction before giving up (ms); long
# enough for any single clinic write, short enough that a stuck process is reported.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "sqlite": "sqlite"}
ALLOWED_URLS = "sqlite:///PATH, postgresql+psycopg://USER@HOST:PORT/DATABASE, or a file path"


def default_url() -> str:
    """SQLite in the user's data folder (created on first use)."""
    folder = Path(platformdirs.user_data_dir(APP_NAME))
    return f"sqlite:///{folder / SQLITE_FILE}"


def resolve_url(explicit: str | None = None) -> str:
    """The database URL in force: ``explicit``, else ``$KETAMINE_PTSD_DB``, else the default.

    A bare file path means an SQLite file; ``postgresql://`` gets the psycopg 3 driver.
    """
    raw = explicit or os.environ.get(ENV_VAR) or default_url()
    if "://" not in raw:
        raw = f"sqlite:///{Path(raw).expanduser().absolute()}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise InputError("database", "not a database URL", ALLOWED_URLS) from None
    backend = url.drivername.split("+")[0]
    if backend not in _DRIVERS:
        raise InputError("database", f"unsupported database {backend!r}", ALLOWED_URLS)
    if "+" not in url.drivername:
        url = url.set(drivername=_DRIVERS[backend])
    return url.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` points at an SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for in-memory databases)."""
    database = make_url(url).database
    return None if database in (None, "", ":memory:") else Path(database)


def connect(url: str | None = None) -> Engine:
    """An engine for the resolved URL, with the durability settings described above."""
    url = resolve_url(url)
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the write lock
    # (SQLite returns SQLITE_BUSY at once); taking the lock up front makes writers queue.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class DatabaseRefused(KetaminePTSDError):
    """The database refused a change (a constraint, a lock timeout, a lost connection).

    The message names the problem and the constraint but never the values: database
    drivers put the offending row into their messages, and those end up in tracebacks
    and logs. ``conflict`` is True for a constraint violation (for instance a record
    number taken by another process at the same moment).
    """

    def __init__(self, message: str, conflict: bool):
        super().__init__(message)
        self.conflict = conflict

    @classmethod
    def of(cls, exc: DBAPIError) -> DatabaseRefused:
        """A copy of ``exc`` without the values."""
        diag = getattr(exc.orig, "diag", None)
        primary = getattr(diag, "message_primary", None)
        # sqlite3 messages name the constraint only ("UNIQUE constraint failed: patients.mrn").
        text = primary if primary else str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        return cls(f"the database refused the change: {text}", isinstance(exc, IntegrityError))
