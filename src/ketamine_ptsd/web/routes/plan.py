"""The personal planner on the patient page: the stored plan (the latest forecast's) and a
button that plans the next session again (``care.forecast.plan_patient``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ketamine_ptsd.care.forecast import plan_patient
from ketamine_ptsd.errors import InputError

from ..auth import READ, WRITE, SignedIn, records_for, require
from . import RecordId, existing_patient

router = APIRouter(include_in_schema=False)


def _page(request: Request, user: SignedIn, patient, stored, status: int = 200, error=None) -> HTMLResponse:
    plan, prior = stored
    return request.app.state.templates.TemplateResponse(
        request, "plan.html", {"user": user, "patient": patient, "plan": plan, "prior": prior, "error": error},
        status_code=status)


def _stored_plan(records, patient_id: int) -> tuple[dict | None, str | None]:
    """The latest plan and the population whose prior its forecast used (None: none stored,
    or a forecast from before the population was recorded, which used the default)."""
    latest = records.latest_forecast(patient_id)
    result = {} if latest is None else latest.to_dict().get("result") or {}
    return result.get("plan"), (result.get("fit") or {}).get("population")


@router.get("/patients/{patient_id}/plan", response_class=HTMLResponse)
def plan_page(request: Request, patient_id: RecordId, user: SignedIn = require(READ)) -> Response:
    """The latest plan for the next session."""
    records = records_for(request, user)
    patient = existing_patient(records, patient_id)
    return _page(request, user, patient, _stored_plan(records, patient_id))


@router.post("/patients/{patient_id}/plan", response_class=HTMLResponse)
def plan_update(request: Request, patient_id: RecordId, user: SignedIn = require(WRITE)) -> Response:
    """Forecast, plan the next session (target 0.8) and store both; booked through the course
    when it books maintenance by forecast."""
    records = records_for(request, user)
    patient = existing_patient(records, patient_id)
    try:
        plan_patient(records, patient_id)
    except InputError as exc:
        return _page(request, user, patient, _stored_plan(records, patient_id), 422, exc)
    return RedirectResponse(f"/patients/{patient_id}/plan", status_code=303)
