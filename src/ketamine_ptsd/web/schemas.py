"""The shapes of the JSON API (requests and responses), shared with the HTML forms.

Requests are checked here for types and the fixed vocabularies (roles, routes, instrument
ids); the clinical limits (plausible weights, doses, item scales) are checked by the
records and the clinic toolkit, with their configurable thresholds, and come back as
``422`` with the field and what is allowed. Units are in the field names. Free text may
not contain NUL characters (PostgreSQL cannot store them).

Numbers are finite (NaN and infinity are refused, never stored as "not measured") and are
numbers, not true/false; a time is a date and time, never a bare number (``0`` is not
1970). Lengths of infusions, horizons and day offsets have physiological ranges here;
the clinic-configurable ranges (weights, doses, readings) are checked by the records.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ketamine_ptsd.clinic.instruments import BPRS_CONVENTIONS, SCORERS
from ketamine_ptsd.clinic.monitoring import CONCOMITANT, LABELS
from ketamine_ptsd.clinic.settings import load_settings
from ketamine_ptsd.dosing import CLINIC_ROUTES, DEFAULT_INDUCTION_DAYS, PRODUCT_ROUTES
from ketamine_ptsd.params import population_names
from ketamine_ptsd.store import SESSION_EVENT_KINDS
from ketamine_ptsd.store.models import ROLES, SEXES

_NO_NUL = r"^[^\x00]*$"
ShortText = Annotated[str, Field(max_length=200, pattern=_NO_NUL)]
LongText = Annotated[str, Field(max_length=4000, pattern=_NO_NUL)]
Dose = Annotated[str, Field(max_length=20, pattern=_NO_NUL, examples=["0.5mg/kg", "56mg"],
                            description='per session, "0.5mg/kg" or "56mg"')]

Role = Literal[ROLES]
Sex = Literal[SEXES]
Product = Literal[tuple(PRODUCT_ROUTES)]
Route = Literal[CLINIC_ROUTES]
Instrument = Literal[tuple(SCORERS)]
EventKind = Literal[SESSION_EVENT_KINDS]
Concomitant = Literal[CONCOMITANT]
ReadingLabel = Literal[LABELS]
#: A population of ``params/populations.toml`` (whose prior the personal forecast uses).
Population = Literal[population_names()]


#: Infusion length, minutes: the packaged clinic plausibility bounds (settings
#: ``input.limits.infusion_minutes``: under 5 min is a bolus; 240 min four times the longest
#: usual infusion). The records check a clinic's own bounds again.
INFUSION_MINUTES = tuple(load_settings(None)["input.limits"]["infusion_minutes"])
_BARE_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true/false")
    return value


def _not_bare_number(value: Any) -> Any:
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and _BARE_NUMBER.fullmatch(value)):
        raise ValueError("a date and time is needed (YYYY-MM-DDTHH:MM), not a number")
    return value


def local_time(value: dt.datetime) -> dt.datetime:
    """A time without a zone is the clinic's local time (the server's zone)."""
    return value.astimezone() if value.tzinfo is None else value


#: A finite number (never true/false).
Number = Annotated[float, BeforeValidator(_not_bool)]
AwareTime = Annotated[dt.datetime, BeforeValidator(_not_bare_number), AfterValidator(local_time)]
InfusionMin = Annotated[Number, Field(ge=INFUSION_MINUTES[0], le=INFUSION_MINUTES[1],
                                      description=f"{INFUSION_MINUTES[0]:g}-{INFUSION_MINUTES[1]:g} min")]


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not ignored,
    and refuse NaN and infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Row(BaseModel):
    """Response rows are built from the records' ``to_dict()``."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------------------- sign-in


class SignInRequest(Strict):
    """Name and password of a user (``ketamine-ptsd user add``)."""

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=_NO_NUL)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class SessionInfo(BaseModel):
    """The signed-in user and the CSRF token to send as ``X-CSRF-Token`` with every change."""

    name: str
    role: Role
    csrf_token: str


# ---------------------------------------------------------------------------- patients


class PatientRequest(Strict):
    """A new patient: a name (or a pseudonym, marked ``pseudonym``), identifiers and the
    covariates the model uses (kg, cm)."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=_NO_NUL)]
    pseudonym: bool = False
    mrn: Annotated[str, Field(max_length=64, pattern=_NO_NUL)] | None = None
    birth_date: dt.date | None = None
    sex: Sex = "unknown"
    weight_kg: Number | None = None
    height_cm: Number | None = None
    note: LongText | None = None
    #: The patient's population (diagnosis and treatment history); None: the default, civilian_ptsd.
    population: Population | None = None


class PatientPopulationRequest(Strict):
    """A change of the patient's population; None returns the patient to the default."""

    population: Population | None = None


class PatientOut(Row):
    """A patient record."""

    id: int
    name: str | None
    pseudonym: bool
    mrn: str | None
    birth_date: dt.date | None
    sex: Sex
    weight_kg: float | None
    height_cm: float | None
    note: str | None
    population: str | None
    created_at: dt.datetime


class ScreeningOut(Row):
    """A stored screening: the answers and the decision with every reason."""

    id: int
    patient_id: int
    screened_on: dt.date
    product: Product
    decision: Literal["eligible", "needs_review", "not_eligible"]
    answers: dict[str, Any]
    result: dict[str, Any]


# ---------------------------------------------------------------------------- sessions


class Vitals(Strict):
    """The measured fields of a reading: mmHg, bpm, %, CADSS total (0-92), MOAA/S (0-5)."""

    sbp: Number | None = None
    dbp: Number | None = None
    hr: Number | None = None
    spo2: Number | None = None
    cadss: Number | None = None
    moaas: Number | None = None


class ReadingRequest(Vitals):
    """One observation, ``time_min`` minutes from the dose (<= 0: pre-dose). Fields not
    measured at this time stay empty."""

    time_min: Number
    label: ReadingLabel = ""


class EventRequest(Strict):
    """Something that happened at a session."""

    kind: EventKind
    detail: LongText | None = None


class SessionRequest(Strict):
    """A dosing session against the patient's active course (one is started when none is).

    ``route``, ``product`` and ``infusion_min`` default to the course's; a mg/kg dose needs
    ``weight_kg`` or the patient's weight. ``readings`` may also be added one at a time.
    """

    started_at: AwareTime
    dose: Dose
    route: Route | None = None
    product: Product | None = None
    infusion_min: InfusionMin | None = None
    weight_kg: Number | None = None
    lot: Annotated[str, Field(max_length=64, pattern=_NO_NUL)] | None = None
    note: LongText | None = None
    readings: Annotated[list[ReadingRequest], Field(max_length=200)] = []
    events: Annotated[list[EventRequest], Field(max_length=50)] = []
    concomitant: Annotated[list[Concomitant], Field(max_length=len(CONCOMITANT))] = []


class SessionOut(Row):
    """A dosing session with its readings, events and monitoring result (alerts, discharge
    readiness, and for esketamine the REMS form prefill)."""

    id: int
    course_id: int
    started_at: dt.datetime
    product: Product
    route: str
    dose_amount: float
    dose_per_kg: bool
    dose_mg: float
    weight_kg: float | None
    infusion_min: float | None
    lot: str | None
    note: str | None
    withdrawn_at: dt.datetime | None
    vitals: list[dict[str, Any]]
    withdrawn_vitals: list[dict[str, Any]]
    events: list[dict[str, Any]]
    monitoring: dict[str, Any] | None


# ---------------------------------------------------------------------------- assessments


class AssessmentRequest(Strict):
    """Item answers of one instrument, in item order; ``null`` marks a missing item.

    Yes/no instruments (C-SSRS, DAST-10) take 1/0 or true/false. ``convention`` is
    required for the BPRS positive subscale (0-6 or 1-7 anchors).
    """

    instrument: Instrument
    answers: Annotated[list[int | bool | None], Field(min_length=1, max_length=40)]
    administered_at: AwareTime | None = None
    prorate: bool = False
    convention: Literal[tuple(BPRS_CONVENTIONS)] | None = None


Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=_NO_NUL)]


class ReadingCorrection(Vitals):
    """A reading's corrected fields (only those given change; ``null`` clears a measured
    field) and why."""

    reason: Reason
    time_min: Number | None = None
    label: ReadingLabel | None = None


class SessionCorrection(Strict):
    """A session's corrected weight, infusion length, lot or note, and why."""

    reason: Reason
    weight_kg: Number | None = None
    infusion_min: InfusionMin | None = None
    lot: Annotated[str, Field(max_length=64, pattern=_NO_NUL)] | None = None
    note: LongText | None = None


class AssessmentCorrection(Strict):
    """An assessment's corrected item answers (scored again), and why."""

    reason: Reason
    answers: Annotated[list[int | bool | None], Field(min_length=1, max_length=40)]


class Withdrawal(Strict):
    """Why a record entered in error is withdrawn."""

    reason: Reason


class CorrectionOut(Row):
    """A correction or withdrawal: who, when, why, the values before and after."""

    id: int
    at: dt.datetime
    actor: str
    patient_id: int
    table_name: str
    record_id: int
    kind: Literal["correct", "withdraw"]
    reason: str
    old_values: dict[str, Any]
    new_values: dict[str, Any] | None


class AssessmentOut(Row):
    """A scored assessment: items, total, clusters, and the full scoring result."""

    id: int
    patient_id: int
    instrument: Instrument
    administered_at: dt.datetime
    items: list[int | None]
    total: float | None
    clusters: dict[str, float | None]
    prorated: bool
    result: dict[str, Any]


class InstrumentOut(BaseModel):
    """An instrument's items and scale as published."""

    id: Instrument
    name: str
    n_items: int
    item_numbers: list[int]
    scale: tuple[int, int]
    time_frame: str
    source: str
    clusters: dict[str, list[int]]


# ---------------------------------------------------------------------------- forecasts, what-if


class ForecastRequest(Strict):
    """How far ahead to forecast, days from the first dose of the current course."""

    horizon_days: Annotated[Number, Field(ge=1, le=365)] = 84.0


class Protocol(Strict):
    """One protocol to compare: induction doses on ``induction_days`` (days from the first
    dose; default Feder et al. 2021), optional maintenance every ``maintenance_every_days``
    after the induction, and psychotherapy ``therapy_hours_after_dose`` hours after each
    dose (or none). ``infusion_min`` defaults to the route rules' infusion length."""

    name: ShortText = "protocol"
    product: Product = "racemic"
    route: Route = "iv_infusion"
    dose: Dose = "0.5mg/kg"
    infusion_min: InfusionMin | None = None
    induction_days: Annotated[list[Annotated[Number, Field(ge=0, le=120)]], Field(min_length=1, max_length=12)] = list(
        DEFAULT_INDUCTION_DAYS)
    maintenance_every_days: Annotated[Number, Field(ge=3, le=90)] | None = None
    therapy_hours_after_dose: Annotated[Number, Field(ge=0, le=72)] | None = None


class Baseline(Strict):
    """The pre-treatment scores to simulate from, where the clinician sets them (default:
    those given before the first dose): PCL-5 cluster sums B 0-20, C 0-8, D 0-28, E 0-24
    (Weathers et al. 2013) and the MADRS total 0-60."""

    pcl5_b: Annotated[Number, Field(ge=0, le=20)] | None = None
    pcl5_c: Annotated[Number, Field(ge=0, le=8)] | None = None
    pcl5_d: Annotated[Number, Field(ge=0, le=28)] | None = None
    pcl5_e: Annotated[Number, Field(ge=0, le=24)] | None = None
    madrs: Annotated[Number, Field(ge=0, le=60)] | None = None


class WhatIfRequest(Strict):
    """Protocols to compare on the model for one patient, over ``horizon_days``, from the
    patient's pre-treatment baseline (``baseline`` changes some of it)."""

    protocols: Annotated[list[Protocol], Field(min_length=1, max_length=4)]
    horizon_days: Annotated[Number, Field(ge=7, le=180)] = 84.0
    baseline: Baseline | None = None


class ProtocolOutcome(BaseModel):
    """One protocol's simulated course: median and 10th-90th percentile band by day."""

    name: str
    n_doses: int
    n_therapy_sessions: int
    days: list[float]
    pcl5_median: list[float]
    pcl5_low: list[float]
    pcl5_high: list[float]
    madrs_median: list[float]
    madrs_low: list[float]
    madrs_high: list[float]
    summary: dict[str, Any]
    warnings: list[str]


class WhatIfOut(BaseModel):
    """The comparison, with the population it was run on and the notice."""

    notice: str
    n_patients: int
    seed: int
    covariates: dict[str, float]
    baseline: dict[str, Any]
    response_rule: str
    protocols: list[ProtocolOutcome]


# ---------------------------------------------------------------------------- users, audit, regulatory


class UserRequest(Strict):
    """A new user of the web app; the password is kept only as an argon2 hash."""

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=_NO_NUL)]
    role: Role
    password: Annotated[str, Field(min_length=8, max_length=1024)]


class UserOut(Row):
    """A user (never the password hash)."""

    id: int
    name: str
    role: Role
    created_at: dt.datetime
    disabled: bool


class RoleRequest(Strict):
    """A user's new role."""

    role: Role


class PasswordRequest(Strict):
    """A user's new password (8 or more characters), kept only as an argon2 hash."""

    password: Annotated[str, Field(min_length=8, max_length=1024)]


class LockedOut(BaseModel):
    """An account held back by failed sign-ins: how long until it may try again."""

    name: str
    retry_after_s: int


class AuditOut(Row):
    """One audit-trail entry: who changed which field of which record, old and new (JSON)."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    table_name: str
    record_id: str
    field: str
    old_value: str | None
    new_value: str | None


class RegulatoryOut(BaseModel):
    """Dated regulatory facts for a product, and the informed-consent summary for a route."""

    as_of: str
    status: list[dict[str, Any]]
    consent_summary: str | None
    notice: str
