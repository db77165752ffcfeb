"""Non-finite numbers and wrong types are refused everywhere (API and forms), naming the
field, and nothing is stored: NaN is never "not measured", ``false`` is not 0, a bare
number is not a time (``0`` is not 1970), and a reading of nothing is refused."""

from __future__ import annotations

import pytest

from .conftest import ago, new_patient


@pytest.fixture(scope="module")
def session_id(clinician):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/sessions", json={"started_at": ago(hours=2),
                                                                             "dose": "0.5mg/kg"})
    return response.json()["id"]


def stored_readings(client, session_id):
    return client.get(f"/api/sessions/{session_id}").json()["vitals"]


@pytest.mark.parametrize("raw, field", [
    ('{"time_min": NaN, "sbp": 120}', "time_min"),
    ('{"time_min": 30, "sbp": NaN}', "sbp"),
    ('{"time_min": 30, "hr": Infinity}', "hr"),
    ('{"time_min": -Infinity, "hr": 80}', "time_min"),
    ('{"time_min": 30, "moaas": false}', "moaas"),
    ('{"time_min": true, "hr": 80}', "time_min"),
])
def test_reading_with_a_non_finite_or_boolean_number_is_refused(clinician, session_id, raw, field):
    response = clinician.post(f"/api/sessions/{session_id}/readings", content=raw,
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field
    assert stored_readings(clinician, session_id) == []


def test_a_reading_of_nothing_is_refused(clinician, session_id):
    response = clinician.post(f"/api/sessions/{session_id}/readings", json={"time_min": 30})
    assert response.status_code == 422
    assert "nothing measured" in response.json()["detail"][0]["msg"]
    assert stored_readings(clinician, session_id) == []


@pytest.mark.parametrize("started_at", [0, "0", 1700000000, "1700000000.5", True])
def test_a_bare_number_is_not_a_start_time(clinician, started_at):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/sessions",
                              json={"started_at": started_at, "dose": "0.5mg/kg"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "started_at"
    assert clinician.get(f"/api/patients/{patient_id}").json()["sessions"] == []


@pytest.mark.parametrize("body", [{"weight_kg": "nan"}, {"weight_kg": True}, {"height_cm": "inf"}])
def test_patient_covariates_must_be_finite_numbers(clinician, body):
    response = clinician.post("/api/patients", json={"name": "Strict", **body})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] in body


def test_the_page_forms_refuse_the_text_nan(clinician, session_id):
    response = clinician.post(f"/sessions/{session_id}/readings", data={"time_min": "30", "sbp": "nan",
                                                                        "dbp": "80"})
    assert response.status_code == 422 and "sbp" in response.text
    assert stored_readings(clinician, session_id) == []
    patient = clinician.post("/patients", data={"name": "Form NaN", "weight_kg": "NaN"})
    assert patient.status_code == 422 and "weight_kg" in patient.text


@pytest.mark.parametrize("protocol", ['{"induction_days": [0, NaN]}', '{"maintenance_every_days": "inf"}',
                                      '{"therapy_hours_after_dose": false}'])
def test_whatif_numbers_are_finite(clinician, protocol):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/whatif", content=f'{{"protocols": [{protocol}]}}',
                              headers={"content-type": "application/json"})
    assert response.status_code == 422
