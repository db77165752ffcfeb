"""Schema migrations (Alembic), run from Python rather than an ``alembic.ini``.

The scripts live in ``store/migrations/versions``. :func:`upgrade` and :func:`downgrade`
run in one transaction: on PostgreSQL under an advisory lock, on SQLite under the
immediate write lock, so two processes opening a new database at once migrate it once.
SQLite cannot alter a table in place, so a migration that changes one rebuilds it; for
that, foreign-key enforcement is switched off for the migration and the whole database is
checked with ``PRAGMA foreign_key_check`` before the commit (the procedure of the SQLite
documentation, "Making other kinds of table schema changes").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect

from ketamine_ptsd.errors import InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it names the lock that serialises migrations on one PostgreSQL server.
_PG_LOCK_KEY = 0x6B65_7461_6D69_6E65 & 0x7FFF_FFFF_FFFF_FFFF


# alembic is imported where it is used: it costs a quarter of a second, and most commands of
# the command line never migrate.


def _config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None for an empty database)."""
    with engine.connect() as connection:
        return revision_on(connection)


def revision_on(connection: Connection) -> str | None:
    """The revision of the database behind ``connection`` (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def is_empty(engine: Engine) -> bool:
    """True when the database has no tables at all."""
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction fit for schema changes (locks and SQLite foreign keys as above)."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection if sqlite else None
        if sqlite:
            # Only effective outside a transaction, hence on the driver connection first.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if sqlite:
                    yield connection
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} broken foreign key(s)")
                else:
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
                    yield connection
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def _known(revision: str) -> None:
    allowed = ["head", "base", *revisions()]
    if revision not in allowed and not revision.startswith(("+", "-")):
        raise InputError("REVISION", f"unknown revision {revision!r}", ", ".join(allowed))


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Upgrade inside a :func:`migration_transaction`."""
    from alembic import command

    _known(revision)
    command.upgrade(_config(connection), revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default the newest)."""
    with migration_transaction(engine) as connection:
        upgrade_on(connection, revision)


def downgrade(engine: Engine, revision: str, actor: str | None = None) -> None:
    """Downgrade the database to ``revision`` (``base`` removes every table). With an
    ``actor`` the downgrade is logged in the audit trail in the same transaction (when the
    older schema still has one)."""
    import json

    from alembic import command
    from sqlalchemy import insert

    from .models import AuditEntry, utcnow

    _known(revision)
    with migration_transaction(engine) as connection:
        before = revision_on(connection)
        command.downgrade(_config(connection), revision)
        if actor and "audit_log" in inspect(connection).get_table_names():
            connection.execute(insert(AuditEntry.__table__), [{
                "at": utcnow(), "actor": actor, "action": "downgrade", "table_name": "*", "record_id": "",
                "field": "*", "old_value": json.dumps({"revision": before}),
                "new_value": json.dumps({"revision": revision_on(connection)})}])


def ensure_current(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one that is not at the newest revision.

    An existing database is never migrated implicitly: ``ketamine-ptsd db upgrade`` (after
    ``db backup``) does that, on purpose.
    """
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if current is None and is_empty(engine):
        upgrade(engine)
        return
    if current in revisions():
        raise InputError("database", f"the database is at schema revision {current}, the program needs {head}",
                         "run `ketamine-ptsd db backup FILE` then `ketamine-ptsd db upgrade`")
    raise InputError("database", "not a ketamine-ptsd records database (unknown or missing schema revision)",
                     "an empty database or one created by ketamine-ptsd")
