"""Every store test runs on SQLite and on the PostgreSQL server.

The ``db_url`` fixture gives a fresh, empty database per test: a new SQLite file, or a new
schema in the PostgreSQL database ``test`` (``KETAMINE_PTSD_TEST_PG`` to point elsewhere),
dropped afterwards. When PostgreSQL cannot be reached its cases are skipped with the reason,
except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from ketamine_ptsd.store import Records, connect, ensure_current

PG_URL = os.environ.get("KETAMINE_PTSD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: The clock of the records in these tests: a fixed "now", so dates compare the same every day.
NOW = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)


def _pg_admin():
    import psycopg

    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so this fails rather than skips)")
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.sqlite'}"
        return
    admin = _pg_admin()
    schema = f"kp_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory) -> Path:
    """An SQLite file with the schema created once; tests get copies (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "records.sqlite"
    engine = connect(f"sqlite:///{path}")
    ensure_current(engine)
    engine.dispose()
    return path


@pytest.fixture
def records(db_url, sqlite_schema):
    """The records service on a fresh database, acting as ``tester`` at the fixed ``NOW``."""
    if db_url.startswith("sqlite:///"):
        shutil.copyfile(sqlite_schema, db_url.removeprefix("sqlite:///"))
    engine = connect(db_url)
    ensure_current(engine)
    service = Records(engine, "tester", now=lambda: NOW)
    yield service
    service.close()
