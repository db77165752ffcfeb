"""The audit trail: every insert, update and delete is logged with the acting user.

:class:`AuditedSession` writes the log entries inside the same transaction as the change
(after each flush), so a change and its audit entries are committed or lost together.
An insert is logged with the whole new row, except that a JSON value longer than
``LARGE_JSON_CHARS`` (a forecast's curves) is logged as its SHA-256 digest.
A session without an acting user (``info["actor"]``) refuses to write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from .models import AuditEntry, Base, utcnow

ACTOR_KEY = "actor"
#: Columns whose values never enter the log (a password hash would let anyone who reads the
#: audit trail try to crack it offline); the log says that they changed.
SECRET_COLUMNS = {("users", "password_hash")}
SECRET_VALUE = "(not logged)"
#: A JSON value longer than this (a forecast's curves) is logged on insert as its SHA-256
#: digest: the row itself holds the content, and the log stays small yet can prove it unchanged.
LARGE_JSON_CHARS = 4096


class AuditedSession(Session):
    """A session whose changes are written to ``audit_log`` under ``info["actor"]``."""


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_plain, sort_keys=True, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot log a {type(value).__name__}")


def _row(obj: Base, digest_large: bool = False) -> dict[str, Any]:
    row = {c.key: SECRET_VALUE if (obj.__tablename__, c.key) in SECRET_COLUMNS else getattr(obj, c.key)
           for c in obj.__table__.columns}
    if digest_large:
        for key, value in row.items():
            if isinstance(value, (dict, list)):
                text = _json(value)
                if len(text) > LARGE_JSON_CHARS:
                    row[key] = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text)}
    return row


def _record_id(obj: Base) -> str:
    # The identity key is only set once the flush finishes; the primary key is already known.
    return ",".join(str(v) for v in inspect(obj).mapper.primary_key_from_instance(obj))


@event.listens_for(AuditedSession, "after_flush")
def _write_audit(session: Session, _context: Any) -> None:
    actor = session.info.get(ACTOR_KEY)
    changed = [o for o in (*session.new, *session.dirty, *session.deleted) if not isinstance(o, AuditEntry)]
    if not changed:
        return
    if not actor:
        raise RuntimeError("a change without an acting user cannot be audited")
    now = utcnow()
    rows = []

    def entry(obj: Base, action: str, field: str, old: Any, new: Any) -> None:
        rows.append({"at": now, "actor": actor, "action": action, "table_name": obj.__tablename__,
                     "record_id": _record_id(obj), "field": field,
                     "old_value": _json(old), "new_value": _json(new)})

    for obj in session.new:
        if not isinstance(obj, AuditEntry):
            entry(obj, "insert", "*", None, _row(obj, digest_large=True))
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) or not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        for column in obj.__table__.columns:
            history = state.attrs[column.key].history
            if history.added or history.deleted:
                old = history.deleted[0] if history.deleted else None
                new = history.added[0] if history.added else None
                if old != new:
                    if (obj.__tablename__, column.key) in SECRET_COLUMNS:
                        old, new = SECRET_VALUE, SECRET_VALUE
                    entry(obj, "update", column.key, old, new)
    for obj in session.deleted:
        if not isinstance(obj, AuditEntry):
            entry(obj, "delete", "*", _row(obj), None)
    if rows:
        session.connection().execute(insert(AuditEntry.__table__), rows)
