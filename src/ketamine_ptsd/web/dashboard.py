"""Everything the patient page shows, gathered from the records in one read.

The latest screening with its reasons; the current course (planned induction sessions
given, missed, due or to come; the sessions with their doses; the maintenance booking);
the alerts raised at past sessions; the long-term risk flags of the clinic toolkit
(:func:`ketamine_ptsd.clinic.risk.assess_course`: exposure, bladder screens, misuse
signals); the assessments; the latest stored personal forecast; and the chart of all of
it. Research and decision-support software, not a medical device.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.instruments import MADRS, PCL5, SPECS
from ketamine_ptsd.clinic.monitoring import SEVERITY_ORDER
from ketamine_ptsd.clinic.risk import BLADDER_INSTRUMENTS, EVENT_KINDS, assess_course
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import Correction, Forecast, Patient

from .charts import course_chart


def _session_row(s: Any) -> dict[str, Any]:
    report = s.monitoring.report if s.monitoring else None
    return {**s.to_dict(), "started_at": s.started_at.astimezone().isoformat(timespec="minutes"),
            "events": [e.to_dict() for e in s.events], "n_readings": len(s.vitals),
            "alerts": report["alerts"] if report else [],
            "highest_severity": report["highest_severity"] if report else None,
            "discharge": report["discharge"] if report else None,
            "cadss_peak": report["peak"].get("cadss") if report else None}


def most_severe(alerts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The alert to show first: the most severe (stop > hold > review > notable), the latest
    of those; None without alerts."""
    ranked = [a for a in alerts if a.get("severity") in SEVERITY_ORDER]
    if not ranked:
        return None
    return min(ranked, key=lambda a: (SEVERITY_ORDER.index(a["severity"]), -(a.get("time_min") or 0.0)))


def _risk(sessions: list[dict[str, Any]], assessments: list[Any], records: Records) -> dict[str, Any] | None:
    if not sessions:
        return None
    bladder: dict[str, dict[str, Any]] = defaultdict(dict)
    dast10 = None
    for a in assessments:
        day = a.administered_at.astimezone().date().isoformat()
        if a.instrument in BLADDER_INSTRUMENTS:
            bladder[day].update(date=day, **{a.instrument: list(a.items)})
        elif a.instrument == "dast10":
            dast10 = list(a.items)
    events = [{"date": s["started_at"][:10], "kind": e["kind"]} for s in sessions for e in s["events"]
              if e["kind"] in EVENT_KINDS]
    report = assess_course(
        [{"date": s["started_at"][:10], "product": s["product"], "dose_mg": s["dose_mg"],
          "weight_kg": s["weight_kg"], "cadss_peak": s["cadss_peak"]} for s in sessions],
        bladder=[bladder[d] for d in sorted(bladder)], events=events, dast10=dast10,
        as_of=records.now().astimezone().date(), settings=records.settings)
    return report.to_dict()


def patient_overview(records: Records, patient_id: int) -> dict[str, Any]:
    """The patient page's data as plain dicts (see the module docstring)."""
    with records.transaction() as session:
        patient = session.get(Patient, patient_id)
        if patient is None:
            raise InputError("patient_id", f"no patient with id {patient_id}", "an id from the patient list")
        screening = patient.screenings[-1].to_dict() if patient.screenings else None
        all_sessions = [_session_row(s) for c in patient.courses for s in c.sessions]
        assessments = list(patient.assessments)
        rows = [{**a.to_dict(), "name": SPECS[a.instrument].name,
                 "administered_at": a.administered_at.astimezone().isoformat(timespec="minutes")} for a in assessments]
        forecast = session.scalar(select(Forecast).where(Forecast.patient_id == patient.id)
                                  .order_by(Forecast.id.desc()))
        forecast = forecast.result if forecast else None
        fixes = session.scalars(select(Correction).where(Correction.patient_id == patient.id)
                                .order_by(Correction.id.desc()))
        out = {"patient": patient.to_dict(), "screening": screening, "corrections": [c.to_dict() for c in fixes]}
        has_course = bool(patient.courses)
    course = None
    if has_course:
        stored, sessions, progress = records.course_state(patient_id)
        course = {**stored.to_dict(), "progress": progress.to_dict(),
                  "sessions": [r for r in all_sessions if r["course_id"] == stored.id]}
    alerts = [{**alert, "session_id": s["id"], "session_started_at": s["started_at"],
               "open": not (s["discharge"] or {}).get("ready", False)}
              for s in all_sessions for alert in s["alerts"]]
    # Open: the alerts of sessions whose patient is not yet ready for discharge.
    banner = most_severe([a for a in alerts if a["open"]])
    alerts.sort(key=lambda a: (not a["open"], SEVERITY_ORDER.index(a["severity"])
                               if a["severity"] in SEVERITY_ORDER else len(SEVERITY_ORDER)))
    return {**out, "course": course, "sessions": all_sessions, "alerts": alerts, "banner": banner,
            "assessments": rows,
            "risk": _risk(all_sessions, assessments, records), "forecast": forecast,
            # Without a score or a forecast there is nothing to draw (an empty plot shows a year-2000 axis).
            "chart": course_chart(rows, [s["started_at"] for s in all_sessions], forecast)
            if forecast or any(r["instrument"] in (PCL5.id, MADRS.id) and r["total"] is not None for r in rows)
            else None,
            "notice": NOT_A_MEDICAL_DEVICE}
