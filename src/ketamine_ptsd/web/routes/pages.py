"""The HTML pages: sign-in, patient list, patient page, screening, session entry,
instrument forms, forecast, what-if, regulatory status, users and audit trail.

Forms post to the same operations as the JSON API (``web.actions``, the records, the
clinic toolkit) through the same request models (``web.forms``); refused input re-shows
the form with the field and what is allowed (status 422) and stores nothing. HTMX requests
(``HX-Request``) get the changed fragment only; without JavaScript every form still works
by a full page load.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from ketamine_ptsd.care import inputs, whatif
from ketamine_ptsd.care.forecast import forecast_patient
from ketamine_ptsd.clinic.course import DEFAULT_INTERVAL_DAYS
from ketamine_ptsd.clinic.instruments import MADRS, PCL5, SPECS
from ketamine_ptsd.clinic.monitoring import CONCOMITANT, LABELS
from ketamine_ptsd.clinic.regulatory import PRODUCT_NAMES, PRODUCT_ROUTES, ROUTE_NAMES, as_of, consent_summary
from ketamine_ptsd.clinic.regulatory import regulatory_status as status_rows
from ketamine_ptsd.clinic.screening import parse_patient
from ketamine_ptsd.dosing import DEFAULT_INDUCTION_DAYS
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.params import population_names, population_spec
from ketamine_ptsd.store import SESSION_EVENT_KINDS, corrections
from ketamine_ptsd.store.models import ROLES, SEXES
from ketamine_ptsd.store.session_entry import add_event, add_reading

from .. import forms, queries
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
from ..charts import whatif_chart
from ..csrf import check_csrf
from ..dashboard import most_severe, patient_overview
from ..schemas import (
    AssessmentCorrection,
    PatientPopulationRequest,
    PatientRequest,
    ReadingCorrection,
    ReadingRequest,
    SessionCorrection,
    SessionRequest,
    UserRequest,
)
from . import RecordId, existing_patient, found

router = APIRouter(include_in_schema=False)


async def submitted(request: Request) -> FormData:
    """The posted form, read in the event loop so that the handlers can be plain functions,
    which FastAPI runs in its thread pool: they wait on the database, the argon2 check and
    the model, and must not hold up every other request meanwhile."""
    return await request.form()


FORM = Depends(submitted)
INDUCTION_DAYS_TEXT = ",".join(f"{d:g}" for d in DEFAULT_INDUCTION_DAYS)
#: The instruments the patient page links under "Other instruments": every one but the two
#: it offers as buttons (PCL-5 and MADRS), in the specs' order.
OTHER_INSTRUMENTS = tuple(i for i in SPECS if i not in (PCL5.id, MADRS.id))
#: The populations a patient may belong to (``params/populations.toml``), with their
#: descriptions, for the patient forms; none chosen is the default population.
POPULATIONS = tuple((name, population_spec(name)["description"]) for name in population_names())
#: The what-if form starts with these protocols: the Feder et al. 2021 induction; the same
#: with maintenance at the course's default interval (SPRAVATO's every 2 weeks); with
#: therapy the day after each dose (the usual KAP timing, see ``dosing.with_therapy``).
WHATIF_DEFAULTS = (
    {"name": "Feder 2021 induction", "days": INDUCTION_DAYS_TEXT},
    {"name": f"induction + maintenance every {DEFAULT_INTERVAL_DAYS:g} d", "days": INDUCTION_DAYS_TEXT,
     "maintenance_every_days": f"{DEFAULT_INTERVAL_DAYS:g}"},
    {"name": "induction + therapy 24 h after each dose", "days": INDUCTION_DAYS_TEXT, "therapy_hours_after_dose": "24"},
)


def render(request: Request, user: SignedIn | None, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page (or fragment) with the user and the request in its context."""
    return request.app.state.templates.TemplateResponse(request, template, {"user": user, **context},
                                                        status_code=status_code)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------- sign-in


@router.get("/", response_class=HTMLResponse)
def home(user: SignedIn = require(READ)) -> Response:
    """The patient list is the start page."""
    return _see("/patients")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The sign-in form (public)."""
    return render(request, None, "login.html")


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def login(request: Request, form: FormData = FORM) -> Response:
    """Sign in from the form (public; CSRF-protected against login CSRF)."""
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    try:
        sign_in(request, name, password)
    except SignInRefused as exc:
        if exc.retry_after_s:
            message = f"Too many failed sign-ins. Try again in {int(exc.retry_after_s / 60) + 1} minute(s)."
            return render(request, None, "login.html", 429, error=message, name=name)
        return render(request, None, "login.html", 401, error="Wrong name or password.", name=name)
    return _see("/patients")


@router.post("/logout")
def logout(request: Request, user: SignedIn = require(READ)) -> Response:
    """Sign out."""
    sign_out(request)
    return _see("/login")


# ---------------------------------------------------------------------------- patients


@router.get("/patients", response_class=HTMLResponse)
def patient_list(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                 user: SignedIn = require(READ)) -> Response:
    """Patients, with a search by name or record number (live with HTMX)."""
    patients = queries.search_patients(records_for(request, user), q)
    template = "_patient_rows.html" if request.headers.get("hx-request") else "patients.html"
    return render(request, user, template, patients=patients, q=q)


@router.get("/patients/new", response_class=HTMLResponse)
def patient_form(request: Request, user: SignedIn = require(WRITE)) -> Response:
    """The new-patient form."""
    return render(request, user, "patient_new.html", sexes=SEXES, values={})


@router.post("/patients", response_class=HTMLResponse)
def patient_create(request: Request, user: SignedIn = require(WRITE), form: FormData = FORM) -> Response:
    """Register the patient from the form."""
    values = forms.given(form, PatientRequest.model_fields)
    try:
        patient = records_for(request, user).add_patient(
            **forms.validated(PatientRequest, values).model_dump())
    except InputError as exc:
        return render(request, user, "patient_new.html", 422, sexes=SEXES, values=values,
                      error=forms.web_error(exc))
    return _see(f"/patients/{patient.id}")


@router.post("/patients/{patient_id}/population", response_class=HTMLResponse)
def patient_population(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE),
                       form: FormData = FORM) -> Response:
    """Change the patient's population (audited like every change; empty: the default)."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    try:
        body = forms.validated(PatientPopulationRequest, forms.given(form, ["population"]))
        records.update_patient(patient_id, population=body.population)
    except InputError as exc:
        return render(request, user, "patient.html", 422, o=patient_overview(records, patient_id),
                      population_error=forms.web_error(exc))
    return _see(f"/patients/{patient_id}#population")


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Response:
    """The patient page: screening, course, chart with forecast, alerts, risk flags."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    log_read(request, user, "patients", patient_id)
    return render(request, user, "patient.html", o=patient_overview(records, patient_id))


# ---------------------------------------------------------------------------- screening


def _screening_page(request: Request, user: SignedIn, patient: Any, status: int = 200, **context: Any) -> Response:
    interactions = request.app.state.settings.children("screening.interactions")
    return render(request, user, "screening.html", status, patient=patient, questions=forms.screening_questions(),
                  medications={k: interactions[k]["text"] for k in interactions}, **context)


@router.get("/patients/{patient_id}/screen", response_class=HTMLResponse)
def screening_form(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE)) -> Response:
    """The screening checklist."""
    patient = existing_patient(records_for(request, user), patient_id)
    return _screening_page(request, user, patient, values={})


@router.post("/patients/{patient_id}/screen", response_class=HTMLResponse)
def screening_submit(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE),
                     form: FormData = FORM) -> Response:
    """Screen the patient; the patient page shows the decision with its reasons."""
    records = records_for(request, user)
    patient = existing_patient(records, patient_id)
    try:
        answers = parse_patient(forms.screening_answers(form)).model_dump(exclude_unset=True)
        records.record_screening(patient_id, answers)
    except InputError as exc:
        return _screening_page(request, user, patient, 422, values=dict(form),
                               error=forms.web_error(exc, "screened_on"))
    return _see(f"/patients/{patient_id}#screening")


# ---------------------------------------------------------------------------- sessions


def _session_form(request: Request, user: SignedIn, patient: Any, status: int = 200, **context: Any) -> Response:
    return render(request, user, "session_new.html", status, patient=patient, concomitant=CONCOMITANT,
                  now=request.app.state.now().astimezone().strftime("%Y-%m-%dT%H:%M"), **context)


@router.get("/patients/{patient_id}/sessions/new", response_class=HTMLResponse)
def session_form(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE)) -> Response:
    """The form that opens a dosing session."""
    patient = existing_patient(records_for(request, user), patient_id)
    return _session_form(request, user, patient, values={})


@router.post("/patients/{patient_id}/sessions", response_class=HTMLResponse)
def session_create(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE),
                   form: FormData = FORM) -> Response:
    """Open the session; readings are then entered on the session page as they are taken."""
    records = records_for(request, user)
    patient = existing_patient(records, patient_id)
    values = forms.given(form, ("started_at", "dose", "route", "product", "infusion_min", "weight_kg", "lot", "note",
                                *forms.PRE_DOSE_FIELDS))
    try:
        body = forms.validated(SessionRequest, {**forms.session_opening(values),
                                                "concomitant": form.getlist("concomitant")})
        record = record_session(records, patient_id, body)
    except InputError as exc:
        error = forms.web_error(exc, "started_at", rename={"reading 1": "pre-dose reading",
                                                           "readings": "pre-dose reading"})
        return _session_form(request, user, patient, 422, values=values, error=error)
    return _see(f"/sessions/{record.id}")


def _session_context(records: Any, session_id: int) -> dict[str, Any]:
    details = found(records.session_details, session_id)
    patient = records.patient(queries.session_patient_id(records, session_id))
    report = (details["monitoring"] or {}).get("report")
    return {"s": details, "report": report, "banner": most_severe(report["alerts"] if report else []),
            "rems": (details["monitoring"] or {}).get("rems_form"), "patient": patient,
            "labels": LABELS, "event_kinds": SESSION_EVENT_KINDS}


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, session_id: RecordId, user: SignedIn = require(READ)) -> Response:
    """Session entry: readings and ratings as they are taken, alerts, discharge readiness and
    the monitoring form."""
    context = _session_context(records_for(request, user), session_id)
    log_read(request, user, "sessions", session_id)
    return render(request, user, "session.html", **context)


def _session_change(request: Request, user: SignedIn, session_id: int, form: FormData, change: Any) -> Response:
    records = records_for(request, user)
    context = _session_context(records, session_id)
    error = None
    try:
        change(records, form)
        context = _session_context(records, session_id)
    except InputError as exc:
        error = forms.web_error(exc, rename={"reading 1": "reading"})
    if not request.headers.get("hx-request"):
        if error is None:
            return _see(f"/sessions/{session_id}")
        return render(request, user, "session.html", 422, error=error, values=dict(form), **context)
    return render(request, user, "_monitor.html", 422 if error else 200, error=error, fragment=True,
                  values=dict(form) if error else {}, **context)


@router.post("/sessions/{session_id}/readings", response_class=HTMLResponse)
def reading_add(request: Request, session_id: RecordId, user: SignedIn = require(WRITE),
                form: FormData = FORM) -> Response:
    """Add a reading; the alerts and discharge readiness come back at once."""
    def change(records: Any, form: Any) -> None:
        values = forms.given(form, ReadingRequest.model_fields)
        add_reading(records, session_id, forms.validated(ReadingRequest, values).model_dump())

    return _session_change(request, user, session_id, form, change)


@router.post("/sessions/{session_id}/events", response_class=HTMLResponse)
def event_add(request: Request, session_id: RecordId, user: SignedIn = require(WRITE),
              form: FormData = FORM) -> Response:
    """Record an event at the session (an adverse event, a misuse signal)."""
    def change(records: Any, form: Any) -> None:
        values = forms.given(form, ("kind", "detail"))
        add_event(records, session_id, values.get("kind", ""), values.get("detail"))

    return _session_change(request, user, session_id, form, change)


# ---------------------------------------------------------------------------- corrections

_KINDS = {"readings": "reading", "sessions": "session", "assessments": "assessment"}


def _correction(records: Any, kind: str, record_id: int, form: FormData) -> Any:
    """The correction the form asks for (empty fields are left as they are)."""
    reason = form.get("reason")
    if kind == "reading":
        values = forms.given(form, ReadingCorrection.model_fields)
        body = forms.validated(ReadingCorrection, {"reason": reason, **values})
        changes = body.model_dump(exclude_unset=True, exclude={"reason"})
        return corrections.correct_reading(records, record_id, changes, body.reason)
    if kind == "session":
        values = forms.given(form, SessionCorrection.model_fields)
        body = forms.validated(SessionCorrection, {"reason": reason, **values})
        changes = body.model_dump(exclude_unset=True, exclude={"reason"})
        return corrections.correct_session(records, record_id, changes, body.reason)
    answers = forms.items_list(str(form.get("answers") or ""), "answers")
    body = forms.validated(AssessmentCorrection, {"reason": reason, "answers": answers})
    return corrections.correct_assessment(records, record_id, body.answers, body.reason)


def _correction_route(kind: str, action: str) -> Any:
    what = _KINDS[kind]

    def record_correction(request: Request, record_id: RecordId, user: SignedIn = require(WRITE),
                          form: FormData = FORM) -> Response:
        records = records_for(request, user)
        try:
            if action == "withdrawal":
                corrections.withdraw(records, what, record_id, form.get("reason"))
            else:
                _correction(records, what, record_id, form)
        except corrections.RecordMissing:
            raise HTTPException(404, "no such record") from None
        except InputError as exc:
            error = forms.web_error(exc)
            allowed = f" (allowed: {error.allowed})" if error.allowed else ""
            back = corrections.page_of(records, what, record_id)
            return render(request, user, "error.html", 422, status=422, back=back,
                          message=f"{what} {record_id} was not changed: {error.field}: {error.message}{allowed}")
        return _see(corrections.page_of(records, what, record_id))

    record_correction.__doc__ = (f"{'Withdraw' if action == 'withdrawal' else 'Correct'} a {what} with the reason "
                                 f"(audited; the old values are kept); back to the page that shows it.")
    return record_correction


for _kind in _KINDS:
    for _action in ("correction", "withdrawal"):
        router.add_api_route(f"/{_kind}/{{record_id}}/{_action}", _correction_route(_kind, _action),
                             methods=["POST"], response_class=HTMLResponse)


# ---------------------------------------------------------------------------- instruments


def _instrument_page(request: Request, user: SignedIn, patient: Any, instrument: str, status: int = 200,
                     **context: Any) -> Response:
    return render(request, user, "assessment.html", status, patient=patient, spec=SPECS[instrument],
                  items=forms.instrument_items(instrument),
                  now=request.app.state.now().astimezone().strftime("%Y-%m-%dT%H:%M"), **context)


@router.get("/patients/{patient_id}/assess/{instrument}", response_class=HTMLResponse)
def assessment_form(request: Request, patient_id: RecordId, instrument: str,
                    user: SignedIn = require(WRITE)) -> Response:
    """An instrument's form (items on the published scale)."""
    patient = existing_patient(records_for(request, user), patient_id)
    if instrument not in SPECS:
        raise HTTPException(404, "no such instrument")
    return _instrument_page(request, user, patient, instrument, values={})


@router.post("/patients/{patient_id}/assess/{instrument}", response_class=HTMLResponse)
def assessment_submit(request: Request, patient_id: RecordId, instrument: str, user: SignedIn = require(WRITE),
                      form: FormData = FORM) -> Response:
    """Score and store the answers; an answer off the scale is refused and nothing is stored."""
    records = records_for(request, user)
    patient = existing_patient(records, patient_id)
    if instrument not in SPECS:
        raise HTTPException(404, "no such instrument")
    try:
        record_assessment(records, patient_id, forms.assessment_request(form, instrument))
    except InputError as exc:
        return _instrument_page(request, user, patient, instrument, 422, values=dict(form),
                                error=forms.web_error(exc, "administered_at"))
    return _see(f"/patients/{patient_id}#assessments")


# ---------------------------------------------------------------------------- forecast, what-if


@router.post("/patients/{patient_id}/forecast", response_class=HTMLResponse)
def forecast_update(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE)) -> Response:
    """Compute the personal forecast from the course so far and store it."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    try:
        request.app.state.model_runner.run("forecast", forecast_patient, records, patient_id)
    except InputError as exc:
        return render(request, user, "patient.html", 422, o=patient_overview(records, patient_id),
                      forecast_error=forms.web_error(exc))
    return _see(f"/patients/{patient_id}#forecast")


def _whatif_context(records: Any, patient_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The what-if form's context: the patient, the pre-treatment baseline (its fields
    prefilled with it unless the form gave them), the protocol slots."""
    baseline = inputs.pretreatment_baseline(records, patient_id)
    known = {f"baseline_{k}": f"{v:g}" for k, v in baseline["covariates"].items() if k in whatif.BASELINE_FIELDS}
    return {"patient": records.patient(patient_id), "values": {**known, **values}, "baseline": baseline,
            "baseline_fields": whatif.BASELINE_FIELDS, "slots": range(forms.WHATIF_SLOTS)}


@router.get("/patients/{patient_id}/whatif", response_class=HTMLResponse)
def whatif_form(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Response:
    """Protocols to compare, prefilled with common ones, from the pre-treatment baseline."""
    records = records_for(request, user)
    existing_patient(records, patient_id)
    log_read(request, user, "patients", patient_id)
    values = {f"p{i}_{k}": v for i, p in enumerate(WHATIF_DEFAULTS) for k, v in p.items()}
    return render(request, user, "whatif.html", result=None, **_whatif_context(records, patient_id, values))


@router.post("/patients/{patient_id}/whatif", response_class=HTMLResponse)
def whatif_run(request: Request, patient_id: RecordId, user: SignedIn = require(READ),
               form: FormData = FORM) -> Response:
    """Simulate the protocols for this patient and compare them (stores nothing)."""
    records = records_for(request, user, read_only=True)
    existing_patient(records, patient_id)
    context = _whatif_context(records, patient_id, {k: v for k, v in form.items() if k != "csrf_token"})
    try:
        result = request.app.state.model_runner.run("what-if comparison", whatif.compare, records, patient_id,
                                                    forms.whatif_request(form))
    except InputError as exc:
        return render(request, user, "whatif.html", 422, result=None, error=forms.web_error(exc), **context)
    return render(request, user, "whatif.html", result=result, chart=whatif_chart(result), **context)


# ---------------------------------------------------------------------------- regulatory, users, audit


@router.get("/regulatory", response_class=HTMLResponse)
def regulatory_page(request: Request, product: Annotated[str, Query(max_length=20)] = "racemic",
                    route: Annotated[str, Query(max_length=20)] = "", user: SignedIn = require(READ)) -> Response:
    """Regulatory status and the informed-consent summary for the chosen product and route."""
    route = route or PRODUCT_ROUTES.get(product, ("",))[0]
    return render(request, user, "regulatory.html", product=product, route=route, as_of=as_of(),
                  rows=[r.to_dict() for r in status_rows(product)], consent=consent_summary(product, route),
                  product_names=PRODUCT_NAMES, product_routes=PRODUCT_ROUTES, route_names=ROUTE_NAMES)


def _users_page(request: Request, user: SignedIn, status: int = 200, **context: Any) -> Response:
    return render(request, user, "users.html", status, users=records_for(request, user).users(), roles=ROLES,
                  locked=request.app.state.login_limiter.locked(), **{"values": {}, **context})


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, user: SignedIn = require(ADMIN)) -> Response:
    """The users, with their status and the changes an admin may make, and the form to add one (admin)."""
    return _users_page(request, user)


@router.post("/users", response_class=HTMLResponse)
def user_create(request: Request, user: SignedIn = require(ADMIN), form: FormData = FORM) -> Response:
    """Add a user (admin)."""
    records = records_for(request, user)
    values = forms.given(form, ("name", "role", "password"))
    try:
        body = forms.validated(UserRequest, values)
        records.add_user(body.name, body.role, body.password)
    except InputError as exc:
        values.pop("password", None)
        return _users_page(request, user, 422, values=values, error=exc)
    return _see("/users")


@router.post("/users/{name}/{change}", response_class=HTMLResponse)
def user_change(request: Request, name: Annotated[str, FastPath(min_length=1, max_length=120)],
                change: Literal["disable", "enable", "role", "password", "unlock"],
                user: SignedIn = require(ADMIN), form: FormData = FORM) -> Response:
    """Disable, enable, change the role of, reset the password of, or unlock a user (admin; audited)."""
    try:
        if change == "unlock":
            unlock_account(request, user, name)
        else:
            value = str(form.get(change) or "") if change in ("role", "password") else ""
            change_user(records_for(request, user), request.app.state.sessions, name, change, value)
    except InputError as exc:
        return _users_page(request, user, 422, error=exc)
    return _see("/users")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, table: Annotated[str, Query(max_length=40)] = "",
               action: Annotated[str, Query(max_length=20)] = "", user: SignedIn = require(ADMIN)) -> Response:
    """The newest entries of the audit trail (admin): changes, reads of patient records,
    sign-ins; the values as indented JSON, in full."""
    entries = queries.audit_entries(records_for(request, user), table or None, action=action or None)
    return render(request, user, "audit.html", entries=entries, table=table, action=action)
