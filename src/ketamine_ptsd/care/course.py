"""A patient's current course read with the clinic's rules: the induction plan against the
sessions given, and the long-term risk of the course (exposure, bladder screens, misuse
signals) from the sessions, their events and the bladder indices on record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.risk import BLADDER_INSTRUMENTS, EVENT_KINDS, assess_course
from ketamine_ptsd.store.records import Records


def course_overview(records: Records, patient_id: Any) -> dict[str, Any]:
    """``course`` and ``progress`` (the records' course and its state), ``risk`` (the
    clinic's course-risk result, an object with ``flags`` and ``to_dict()``) and the notice."""
    course, sessions, state = records.course_state(patient_id)
    details = [records.session_details(s.id) for s in sessions]
    bladder: dict[dt.date, dict[str, Any]] = {}
    for a in records.assessments(patient_id):
        if a.instrument in BLADDER_INSTRUMENTS:
            day = a.administered_at.astimezone().date()
            bladder.setdefault(day, {"date": day})[a.instrument] = a.items
    course_sessions = [{"date": d["started_at"][:10], "product": d["product"], "dose_mg": d["dose_mg"],
                        "weight_kg": d["weight_kg"],
                        "cadss_peak": max((v["cadss"] for v in d["vitals"] if v["cadss"] is not None), default=None)}
                       for d in details]
    events = [{"date": d["started_at"][:10], "kind": e["kind"]} for d in details for e in d["events"]
              if e["kind"] in EVENT_KINDS]
    risk = assess_course(course_sessions, events=events, bladder=[bladder[d] for d in sorted(bladder)],
                         settings=records.settings)
    return {"course": course, "progress": state, "risk": risk, "notice": NOT_A_MEDICAL_DEVICE}
