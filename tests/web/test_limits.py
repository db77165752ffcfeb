"""Every number a user can enter has a physiological range, and model work a time limit:
the what-if request that once pinned a core (``infusion_min`` 1e-308) is refused naming the
field, sessions refuse infusions outside 5-240 min, and a model run past the server's limit
is answered 503 with a message instead of hanging."""

from __future__ import annotations

import pytest

from .conftest import ago, make_app, new_patient, sign_in


def whatif(client, patient_id, **protocol):
    return client.post(f"/api/patients/{patient_id}/whatif", json={"protocols": [{"name": "p", **protocol}]})


@pytest.mark.parametrize("minutes", [1e-308, 1e-307, 0.001, 4.9, 241, 1e308])
def test_whatif_infusion_outside_5_to_240_min_is_refused_naming_the_field(clients, minutes):
    patient_id = new_patient(clients["clinician"])
    response = whatif(clients["readonly"], patient_id, infusion_min=minutes)
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "infusion_min"
    assert "5" in error["msg"] or "240" in error["msg"]


@pytest.mark.parametrize("dose, allowed", [("1e-308mg/kg", "0.01-10 mg/kg"), ("1e308mg/kg", "0.01-10 mg/kg"),
                                            ("5000mg", "1-1000 mg")])
def test_whatif_dose_outside_the_plausible_range_is_refused(clinician, dose, allowed):
    patient_id = new_patient(clinician)
    response = whatif(clinician, patient_id, dose=dose)
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "protocol 1 dose" and error["ctx"]["allowed"] == allowed


@pytest.mark.parametrize("body", [{"horizon_days": 0.0001}, {"horizon_days": 1e9}])
def test_forecast_horizon_is_bounded(clinician, body):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/forecast", json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "horizon_days"


@pytest.mark.parametrize("minutes", [1e-307, 0.001, 300])
def test_session_infusion_outside_the_range_is_refused_and_nothing_stored(clinician, minutes):
    patient_id = new_patient(clinician)
    response = clinician.post(f"/api/patients/{patient_id}/sessions",
                              json={"started_at": ago(hours=2), "dose": "0.5mg/kg", "infusion_min": minutes})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "infusion_min"
    assert clinician.get(f"/api/patients/{patient_id}").json()["sessions"] == []


def test_records_refuse_an_infusion_outside_the_clinic_range(tmp_path):
    import datetime as dt

    from ketamine_ptsd.errors import InputError
    from ketamine_ptsd.store import Records
    with Records.open(f"sqlite:///{tmp_path / 'r.sqlite'}", actor="test") as records:
        patient = records.add_patient(name="A", weight_kg=70.0)
        with pytest.raises(InputError) as err:
            records.start_course(patient.id, started_on=dt.date(2024, 1, 1), infusion_min=0.001)
        assert err.value.field == "infusion_min" and err.value.allowed == "5-240 min"


def test_model_work_past_the_time_limit_is_answered_503_with_a_message(tmp_path):
    app = make_app(tmp_path, users={"cleo": "clinician"}, model_timeout_s=0.01)
    client = sign_in(app, "cleo")
    patient_id = new_patient(client)
    protocols = [{"name": f"p{i}", "maintenance_every_days": 14} for i in range(4)]
    response = client.post(f"/api/patients/{patient_id}/whatif", json={"protocols": protocols, "horizon_days": 180})
    assert response.status_code == 503
    assert "did not finish within 0.01 s" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    page = client.post(f"/patients/{patient_id}/whatif", data={"p0_days": "0,2,4", "horizon_days": "180"})
    assert page.status_code == 503 and "time limit" in page.text
