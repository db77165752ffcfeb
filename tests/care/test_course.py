"""The current course read with the clinic's course-risk rules, from a real SQLite database."""

from __future__ import annotations

import datetime as dt

from ketamine_ptsd.care.course import course_overview

START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


def test_bladder_indices_on_record_reach_the_course_risk(records):
    patient = records.add_patient(name="Test Patient", sex="female", weight_kg=70.0)
    records.record_session(patient.id, started_at=START, dose="0.5mg/kg")
    overview = course_overview(records, patient.id)
    assert overview["course"].patient_id == patient.id
    assert "icsi_high" not in {f.code for f in overview["risk"].flags}
    # ICSI 5+5+5+5 = 20, at or above the review level of 12 in the packaged settings.
    records.record_assessment(patient.id, "icsi", [5, 5, 5, 5], START + dt.timedelta(days=1))
    flags = {f.code for f in course_overview(records, patient.id)["risk"].flags}
    assert "icsi_high" in flags
