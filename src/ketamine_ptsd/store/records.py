"""The clinic records service: validated reads and audited writes.

Every write is one transaction: the input is checked first (an unknown patient, a score
off the instrument's scale, a date in the future, an implausible weight or dose are
refused with an :class:`~ketamine_ptsd.errors.InputError` naming the field and what is
allowed), then the rows and their audit entries are committed together or not at all.
Scores are computed by the clinic instruments, screening decisions by the clinic
screening, session alerts and discharge readiness by the clinic session monitor, so what
is stored is what the clinic toolkit would say. Nothing here writes patient data to a log.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ketamine_ptsd.clinic import course as course_logic
from ketamine_ptsd.clinic.instruments import PRORATABLE, SCORERS, SPECS
from ketamine_ptsd.clinic.monitoring import FIELDS as READING_FIELDS
from ketamine_ptsd.clinic.monitoring import PRODUCT_ROUTES as MONITORED_ROUTES
from ketamine_ptsd.clinic.monitoring import monitor_session
from ketamine_ptsd.clinic.risk import EVENT_KINDS
from ketamine_ptsd.clinic.screening import screen
from ketamine_ptsd.clinic.settings import Settings, resolve
from ketamine_ptsd.dosing import DEFAULT_INDUCTION_DAYS, PRODUCT_ROUTES, Dose
from ketamine_ptsd.errors import InputError, RecordNotFound
from ketamine_ptsd.params import population_names
from ketamine_ptsd.units import parse_dose

from .audit import ACTOR_KEY, AuditedSession
from .database import DatabaseRefused, connect
from .forecasts import ForecastRecords
from .migrate import ensure_current
from .models import (
    MAINTENANCE_RULES,
    SEXES,
    Assessment,
    AuditEntry,
    Course,
    DosingSession,
    Forecast,
    MonitoringForm,
    Patient,
    Screening,
    SessionEvent,
    VitalSigns,
    utcnow,
)
from .users import UserAccounts

USER_ENV_VAR = "KETAMINE_PTSD_USER"
#: Session events: the misuse signals of the clinic risk rules, plus what the session
#: monitor needs to hear from the clinician (respiratory depression) and any other adverse event.
SESSION_EVENT_KINDS = (*EVENT_KINDS, "respiratory_depression", "adverse_event")
#: Instruments whose scorer takes ``prorate``.
_NO_PATIENT_HINT = "the id of a recorded patient"
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
#: What a clinic course doses (controls such as midazolam belong to trials, not records).
PRODUCTS = tuple(PRODUCT_ROUTES)


def _population(name: Any) -> str | None:
    """A population name of ``params/populations.toml``, or None (empty: the default)."""
    if name is None or not str(name).strip():
        return None
    name = str(name).strip()
    if name not in population_names():
        raise InputError("population", f"unknown population {name!r}", ", ".join(population_names()))
    return name


def default_actor() -> str:
    """The acting user: ``$KETAMINE_PTSD_USER``, else the operating-system user."""
    return os.environ.get(USER_ENV_VAR) or getpass.getuser()


def _product(product: str) -> str:
    if product not in PRODUCTS:
        raise InputError("product", f"unknown product {product!r}", ", ".join(PRODUCTS))
    return product


class Records(UserAccounts, ForecastRecords):
    """Reads and writes of the clinic records on one database.

    ``actor`` is recorded with every change; ``now`` is the clock that judges "in the
    future" (a timezone-aware datetime factory; tests pass a fixed one).
    """

    def __init__(self, engine: Engine, actor: str, settings: Settings | Mapping | None = None,
                 now: Any = utcnow):
        if not actor or not actor.strip():
            raise InputError("user", "no acting user", "the name of the user making the change")
        self.engine = engine
        self.actor = actor.strip()
        self.settings = resolve(settings)
        self.now = now
        self._factory = sessionmaker(engine, class_=AuditedSession, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, actor: str | None = None,
             settings: Settings | Mapping | None = None) -> Records:
        """Connect to ``url`` (see :func:`~ketamine_ptsd.store.database.resolve_url`), create
        the schema in an empty database, and refuse one that needs an upgrade."""
        engine = connect(url)
        try:
            ensure_current(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, actor or default_actor(), settings)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error. An error of the
        database itself comes out as :class:`DatabaseRefused` (no values in its message)."""
        try:
            with self._factory() as session, session.begin():
                session.info[ACTOR_KEY] = self.actor
                yield session
        except DBAPIError as exc:
            raise DatabaseRefused.of(exc) from None

    # ------------------------------------------------------------------ checks

    def _limit(self, field: str, value: float | None, key: str, unit: str) -> float | None:
        if value is None:
            return None
        lo, hi = self.settings["input.limits"][key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(field, f"{value!r} is not a number", f"{lo}-{hi} {unit}")
        if not lo <= value <= hi:
            raise InputError(field, f"{value:g} {unit} is outside the plausible range", f"{lo}-{hi} {unit}")
        return float(value)

    def _past(self, field: str, when: dt.datetime, patient: Patient | None = None) -> dt.datetime:
        if not isinstance(when, dt.datetime) or when.tzinfo is None:
            raise InputError(field, f"{when!r} is not a date and time with a time zone", "an aware datetime")
        if when > self.now():
            raise InputError(field, f"{when.isoformat(timespec='minutes')} is in the future", "now or earlier")
        earliest = _EARLIEST
        if patient is not None and patient.birth_date is not None:
            earliest = dt.datetime.combine(patient.birth_date, dt.time(0), tzinfo=when.tzinfo)
        if when < earliest:
            raise InputError(field, f"{when.date().isoformat()} is before the patient's birth",
                             f"{earliest.date().isoformat()} or later")
        return when

    def _past_date(self, field: str, day: dt.date) -> dt.date:
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise InputError(field, f"{day!r} is not a date", "YYYY-MM-DD")
        today = self.now().astimezone().date()
        if day > today:
            raise InputError(field, f"{day.isoformat()} is in the future", f"{today.isoformat()} or earlier")
        if day < _EARLIEST.date():
            raise InputError(field, f"{day.isoformat()} is too early", f"{_EARLIEST.date().isoformat()} or later")
        return day

    @staticmethod
    def _patient(session: Session, patient_id: Any) -> Patient:
        try:
            key = int(patient_id)
        except (TypeError, ValueError):
            raise RecordNotFound("patient_id", f"{patient_id!r} is not a patient id", _NO_PATIENT_HINT) from None
        patient = session.get(Patient, key)
        if patient is None:
            raise RecordNotFound("patient_id", f"no patient with id {key}", _NO_PATIENT_HINT)
        return patient

    def _patient_fields(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(values)
        if "name" in out:
            out["name"] = str(out["name"]).strip() if out["name"] is not None else ""
            if not out["name"]:
                raise InputError("name", "no name given", "the patient's name, or a pseudonym marked as one")
        if "name" in out and len(str(out["name"])) > 200:
            raise InputError("name", "longer than 200 characters", "up to 200 characters")
        if "mrn" in out and out["mrn"] is not None:
            out["mrn"] = str(out["mrn"]).strip() or None
            if out["mrn"] is not None and len(out["mrn"]) > 64:
                raise InputError("mrn", "longer than 64 characters", "up to 64 characters")
        if "sex" in out and out["sex"] not in SEXES:
            raise InputError("sex", f"unknown value {out['sex']!r}", ", ".join(SEXES))
        if out.get("birth_date") is not None:
            birth = self._past_date("birth_date", out["birth_date"])
            age = (self.now().date() - birth).days / 365.25
            lo, hi = self.settings["input.limits"]["age_years"]
            if not lo <= age <= hi:
                raise InputError("birth_date", f"gives an age of {age:.0f} years", f"ages {lo}-{hi} years")
        if "population" in out:
            out["population"] = _population(out["population"])
        if "weight_kg" in out:
            out["weight_kg"] = self._limit("weight_kg", out["weight_kg"], "weight_kg", "kg")
        if "height_cm" in out:
            out["height_cm"] = self._limit("height_cm", out["height_cm"], "height_cm", "cm")
        return out

    @staticmethod
    def _mrn_free(session: Session, mrn: str | None, patient_id: int | None = None) -> None:
        if mrn is None:
            return
        other = session.scalar(select(Patient.id).where(Patient.mrn == mrn))
        if other is not None and other != patient_id:
            raise InputError("mrn", "already used by another patient", "a record number not yet in use")

    # ------------------------------------------------------------------ patients

    def add_patient(self, *, name: str | None = None, mrn: str | None = None, birth_date: dt.date | None = None,
                    sex: str = "unknown", weight_kg: float | None = None, height_cm: float | None = None,
                    note: str | None = None, pseudonym: bool = False, population: str | None = None) -> Patient:
        """Register a patient; returns the new record (its ``id`` names the patient from now on).

        A patient needs a name: the real one, or a pseudonym (``pseudonym=True``) where the
        clinic records patients under chosen names. ``population`` names the patient's
        population of ``params/populations.toml`` (None: the default)."""
        values = self._patient_fields({"name": name, "mrn": mrn, "birth_date": birth_date, "sex": sex,
                                       "weight_kg": weight_kg, "height_cm": height_cm, "note": note,
                                       "population": population})
        values["pseudonym"] = bool(pseudonym)
        try:
            with self.transaction() as session:
                self._mrn_free(session, values["mrn"])
                patient = Patient(**values, created_at=utcnow())
                session.add(patient)
                session.flush()
            return patient
        except DatabaseRefused as exc:
            if not exc.conflict:
                raise
            # Another process took the same record number between the check and the insert.
            raise InputError("mrn", "already used by another patient", "a record number not yet in use") from None

    def update_patient(self, patient_id: Any, **changes: Any) -> Patient:
        """Change some of a patient's fields (name, mrn, birth_date, sex, weight_kg, height_cm, note,
        pseudonym, population; an empty population returns the patient to the default)."""
        allowed = ("name", "mrn", "birth_date", "sex", "weight_kg", "height_cm", "note", "pseudonym", "population")
        unknown = set(changes) - set(allowed)
        if unknown:
            raise InputError(sorted(unknown)[0], "not a patient field", ", ".join(allowed))
        values = self._patient_fields(changes)
        if "pseudonym" in values:
            values["pseudonym"] = bool(values["pseudonym"])
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            if "mrn" in values:
                self._mrn_free(session, values["mrn"], patient.id)
            for key, value in values.items():
                setattr(patient, key, value)
        return patient

    def patient(self, patient_id: Any) -> Patient:
        """One patient (InputError when there is none with that id)."""
        with self.transaction() as session:
            return self._patient(session, patient_id)

    def patients(self) -> list[Patient]:
        """All patients, oldest record first."""
        with self.transaction() as session:
            return list(session.scalars(select(Patient).order_by(Patient.id)))

    # ------------------------------------------------------------------ screenings

    def record_screening(self, patient_id: Any, answers: Mapping[str, Any],
                         screened_on: dt.date | None = None) -> Screening:
        """Screen the patient with the clinic screening rules and store answers and decision.

        When the record has a birth date, the age is taken from it; an ``age_years`` in the
        answers that differs from it by a year or more is refused (nothing is stored).
        """
        day = self._past_date("date", screened_on or self.now().astimezone().date())
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            answers = dict(answers)
            if patient.birth_date is not None:
                age = round((day - patient.birth_date).days / 365.25, 1)
                given = answers.get("age_years")
                numeric = isinstance(given, (int, float)) and not isinstance(given, bool)
                if numeric and abs(given - age) >= 1:
                    raise InputError("age_years", f"the answers say {given:g} but the birth date "
                                     f"{patient.birth_date.isoformat()} gives {age:g} on {day.isoformat()}",
                                     f"{age:g} (from the record), or leave age_years out")
                if given is None or numeric:  # anything else is refused by the screening itself
                    answers["age_years"] = age
            result = screen(answers, self.settings)
            screening = Screening(patient_id=patient.id, screened_on=day, product=result.product,
                                  decision=result.decision, answers=answers, result=result.to_dict(),
                                  created_at=utcnow())
            session.add(screening)
        return screening

    # ------------------------------------------------------------------ courses

    def start_course(self, patient_id: Any, *, started_on: dt.date, dose: str = "0.5mg/kg",
                     route: str = "iv_infusion", product: str = "racemic", infusion_min: float | None = None,
                     days: Sequence[float] = DEFAULT_INDUCTION_DAYS, maintenance_rule: str | None = None,
                     every_days: float | None = None) -> Course:
        """Start a treatment course with its induction plan (dose ``days`` from ``started_on``).

        One course is active at a time; ``maintenance_rule`` is ``interval`` (every
        ``every_days``, default 14) or ``forecast``.
        """
        started_on = self._past_date("date", started_on)
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            if self._active_course(session, patient.id) is not None:
                raise InputError("patient_id", "the patient already has an active course",
                                 "close the active course first")
            course = self._new_course(patient, started_on, dose, route, product, infusion_min, days,
                                      maintenance_rule, every_days)
            session.add(course)
        return course

    def _new_course(self, patient: Patient, started_on: dt.date, dose: str, route: str, product: str,
                    infusion_min: float | None, days: Sequence[float], maintenance_rule: str | None,
                    every_days: float | None) -> Course:
        amount, per_kg = parse_dose(dose)
        _product(product)
        if not isinstance(started_on, dt.date) or isinstance(started_on, dt.datetime):
            raise InputError("date", f"{started_on!r} is not a date", "YYYY-MM-DD")
        if route != "iv_infusion":
            infusion_min = None
        infusion_min = self._limit("infusion_min", infusion_min, "infusion_minutes", "min")
        plan = course_logic.InductionPlan(started_on, tuple(days), amount, per_kg, route, product, infusion_min)
        if maintenance_rule is not None and maintenance_rule not in MAINTENANCE_RULES:
            raise InputError("maintenance_rule", f"unknown rule {maintenance_rule!r}", ", ".join(MAINTENANCE_RULES))
        if every_days is not None:
            every_days = course_logic.IntervalRule(every_days).every_days
        return Course(patient_id=patient.id, started_on=plan.start, product=product, route=route,
                      dose_amount=amount, dose_per_kg=per_kg, infusion_min=infusion_min,
                      induction_days=list(plan.days), status="active", maintenance_rule=maintenance_rule,
                      maintenance_every_days=every_days, created_at=utcnow())

    @staticmethod
    def _active_course(session: Session, patient_id: int) -> Course | None:
        return session.scalar(select(Course).where(Course.patient_id == patient_id, Course.status == "active"))

    def close_course(self, patient_id: Any, closed_on: dt.date | None = None) -> Course:
        """Close the patient's active course."""
        day = self._past_date("date", closed_on or self.now().astimezone().date())
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            course = self._active_course(session, patient.id)
            if course is None:
                raise InputError("patient_id", "the patient has no active course", "a patient with an active course")
            course.status, course.closed_on = "closed", day
        return course

    @staticmethod
    def plan_of(course: Course) -> course_logic.InductionPlan:
        """The induction plan of a stored course."""
        return course_logic.InductionPlan(course.started_on, tuple(course.induction_days), course.dose_amount,
                                          course.dose_per_kg, course.route, course.product, course.infusion_min)

    @classmethod
    def _current_course(cls, session: Session, patient: Patient) -> Course:
        """The patient's active (else latest) course."""
        course = cls._active_course(session, patient.id) or session.scalar(
            select(Course).where(Course.patient_id == patient.id).order_by(Course.id.desc()))
        if course is None:
            raise InputError("patient_id", "the patient has no course yet", "start a course or record a session first")
        return course

    @staticmethod
    def _set_booking(course: Course, booking: course_logic.MaintenanceBooking) -> None:
        """Store ``booking`` on the (session-bound) ``course``."""
        course.maintenance_due_on = booking.due_on
        course.maintenance_reason = booking.reason
        if booking.rule != course.maintenance_rule:
            course.maintenance_rule = booking.rule

    def course_state(self, patient_id: Any) -> tuple[Course, list[DosingSession], course_logic.CourseProgress]:
        """The active (else the latest) course, its sessions, and its progress as of today."""
        with self.transaction() as session:
            course = self._current_course(session, self._patient(session, patient_id))
            sessions = list(course.sessions)
        today = self.now().astimezone().date()
        local_dates = [s.started_at.astimezone().date() for s in sessions]
        return course, sessions, course_logic.progress(self.plan_of(course), local_dates, today)

    def book_maintenance(self, patient_id: Any, *, rule: str | None = None, every_days: float | None = None,
                         forecast: Mapping[str, Any] | None = None,
                         first_dose: dt.datetime | None = None) -> course_logic.MaintenanceBooking:
        """Book the next maintenance session of the active course and store the booking.

        ``rule`` (default: the course's rule, else ``interval``) is ``interval`` (every
        ``every_days``, default the course's or 14) or ``forecast``, which needs the
        ``forecast`` dict (``recommended_maintenance_day`` in days from ``first_dose``).
        """
        course, _, state = self.course_state(patient_id)
        if course.status != "active":
            raise InputError("patient_id", "the patient has no active course", "a patient with an active course")
        rule = rule or course.maintenance_rule or "interval"
        if rule == "interval":
            logic_rule = course_logic.IntervalRule(
                every_days or course.maintenance_every_days or course_logic.DEFAULT_INTERVAL_DAYS)
            booking = course_logic.book_maintenance(state, logic_rule)
        elif rule == "forecast":
            if forecast is None:
                raise InputError("rule", "the forecast rule needs a forecast", "a saved forecast (make one first)")
            booking = course_logic.book_maintenance(
                state, course_logic.ForecastRule(), first_dose=first_dose,
                recommended_day=forecast.get("recommended_maintenance_day"),
                horizon_days=forecast.get("horizon_days"))
        else:
            raise InputError("rule", f"unknown rule {rule!r}", ", ".join(MAINTENANCE_RULES))
        with self.transaction() as session:
            self._set_booking(session.get(Course, course.id), booking)
        return booking

    # ------------------------------------------------------------------ sessions

    def record_session(
        self,
        patient_id: Any,
        *,
        started_at: dt.datetime,
        dose: str,
        route: str | None = None,
        product: str | None = None,
        infusion_min: float | None = None,
        weight_kg: float | None = None,
        lot: str | None = None,
        note: str | None = None,
        readings: Sequence[Mapping[str, Any]] = (),
        events: Sequence[tuple[str, str | None]] = (),
        concomitant: Sequence[str] = (),
    ) -> DosingSession:
        """Record a dosing session against the patient's active course.

        Without an active course, one is started on the session's date with the default
        induction plan (Feder 2021 days) and this session's dose. ``route``, ``product``
        and ``infusion_min`` default to the course's. ``dose`` is ``"0.5mg/kg"`` or
        ``"56mg"``; a mg/kg dose needs ``weight_kg`` or the patient's weight. ``readings``
        (minutes from the dose, as for ``clinic monitor``) are checked by the session
        monitor and its alerts, discharge readiness and (esketamine) REMS prefill are
        stored with them. ``events`` are ``(kind, detail)`` pairs of SESSION_EVENT_KINDS.
        """
        amount, per_kg = parse_dose(dose)
        check_readings(readings)
        for i, (kind, _detail) in enumerate(events):
            if kind not in SESSION_EVENT_KINDS:
                raise InputError(f"events {i + 1}", f"unknown event {kind!r}", ", ".join(SESSION_EVENT_KINDS))
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            started_at = self._past("date", started_at, patient)
            course = self._active_course(session, patient.id)
            route = route or (course.route if course else "iv_infusion")
            product = _product(product or (course.product if course else "racemic"))
            if course is not None and product != course.product:
                # The model and the course's plan are for one product (their PK differ).
                raise InputError("product", f"the active course is {course.product}, not {product}",
                                 f"{course.product}, or close the course and start one for {product}")
            if infusion_min is None and course is not None and route == course.route:
                infusion_min = course.infusion_min
            if route == "iv_infusion":
                infusion_min = self._limit("infusion_min", infusion_min, "infusion_minutes", "min")
            dose_record = Dose(0.0, amount, route, product, per_kg,
                               None if infusion_min is None or route != "iv_infusion" else infusion_min / 60.0)
            infusion_min = None if dose_record.duration_h is None else dose_record.duration_h * 60.0
            weight = self._limit("weight_kg", weight_kg, "weight_kg", "kg") or patient.weight_kg
            if per_kg and weight is None:
                lo, hi = self.settings["input.limits"]["weight_kg"]
                raise InputError("weight_kg", "a mg/kg dose needs the patient's weight", f"{lo}-{hi} kg")
            if per_kg:
                self._limit("dose", amount, "dose_mg_per_kg", "mg/kg")
            dose_mg = self._limit("dose", dose_record.amount_mg(weight or 0.0), "dose_mg", "mg")
            if session.scalar(select(DosingSession.id).join(Course).where(
                    Course.patient_id == patient.id, DosingSession.started_at == started_at,
                    DosingSession.withdrawn_at.is_(None))) is not None:
                raise InputError("date", "a session at that time is already recorded for the patient",
                                 "a different date and time")
            if course is None:
                course = self._new_course(patient, started_at.astimezone().date(), dose, route, product,
                                          infusion_min, DEFAULT_INDUCTION_DAYS, None, None)
                session.add(course)
            report = None
            if readings:
                if route not in MONITORED_ROUTES.get(product, ()):
                    raise InputError("readings", f"the session monitoring rules do not cover {product} {route}",
                                     "; ".join(f"{p}: {', '.join(r)}" for p, r in MONITORED_ROUTES.items()))
                report = monitor_session(
                    readings, product=product, route=route, infusion_min=infusion_min, dose_mg=dose_mg, lot=lot,
                    start_clock=started_at.astimezone().strftime("%H:%M"), concomitant=list(concomitant),
                    respiratory_depression_reported=any(k == "respiratory_depression" for k, _ in events),
                    settings=self.settings)
            record = DosingSession(course=course, started_at=started_at, product=product, route=route,
                                   dose_amount=amount, dose_per_kg=per_kg, dose_mg=dose_mg,
                                   weight_kg=weight, infusion_min=infusion_min, lot=lot, note=note,
                                   created_at=utcnow())
            session.add(record)
            for kind, detail in events:
                session.add(SessionEvent(session=record, kind=kind, detail=detail))
            if report is not None:
                for r in report.readings:
                    session.add(VitalSigns(session=record, minutes=r.time_min, label=r.label, sbp=r.sbp,
                                           dbp=r.dbp, hr=r.hr, spo2=r.spo2, cadss=r.cadss, moaas=r.moaas))
                session.add(MonitoringForm(session=record, report=report.to_dict(),
                                           rems_form=report.rems_form() if product == "esketamine" else None))
            session.flush()
        return record

    def sessions(self, patient_id: Any) -> list[DosingSession]:
        """Every dosing session of the patient, over all courses, in time order."""
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            return list(session.scalars(
                select(DosingSession).join(Course).where(Course.patient_id == patient.id,
                                                         DosingSession.withdrawn_at.is_(None))
                .order_by(DosingSession.started_at)))

    def session_details(self, session_id: int) -> dict[str, Any]:
        """One session with its readings, events and monitoring form, as a dict."""
        with self.transaction() as session:
            record = session.get(DosingSession, session_id)
            if record is None:
                raise RecordNotFound("session_id", f"no session with id {session_id}", "the id of a recorded session")
            withdrawn = session.scalars(select(VitalSigns).where(VitalSigns.session_id == record.id,
                                                                 VitalSigns.withdrawn_at.is_not(None))
                                        .order_by(VitalSigns.minutes))
            return {**record.to_dict(), "vitals": [v.to_dict() for v in record.vitals],
                    "withdrawn_vitals": [v.to_dict() for v in withdrawn],
                    "events": [e.to_dict() for e in record.events],
                    "monitoring": record.monitoring.to_dict() if record.monitoring else None}

    # ------------------------------------------------------------------ assessments

    def record_assessment(self, patient_id: Any, instrument: str, answers: Sequence[Any],
                          administered_at: dt.datetime, *, prorate: bool = False, source: str = "entry",
                          **scorer_options: Any) -> Assessment:
        """Score ``answers`` with the clinic instrument and store items and scores.

        ``instrument`` is an id of ``clinic.instruments.SCORERS`` (pcl5, caps5, madrs ...);
        ``scorer_options`` go to its scorer (``version`` for CAPS-5, ``convention`` for BPRS).
        """
        if instrument not in SCORERS:
            raise InputError("instrument", f"unknown instrument {instrument!r}", ", ".join(SCORERS))
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            record = self._assessment(session, patient, instrument, answers, administered_at, prorate, source,
                                      scorer_options)
        return record

    def _assessment(self, session: Session, patient: Patient, instrument: str, answers: Sequence[Any],
                    administered_at: dt.datetime, prorate: bool, source: str,
                    scorer_options: Mapping[str, Any]) -> Assessment:
        when = self._past("date", administered_at, patient)
        options = dict(scorer_options)
        if instrument in PRORATABLE:
            options["prorate"] = prorate
        elif prorate:
            raise InputError("prorate", f"no proration for {SPECS[instrument].name}", ", ".join(PRORATABLE))
        if isinstance(answers, (str, bytes, Mapping)) or not isinstance(answers, Sequence):
            raise InputError("answers", "not a list of item answers", "a list, one answer per item (None = missing)")
        try:
            result = SCORERS[instrument](list(answers), settings=self.settings, **options)
        except TypeError:
            raise InputError("options", f"{sorted(scorer_options)} do not apply to {SPECS[instrument].name}",
                             "version (caps5), convention (bprs_pos)") from None
        duplicate = session.scalar(select(Assessment.id).where(
            Assessment.patient_id == patient.id, Assessment.instrument == instrument,
            Assessment.administered_at == when, Assessment.withdrawn_at.is_(None)))
        if duplicate is not None:
            raise InputError("date", f"a {SPECS[instrument].name} at that time is already recorded",
                             "a different date and time")
        # The answers as given (validated by the scorer); for DAST-10 the result's items are
        # points instead (item 3 reversed), so the answers are kept, not the points.
        given = [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in answers]
        record = Assessment(patient_id=patient.id, instrument=instrument, administered_at=when,
                            items=given, total=result.total, clusters=dict(result.clusters),
                            prorated=result.prorated, result=result.to_dict(), source=source, created_at=utcnow())
        session.add(record)
        session.flush()
        return record

    def import_assessments(self, patient_id: Any, responses: Sequence[tuple[str, Sequence[Any], dt.datetime]],
                           source: str = "fhir") -> list[Assessment]:
        """Store several ``(instrument, answers, administered_at)`` at once: all or none."""
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            out = []
            for i, (instrument, answers, when) in enumerate(responses):
                if instrument not in SCORERS:
                    raise InputError(f"response {i + 1}", f"unknown instrument {instrument!r}", ", ".join(SCORERS))
                try:
                    out.append(self._assessment(session, patient, instrument, answers, when, False, source, {}))
                except InputError as exc:
                    raise InputError(f"response {i + 1} {exc.field}", exc.message, exc.allowed) from None
        return out

    def assessments(self, patient_id: Any, instrument: str | None = None) -> list[Assessment]:
        """The patient's assessments in time order (optionally of one instrument)."""
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            query = select(Assessment).where(Assessment.patient_id == patient.id, Assessment.withdrawn_at.is_(None))
            if instrument is not None:
                query = query.where(Assessment.instrument == instrument)
            return list(session.scalars(query.order_by(Assessment.administered_at, Assessment.id)))

    # ------------------------------------------------------------------ audit

    def log_event(self, action: str, table: str, record_id: Any, value: Any = None) -> None:
        """Write one audit entry that is not a row change (a sign-in, a read, an unlock):
        ``field`` "*", ``value`` (JSON-ready) as the new value."""
        with self.transaction() as session:
            session.add(AuditEntry(at=utcnow(), actor=self.actor, action=action, table_name=table,
                                   record_id=str(record_id)[:40], field="*", old_value=None,
                                   new_value=None if value is None else json.dumps(value, sort_keys=True,
                                                                                   ensure_ascii=False)))

    def audit_trail(self, table: str | None = None, record_id: Any = None) -> list[AuditEntry]:
        """Audit entries, oldest first, optionally of one table and record."""
        with self.transaction() as session:
            query = select(AuditEntry)
            if table is not None:
                query = query.where(AuditEntry.table_name == table)
            if record_id is not None:
                query = query.where(AuditEntry.record_id == str(record_id))
            return list(session.scalars(query.order_by(AuditEntry.id)))

    def summary(self, patient_id: Any) -> dict[str, Any]:
        """Everything about one patient as a JSON-ready dict (for ``patient show``)."""
        with self.transaction() as session:
            patient = self._patient(session, patient_id)
            courses = []
            for course in patient.courses:
                courses.append({**course.to_dict(), "sessions": [s.to_dict() for s in course.sessions]})
            forecast = session.scalar(select(Forecast).where(Forecast.patient_id == patient.id)
                                      .order_by(Forecast.id.desc()))
            return {"patient": patient.to_dict(), "screenings": [s.to_dict() for s in patient.screenings],
                    "courses": courses,
                    "assessments": [{k: v for k, v in a.to_dict().items() if k != "result"}
                                    for a in patient.assessments],
                    "latest_forecast": forecast.to_dict() if forecast else None}


def check_readings(readings: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a reading with a non-finite number or with nothing measured: NaN is not "not
    measured" (leave the field out for that), and a reading of nothing is a typing error."""
    for i, reading in enumerate(readings):
        for key, value in reading.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"reading {i + 1} {key}", f"{value!r} is not a finite number",
                                 "a number, or leave the field empty")
        if all(reading.get(f) is None for f in READING_FIELDS):
            raise InputError(f"reading {i + 1}", "nothing measured", "at least one of " + ", ".join(READING_FIELDS))
