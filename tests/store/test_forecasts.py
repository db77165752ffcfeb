"""The records' side of the personal forecast, on both backends: one read of the current
course (``course_snapshot``) and one transaction for the forecast with the maintenance
booking it moves (``store_forecast``): a failed save leaves neither."""

from __future__ import annotations

import datetime as dt

import pytest

from ketamine_ptsd.clinic.course import MaintenanceBooking
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store.database import DatabaseRefused

from .conftest import NOW
from .test_records import at, row_counts

PCL5_ITEMS = [2] * 20  # total 40; clusters B 10, C 4, D 14, E 12


@pytest.fixture
def course(records):
    """A patient on a course booked by forecast (started 6 Jan, sessions 6 and 8 Jan), a
    PCL-5 before the first dose and one after."""
    patient = records.add_patient(name="Test Patient", sex="female", weight_kg=72.0, birth_date=dt.date(1985, 4, 2))
    records.start_course(patient.id, started_on=dt.date(2025, 1, 6), maintenance_rule="forecast")
    records.record_assessment(patient.id, "pcl5", PCL5_ITEMS, administered_at=at(3))
    for day in (6, 8):
        records.record_session(patient.id, started_at=at(day), dose="0.5mg/kg")
    records.record_assessment(patient.id, "pcl5", [1] * 20, administered_at=at(9))
    return records.course_state(patient.id)[0]


def booking_on(day: dt.date) -> MaintenanceBooking:
    return MaintenanceBooking(day, "forecast", "loss of response forecast", "test")


def test_the_snapshot_holds_what_a_forecast_reads(records, course):
    snap = records.course_snapshot(course.patient_id)
    assert (snap.patient.id, snap.course.id, snap.now) == (course.patient_id, course.id, NOW)
    assert [s.started_at for s in snap.sessions] == [at(6), at(8)]
    assert [(a.instrument, a.total) for a in snap.assessments] == [("pcl5", 40), ("pcl5", 20)]
    assert snap.plan.start == dt.date(2025, 1, 6)
    # The same progress as course_state gives on its own.
    assert snap.progress == records.course_state(course.patient_id)[2]


def test_the_snapshot_of_a_patient_without_a_course_is_refused(records):
    patient = records.add_patient(name="No Course", sex="male", weight_kg=80.0)
    with pytest.raises(InputError) as err:
        records.course_snapshot(patient.id)
    assert err.value.field == "patient_id"


def test_the_forecast_and_its_booking_are_kept_together(records, course):
    due = dt.date(2025, 3, 17)
    stored = records.store_forecast({"recommended_maintenance_day": 70.2}, booking_on(due), course_id=course.id,
                                    first_dose_at=at(6), horizon_days=84)
    assert records.latest_forecast(course.patient_id).id == stored.id
    assert (stored.patient_id, stored.course_id, stored.horizon_days) == (course.patient_id, course.id, 84.0)
    again = records.course_state(course.patient_id)[0]
    assert (again.maintenance_due_on, again.maintenance_reason) == (due, "loss of response forecast")


def test_without_a_booking_only_the_forecast_is_kept(records, course):
    records.store_forecast({"recommended_maintenance_day": None}, None, course_id=course.id,
                           first_dose_at=at(6), horizon_days=84)
    assert records.course_state(course.patient_id)[0].maintenance_due_on is None
    assert records.latest_forecast(course.patient_id) is not None


def test_a_failed_save_leaves_neither_forecast_nor_booking(records, course):
    before = row_counts(records)
    audit_before = len(records.audit_trail())
    # The database refuses the forecast row (first_dose_at is NOT NULL) after the booking
    # was written in the same transaction.
    with pytest.raises(DatabaseRefused):
        records.store_forecast({"recommended_maintenance_day": 70.2}, booking_on(dt.date(2025, 3, 17)),
                               course_id=course.id, first_dose_at=None, horizon_days=84)
    assert records.course_state(course.patient_id)[0].maintenance_due_on is None
    assert records.latest_forecast(course.patient_id) is None
    assert row_counts(records) == before
    assert len(records.audit_trail()) == audit_before


def test_a_closed_course_is_not_booked(records, course):
    records.close_course(course.patient_id, dt.date(2025, 2, 1))
    with pytest.raises(InputError, match="active course"):
        records.store_forecast({}, booking_on(dt.date(2025, 3, 17)), course_id=course.id,
                               first_dose_at=at(6), horizon_days=84)
    assert records.latest_forecast(course.patient_id) is None
