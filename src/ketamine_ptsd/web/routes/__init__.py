"""The routes: HTML pages (``pages``) and the JSON API under ``/api`` (``api``), and the
lookups both share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Path

from ketamine_ptsd.errors import RecordNotFound
from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import Patient

#: Database ids are 32-bit integers on PostgreSQL.
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def found(find: Any, *args: Any) -> Any:
    """Run a records lookup (``records.patient``, ``records.session_details`` ...); an
    unknown id, which the records report as RecordNotFound, becomes 404 (other bad input
    stays the app's 422)."""
    try:
        return find(*args)
    except RecordNotFound:
        raise HTTPException(404, "no such record") from None


def existing_patient(records: Records, patient_id: int) -> Patient:
    """The patient with ``patient_id``, or 404."""
    return found(records.patient, patient_id)
