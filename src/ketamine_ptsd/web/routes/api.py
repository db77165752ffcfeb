"""The JSON API under ``/api``: the same operations as the pages, described by the OpenAPI
schema at ``/api/openapi.json``.

Authentication: ``POST /api/session`` with name and password sets the session cookie and
returns the CSRF token; every later request sends the cookie, and every change (POST,
DELETE) also the header ``X-CSRF-Token``. Errors are ``{"detail": ...}``; refused input is
``422`` with ``detail[0].loc`` naming the field and ``detail[0].ctx.allowed`` what is allowed.
Research and decision-support software, not a medical device.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as FastPath
from pydantic import BaseModel

from ketamine_ptsd.care import whatif
from ketamine_ptsd.care.forecast import forecast_patient
from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.instruments import SPECS
from ketamine_ptsd.clinic.regulatory import PRODUCT_ROUTES, as_of, consent_summary, regulatory_status
from ketamine_ptsd.clinic.screening import PatientScreeningInput
from ketamine_ptsd.store import corrections
from ketamine_ptsd.store.session_entry import add_event, add_reading

from .. import queries
from ..actions import change_user, record_assessment, record_session
from ..auth import (
    ADMIN,
    READ,
    WRITE,
    SignedIn,
    SignInRefused,
    log_read,
    records_for,
    require,
    sign_in,
    sign_out,
    unlock_account,
)
from ..csrf import csrf_token
from ..dashboard import patient_overview
from ..schemas import (
    AssessmentCorrection,
    AssessmentOut,
    AssessmentRequest,
    AuditOut,
    CorrectionOut,
    EventRequest,
    ForecastRequest,
    Instrument,
    InstrumentOut,
    LockedOut,
    PasswordRequest,
    PatientOut,
    PatientRequest,
    ReadingCorrection,
    ReadingRequest,
    RegulatoryOut,
    RoleRequest,
    ScreeningOut,
    SessionCorrection,
    SessionInfo,
    SessionOut,
    SessionRequest,
    SignInRequest,
    UserOut,
    UserRequest,
    WhatIfOut,
    WhatIfRequest,
    Withdrawal,
)
from . import RecordId, existing_patient, found


class Problem(BaseModel):
    """An error: what went wrong, in words."""

    detail: str


_ERRORS = {400: {"model": Problem, "description": "the request body could not be read (malformed JSON)"},
           401: {"model": Problem, "description": "not signed in"},
           403: {"model": Problem, "description": "the role may not do this, or the CSRF token is missing"},
           404: {"model": Problem, "description": "no such record"},
           409: {"model": Problem, "description": "another change came first (a constraint of the records)"},
           413: {"model": Problem, "description": "the request body is larger than the server accepts"},
           503: {"model": Problem, "description": "the database is busy or unreachable, or the model did not "
                                                  "answer within the time limit; try again"}}
router = APIRouter(prefix="/api", tags=["api"], responses=_ERRORS)

RegulatedProduct = Literal[tuple(PRODUCT_ROUTES)]
AnyRoute = Literal[tuple(sorted({r for routes in PRODUCT_ROUTES.values() for r in routes}))]


# ---------------------------------------------------------------------------- sign-in


@router.post("/session", response_model=SessionInfo,
             responses={401: {"model": Problem, "description": "wrong name or password"},
                        429: {"model": Problem, "description": "too many failed sign-ins; see Retry-After"}})
def api_sign_in(request: Request, body: SignInRequest) -> Any:
    """Sign in: sets the session cookie; returns the role and the CSRF token.

    No CSRF token is needed here: there is no session yet, and a cross-site page cannot
    send this JSON body (a JSON content type needs a CORS preflight this app never grants).
    """
    try:
        session = sign_in(request, body.name, body.password)
    except SignInRefused as exc:
        if exc.retry_after_s:
            raise HTTPException(429, "too many failed sign-ins",
                                headers={"Retry-After": str(int(exc.retry_after_s) + 1)}) from None
        raise HTTPException(401, "wrong name or password") from None
    return SessionInfo(name=session.name, role=session.role, csrf_token=csrf_token(request))


@router.get("/session", response_model=SessionInfo)
def api_session(request: Request, user: SignedIn = require(READ)) -> Any:
    """The signed-in user and the CSRF token."""
    return SessionInfo(name=user.name, role=user.role, csrf_token=csrf_token(request))


@router.delete("/session", status_code=204)
def api_sign_out(request: Request, user: SignedIn = require(READ)) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared."""
    sign_out(request)
    return Response(status_code=204)


@router.get("/openapi.json", include_in_schema=False)
def api_schema(request: Request, user: SignedIn = require(READ)) -> Any:
    """This API's OpenAPI schema."""
    return request.app.openapi()


# ---------------------------------------------------------------------------- patients


@router.get("/patients", response_model=list[PatientOut])
def list_patients(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                  user: SignedIn = require(READ)) -> Any:
    """Patients whose name or record number contains ``q`` (all when empty), newest first."""
    return queries.search_patients(records_for(request, user), q)


@router.post("/patients", response_model=PatientOut, status_code=201)
def create_patient(request: Request, body: PatientRequest, user: SignedIn = require(WRITE)) -> Any:
    """Register a patient."""
    return records_for(request, user).add_patient(**body.model_dump())


@router.get("/patients/{patient_id}", response_model=dict[str, Any])
def get_patient(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Any:
    """Everything about the patient: screening, course, sessions and their alerts, risk
    flags, assessments, the latest forecast and the chart (a plotly figure)."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    log_read(request, user, "patients", patient_id)
    return patient_overview(records, patient_id)


@router.post("/patients/{patient_id}/screenings", response_model=ScreeningOut, status_code=201)
def create_screening(request: Request, patient_id: RecordId, body: PatientScreeningInput,
                     user: SignedIn = require(WRITE)) -> Any:
    """Screen the patient with the clinic rules; the decision comes with every reason."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    return records.record_screening(patient_id, body.model_dump(exclude_unset=True))


@router.get("/patients/{patient_id}/screenings", response_model=list[ScreeningOut])
def list_screenings(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Any:
    """The patient's screenings, oldest first."""
    screenings = found(records_for(request, user).summary, patient_id)["screenings"]
    log_read(request, user, "patients", patient_id)
    return screenings


# ---------------------------------------------------------------------------- sessions


@router.post("/patients/{patient_id}/sessions", response_model=SessionOut, status_code=201)
def create_session(request: Request, patient_id: RecordId, body: SessionRequest,
                   user: SignedIn = require(WRITE)) -> Any:
    """Record a dosing session (with any readings so far; more may be added one at a time)."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    return records.session_details(record_session(records, patient_id, body).id)


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(request: Request, session_id: RecordId, user: SignedIn = require(READ)) -> Any:
    """One session with its readings, events and monitoring result."""
    details = found(records_for(request, user).session_details, session_id)
    log_read(request, user, "sessions", session_id)
    return details


@router.post("/sessions/{session_id}/readings", response_model=dict[str, Any], status_code=201)
def create_reading(request: Request, session_id: RecordId, body: ReadingRequest,
                   user: SignedIn = require(WRITE)) -> Any:
    """Add a reading as it is taken; returns the monitoring report over all readings so far
    (alerts, discharge readiness)."""
    records = records_for(request, user)
    found(records.session_details, session_id)
    return add_reading(records, session_id, body.model_dump())


@router.post("/sessions/{session_id}/events", response_model=dict[str, Any] | None, status_code=201)
def create_event(request: Request, session_id: RecordId, body: EventRequest,
                 user: SignedIn = require(WRITE)) -> Any:
    """Record an event at the session; returns the updated monitoring report, if any."""
    records = records_for(request, user)
    found(records.session_details, session_id)
    return add_event(records, session_id, body.kind, body.detail)


# ---------------------------------------------------------------------------- corrections

_MISSING = {404: {"model": Problem, "description": "no such record"}}


def _corrected(change: Any, *args: Any) -> Any:
    try:
        return change(*args)
    except corrections.RecordMissing:
        raise HTTPException(404, "no such record") from None


@router.post("/readings/{reading_id}/correction", response_model=CorrectionOut, status_code=201)
def correct_reading(request: Request, reading_id: RecordId, body: ReadingCorrection,
                    user: SignedIn = require(WRITE)) -> Any:
    """Correct a reading (the fields given; the old values are kept with the reason); the
    session's alerts and discharge readiness are judged again."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    return _corrected(corrections.correct_reading, records_for(request, user), reading_id, changes, body.reason)


@router.post("/readings/{reading_id}/withdrawal", response_model=CorrectionOut, status_code=201)
def withdraw_reading(request: Request, reading_id: RecordId, body: Withdrawal,
                     user: SignedIn = require(WRITE)) -> Any:
    """Withdraw a reading entered in error (kept, no longer counted), with the reason."""
    return _corrected(corrections.withdraw, records_for(request, user), "reading", reading_id, body.reason)


@router.post("/sessions/{session_id}/correction", response_model=CorrectionOut, status_code=201)
def correct_session(request: Request, session_id: RecordId, body: SessionCorrection,
                    user: SignedIn = require(WRITE)) -> Any:
    """Correct a session's weight (dose in mg follows), infusion length, lot or note."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    return _corrected(corrections.correct_session, records_for(request, user), session_id, changes, body.reason)


@router.post("/sessions/{session_id}/withdrawal", response_model=CorrectionOut, status_code=201)
def withdraw_session(request: Request, session_id: RecordId, body: Withdrawal,
                     user: SignedIn = require(WRITE)) -> Any:
    """Withdraw a session recorded in error (kept, no longer counted), with the reason."""
    return _corrected(corrections.withdraw, records_for(request, user), "session", session_id, body.reason)


@router.post("/assessments/{assessment_id}/correction", response_model=CorrectionOut, status_code=201)
def correct_assessment(request: Request, assessment_id: RecordId, body: AssessmentCorrection,
                       user: SignedIn = require(WRITE)) -> Any:
    """Correct an assessment's answers (scored again), with the reason."""
    return _corrected(corrections.correct_assessment, records_for(request, user), assessment_id, body.answers,
                      body.reason)


@router.post("/assessments/{assessment_id}/withdrawal", response_model=CorrectionOut, status_code=201)
def withdraw_assessment(request: Request, assessment_id: RecordId, body: Withdrawal,
                        user: SignedIn = require(WRITE)) -> Any:
    """Withdraw an assessment entered in error (kept, no longer counted), with the reason."""
    return _corrected(corrections.withdraw, records_for(request, user), "assessment", assessment_id, body.reason)


@router.get("/patients/{patient_id}/corrections", response_model=list[CorrectionOut])
def list_corrections(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Any:
    """The patient's corrections and withdrawals, oldest first, with the values before and after."""
    found_corrections = found(corrections.corrections, records_for(request, user), patient_id)
    log_read(request, user, "patients", patient_id)
    return found_corrections


# ---------------------------------------------------------------------------- assessments


@router.get("/instruments", response_model=list[InstrumentOut])
def list_instruments(user: SignedIn = require(READ)) -> Any:
    """The rating instruments, their items and scales."""
    return [InstrumentOut(id=s.id, name=s.name, n_items=s.n_items, item_numbers=list(s.numbers), scale=s.scale,
                          time_frame=s.time_frame, source=s.source,
                          clusters={k: list(v) for k, v in s.clusters.items()}) for s in SPECS.values()]


@router.post("/patients/{patient_id}/assessments", response_model=AssessmentOut, status_code=201)
def create_assessment(request: Request, patient_id: RecordId, body: AssessmentRequest,
                      user: SignedIn = require(WRITE)) -> Any:
    """Score an instrument exactly as published and store it; invalid answers are refused."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    return record_assessment(records, patient_id, body)


@router.get("/patients/{patient_id}/assessments", response_model=list[AssessmentOut])
def list_assessments(request: Request, patient_id: RecordId, instrument: Instrument | None = None,
                     user: SignedIn = require(READ)) -> Any:
    """The patient's assessments in time order (optionally of one instrument)."""
    assessments = found(records_for(request, user).assessments, patient_id, instrument)
    log_read(request, user, "patients", patient_id)
    return assessments


# ---------------------------------------------------------------------------- forecast, risk, what-if


@router.post("/patients/{patient_id}/forecast", response_model=dict[str, Any], status_code=201)
def create_forecast(request: Request, patient_id: RecordId, body: ForecastRequest | None = None,
                    user: SignedIn = require(WRITE)) -> Any:
    """Compute and store the personal forecast of the current course (PCL-5 by cluster,
    MADRS; median and 80 % band by day; the recommended maintenance date)."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    return request.app.state.model_runner.run("forecast", forecast_patient, records, patient_id,
                                              horizon_days=(body or ForecastRequest()).horizon_days)


@router.get("/patients/{patient_id}/forecast", response_model=dict[str, Any])
def get_forecast(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Any:
    """The latest stored forecast (404 when none was computed)."""
    stored = found(records_for(request, user).latest_forecast, patient_id)
    if stored is None:
        raise HTTPException(404, "no forecast computed yet")
    log_read(request, user, "patients", patient_id)
    return stored.result


@router.get("/patients/{patient_id}/risk", response_model=dict[str, Any] | None)
def get_risk(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Any:
    """Long-term risk flags over the patient's sessions (null before the first session)."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    log_read(request, user, "patients", patient_id)
    return patient_overview(records, patient_id)["risk"]


@router.post("/patients/{patient_id}/whatif", response_model=WhatIfOut)
def compare_protocols(request: Request, patient_id: RecordId, body: WhatIfRequest,
                      user: SignedIn = require(READ)) -> Any:
    """Compare protocols for this patient on the model (changes nothing, so read-only users may)."""
    records = records_for(request, user, read_only=True)
    existing_patient(records, patient_id)
    return request.app.state.model_runner.run("what-if comparison", whatif.compare, records, patient_id, body)


# ---------------------------------------------------------------------------- regulatory, users, audit


@router.get("/regulatory", response_model=RegulatoryOut)
def get_regulatory(product: RegulatedProduct = "racemic", route: AnyRoute | None = None,
                   user: SignedIn = require(READ)) -> Any:
    """Dated regulatory status of a product and, with a route, the informed-consent summary."""
    return RegulatoryOut(as_of=as_of(), status=[r.to_dict() for r in regulatory_status(product)],
                         consent_summary=None if route is None else consent_summary(product, route),
                         notice=NOT_A_MEDICAL_DEVICE)


@router.get("/users", response_model=list[UserOut])
def list_users(request: Request, user: SignedIn = require(ADMIN)) -> Any:
    """The users of the web app (admin)."""
    return records_for(request, user).users()


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(request: Request, body: UserRequest, user: SignedIn = require(ADMIN)) -> Any:
    """Add a user (admin); the password is stored only as an argon2 hash."""
    return records_for(request, user).add_user(body.name, body.role, body.password)


UserName = Annotated[str, FastPath(min_length=1, max_length=120)]


@router.post("/users/{name}/disable", response_model=UserOut)
def disable_user(request: Request, name: UserName, user: SignedIn = require(ADMIN)) -> Any:
    """Disable a user (admin): no sign-in, and their open sessions end at their next request."""
    return change_user(records_for(request, user), request.app.state.sessions, name, "disable")


@router.post("/users/{name}/enable", response_model=UserOut)
def enable_user(request: Request, name: UserName, user: SignedIn = require(ADMIN)) -> Any:
    """Enable a disabled user again (admin)."""
    return change_user(records_for(request, user), request.app.state.sessions, name, "enable")


@router.post("/users/{name}/role", response_model=UserOut)
def set_user_role(request: Request, name: UserName, body: RoleRequest, user: SignedIn = require(ADMIN)) -> Any:
    """Change a user's role (admin); it applies from their next request."""
    return change_user(records_for(request, user), request.app.state.sessions, name, "role", body.role)


@router.post("/users/{name}/password", status_code=204)
def reset_user_password(request: Request, name: UserName, body: PasswordRequest,
                        user: SignedIn = require(ADMIN)) -> Response:
    """Set a user's new password (admin); kept only as an argon2 hash."""
    change_user(records_for(request, user), request.app.state.sessions, name, "password", body.password)
    return Response(status_code=204)


@router.get("/users/locked", response_model=list[LockedOut])
def list_locked(request: Request, user: SignedIn = require(ADMIN)) -> Any:
    """Accounts held back by failed sign-ins now, with the longest wait in seconds (admin)."""
    return [LockedOut(name=name, retry_after_s=int(wait + 0.999))
            for name, wait in sorted(request.app.state.login_limiter.locked().items())]


@router.post("/users/{name}/unlock", status_code=204)
def unlock_user(request: Request, name: UserName, user: SignedIn = require(ADMIN)) -> Response:
    """Clear an account's failed sign-ins from every address (admin); audited."""
    unlock_account(request, user, name)
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditOut])
def list_audit(request: Request, table: Annotated[str | None, Query(max_length=40)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200,
               action: Annotated[str | None, Query(max_length=20)] = None, user: SignedIn = require(ADMIN)) -> Any:
    """The newest audit-trail entries (admin), optionally of one table and one action
    (``read``: who viewed which patient; ``sign_in``, ``sign_in_failed`` ...)."""
    return queries.audit_entries(records_for(request, user), table, limit, action)
