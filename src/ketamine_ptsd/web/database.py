"""How the web app's requests reach the records under concurrency.

The store begins every SQLite transaction with ``BEGIN IMMEDIATE`` so that writers queue
for the lock instead of failing half-way. Under many concurrent requests two things make
that slow, and this module answers both for SQLite (PostgreSQL needs neither):

* a read taken that way queues behind writers too. In WAL mode a reader needs no lock:
  :func:`read_engine` opens the same file with plain deferred transactions (one consistent
  snapshot per transaction) and ``PRAGMA query_only``, so a request on it cannot write.
  Safe requests (GET, HEAD) and model comparisons read through it.
* writers of one process that meet at the lock wait in SQLite's busy handler, which sleeps
  in growing steps (up to 100 ms a try) and leaves the lock idle meanwhile.
  :class:`QueuedRecords` makes this process's writers queue on a Python lock first, which
  hands over at once; SQLite's lock and busy timeout still guard against other processes
  (the command line).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

from ketamine_ptsd.store import Records
from ketamine_ptsd.store.database import SQLITE_BUSY_TIMEOUT_MS


class QueuedRecords(Records):
    """The records service whose transactions first take ``lock`` (None: no lock)."""

    def __init__(self, engine: Engine, actor: str, settings: Any = None, now: Any = None,
                 lock: threading.RLock | None = None):
        super().__init__(engine, actor, settings, **({} if now is None else {"now": now}))
        self._lock = lock

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction, after this process's earlier writers (see the module docstring)."""
        with self._lock or nullcontext(), super().transaction() as session:
            yield session


def write_lock(engine: Engine) -> threading.RLock | None:
    """The lock this process's writers queue on: SQLite only (re-entrant, in case a
    transaction is opened inside another on the same thread)."""
    return threading.RLock() if engine.dialect.name == "sqlite" else None


def read_engine(engine: Engine) -> Engine:
    """An engine for reads on the database of ``engine`` (see the module docstring)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    reader = create_engine(engine.url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(reader, "connect")
    def _read_only(dbapi_connection, _record) -> None:
        # Let SQLAlchemy decide when transactions begin (below), and refuse any write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(reader, "begin")
    def _deferred(connection) -> None:
        # A deferred transaction: its first read fixes the snapshot, and it takes no lock.
        connection.exec_driver_sql("BEGIN")

    return reader
