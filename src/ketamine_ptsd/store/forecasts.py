"""The records' side of the personal forecast (the use case is ``care/forecast``): one read
of everything a forecast needs, and one transaction that keeps the forecast together with
the maintenance booking it moves, so a failed save leaves neither. A part of
:class:`~ketamine_ptsd.store.records.Records` (its transaction, patient and course reads)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketamine_ptsd.clinic import course as course_logic
from ketamine_ptsd.errors import InputError

from .models import Assessment, Course, DosingSession, Forecast, Patient, utcnow


@dataclass(frozen=True)
class CourseSnapshot:
    """The patient's current (active, else latest) course as one read saw it: its sessions
    given (in time order), their progress against the induction plan as of ``now``, and
    every assessment of the patient (in time order, withdrawn ones left out)."""

    patient: Patient
    course: Course
    sessions: list[DosingSession]
    progress: course_logic.CourseProgress
    plan: course_logic.InductionPlan
    assessments: list[Assessment]
    now: dt.datetime


class ForecastRecords:
    """The forecast methods of the records; the helpers below are the records' own."""

    def transaction(self) -> AbstractContextManager[Session]:  # pragma: no cover - Records defines it
        raise NotImplementedError

    def course_snapshot(self, patient_id: Any) -> CourseSnapshot:
        """What a forecast of the patient's current course reads, in one transaction."""
        now = self.now()
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            course = self._current_course(session, patient)
            sessions = list(course.sessions)
            assessments = list(session.scalars(
                select(Assessment).where(Assessment.patient_id == patient.id, Assessment.withdrawn_at.is_(None))
                .order_by(Assessment.administered_at, Assessment.id)))
        plan = self.plan_of(course)
        progress = course_logic.progress(plan, [s.started_at.astimezone().date() for s in sessions],
                                         now.astimezone().date())
        return CourseSnapshot(patient, course, sessions, progress, plan, assessments, now)

    def store_forecast(self, result: Mapping[str, Any], booking: course_logic.MaintenanceBooking | None, *,
                       course_id: int, first_dose_at: dt.datetime, horizon_days: float) -> Forecast:
        """Keep ``result`` (JSON-ready) as a forecast of course ``course_id`` and, when
        ``booking`` is given, book the course's next maintenance session by it, in one
        transaction: committed together or not at all."""
        with self.transaction() as session:
            course = session.get(Course, course_id)
            if course is None:
                raise InputError("course_id", f"no course {course_id}", "the id of a recorded course")
            if booking is not None:
                if course.status != "active":
                    raise InputError("patient_id", "the patient has no active course",
                                     "a patient with an active course")
                self._set_booking(course, booking)
            record = Forecast(patient_id=course.patient_id, course_id=course.id, first_dose_at=first_dose_at,
                              horizon_days=float(horizon_days), result=dict(result), created_at=utcnow())
            session.add(record)
            session.flush()
        return record

    def save_forecast(self, patient_id: Any, result: Mapping[str, Any], first_dose_at: dt.datetime,
                      horizon_days: float, course_id: int | None = None) -> Forecast:
        """Keep a forecast as it was computed (``result`` is JSON-ready)."""
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            record = Forecast(patient_id=patient.id, course_id=course_id, first_dose_at=first_dose_at,
                              horizon_days=float(horizon_days), result=dict(result), created_at=utcnow())
            session.add(record)
            session.flush()
        return record

    def latest_forecast(self, patient_id: Any) -> Forecast | None:
        """The newest stored forecast of the patient, if any."""
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            return session.scalar(select(Forecast).where(Forecast.patient_id == patient.id)
                                  .order_by(Forecast.id.desc()))
