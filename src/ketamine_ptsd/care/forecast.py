"""From the records to the model and back to dates: a stored patient's personal forecast.

:func:`course_inputs` turns the current course into what the model needs: its sessions as
a regimen in hours from the first dose (for a forecast, the remaining planned induction
sessions are assumed given as planned, and listed as such); PCL-5, CAPS-5 and MADRS totals
(with DSM-5 clusters) as observations at hours from the first dose; weight, age at the
first dose and the latest pre-dose scores as covariates. :func:`forecast_patient` runs
:func:`ketamine_ptsd.calibration.individual.forecast` on them, turns its days from the
first dose into calendar dates, and (when saved) stores the result and, when the course
books maintenance by forecast, the booking it makes, in one transaction. Not saved, nothing
is written: the booking is computed and returned, not made.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ketamine_ptsd.clinic.course import (
    CourseProgress,
    ForecastRule,
    MaintenanceBooking,
    book_maintenance,
    course_regimen,
    day_to_date,
)
from ketamine_ptsd.clinic.instruments import CAPS5, MADRS, PCL5
from ketamine_ptsd.dosing import Regimen
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store.models import Course, Patient
from ketamine_ptsd.store.records import Records

from .inputs import BASELINE_LOOKBACK_DAYS, baseline_covariates, course_weight

FORECAST_INSTRUMENTS = (PCL5.id, CAPS5.id, MADRS.id)
#: Forecast horizon: 12 weeks, the span of the post-treatment follow-up in the ketamine PTSD
#: trials the model is calibrated on (Feder 2021 followed responders to relapse, median 27.5 days).
DEFAULT_HORIZON_DAYS = 84.0


@dataclass(frozen=True)
class CourseInputs:
    """The current course of one patient in the model's terms (hours from ``first_dose``)."""

    patient: Patient
    course: Course
    regimen: Regimen
    first_dose: dt.datetime
    observations: list
    covariates: dict[str, float]
    planned_dates: list[str]
    weight_kg: float | None
    progress: CourseProgress


def course_inputs(records: Records, patient_id: Any, include_planned: bool) -> CourseInputs:
    """Regimen, observations and covariates of the patient's current course.

    ``include_planned`` adds the planned induction sessions not yet given (from now on).
    """
    from ketamine_ptsd.calibration.individual import Observation

    snapshot = records.course_snapshot(patient_id)
    patient, course, sessions = snapshot.patient, snapshot.course, snapshot.sessions
    if not sessions:
        raise InputError("patient_id", "no dosing session recorded in the current course",
                         "a patient with a dosing session recorded")
    plan = snapshot.plan if include_planned else None
    regimen, origin = course_regimen(sessions, plan, snapshot.now)
    last_given = max(s.started_at for s in sessions)
    planned = (origin + dt.timedelta(hours=d.time_h) for d in regimen.doses)
    planned_dates = sorted({t.astimezone().date().isoformat() for t in planned if t > last_given})

    weight = course_weight(sessions, patient.weight_kg)
    covariates = baseline_covariates(snapshot.assessments, first_dose=origin, now=snapshot.now, weight_kg=weight,
                                     birth_date=patient.birth_date)["covariates"]
    observations = []
    earliest = origin - dt.timedelta(days=BASELINE_LOOKBACK_DAYS)
    for a in snapshot.assessments:
        if a.instrument not in FORECAST_INSTRUMENTS or a.total is None or a.administered_at < earliest:
            continue
        time_h = (a.administered_at - origin).total_seconds() / 3600.0
        clusters = dict(a.clusters) if a.clusters and None not in a.clusters.values() else None
        observations.append(Observation(time_h, a.instrument, float(a.total), clusters))
    return CourseInputs(patient, course, regimen, origin, observations, covariates, planned_dates, weight,
                        snapshot.progress)


def _json_ready(value: Any) -> Any:
    """Plain JSON types (numpy scalars and arrays become numbers and lists)."""
    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        if isinstance(obj, dt.date):
            return obj.isoformat()
        raise TypeError(f"cannot store a {type(obj).__name__} in a forecast")
    return json.loads(json.dumps(value, default=default))


def default_horizon_days(inputs: CourseInputs) -> float:
    """84 days past the last dose (given or planned) or score, and at least 84 days."""
    last_h = max([inputs.regimen.end_h, *(o.time_h for o in inputs.observations)])
    return float(math.ceil(max(0.0, last_h) / 24.0) + DEFAULT_HORIZON_DAYS)


def forecast_patient(records: Records, patient_id: Any, *, horizon_days: float | None = None,
                     threshold: Mapping[str, Any] | None = None, save: bool = True,
                     progress: Callable[[int], None] | None = None, population: str | None = None,
                     engine: Any = None) -> dict[str, Any]:
    """Forecast the patient's PCL-5 (by cluster), CAPS-5 and MADRS from the first dose of the
    current course to ``horizon_days`` after it (default :func:`default_horizon_days`); with
    ``save``, store it with the maintenance booking it makes (one transaction); return it as a
    JSON-ready dict. With ``save=False`` nothing is written: ``booking`` is what would be booked.

    ``threshold`` defines the loss of response (``calibration.individual.loss_rule``);
    ``progress`` receives the number of courses simulated; ``population`` names the patient's
    population of ``params/populations.toml``, whose prior the forecast uses (None: the one
    stored with the patient, else the default);
    ``engine`` integrates the courses (an :class:`~ketamine_ptsd.engine.Engine` or its name;
    None: numba). Keys: those of
    ``Forecast.to_dict()`` (``loss_of_response_day``, ``recommended_maintenance_day``,
    ``median``, ``band_low``, ``band_high``, ``population``, ``covariate_only``,
    ``outside_validated_range``, ``fit`` ...) plus ``first_dose_at``,
    ``loss_of_response_date``, ``recommended_maintenance_date``, ``horizon_days``,
    ``planned_sessions_assumed``, ``n_observations``, ``booking`` and (when saved)
    ``forecast_id``.
    """
    from ketamine_ptsd.calibration.individual import forecast

    inputs = course_inputs(records, patient_id, include_planned=True)
    population = population or inputs.patient.population
    if horizon_days is None:
        horizon_days = default_horizon_days(inputs)
    result = _json_ready(forecast(inputs.regimen, inputs.observations, inputs.covariates,
                                  horizon_days=horizon_days, threshold=threshold, progress=progress,
                                  population=population, engine=engine).to_dict())
    _dated(result, inputs, horizon_days)
    course = inputs.course
    booking = None
    if course.status == "active" and course.maintenance_rule == "forecast":
        booking = _forecast_booking(inputs, result)
        result["booking"] = booking.to_dict()
    if save:
        stored = records.store_forecast(result, booking, course_id=course.id, first_dose_at=inputs.first_dose,
                                        horizon_days=horizon_days)
        result["forecast_id"] = stored.id
    return result


def _dated(result: dict[str, Any], inputs: CourseInputs, horizon_days: float) -> None:
    """Add to a forecast's dict the calendar dates of its days and what it was based on (the
    patient page draws a stored forecast from these)."""
    for key in ("loss_of_response", "recommended_maintenance"):
        day = result.get(f"{key}_day")
        result[f"{key}_date"] = None if day is None else day_to_date(inputs.first_dose, day).isoformat()
    result.update(first_dose_at=inputs.first_dose.isoformat(), horizon_days=float(horizon_days),
                  planned_sessions_assumed=inputs.planned_dates, n_observations=len(inputs.observations),
                  booking=None)


def _forecast_booking(inputs: CourseInputs, forecast: Mapping[str, Any]) -> MaintenanceBooking:
    """The maintenance booking the forecast rule makes from ``forecast`` (its
    ``recommended_maintenance_day`` in days from the first dose, and ``horizon_days``)."""
    return book_maintenance(inputs.progress, ForecastRule(), first_dose=inputs.first_dose,
                            recommended_day=forecast.get("recommended_maintenance_day"),
                            horizon_days=forecast.get("horizon_days"))


def plan_patient(records: Records, patient_id: Any, *, target_probability: float = 0.8,
                 horizon_days: float | None = None, save: bool = True, with_samples: bool = False,
                 progress: Callable[[int], None] | None = None, population: str | None = None,
                 engine: Any = None) -> dict[str, Any]:
    """The personal planner on the patient's current course: the latest date for the next
    session that keeps the probability of staying in response at or above
    ``target_probability`` (``planning.patient``), with the forecast's band with and without
    that session. The forecast is run as :func:`forecast_patient` does (the planned
    induction sessions assumed given, ``population`` its prior, else the patient's stored one); when the course books
    maintenance by forecast, the planned date is booked with the saved forecast (with
    ``save=False`` nothing is written and ``booking`` is what would be booked). Returns the plan (``next_session_date``,
    ``next_session_day``, ``status``, ``probability_at_session``, ``without_session``,
    ``with_session``, ``booking``, ``forecast`` (its summary) and, with ``with_samples``,
    the ``samples`` the date was computed from). ``engine`` as for :func:`forecast_patient`.
    """
    from ketamine_ptsd.calibration.individual import forecast
    from ketamine_ptsd.planning.patient import check_target, plan_next_session

    target = check_target(target_probability)
    inputs = course_inputs(records, patient_id, include_planned=True)
    population = population or inputs.patient.population
    if horizon_days is None:
        horizon_days = default_horizon_days(inputs)
    result = forecast(inputs.regimen, inputs.observations, inputs.covariates, horizon_days=horizon_days,
                      progress=progress, population=population,
                      engine=engine)
    today_day = math.ceil((records.now() - inputs.first_dose).total_seconds() / 86400.0 - 1e-9)
    plan = _json_ready(plan_next_session(result, inputs.regimen, today_day, target))
    day = plan["next_session_day"]
    plan["next_session_date"] = None if day is None else day_to_date(inputs.first_dose, day).isoformat()
    summary = _json_ready(result.to_dict())
    plan.update(first_dose_at=inputs.first_dose.isoformat(), horizon_days=float(horizon_days),
                planned_sessions_assumed=inputs.planned_dates, n_observations=len(inputs.observations),
                booking=None, notice=summary["notice"], warnings=summary["warnings"],
                forecast={k: summary[k] for k in ("probability_of_response", "loss_of_response_day",
                                                  "loss_status", "threshold", "fit", "outside_validated_range")})
    course = inputs.course
    booking = None
    if course.status == "active" and course.maintenance_rule == "forecast":
        booking = _forecast_booking(inputs, {"recommended_maintenance_day": day, "horizon_days": horizon_days})
        plan["booking"] = booking.to_dict()
    if save:
        # Stored as a forecast is (the patient page draws it), with the plan.
        _dated(summary, inputs, horizon_days)
        summary["booking"] = plan["booking"]
        summary["plan"] = {k: v for k, v in plan.items() if k != "forecast"}
        stored = records.store_forecast(summary, booking, course_id=course.id, first_dose_at=inputs.first_dose,
                                        horizon_days=horizon_days)
        plan["forecast_id"] = stored.id
    if with_samples:
        plan["samples"] = _json_ready(result.samples.to_dict())
    return plan
