"""Reads the pages and the API share, on top of the records' tables: patient search, the
patient of a session, the newest audit entries."""

from __future__ import annotations

from sqlalchemy import or_, select

from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import AuditEntry, Course, DosingSession, Patient

#: Most patients one search returns (newest first): a page a clinician can scan.
PATIENTS_SHOWN = 500


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (backslash escapes % and _)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_patients(records: Records, q: str = "") -> list[Patient]:
    """Patients whose name or record number contains ``q`` (case-insensitive; all when
    empty), newest first, at most PATIENTS_SHOWN."""
    query = select(Patient).order_by(Patient.id.desc()).limit(PATIENTS_SHOWN)
    if q.strip():
        pattern = _like(q.strip())
        query = query.where(or_(Patient.name.ilike(pattern, escape="\\"), Patient.mrn.ilike(pattern, escape="\\")))
    with records.transaction() as session:
        return list(session.scalars(query))


def session_patient_id(records: Records, session_id: int) -> int | None:
    """The patient a dosing session belongs to (None for an unknown session)."""
    with records.transaction() as session:
        return session.scalar(select(Course.patient_id).join(DosingSession).where(DosingSession.id == session_id))


def audit_entries(records: Records, table: str | None = None, limit: int = 200,
                  action: str | None = None) -> list[AuditEntry]:
    """The newest ``limit`` audit entries, newest first (optionally of one table, one action:
    insert, update, delete, read, sign_in, sign_in_failed, sign_out, unlock, downgrade ...)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if table:
        query = query.where(AuditEntry.table_name == table)
    if action:
        query = query.where(AuditEntry.action == action)
    with records.transaction() as session:
        return list(session.scalars(query))
