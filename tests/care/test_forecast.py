"""The forecast use case (care/forecast.py) against a real SQLite database, with the model's
forecast replaced by a stand-in (these tests are about the records in and out, not the
model): the course is read once, the scores before the first dose become the covariates,
and the forecast is stored with the maintenance booking it moves in one write, so a failed
save leaves neither."""

from __future__ import annotations

import datetime as dt

import pytest

from ketamine_ptsd.calibration import individual
from ketamine_ptsd.care import forecast as care_forecast
from ketamine_ptsd.care.forecast import course_inputs, forecast_patient
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import forecasts as store_forecasts

UTC = dt.UTC
#: The records' clock: a fixed "now", two days after the second session.
NOW = dt.datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
FIRST_DOSE = dt.datetime(2025, 2, 24, 9, 0, tzinfo=UTC)
#: The stand-in forecast's recommended maintenance day: 20 days after the first dose is
#: 16 March 2025, 09:00 UTC (the same calendar day in every time zone from UTC-9 to UTC+14).
RECOMMENDED_DAY = 20.0


@pytest.fixture
def patient_id(records):
    """A patient on a course booked by forecast: PCL-5 (all items 2: clusters B 10, C 4, D 14,
    E 12) and MADRS (all items 2: 20) three days before the first dose, sessions on 24 and
    26 Feb, and a PCL-5 of all 1s after the second."""
    patient = records.add_patient(name="Test Patient", sex="female", weight_kg=72.0, birth_date=dt.date(1985, 2, 24))
    records.start_course(patient.id, started_on=dt.date(2025, 2, 24), maintenance_rule="forecast")
    records.record_assessment(patient.id, "pcl5", [2] * 20, FIRST_DOSE - dt.timedelta(days=3))
    records.record_assessment(patient.id, "madrs", [2] * 10, FIRST_DOSE - dt.timedelta(days=3))
    records.record_session(patient.id, started_at=FIRST_DOSE, dose="0.5mg/kg")
    records.record_session(patient.id, started_at=FIRST_DOSE + dt.timedelta(days=2), dose="0.5mg/kg")
    records.record_assessment(patient.id, "pcl5", [1] * 20, FIRST_DOSE + dt.timedelta(days=2, hours=3))
    return patient.id


class StandIn:
    """The model's forecast replaced: records what it was given, returns fixed days."""

    def __init__(self):
        self.calls = []

    def __call__(self, regimen, observations, covariates, **options):
        self.calls.append((regimen, observations, covariates, options))
        return self

    def to_dict(self):
        return {"loss_of_response_day": RECOMMENDED_DAY + 5.0, "recommended_maintenance_day": RECOMMENDED_DAY}


@pytest.fixture
def stand_in(monkeypatch):
    model = StandIn()
    monkeypatch.setattr(individual, "forecast", model)
    return model


def counting(monkeypatch, records, names):
    calls = dict.fromkeys(names, 0)
    for name in names:
        method = getattr(records, name)

        def wrapped(*args, _method=method, _name=name, **kwargs):
            calls[_name] += 1
            return _method(*args, **kwargs)
        monkeypatch.setattr(records, name, wrapped)
    return calls


def test_the_course_is_read_once_and_the_pre_dose_scores_are_the_covariates(records, patient_id, monkeypatch):
    calls = counting(monkeypatch, records, ["course_snapshot", "patient", "course_state", "assessments", "sessions"])
    inputs = course_inputs(records, patient_id, include_planned=False)
    assert calls == {"course_snapshot": 1, "patient": 0, "course_state": 0, "assessments": 0, "sessions": 0}
    assert inputs.first_dose == FIRST_DOSE
    assert [d.time_h for d in inputs.regimen.doses] == [0.0, 48.0]
    assert [(o.time_h, o.instrument, o.total) for o in inputs.observations] == [
        (-72.0, "pcl5", 40.0), (-72.0, "madrs", 20.0), (51.0, "pcl5", 20.0)]
    # The scores before the first dose are the baseline; the later PCL-5 is not.
    assert inputs.covariates == {"weight_kg": 72.0, "age_years": pytest.approx(40.0),  # 14,610 days / 365.25
                                 "pcl5_b": 10.0, "pcl5_c": 4.0, "pcl5_d": 14.0, "pcl5_e": 12.0, "madrs": 20.0}


def test_the_forecast_and_its_booking_are_stored_in_one_write(records, patient_id, stand_in, monkeypatch):
    calls = counting(monkeypatch, records, ["course_snapshot", "store_forecast", "book_maintenance", "save_forecast"])
    result = forecast_patient(records, patient_id, horizon_days=84.0)
    assert calls == {"course_snapshot": 1, "store_forecast": 1, "book_maintenance": 0, "save_forecast": 0}
    (regimen, _, covariates, options), = stand_in.calls
    assert options["horizon_days"] == 84.0 and covariates["pcl5_b"] == 10.0
    # The planned induction sessions still to come are assumed given: of the default plan
    # (days 0, 2, 4, 7, 9, 11), day 4 (28 Feb 09:00) is already past at noon on 28 Feb.
    assert [d.time_h for d in regimen.doses] == [0.0, 48.0, 7 * 24.0, 9 * 24.0, 11 * 24.0]
    assert result["planned_sessions_assumed"] == ["2025-03-03", "2025-03-05", "2025-03-07"]
    assert result["recommended_maintenance_date"] == "2025-03-16"
    assert result["booking"]["due_on"] == "2025-03-16"
    course = records.course_state(patient_id)[0]
    assert course.maintenance_due_on == dt.date(2025, 3, 16)
    stored = records.latest_forecast(patient_id)
    assert stored.id == result["forecast_id"] and stored.result["booking"] == result["booking"]


def test_a_failed_save_leaves_neither_forecast_nor_booking(records, patient_id, stand_in, monkeypatch):
    class Refused(RuntimeError):
        pass

    def refuse():
        raise Refused("the forecast row could not be written")
    # The forecast row (its created_at) fails after the booking was written in the same transaction.
    monkeypatch.setattr(store_forecasts, "utcnow", refuse)
    with pytest.raises(Refused):
        forecast_patient(records, patient_id, horizon_days=84.0)
    assert records.course_state(patient_id)[0].maintenance_due_on is None
    assert records.latest_forecast(patient_id) is None


def test_a_forecast_not_kept_writes_nothing_and_returns_the_booking_it_would_make(records, patient_id, stand_in,
                                                                                  monkeypatch):
    before = records.course_state(patient_id)[0]
    calls = counting(monkeypatch, records, ["store_forecast", "book_maintenance", "save_forecast"])
    result = forecast_patient(records, patient_id, horizon_days=84.0, save=False)
    assert calls == {"store_forecast": 0, "book_maintenance": 0, "save_forecast": 0}
    assert "forecast_id" not in result and records.latest_forecast(patient_id) is None
    assert result["booking"]["due_on"] == "2025-03-16"  # computed and returned ...
    after = records.course_state(patient_id)[0]  # ... not booked
    assert (after.maintenance_due_on, after.maintenance_reason) == (before.maintenance_due_on, None)
    assert after.maintenance_due_on is None


def test_a_plan_not_kept_writes_nothing(records, patient_id, monkeypatch):
    from ketamine_ptsd.care.forecast import plan_patient

    class PlanStandIn(StandIn):
        def to_dict(self):
            return {**super().to_dict(), "notice": "", "warnings": [], "probability_of_response": 0.5,
                    "loss_status": "lost", "threshold": {}, "fit": {}, "outside_validated_range": []}

    monkeypatch.setattr(individual, "forecast", PlanStandIn())
    monkeypatch.setattr("ketamine_ptsd.planning.patient.plan_next_session",
                        lambda result, regimen, today, target: {"next_session_day": 20})
    calls = counting(monkeypatch, records, ["store_forecast", "book_maintenance", "save_forecast"])
    plan = plan_patient(records, patient_id, horizon_days=84.0, save=False)
    assert calls == {"store_forecast": 0, "book_maintenance": 0, "save_forecast": 0}
    assert plan["booking"]["due_on"] == "2025-03-16"  # day 20 from 24 Feb
    assert records.course_state(patient_id)[0].maintenance_due_on is None
    assert records.latest_forecast(patient_id) is None


def test_the_use_case_lives_in_care_and_the_records_only_store():
    import ketamine_ptsd.store as store

    assert not hasattr(store, "forecast_patient")
    assert care_forecast.forecast_patient is forecast_patient


def test_a_course_without_a_session_is_named_in_the_librarys_terms(records):
    patient = records.add_patient(name="Not Dosed", sex="male", weight_kg=80.0)
    records.start_course(patient.id, started_on=dt.date(2025, 2, 27))
    with pytest.raises(InputError) as err:
        course_inputs(records, patient.id, include_planned=True)
    # The field is the library's, not a command-line argument, and no shell command is offered.
    assert err.value.field == "patient_id" and "ketamine-ptsd" not in str(err.value)


def test_the_engine_chosen_reaches_the_model(records, patient_id, stand_in):
    forecast_patient(records, patient_id, horizon_days=84.0, save=False, engine="scipy")
    assert stand_in.calls[0][3]["engine"] == "scipy"


def test_the_patients_stored_population_is_the_prior_unless_another_is_named(records, patient_id, stand_in):
    forecast_patient(records, patient_id, horizon_days=84.0, save=False)
    records.update_patient(patient_id, population="veteran_ptsd_ad_failure")
    forecast_patient(records, patient_id, horizon_days=84.0, save=False)
    forecast_patient(records, patient_id, horizon_days=84.0, save=False, population="trd")
    assert [call[3]["population"] for call in stand_in.calls] == [None, "veteran_ptsd_ad_failure", "trd"]


def test_the_plan_uses_the_stored_population_too(records, patient_id, monkeypatch):
    from ketamine_ptsd.care.forecast import plan_patient

    given = []

    def stand_in(*args, population=None, **options):
        given.append(population)
        raise InputError("stop", "the stand-in stops here")

    monkeypatch.setattr(individual, "forecast", stand_in)
    records.update_patient(patient_id, population="ptsd_trd")
    for explicit in (None, "civilian_ptsd"):
        with pytest.raises(InputError, match="stand-in"):
            plan_patient(records, patient_id, horizon_days=84.0, save=False, population=explicit)
    assert given == ["ptsd_trd", "civilian_ptsd"]
