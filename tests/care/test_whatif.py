"""The what-if use case (care/whatif.py) against a real SQLite database, with the simulation
replaced by a stand-in (these tests are about the record in and the summary out, not the
model): the baseline and covariates are the latest scores before the first dose (the rule
of care/inputs.py, tested there), clipped into the model's covariate range; the
clinician's changes are the values that differ; each protocol is simulated on the same
virtual patients; the summary reads the curves."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from ketamine_ptsd.care import whatif
from ketamine_ptsd.errors import InputError

UTC = dt.UTC
NOW = dt.datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
FIRST_DOSE = dt.datetime(2025, 2, 20, 9, 0, tzinfo=UTC)


def pcl5(b: int, c: int, d: int, e: int) -> list[int]:
    """PCL-5 answers with every item of a cluster equal (clusters: 5, 2, 7 and 6 items)."""
    return [b] * 5 + [c] * 2 + [d] * 7 + [e] * 6


@pytest.fixture
def patient_id(records):
    """PCL-5 20 days before the first dose (clusters 5, 2, 7, 6) and 5 days before it (15, 6,
    14, 12; total 47), MADRS 0 five days before it, then after the first dose a PCL-5 of 0 and
    a MADRS of 60, which show the treatment and are not the baseline."""
    patient = records.add_patient(name="Test Patient", sex="male", weight_kg=70.0, birth_date=dt.date(1985, 2, 28))
    records.record_assessment(patient.id, "pcl5", pcl5(1, 1, 1, 1), FIRST_DOSE - dt.timedelta(days=20))
    records.record_assessment(patient.id, "pcl5", pcl5(3, 3, 2, 2), FIRST_DOSE - dt.timedelta(days=5))
    records.record_assessment(patient.id, "madrs", [0] * 10, FIRST_DOSE - dt.timedelta(days=5))
    records.record_session(patient.id, started_at=FIRST_DOSE, dose="0.5mg/kg")
    records.record_assessment(patient.id, "pcl5", pcl5(0, 0, 0, 0), FIRST_DOSE + dt.timedelta(days=1))
    records.record_assessment(patient.id, "madrs", [6] * 10, FIRST_DOSE + dt.timedelta(days=1))
    return patient.id


class Trajectory(dict):
    """What compare reads of a trajectory: outputs by name, and warnings."""

    warnings = ()


class StandIn:
    """Population.virtual and simulate replaced: PCL-5 40 throughout, and at the horizon
    25 for the first 30 virtual patients (a 15-point fall) and 35 for the other 70."""

    def __init__(self):
        self.populations, self.regimens = [], []

    def virtual(self, n, seed, **covariates):
        self.populations.append((n, seed, covariates))
        return ("population", n)

    def simulate(self, regimen, population, times, outputs):
        self.regimens.append((regimen, population))
        pcl5_total = np.full((whatif.N_PATIENTS, times.size), 40.0)
        pcl5_total[:30, -1], pcl5_total[30:, -1] = 25.0, 35.0
        return Trajectory(pcl5_total=pcl5_total, madrs=np.full_like(pcl5_total, 20.0))


@pytest.fixture
def stand_in(monkeypatch):
    model = StandIn()
    monkeypatch.setattr(whatif, "Population", SimpleNamespace(virtual=model.virtual))
    monkeypatch.setattr(whatif, "simulate", model.simulate)
    return model


def protocol(**fields):
    base = dict(name="three doses", product="racemic", route="iv_infusion", dose="0.5mg/kg", infusion_min=None,
                induction_days=[0, 2, 4], maintenance_every_days=None, therapy_hours_after_dose=None)
    return SimpleNamespace(**(base | fields))


def request(*protocols, baseline=None, horizon_days=14.0):
    given = None if baseline is None else SimpleNamespace(model_dump=lambda: dict(baseline))
    return SimpleNamespace(protocols=list(protocols) or [protocol()], horizon_days=horizon_days, baseline=given)


def test_the_baseline_is_the_latest_scores_before_the_first_dose(records, patient_id, stand_in):
    result = whatif.compare(records, patient_id, request())
    baseline = result["baseline"]
    # Age at the first dose: 1985-02-28 to 2025-02-20 is 14,602 days (40 years only on 2025-02-28).
    assert baseline["covariates"] == {"weight_kg": 70.0, "age_years": pytest.approx(14602 / 365.25),
                                      "pcl5_b": 15.0, "pcl5_c": 6.0, "pcl5_d": 14.0, "pcl5_e": 12.0, "madrs": 0.0}
    assert {k: v["total"] for k, v in baseline["sources"].items()} == {"pcl5": 47, "madrs": 0}
    assert baseline["first_dose_at"] == FIRST_DOSE.isoformat()
    assert baseline["changed_by_clinician"] == []


def test_the_model_gets_the_baseline_clipped_into_its_covariate_range(records, patient_id, stand_in):
    result = whatif.compare(records, patient_id, request())
    (n, seed, covariates), = stand_in.populations
    assert (n, seed) == (whatif.N_PATIENTS, whatif.SEED)
    # MADRS 0 is below the model's covariate range, which starts at 1 (population.COVARIATE_BOUNDS).
    assert covariates["madrs"] == 1.0 and covariates["pcl5_b"] == 15.0
    assert result["covariates"] == covariates


def test_only_values_that_differ_count_as_changed_by_the_clinician(records, patient_id, stand_in):
    result = whatif.compare(records, patient_id, request(baseline={"pcl5_b": 5, "pcl5_c": 6, "madrs": None}))
    assert result["baseline"]["changed_by_clinician"] == ["pcl5_b"]
    assert stand_in.populations[0][2]["pcl5_b"] == 5.0
    assert stand_in.populations[0][2]["madrs"] == 1.0  # None leaves the recorded value


def test_every_protocol_runs_on_the_same_patients_and_the_summary_reads_the_curves(records, patient_id, stand_in):
    weekly = protocol(name="weekly upkeep", maintenance_every_days=7)
    result = whatif.compare(records, patient_id, request(protocol(), weekly))
    assert len(stand_in.populations) == 1
    (first, pop_a), (second, pop_b) = stand_in.regimens
    assert pop_a is pop_b
    assert [d.time_h for d in first.doses] == [0.0, 48.0, 96.0]
    assert len(second.doses) > len(first.doses)  # maintenance every 7 days up to the 14-day horizon
    a, _ = result["protocols"]
    assert a["name"] == "three doses" and a["n_doses"] == 3
    assert a["days"] == [float(d) for d in range(15)]
    # 30 of 100 virtual patients fell by 15 points, the others by 5; a meaningful change is 10.
    assert a["summary"] == {"pcl5_baseline": 40.0, "pcl5_week_after_induction": 40.0, "pcl5_at_horizon": 35.0,
                            "share_meaningful_change_at_horizon": 0.3}


def test_a_dose_outside_the_plausible_range_names_the_protocol(records, patient_id, stand_in):
    with pytest.raises(InputError) as err:
        whatif.compare(records, patient_id, request(protocol(), protocol(dose="50mg/kg")))
    assert err.value.field == "protocol 2 dose"
    assert stand_in.regimens == []
