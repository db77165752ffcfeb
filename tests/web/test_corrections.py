"""Corrections: a reading, session or assessment is corrected or withdrawn with a reason,
in the API and on the pages; the old values are kept, the change is audited, and what is
computed from the records (alerts, scores) follows. Patients need a name or a pseudonym."""

from __future__ import annotations

import html

import pytest

from .conftest import ago, new_patient

HIGH = {"time_min": 40, "sbp": 186, "dbp": 104, "hr": 96}


@pytest.fixture
def session(clinician):
    patient_id = new_patient(clinician)
    session_id = clinician.post(f"/api/patients/{patient_id}/sessions",
                                json={"started_at": ago(hours=1), "dose": "0.5mg/kg"}).json()["id"]
    clinician.post(f"/api/sessions/{session_id}/readings", json={"time_min": -5, "label": "pre_dose", "sbp": 128,
                                                                "dbp": 80, "hr": 72})
    report = clinician.post(f"/api/sessions/{session_id}/readings", json=HIGH).json()
    assert report["highest_severity"] == "stop"
    reading_id = clinician.get(f"/api/sessions/{session_id}").json()["vitals"][1]["id"]
    return patient_id, session_id, reading_id


def test_a_corrected_reading_keeps_the_old_value_and_the_alert_follows(clients, session):
    clinician = clients["clinician"]
    patient_id, session_id, reading_id = session
    response = clinician.post(f"/api/readings/{reading_id}/correction",
                              json={"sbp": 136, "dbp": 84, "reason": "typed 186/104 for 136/84"})
    assert response.status_code == 201, response.text
    correction = response.json()
    assert (correction["old_values"]["sbp"], correction["new_values"]["sbp"]) == (186, 136)
    assert correction["actor"] == "cleo" and correction["reason"] == "typed 186/104 for 136/84"
    stored = clinician.get(f"/api/sessions/{session_id}").json()
    assert [v["sbp"] for v in stored["vitals"]] == [128, 136]
    assert stored["monitoring"]["report"]["highest_severity"] != "stop"
    assert clinician.get(f"/api/patients/{patient_id}/corrections").json()[0]["id"] == correction["id"]
    audit = clients["admin"].get("/api/audit", params={"table": "vitals"}).json()
    assert {(e["field"], e["old_value"], e["new_value"]) for e in audit} >= {("sbp", "186.0", "136.0")}
    assert clients["readonly"].post(f"/api/readings/{reading_id}/correction",
                                    json={"sbp": 120, "reason": "x"}).status_code == 403


def test_a_withdrawn_reading_is_kept_but_no_longer_counts(clinician, session):
    _, session_id, reading_id = session
    assert clinician.post(f"/api/readings/{reading_id}/withdrawal", json={"reason": ""}).status_code == 422
    response = clinician.post(f"/api/readings/{reading_id}/withdrawal", json={"reason": "wrong patient"})
    assert response.status_code == 201 and response.json()["new_values"] is None
    stored = clinician.get(f"/api/sessions/{session_id}").json()
    assert [v["minutes"] for v in stored["vitals"]] == [-5]
    assert [v["sbp"] for v in stored["withdrawn_vitals"]] == [186]
    assert "pause_stop" not in {a["code"] for a in stored["monitoring"]["report"]["alerts"]}
    again = clinician.post(f"/api/readings/{reading_id}/withdrawal", json={"reason": "twice"})
    assert again.status_code == 422 and "withdrawn" in again.json()["detail"][0]["msg"]
    assert clinician.post("/api/readings/999999/withdrawal", json={"reason": "x"}).status_code == 404


def test_a_correction_is_checked_like_an_entry(clinician, session):
    _, _, reading_id = session
    refused = clinician.post(f"/api/readings/{reading_id}/correction", json={"sbp": 80, "reason": "typo"})
    assert refused.status_code == 422  # diastolic 104 above systolic 80
    refused = clinician.post(f"/api/readings/{reading_id}/correction", content='{"hr": NaN, "reason": "x"}',
                             headers={"content-type": "application/json"})
    assert refused.status_code == 422


def test_a_session_is_corrected_and_withdrawn(clinician, session):
    patient_id, session_id, _ = session
    corrected = clinician.post(f"/api/sessions/{session_id}/correction", json={"weight_kg": 80, "reason": "re-weighed"})
    assert corrected.status_code == 201
    assert (corrected.json()["old_values"]["dose_mg"], corrected.json()["new_values"]["dose_mg"]) == (35.0, 40.0)
    assert clinician.post(f"/api/sessions/{session_id}/withdrawal", json={"reason": "wrong patient"}).status_code == 201
    assert clinician.get(f"/api/patients/{patient_id}").json()["sessions"] == []


def test_an_assessment_is_scored_again_or_withdrawn(clinician):
    patient_id = new_patient(clinician)
    assessment = clinician.post(f"/api/patients/{patient_id}/assessments",
                                json={"instrument": "pcl5", "answers": [2] * 20,
                                      "administered_at": ago(hours=3)}).json()
    corrected = clinician.post(f"/api/assessments/{assessment['id']}/correction",
                               json={"answers": [1] * 20, "reason": "read the wrong column"})
    assert corrected.status_code == 201
    assert (corrected.json()["old_values"]["total"], corrected.json()["new_values"]["total"]) == (40, 20)
    assert clinician.get(f"/api/patients/{patient_id}/assessments").json()[0]["total"] == 20
    assert clinician.post(f"/api/assessments/{assessment['id']}/withdrawal", json={"reason": "dup"}).status_code == 201
    assert clinician.get(f"/api/patients/{patient_id}/assessments").json() == []


def test_the_session_page_corrects_a_reading(clinician, session):
    patient_id, session_id, reading_id = session
    page = clinician.get(f"/sessions/{session_id}").text
    assert f'action="/readings/{reading_id}/correction"' in page
    done = clinician.post(f"/readings/{reading_id}/correction", data={"sbp": "136", "dbp": "84", "reason": "typo"},
                          follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/sessions/{session_id}"
    refused = clinician.post(f"/readings/{reading_id}/correction", data={"sbp": "136"})
    assert refused.status_code == 422 and "reason" in refused.text
    patient = html.unescape(clinician.get(f"/patients/{patient_id}").text)
    assert patient.count('id="corrections"') == 1 and "typo" in patient
    assert "<section" not in patient[:patient.index("</head>")]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}])
def test_a_patient_needs_a_name_or_a_pseudonym(clinician, body):
    response = clinician.post("/api/patients", json={"sex": "female", **body})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "name"


def test_a_pseudonym_is_marked(clinician):
    response = clinician.post("/api/patients", json={"name": "Blue Heron", "pseudonym": True})
    assert response.status_code == 201 and response.json()["pseudonym"] is True
    assert "(pseudonym)" in clinician.get(f"/patients/{response.json()['id']}").text
