"""Session entry as it happens: add a reading or an event to a recorded session, and the
session monitor runs again on everything recorded so far.

The records store a session's readings with its monitoring result in one go
(:meth:`Records.record_session`); at the bedside readings arrive one at a time, so these
functions add one reading (or event) to a stored session and replace its monitoring form
with the monitor's verdict on all readings so far, in one audited transaction. The monitor
is the clinic toolkit's (:func:`ketamine_ptsd.clinic.monitoring.monitor_session`), called
as the records call it, so the alerts are the same however the readings were entered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from ketamine_ptsd.clinic.monitoring import FIELDS, PRODUCT_ROUTES, SessionReport, monitor_session
from ketamine_ptsd.errors import InputError, RecordNotFound

from .models import DosingSession, MonitoringForm, SessionEvent, VitalSigns
from .records import SESSION_EVENT_KINDS, Records, check_readings

#: REMS form fields that record the concomitant medication classes given at session start.
_REMS_CONCOMITANT = {"benzodiazepines": "benzodiazepine", "non_benzodiazepine_hypnotics": "non_benzo_hypnotic",
                     "psychostimulants": "psychostimulant", "maois": "maoi"}


def stored_session(session: Session, session_id: Any) -> DosingSession:
    try:
        key = int(session_id)
    except (TypeError, ValueError):
        raise RecordNotFound("session_id", f"{session_id!r} is not a session id",
                             "an id of a recorded session") from None
    record = session.get(DosingSession, key)
    if record is None:
        raise RecordNotFound("session_id", f"no session with id {key}", "an id of a recorded session")
    return record


def stored_readings(record: DosingSession) -> list[dict[str, Any]]:
    return [{"time_min": v.minutes, "label": v.label, **{f: getattr(v, f) for f in FIELDS}} for v in record.vitals]


def monitor(records: Records, record: DosingSession, readings: Sequence[Mapping[str, Any]],
             event_kinds: Sequence[str]) -> SessionReport:
    if record.route not in PRODUCT_ROUTES.get(record.product, ()):
        raise InputError("reading", f"the session monitoring rules do not cover {record.product} {record.route}",
                         "; ".join(f"{p}: {', '.join(r)}" for p, r in PRODUCT_ROUTES.items()))
    rems = record.monitoring.rems_form if record.monitoring and record.monitoring.rems_form else {}
    return monitor_session(
        readings, product=record.product, route=record.route, infusion_min=record.infusion_min,
        dose_mg=record.dose_mg, lot=record.lot, start_clock=record.started_at.astimezone().strftime("%H:%M"),
        concomitant=[med for key, med in _REMS_CONCOMITANT.items() if rems.get(key)],
        respiratory_depression_reported="respiratory_depression" in event_kinds, settings=records.settings)


def store_report(session: Session, record: DosingSession, report: SessionReport) -> None:
    rems_form = report.rems_form() if record.product == "esketamine" else None
    if record.monitoring is None:
        session.add(MonitoringForm(session=record, report=report.to_dict(), rems_form=rems_form))
    else:
        record.monitoring.report = report.to_dict()
        record.monitoring.rems_form = rems_form


def add_reading(records: Records, session_id: Any, reading: Mapping[str, Any]) -> dict[str, Any]:
    """Add one reading (``time_min`` from the dose, optional ``label``, sbp, dbp, hr, spo2,
    cadss, moaas) to a stored session; returns the new monitoring report as a dict.

    The reading is checked with the monitor's ranges (``input.limits``); a bad value is an
    InputError naming ``reading 1 <field>`` and nothing is stored.
    """
    new = {k: v for k, v in reading.items() if v is not None or k == "time_min"}
    check_readings([new])
    with records.transaction() as session:
        record = stored_session(session, session_id)
        # The new reading goes first so that an error names it "reading 1".
        report = monitor(records, record, [new, *stored_readings(record)], [e.kind for e in record.events])
        # The sort by time is stable, so the new reading is the first one at its time.
        checked = next(r for r in report.readings if r.time_min == float(new["time_min"]))
        session.add(VitalSigns(session=record, minutes=checked.time_min, label=checked.label,
                               **{f: getattr(checked, f) for f in FIELDS}))
        store_report(session, record, report)
    return report.to_dict()


def add_event(records: Records, session_id: Any, kind: str, detail: str | None = None) -> dict[str, Any] | None:
    """Record an event at a stored session (one of SESSION_EVENT_KINDS); a reported
    respiratory depression re-runs the monitor. Returns the monitoring report, if any."""
    if kind not in SESSION_EVENT_KINDS:
        raise InputError("kind", f"unknown event {kind!r}", ", ".join(SESSION_EVENT_KINDS))
    with records.transaction() as session:
        record = stored_session(session, session_id)
        session.add(SessionEvent(session=record, kind=kind, detail=detail))
        readings = stored_readings(record)
        if not readings:
            return None
        report = monitor(records, record, readings, [*(e.kind for e in record.events), kind])
        store_report(session, record, report)
    return report.to_dict()
