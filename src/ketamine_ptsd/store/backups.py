"""Backup and restore of the clinic records as one portable JSON file.

The same file serves SQLite and PostgreSQL (a clinic can move from one to the other). A
backup is a consistent snapshot (one transaction: SQLite's write lock, PostgreSQL's
repeatable read) of every table, with the schema revision it was taken at. A restore goes
into an empty database only, so it can never overwrite records: in one transaction it
creates the schema at the backup's revision, inserts every row, upgrades to the newest
revision and logs the restore in the audit trail; any error leaves the database empty.
The file is written to a temporary name, flushed to disk and then renamed, so an
interrupted backup never leaves a truncated file under the chosen name.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, func, insert, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import DataError, IntegrityError

from ketamine_ptsd.errors import InputError

from .migrate import is_empty, migration_transaction, revision_on, revisions, upgrade_on
from .models import AuditEntry, utcnow

FORMAT = "ketamine-ptsd records backup"
FORMAT_VERSION = 1
_VERSION_TABLE = "alembic_version"


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


#: What JSON gives for each column type (SQLite would store a wrong type without a word).
_JSON_TYPES = ((sqltypes.Boolean, (bool,), "true or false"), (sqltypes.Integer, (int,), "a whole number"),
               (sqltypes.Float, (int, float), "a number"), (sqltypes.String, (str,), "text"),
               (sqltypes.Date, (str,), "an ISO date"), (sqltypes.DateTime, (str,), "an ISO date and time"),
               (sqltypes.LargeBinary, (str,), "base64 text"))


def _decode(column_type: Any, value: Any) -> Any:
    """The column's value from its JSON form; ValueError naming what the column holds."""
    if value is None:
        return None
    for sql_type, json_types, words in _JSON_TYPES:
        if isinstance(column_type, sql_type):
            wrong = not isinstance(value, json_types) or (isinstance(value, bool) and bool not in json_types)
            if wrong or (isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"{type(value).__name__} where the column holds {words}")
            break
    try:
        if isinstance(column_type, sqltypes.DateTime):
            return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
        if isinstance(column_type, sqltypes.Date):
            return dt.date.fromisoformat(value)
        if isinstance(column_type, sqltypes.LargeBinary):
            return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError(f"{str(value)[:40]!r} cannot be read as {column_type}") from None
    return value


def _decoded_rows(table: Any, rows: Any) -> list[dict[str, Any]]:
    """The backup's rows of ``table`` checked and decoded (InputError naming row and column)."""
    columns = {c.name: c.type for c in table.columns}
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError("FILE", f"table {table.name} is not a list of rows", "a file written by `db backup`")
    out = []
    for n, row in enumerate(rows, start=1):
        extra = set(row) - set(columns)
        if extra:
            raise InputError("FILE", f"column {sorted(extra)[0]!r} is not in table {table.name}", ", ".join(columns))
        decoded = {}
        for key, value in row.items():
            try:
                decoded[key] = _decode(columns[key], value)
            except ValueError as exc:
                raise InputError("FILE", f"table {table.name} row {n} column {key}: {exc}",
                                 "a file written by `db backup`") from None
        out.append(decoded)
    return out


def _tables(connection: Connection) -> MetaData:
    meta = MetaData()
    meta.reflect(connection)
    return meta


def backup(engine: Engine, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write every table to ``path`` (JSON); returns the revision and row counts."""
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError("FILE", f"no folder {target.parent}", "a path in an existing folder")
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            revision = revision_on(connection)
            if revision is None:
                raise InputError("database", "the database holds no records schema", "a ketamine-ptsd records database")
            meta = _tables(connection)
            tables = {}
            for table in meta.sorted_tables:
                if table.name == _VERSION_TABLE:
                    continue
                rows = connection.execute(select(table).order_by(*table.primary_key.columns)).mappings()
                tables[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, "revision": revision,
                "taken_at": utcnow().isoformat(), "tables": tables}
    temporary = target.with_name(f".{target.name}.partial")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return {"revision": revision, "rows": {name: len(rows) for name, rows in tables.items()}}


def read_backup(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a backup file (InputError naming what is wrong)."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError("FILE", f"cannot read {source.name}: {exc.strerror}", "a backup file") from None
    except UnicodeDecodeError as exc:
        raise InputError("FILE", f"{source.name} is not UTF-8 text (byte {exc.start})",
                         "a file written by `db backup`") from None
    except json.JSONDecodeError as exc:
        raise InputError("FILE", f"{source.name} is not JSON ({exc.msg})", "a file written by `db backup`") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError("FILE", f"{source.name} is not a records backup", "a file written by `db backup`")
    if document.get("format_version") != FORMAT_VERSION:
        raise InputError("FILE", f"backup format {document.get('format_version')!r}", f"format {FORMAT_VERSION}")
    if document.get("revision") not in revisions():
        raise InputError("FILE", f"unknown schema revision {document.get('revision')!r}", ", ".join(revisions()))
    if not isinstance(document.get("tables"), dict):
        raise InputError("FILE", "no tables in the backup", "a file written by `db backup`")
    return document


def restore(engine: Engine, path: str | os.PathLike[str], actor: str) -> dict[str, Any]:
    """Restore a backup into an empty database and upgrade it to the newest revision."""
    document = read_backup(path)
    if not is_empty(engine):
        raise InputError("database", "the database is not empty; a restore never overwrites records",
                         "a new SQLite file or an empty PostgreSQL database")
    counts = {}
    with migration_transaction(engine) as connection:
        upgrade_on(connection, document["revision"])
        meta = _tables(connection)
        unknown = set(document["tables"]) - set(meta.tables)
        if unknown:
            raise InputError("FILE", f"table {sorted(unknown)[0]!r} is not in schema {document['revision']}",
                             ", ".join(sorted(meta.tables)))
        for table in meta.sorted_tables:
            rows = _decoded_rows(table, document["tables"].get(table.name, []))
            if not rows:
                continue
            columns = {c.name: c.type for c in table.columns}
            try:
                connection.execute(insert(table), rows)
            except (IntegrityError, DataError, ValueError, TypeError) as exc:
                raise InputError("FILE", f"rows of table {table.name} do not fit the schema "
                                 f"({type(exc).__name__})", "a file written by `db backup`") from None
            counts[table.name] = len(rows)
            if connection.dialect.name == "postgresql" and "id" in columns:
                # Rows came with their ids; move the id sequence past them.
                top = connection.scalar(select(func.max(table.c.id)))
                connection.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
                                   {"t": table.name, "v": top})
        if connection.dialect.name == "sqlite":
            # Foreign keys are not enforced during a migration transaction on SQLite; check now.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise InputError("FILE", f"rows of table {broken[0][0]} refer to records missing from the backup",
                                 "a file written by `db backup`")
        upgrade_on(connection, "head")
        connection.execute(insert(AuditEntry.__table__), [{
            "at": utcnow(), "actor": actor, "action": "restore", "table_name": "*", "record_id": "", "field": "*",
            "old_value": None,
            "new_value": json.dumps({"file": Path(path).name, "revision": document["revision"],
                                     "taken_at": document.get("taken_at"), "rows": counts}),
        }])
    return {"revision": document["revision"], "rows": counts}
