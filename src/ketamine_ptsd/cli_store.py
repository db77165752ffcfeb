"""The records database on the command line: which database, its errors as one line, the
output helpers the record commands share, and the ``db`` commands (status, upgrade,
downgrade, backup, restore, audit trail)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ketamine_ptsd.cli_clinic import JSON_HELP, RECORD_FLAGS, guarded_with
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import backups, migrate
from ketamine_ptsd.store.database import connect, resolve_url
from ketamine_ptsd.store.records import DatabaseRefused, Records, default_actor

USER_OPTION = typer.Option(None, "--user", help="who makes the change, for the audit trail "
                           "(default: $KETAMINE_PTSD_USER, else the operating-system user)")

db_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                     help="The records database: status, upgrade, downgrade, backup, restore, audit trail.")

guarded = guarded_with(RECORD_FLAGS)


def console() -> Console:
    # Created per call so output goes to the current stdout (also under test runners).
    return Console(highlight=False, soft_wrap=True)


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database that cannot be reached or refuses a change: one line, exit code 1 (the
    input was fine; the database was not). Messages carry no patient data."""
    try:
        yield
    except DatabaseRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except DBAPIError as exc:
        typer.echo(f"error: the database at {_shown_url()} cannot be used: {type(exc.orig).__name__}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def open_records(user: str | None = None) -> Iterator[Records]:
    with _database_errors(), Records.open(actor=user or default_actor()) as records:
        yield records


@contextmanager
def _engine() -> Iterator[Engine]:
    engine = connect()
    try:
        with _database_errors():
            yield engine
    finally:
        engine.dispose()


def new_table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dt.datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------------------
# db
# ---------------------------------------------------------------------------


def _shown_url() -> str:
    return make_url(resolve_url()).render_as_string(hide_password=True)


@db_app.command("status")
@guarded
def db_status(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Which database is in use, its schema revision and the newest one."""
    with _engine() as engine:
        data = {"url": _shown_url(), "revision": migrate.current_revision(engine), "head": migrate.head_revision()}
    if as_json:
        emit(data)
    else:
        typer.echo(f"{data['url']}: schema {data['revision'] or 'none'} (newest {data['head']})")


@db_app.command("upgrade")
@guarded
def db_upgrade(revision: str = typer.Argument("head", help="target revision (default the newest)")) -> None:
    """Create or upgrade the schema (take a `db backup` first)."""
    with _engine() as engine:
        migrate.upgrade(engine, revision)
        typer.echo(f"{_shown_url()}: schema {migrate.current_revision(engine)}")


@db_app.command("downgrade")
@guarded
def db_downgrade(
    revision: str = typer.Argument(..., help="target revision (`base` removes every table)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation (scripts)"),
    user: str | None = USER_OPTION,
) -> None:
    """Downgrade the schema (data in tables or columns the older schema lacks is dropped;
    take a `db backup` first). Asks for confirmation; logged in the audit trail."""
    with _engine() as engine:
        current = migrate.current_revision(engine)
        if not yes and not typer.confirm(f"Downgrade {_shown_url()} from schema {current} to {revision}? Records in "
                                         "tables and columns the older schema lacks are dropped", err=True):
            raise InputError("--yes", "the downgrade was not confirmed", "answer y, or pass --yes")
        migrate.downgrade(engine, revision, actor=user or default_actor())
        typer.echo(f"{_shown_url()}: schema {migrate.current_revision(engine) or 'none'}")


@db_app.command("backup")
@guarded
def db_backup(file: Path = typer.Argument(..., metavar="FILE", help="the backup file to write (JSON)")) -> None:
    """Write a consistent copy of every record to FILE (portable between SQLite and PostgreSQL)."""
    with _engine() as engine:
        summary = backups.backup(engine, file)
    typer.echo(f"wrote {file}: schema {summary['revision']}, {sum(summary['rows'].values())} rows")


@db_app.command("restore")
@guarded
def db_restore(
    file: Path = typer.Argument(..., metavar="FILE", help="a file written by `db backup`"),
    user: str | None = USER_OPTION,
) -> None:
    """Restore FILE into an empty database (never over existing records) and upgrade it."""
    with _engine() as engine:
        summary = backups.restore(engine, file, user or default_actor())
    typer.echo(f"restored {sum(summary['rows'].values())} rows into {_shown_url()}")


@db_app.command("audit")
@guarded
def db_audit(
    table: str | None = typer.Option(None, help="only this table (patients, sessions, assessments ...)"),
    record: str | None = typer.Option(None, help="only this record id"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The audit trail: who changed what, when, with the old and new value."""
    with open_records() as records:
        entries = records.audit_trail(table, record)
    if as_json:
        emit([e.to_dict() for e in entries])
        return
    view = new_table("audit trail", "when", "who", "action", "table", "record", "field", "old", "new")
    for e in entries:
        view.add_row(shown(e.at), e.actor, e.action, e.table_name, e.record_id, e.field,
                     clip(shown(e.old_value)), clip(shown(e.new_value)))
    console().print(view)
