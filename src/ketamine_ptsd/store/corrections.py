"""Corrections: a reading, a session or an assessment entered wrongly is corrected or
withdrawn, with a reason, never deleted.

Each correction is one audited transaction: the row gets its new values (a withdrawn row
is marked ``withdrawn_at`` and drops out of everything computed from the records: alerts,
discharge readiness, risk, forecasts, charts), and a :class:`~.models.Correction` keeps
who, when, why and the values before and after. A corrected or withdrawn reading re-runs
the session monitor on the readings still in force; a corrected assessment is scored
again by its instrument; a corrected session weight gives the dose in mg again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketamine_ptsd.clinic.instruments import SCORERS
from ketamine_ptsd.clinic.monitoring import FIELDS
from ketamine_ptsd.errors import InputError, RecordNotFound

from .models import Assessment, Correction, Course, DosingSession, VitalSigns, utcnow
from .records import PRORATABLE, Records, check_readings
from .session_entry import monitor, store_report, stored_readings

#: What a correction may change.
READING_FIELDS = ("time_min", "label", *FIELDS)
SESSION_FIELDS = ("weight_kg", "infusion_min", "lot", "note")
_TABLES = {"reading": (VitalSigns, "vitals"), "session": (DosingSession, "sessions"),
           "assessment": (Assessment, "assessments")}


class RecordMissing(RecordNotFound):
    """No record with that id (the web app answers 404); the records' own
    :class:`~ketamine_ptsd.errors.RecordNotFound`, under the name this module used first."""


def _reason(reason: Any) -> str:
    text = str(reason or "").strip()
    if not text:
        raise InputError("reason", "no reason given", "why the record is corrected or withdrawn (1-2000 characters)")
    if len(text) > 2000:
        raise InputError("reason", "longer than 2000 characters", "1-2000 characters")
    return text


def _check_changes(changes: Mapping[str, Any], allowed: tuple[str, ...], kind: str) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise InputError(sorted(unknown)[0], f"not a correctable field of a {kind}", ", ".join(allowed))
    if not changes:
        raise InputError("changes", "nothing to correct", ", ".join(allowed))


def _row(session: Session, kind: str, record_id: Any) -> Any:
    model, _ = _TABLES[kind]
    try:
        key = int(record_id)
    except (TypeError, ValueError):
        raise RecordMissing(f"{kind}_id", f"{record_id!r} is not an id", f"the id of a recorded {kind}") from None
    row = session.get(model, key) if 0 < key < 2**31 else None
    if row is None:
        raise RecordMissing(f"{kind}_id", f"no {kind} with id {key}", f"the id of a recorded {kind}")
    if row.withdrawn_at is not None:
        raise InputError(f"{kind}_id", f"{kind} {key} is withdrawn", f"a {kind} in force")
    return row


def _patient_of(session: Session, record: DosingSession) -> int:
    return session.scalar(select(Course.patient_id).where(Course.id == record.course_id))


def _keep(session: Session, records: Records, patient_id: int, kind: str, record_id: int, how: str, reason: str,
          old: dict[str, Any], new: dict[str, Any] | None) -> Correction:
    correction = Correction(at=utcnow(), actor=records.actor, patient_id=patient_id, table_name=_TABLES[kind][1],
                            record_id=record_id, kind=how, reason=reason, old_values=old, new_values=new)
    session.add(correction)
    return correction


def _reading_values(v: VitalSigns) -> dict[str, Any]:
    return {"time_min": v.minutes, "label": v.label, **{f: getattr(v, f) for f in FIELDS}}


def _remonitor(session: Session, records: Records, record: DosingSession) -> None:
    session.flush()
    session.expire(record, ["vitals"])
    readings = stored_readings(record)
    if readings:
        store_report(session, record, monitor(records, record, readings, [e.kind for e in record.events]))
    elif record.monitoring is not None:
        session.delete(record.monitoring)


def correct_reading(records: Records, reading_id: Any, changes: Mapping[str, Any], reason: Any) -> Correction:
    """Change some fields of a reading (``time_min``, ``label``, sbp, dbp, hr, spo2, cadss,
    moaas; ``None`` clears a field); the monitor judges the corrected reading with the others."""
    reason = _reason(reason)
    _check_changes(changes, READING_FIELDS, "reading")
    with records.transaction() as session:
        reading = _row(session, "reading", reading_id)
        record = reading.session
        old = _reading_values(reading)
        new = {**old, **changes}
        check_readings([{k: v for k, v in new.items() if v is not None}])
        others = [r for v, r in zip(record.vitals, stored_readings(record)) if v.id != reading.id]
        # The corrected reading goes first, so that an error names it "reading 1".
        report = monitor(records, record, [{k: v for k, v in new.items() if v is not None}, *others],
                         [e.kind for e in record.events])
        checked = next(r for r in report.readings if r.time_min == float(new["time_min"]))
        reading.minutes, reading.label = checked.time_min, checked.label
        for f in FIELDS:
            setattr(reading, f, getattr(checked, f))
        store_report(session, record, report)
        return _keep(session, records, _patient_of(session, record), "reading", reading.id, "correct", reason, old,
                     _reading_values(reading))


def correct_session(records: Records, session_id: Any, changes: Mapping[str, Any], reason: Any) -> Correction:
    """Change a session's weight (the dose in mg follows for a mg/kg dose), infusion length,
    lot or note."""
    reason = _reason(reason)
    _check_changes(changes, SESSION_FIELDS, "session")
    with records.transaction() as session:
        record = _row(session, "session", session_id)
        old = {k: getattr(record, k) for k in (*SESSION_FIELDS, "dose_mg")}
        if "weight_kg" in changes:
            weight = records._limit("weight_kg", changes["weight_kg"], "weight_kg", "kg")
            if record.dose_per_kg and weight is None:
                raise InputError("weight_kg", "a mg/kg dose needs the weight", "a weight in kg")
            record.weight_kg = weight
            if record.dose_per_kg:
                record.dose_mg = records._limit("weight_kg", record.dose_amount * weight, "dose_mg", "mg")
        if "infusion_min" in changes:
            if record.route != "iv_infusion" and changes["infusion_min"] is not None:
                raise InputError("infusion_min", f"a {record.route} dose has no infusion length", "leave it empty")
            record.infusion_min = records._limit("infusion_min", changes["infusion_min"], "infusion_minutes", "min")
        for key in ("lot", "note"):
            if key in changes:
                value = changes[key]
                record.__setattr__(key, None if value is None or not str(value).strip() else str(value).strip())
        if record.vitals:
            _remonitor(session, records, record)
        return _keep(session, records, _patient_of(session, record), "session", record.id, "correct", reason, old,
                     {k: getattr(record, k) for k in (*SESSION_FIELDS, "dose_mg")})


def correct_assessment(records: Records, assessment_id: Any, answers: Any, reason: Any) -> Correction:
    """Replace an assessment's item answers; the instrument scores them again."""
    reason = _reason(reason)
    with records.transaction() as session:
        record = _row(session, "assessment", assessment_id)
        if isinstance(answers, (str, bytes, Mapping)) or not hasattr(answers, "__len__"):
            raise InputError("answers", "not a list of item answers", "a list, one answer per item (None = missing)")
        # Scored as the original was: the same proration, CAPS-5 version and BPRS convention.
        options = {k: record.result[k] for k in ("version", "convention") if k in record.result}
        if record.instrument in PRORATABLE:
            options["prorate"] = record.prorated
        result = SCORERS[record.instrument](list(answers), settings=records.settings, **options)
        old = {"items": record.items, "total": record.total, "clusters": record.clusters}
        record.items = [None if v is None else int(v) for v in answers]
        record.total, record.clusters, record.result = result.total, dict(result.clusters), result.to_dict()
        return _keep(session, records, record.patient_id, "assessment", record.id, "correct", reason, old,
                     {"items": record.items, "total": record.total, "clusters": record.clusters})


def withdraw(records: Records, kind: str, record_id: Any, reason: Any) -> Correction:
    """Withdraw a reading, session or assessment (``kind``) entered in error: it is kept,
    marked withdrawn, and no longer counts anywhere."""
    if kind not in _TABLES:
        raise InputError("kind", f"unknown record kind {kind!r}", ", ".join(_TABLES))
    reason = _reason(reason)
    with records.transaction() as session:
        row = _row(session, kind, record_id)
        old = row.to_dict()
        row.withdrawn_at = utcnow()
        if kind == "reading":
            patient_id = _patient_of(session, row.session)
            _remonitor(session, records, row.session)
        elif kind == "session":
            patient_id = _patient_of(session, row)
        else:
            patient_id = row.patient_id
        return _keep(session, records, patient_id, kind, row.id, "withdraw", reason, old, None)


def corrections(records: Records, patient_id: Any) -> list[Correction]:
    """The patient's corrections and withdrawals, oldest first."""
    with records.transaction() as session:
        patient = records._patient(session, patient_id)
        return list(session.scalars(select(Correction).where(Correction.patient_id == patient.id)
                                    .order_by(Correction.id)))


def page_of(records: Records, kind: str, record_id: int) -> str:
    """The web page that shows the record: its session's page, or its patient's."""
    with records.transaction() as session:
        model, _ = _TABLES[kind]
        row = session.get(model, record_id)
        if kind == "reading":
            return f"/sessions/{row.session_id}"
        if kind == "session":
            return f"/sessions/{row.id}"
        return f"/patients/{row.patient_id}#assessments"
