"""The clinic records as SQLAlchemy 2 tables.

One patient has screenings, treatment courses and assessments; a course has an induction
plan and the dosing sessions given against it; a session has its dose, vital-sign
readings, events and the monitoring form derived from them; forecasts keep the JSON of a
personal forecast as it was shown; users are the people who may sign in to the web app;
the audit log records every change with who made it.

Timestamps are stored in UTC (:class:`UTCDateTime`) and come back timezone-aware; units
are in the column names (``weight_kg``, ``minutes``). Values are validated by
:mod:`ketamine_ptsd.store.records` before they reach these classes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let Alembic alter SQLite tables (batch mode) and drop constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "clinician", "readonly")
SEXES = ("female", "male", "other", "unknown")
COURSE_STATUSES = ("active", "closed")
MAINTENANCE_RULES = ("interval", "forecast")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """A point in time stored in UTC; naive input is refused, output is UTC-aware.

    SQLite has no time-zone type, so the value is kept there as naive UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def to_dict(self) -> dict[str, Any]:
        """The row's columns as a JSON-ready dict (dates and times in ISO 8601)."""
        out = {}
        for column in self.__table__.columns:
            value = getattr(self, column.key)
            out[column.key] = value.isoformat() if isinstance(value, dt.date) else value
        return out


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    """Someone who may sign in (web app): role admin, clinician or readonly; argon2 hash;
    disabled or not."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: A disabled user cannot sign in, and their open sessions end at their next request.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Patient(Base):
    """A patient of the clinic: identifiers and the covariates the model uses."""

    __tablename__ = "patients"
    __table_args__ = (CheckConstraint(_one_of("sex", SEXES), name="sex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    mrn: Mapped[str | None] = mapped_column(String(64), unique=True)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The name is a pseudonym chosen on purpose (not the patient's real name).
    pseudonym: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The population of ``params/populations.toml`` the patient belongs to by diagnosis and
    #: treatment history, whose prior the personal forecast uses; None: the default population.
    population: Mapped[str | None] = mapped_column(String(40))

    courses: Mapped[list[Course]] = relationship(back_populates="patient", order_by="Course.started_on")
    #: The assessments in force (a withdrawn one is kept, but not here).
    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="patient", order_by="Assessment.administered_at",
        primaryjoin="and_(Patient.id == Assessment.patient_id, Assessment.withdrawn_at.is_(None))")
    screenings: Mapped[list[Screening]] = relationship(
        back_populates="patient", order_by="Screening.screened_on")


class Screening(Base):
    """A pre-treatment screening: the answers given and the decision with its reasons."""

    __tablename__ = "screenings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    screened_on: Mapped[dt.date] = mapped_column(Date)
    product: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="screenings")


class Course(Base):
    """A treatment course: the induction plan (day offsets from ``started_on``), the dose
    planned per session, and how maintenance is booked (fixed interval or forecast)."""

    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint(_one_of("status", COURSE_STATUSES), name="status"),
        CheckConstraint(f"maintenance_rule IS NULL OR {_one_of('maintenance_rule', MAINTENANCE_RULES)}",
                        name="maintenance_rule"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    started_on: Mapped[dt.date] = mapped_column(Date)
    product: Mapped[str] = mapped_column(String(20))
    route: Mapped[str] = mapped_column(String(20))
    dose_amount: Mapped[float] = mapped_column(Float)
    dose_per_kg: Mapped[bool] = mapped_column(Boolean)
    infusion_min: Mapped[float | None] = mapped_column(Float)
    induction_days: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    maintenance_rule: Mapped[str | None] = mapped_column(String(10))
    maintenance_every_days: Mapped[float | None] = mapped_column(Float)
    maintenance_due_on: Mapped[dt.date | None] = mapped_column(Date)
    maintenance_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="courses")
    #: The sessions in force (a withdrawn one is kept, but not here).
    sessions: Mapped[list[DosingSession]] = relationship(
        back_populates="course", order_by="DosingSession.started_at",
        primaryjoin="and_(Course.id == DosingSession.course_id, DosingSession.withdrawn_at.is_(None))")


class DosingSession(Base):
    """One dosing session: when, what, how much (as prescribed and in mg), and the weight."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    product: Mapped[str] = mapped_column(String(20))
    route: Mapped[str] = mapped_column(String(20))
    dose_amount: Mapped[float] = mapped_column(Float)
    dose_per_kg: Mapped[bool] = mapped_column(Boolean)
    dose_mg: Mapped[float] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    infusion_min: Mapped[float | None] = mapped_column(Float)
    lot: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: When the session was withdrawn (recorded in error); the reason is in ``corrections``.
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship(back_populates="sessions")
    #: The readings in force (a withdrawn one is kept, but not here).
    vitals: Mapped[list[VitalSigns]] = relationship(
        back_populates="session", order_by="VitalSigns.minutes",
        primaryjoin="and_(DosingSession.id == VitalSigns.session_id, VitalSigns.withdrawn_at.is_(None))")
    events: Mapped[list[SessionEvent]] = relationship(back_populates="session")
    monitoring: Mapped[MonitoringForm | None] = relationship(back_populates="session")


class VitalSigns(Base):
    """One reading during a session, ``minutes`` from the dose (<= 0 is pre-dose)."""

    __tablename__ = "vitals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    minutes: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(20))
    sbp: Mapped[float | None] = mapped_column(Float)
    dbp: Mapped[float | None] = mapped_column(Float)
    hr: Mapped[float | None] = mapped_column(Float)
    spo2: Mapped[float | None] = mapped_column(Float)
    cadss: Mapped[float | None] = mapped_column(Float)
    moaas: Mapped[float | None] = mapped_column(Float)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[DosingSession] = relationship(back_populates="vitals")


class SessionEvent(Base):
    """Something that happened at a session (an adverse event, a misuse signal)."""

    __tablename__ = "session_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)

    session: Mapped[DosingSession] = relationship(back_populates="events")


class MonitoringForm(Base):
    """The session-monitoring result: alerts, discharge readiness and the REMS prefill."""

    __tablename__ = "monitoring_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), unique=True)
    report: Mapped[dict] = mapped_column(JSON)
    rems_form: Mapped[dict | None] = mapped_column(JSON)

    session: Mapped[DosingSession] = relationship(back_populates="monitoring")


class Assessment(Base):
    """An instrument administered: the item answers and the scores computed from them."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(20))
    administered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    items: Mapped[list] = mapped_column(JSON)
    total: Mapped[float | None] = mapped_column(Float)
    clusters: Mapped[dict] = mapped_column(JSON)
    prorated: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="assessments")


class Forecast(Base):
    """A personal forecast as computed and shown (``result`` is ``Forecast.to_dict()``)."""

    __tablename__ = "forecasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    first_dose_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    horizon_days: Mapped[float] = mapped_column(Float)
    result: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


CORRECTABLE = ("vitals", "sessions", "assessments")
CORRECTION_KINDS = ("correct", "withdraw")


class Correction(Base):
    """A reading, session or assessment corrected or withdrawn: who, when, why, and the
    values before and after (the row itself holds the values in force)."""

    __tablename__ = "corrections"
    __table_args__ = (CheckConstraint(_one_of("table_name", CORRECTABLE), name="table_name"),
                      CheckConstraint(_one_of("kind", CORRECTION_KINDS), name="kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    old_values: Mapped[dict] = mapped_column(JSON)
    new_values: Mapped[dict | None] = mapped_column(JSON)


class AuditEntry(Base):
    """One change: who, when, which table and record, which field, old and new value.

    An insert is one entry with ``field`` "*" and the whole new row as ``new_value`` (a
    long JSON value, such as a forecast's curves, as its SHA-256 digest); a delete keeps
    the whole old row in ``old_value``; an update has one entry per field. Values are JSON
    text.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(20))
    table_name: Mapped[str] = mapped_column(String(40), index=True)
    record_id: Mapped[str] = mapped_column(String(40))
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
