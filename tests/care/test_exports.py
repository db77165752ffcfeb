"""A patient's records as FHIR and NONMEM-style CSV, read back from a real SQLite database."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from ketamine_ptsd.care.exports import patient_fhir_bundle, patient_nonmem_csv
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store.records import Records

START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


def _course(records: Records, weight_kg: float | None) -> int:
    patient = records.add_patient(name="Test Patient", sex="female", weight_kg=weight_kg)
    records.record_session(patient.id, started_at=START, dose="56mg", route="intranasal", product="esketamine")
    records.record_assessment(patient.id, "phq9", [1, 1, 1, 1, 1, 1, 1, 1, 0], START - dt.timedelta(hours=1))
    return patient.id


def test_nonmem_names_the_missing_weight_in_library_terms(records):
    pid = _course(records, weight_kg=None)
    with pytest.raises(InputError) as err:
        patient_nonmem_csv(records, pid)
    assert err.value.field == "weight_kg"


def test_nonmem_holds_the_dose_given(records):
    pid = _course(records, weight_kg=72.0)
    rows = list(csv.DictReader(io.StringIO(patient_nonmem_csv(records, pid))))
    doses = [r for r in rows if r["EVID"] == "1"]
    assert len(doses) == 1
    assert float(doses[0]["AMT"]) == 56.0 and float(doses[0]["TIME"]) == 0.0 and float(doses[0]["WT"]) == 72.0


def test_fhir_bundle_holds_each_assessment(records):
    pid = _course(records, weight_kg=72.0)
    bundle = patient_fhir_bundle(records, pid)
    responses = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    assert len(responses) == 1
    assert responses[0]["subject"]["reference"] == f"Patient/{pid}"
