"""The JSON API end to end on a temporary database: patients, screening, sessions with live
readings and alerts, instruments that refuse invalid answers, forecasts, what-if,
regulatory status, users and the audit trail."""

from __future__ import annotations

import json

from .conftest import ago, new_patient


def test_patient_is_registered_and_found_by_search(clinician):
    patient_id = new_patient(clinician, name="Zelda Quintero", mrn="MRN-API-1")
    found = clinician.get("/api/patients", params={"q": "quinter"}).json()
    assert [p["id"] for p in found] == [patient_id]
    assert clinician.get("/api/patients", params={"q": "MRN-API-1"}).json()[0]["name"] == "Zelda Quintero"
    # Wildcards are matched literally, not as patterns.
    assert clinician.get("/api/patients", params={"q": "%"}).json() == []


def test_implausible_weight_is_refused_with_the_field_and_nothing_is_stored(clinician):
    before = len(clinician.get("/api/patients").json())
    response = clinician.post("/api/patients", json={"name": "Heavy", "weight_kg": 900})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "weight_kg" and error["ctx"]["allowed"] == "30-300 kg"
    assert len(clinician.get("/api/patients").json()) == before


def test_unknown_field_is_refused(clinician):
    assert clinician.post("/api/patients", json={"nmae": "typo"}).status_code == 422


def test_screening_returns_the_decision_with_its_reasons(clinician):
    patient_id = new_patient(clinician)
    answers = {"product": "racemic", "psychosis_current": True, "bp_readings": ["132/84"]}
    response = clinician.post(f"/api/patients/{patient_id}/screenings", json=answers)
    assert response.status_code == 201, response.text
    screening = response.json()
    # Current psychosis is a hard stop of the clinic's checklist; the unanswered questions are listed.
    assert screening["decision"] == "not_eligible"
    codes = {r["code"] for r in screening["result"]["reasons"]}
    assert "psychosis_current" in codes and "not_assessed" in codes
    assert clinician.get(f"/api/patients/{patient_id}/screenings").json()[0]["id"] == screening["id"]


def test_session_readings_raise_alerts_at_once_and_discharge_waits(clinician):
    patient_id = new_patient(clinician)
    session = clinician.post(f"/api/patients/{patient_id}/sessions",
                             json={"started_at": ago(hours=3), "dose": "0.5mg/kg"})
    assert session.status_code == 201, session.text
    session = session.json()
    assert session["dose_mg"] == 35.0  # 0.5 mg/kg x 70 kg
    pre = clinician.post(f"/api/sessions/{session['id']}/readings",
                         json={"time_min": -5, "label": "pre_dose", "sbp": 128, "dbp": 80, "hr": 72, "spo2": 98,
                               "cadss": 0, "moaas": 5})
    assert pre.status_code == 201
    assert not any(a["code"] == "pause_stop" for a in pre.json()["alerts"])
    high = clinician.post(f"/api/sessions/{session['id']}/readings",
                          json={"time_min": 40, "sbp": 186, "dbp": 104, "hr": 96, "spo2": 97, "cadss": 14,
                                "moaas": 5})
    report = high.json()
    codes = {a["code"] for a in report["alerts"]}
    # 186/104 is above the pause/stop limit (SBP > 180 or DBP > 100) and 58 mmHg above pre-dose.
    assert {"pause_stop", "bp_rise"} <= codes
    assert report["highest_severity"] == "stop"
    assert report["discharge"]["ready"] is False
    stored = clinician.get(f"/api/sessions/{session['id']}").json()
    assert [v["minutes"] for v in stored["vitals"]] == [-5, 40]
    assert stored["monitoring"]["report"]["highest_severity"] == "stop"


def test_reading_off_range_is_refused_and_not_stored(clinician):
    patient_id = new_patient(clinician)
    session_id = clinician.post(f"/api/patients/{patient_id}/sessions",
                                json={"started_at": ago(hours=2), "dose": "0.5mg/kg"}).json()["id"]
    response = clinician.post(f"/api/sessions/{session_id}/readings", json={"time_min": 10, "spo2": 140})
    assert response.status_code == 422
    assert "spo2" in response.json()["detail"][0]["loc"][-1]
    assert clinician.get(f"/api/sessions/{session_id}").json()["vitals"] == []


def test_reported_respiratory_depression_reaches_the_esketamine_monitoring_form(clinician):
    patient_id = new_patient(clinician)
    opening = {"started_at": ago(hours=3), "dose": "56mg", "product": "esketamine", "route": "intranasal",
               "concomitant": ["benzodiazepine"]}
    # The concomitant medications are kept with the monitoring form, so they come with a reading.
    assert clinician.post(f"/api/patients/{patient_id}/sessions", json=opening).status_code == 422
    opening["readings"] = [{"time_min": -5, "label": "pre_dose", "sbp": 120, "dbp": 75}]
    session_id = clinician.post(f"/api/patients/{patient_id}/sessions", json=opening).json()["id"]
    clinician.post(f"/api/sessions/{session_id}/readings", json={"time_min": 40, "sbp": 124, "dbp": 78})
    report = clinician.post(f"/api/sessions/{session_id}/events", json={"kind": "respiratory_depression"})
    assert report.status_code == 201
    rems = clinician.get(f"/api/sessions/{session_id}").json()["monitoring"]["rems_form"]
    assert rems["respiratory_depression"] is True
    assert rems["benzodiazepines"] is True  # kept from the session's start through the later re-check


def test_pcl5_is_scored_by_cluster_and_invalid_answers_are_refused(clinician):
    patient_id = new_patient(clinician)
    scored = clinician.post(f"/api/patients/{patient_id}/assessments",
                            json={"instrument": "pcl5", "answers": [3] * 20, "administered_at": ago(days=1)})
    assert scored.status_code == 201, scored.text
    body = scored.json()
    # DSM-5 clusters: B items 1-5, C 6-7, D 8-14, E 15-20, each answered 3.
    assert body["total"] == 60 and body["clusters"] == {"B": 15, "C": 6, "D": 21, "E": 18}
    refused = clinician.post(f"/api/patients/{patient_id}/assessments",
                             json={"instrument": "pcl5", "answers": [3] * 19 + [5]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "PCL-5 item 20"
    short = clinician.post(f"/api/patients/{patient_id}/assessments", json={"instrument": "madrs", "answers": [1] * 9})
    assert short.status_code == 422
    assert len(clinician.get(f"/api/patients/{patient_id}/assessments").json()) == 1


def test_instruments_are_listed_with_their_scales(clinician):
    by_id = {i["id"]: i for i in clinician.get("/api/instruments").json()}
    assert by_id["pcl5"]["n_items"] == 20 and by_id["pcl5"]["scale"] == [0, 4]
    assert by_id["madrs"]["scale"] == [0, 6]


def test_forecast_is_computed_stored_and_shown_with_a_maintenance_date(clinician):
    patient_id = new_patient(clinician)
    clinician.post(f"/api/patients/{patient_id}/assessments",
                   json={"instrument": "pcl5", "answers": [3] * 20, "administered_at": ago(days=4)})
    clinician.post(f"/api/patients/{patient_id}/sessions", json={"started_at": ago(days=3), "dose": "0.5mg/kg"})
    clinician.post(f"/api/patients/{patient_id}/assessments",
                   json={"instrument": "pcl5", "answers": [2] * 20, "administered_at": ago(days=1)})
    assert clinician.get(f"/api/patients/{patient_id}/forecast").status_code == 404
    made = clinician.post(f"/api/patients/{patient_id}/forecast", json={"horizon_days": 60})
    assert made.status_code == 201, made.text
    forecast = made.json()
    days = sorted(forecast["median"]["pcl5"], key=float)
    assert float(days[-1]) == 60
    low, median, high = (forecast[part]["pcl5"] for part in ("band_low", "median", "band_high"))
    assert all(low[day] <= median[day] <= high[day] for day in days)
    assert "not a medical device" in forecast["notice"]
    stored = {k: v for k, v in forecast.items() if k != "forecast_id"}
    assert clinician.get(f"/api/patients/{patient_id}/forecast").json() == stored
    overview = clinician.get(f"/api/patients/{patient_id}").json()
    assert overview["forecast"] == stored
    names = {trace.get("name") for trace in overview["chart"]["data"]}
    assert {"PCL-5 total", "MADRS", "PCL-5 forecast median", "PCL-5 forecast 80 % band"} <= names


def test_forecast_without_a_session_says_what_is_missing(clinician):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/forecast", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "patient_id"


def test_whatif_maintenance_adds_doses_and_keeps_pcl5_lower(clinician):
    patient_id = new_patient(clinician, weight_kg=80.0)
    body = {"horizon_days": 84, "protocols": [
        {"name": "induction only", "induction_days": [0, 2, 4, 7, 9, 11]},
        {"name": "with maintenance", "induction_days": [0, 2, 4, 7, 9, 11], "maintenance_every_days": 14},
        {"name": "with therapy", "induction_days": [0, 2, 4, 7, 9, 11], "therapy_hours_after_dose": 24}]}
    response = clinician.post(f"/api/patients/{patient_id}/whatif", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    only, maintained, therapy = result["protocols"]
    # Maintenance from day 25 (11 + 14) every 14 days to day 84: days 25, 39, 53, 67, 81.
    assert (only["n_doses"], maintained["n_doses"]) == (6, 11)
    assert therapy["n_therapy_sessions"] == 6
    assert result["covariates"]["weight_kg"] == 80.0
    assert maintained["summary"]["pcl5_at_horizon"] < only["summary"]["pcl5_at_horizon"]
    assert len(only["days"]) == 85 and only["days"][-1] == 84
    assert "not a medical device" in result["notice"]


def test_whatif_refuses_days_out_of_order(clinician):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/whatif",
                              json={"protocols": [{"induction_days": [0, 4, 2]}]})
    assert response.status_code == 422


def test_regulatory_status_and_consent_summary(clinician):
    body = clinician.get("/api/regulatory", params={"product": "esketamine", "route": "intranasal"}).json()
    assert body["status"] and all(row["product"] in ("esketamine", "all") for row in body["status"])
    assert "SPRAVATO" in body["consent_summary"] and "not a medical device" in body["notice"]
    assert clinician.get("/api/regulatory", params={"product": "esketamine", "route": "iv_infusion"}).status_code == 422


def test_every_change_is_in_the_audit_trail_under_the_signed_in_user(clients):
    patient_id = new_patient(clients["clinician"], name="Audited Person")
    entries = clients["admin"].get("/api/audit", params={"table": "patients", "limit": 1000}).json()
    insert = [e for e in entries if e["record_id"] == str(patient_id) and e["action"] == "insert"]
    assert len(insert) == 1 and insert[0]["actor"] == "cleo"
    assert json.loads(insert[0]["new_value"])["name"] == "Audited Person"
    sign_ins = clients["admin"].get("/api/audit", params={"table": "users", "limit": 1000}).json()
    assert {"ada", "cleo", "rita"} <= {e["actor"] for e in sign_ins if e["action"] == "sign_in"}


def test_admin_adds_a_user_whose_password_is_stored_as_argon2(clients, app):
    from sqlalchemy import text

    created = clients["admin"].post("/api/users", json={"name": "nora", "role": "readonly",
                                                        "password": "a-long-password"})
    assert created.status_code == 201 and "password" not in json.dumps(created.json())
    with app.state.engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users WHERE name = 'nora'")).scalar_one()
    assert stored.startswith("$argon2id$") and "a-long-password" not in stored
    assert clients["admin"].post("/api/users", json={"name": "x", "role": "readonly",
                                                     "password": "short"}).status_code == 422
