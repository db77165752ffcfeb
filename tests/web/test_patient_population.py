"""A patient's population (diagnosis and treatment history, ``params/populations.toml``):
chosen in the new-patient form and the API, changed on the patient page (audited), refused
when unknown; the forecast and the plan pages use it and say which prior they used."""

from __future__ import annotations

import datetime as dt
import re

from ketamine_ptsd.params import population_spec
from ketamine_ptsd.store import Records

from .test_pages import add_patient, browser, submit  # noqa: F401 (browser: the signed-in form client)

NAMES = ("civilian_ptsd", "veteran_ptsd_ad_failure", "trd", "ptsd_trd")


def test_the_new_patient_form_offers_the_populations_with_their_descriptions(browser):  # noqa: F811
    page = browser.get("/patients/new").text
    options = re.findall(r'<option value="([a-z_]*)"', page.split('name="population"')[1].split("</select>")[0])
    assert options == ["", *NAMES]  # "" first: not set, the default
    for name in NAMES:
        assert population_spec(name)["description"] in page


def test_the_form_stores_the_chosen_population_and_refuses_an_unknown_one(app, browser):  # noqa: F811
    records = Records(app.state.engine, "test")
    chosen = add_patient(browser, name="Veteran Form", population="veteran_ptsd_ad_failure")
    assert records.patient(chosen).population == "veteran_ptsd_ad_failure"
    assert records.patient(add_patient(browser, name="Unset Form", population="")).population is None
    before = len(records.patients())
    response = submit(browser, "/patients", {"name": "Marine Form", "population": "marines"})
    assert response.status_code == 422
    assert "<strong>population</strong>" in response.text and "veteran_ptsd_ad_failure" in response.text
    assert len(records.patients()) == before


def test_the_patient_page_changes_the_population_with_an_audit_entry(app, browser, clients):  # noqa: F811
    records = Records(app.state.engine, "test")
    patient_id = add_patient(browser, name="Changed Population")
    assert "civilian_ptsd (the default)" in browser.get(f"/patients/{patient_id}").text
    response = submit(browser, f"/patients/{patient_id}/population", {"population": "trd"})
    assert response.status_code == 303
    assert records.patient(patient_id).population == "trd"
    entry = records.audit_trail("patients", patient_id)[-1]
    assert (entry.actor, entry.field, entry.new_value) == ("cleo", "population", '"trd"')
    assert re.search(r'id="patient-population">trd<', browser.get(f"/patients/{patient_id}").text)

    refused = submit(browser, f"/patients/{patient_id}/population", {"population": "veterans"})
    assert refused.status_code == 422 and "<strong>population</strong>" in refused.text
    assert records.patient(patient_id).population == "trd"
    # A read-only user may not change it.
    readonly = clients["readonly"]
    assert readonly.post(f"/patients/{patient_id}/population", data={"population": "civilian_ptsd"}).status_code == 403
    # Empty: back to the default.
    assert submit(browser, f"/patients/{patient_id}/population", {"population": ""}).status_code == 303
    assert records.patient(patient_id).population is None


def test_the_api_takes_and_returns_the_population(clinician):
    response = clinician.post("/api/patients", json={"name": "API Veteran", "population": "ptsd_trd"})
    assert response.status_code == 201 and response.json()["population"] == "ptsd_trd"
    refused = clinician.post("/api/patients", json={"name": "API Marine", "population": "marines"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "population"


def test_the_forecast_and_plan_pages_use_the_stored_population_and_say_so(app, browser):  # noqa: F811
    records = Records(app.state.engine, "test-setup")
    patient = records.add_patient(name="TRD Patient", weight_kg=72.0, population="trd")
    start = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0) - dt.timedelta(days=5)
    records.start_course(patient.id, started_on=start.date(), days=(0, 2))
    for day in (0, 2):
        records.record_session(patient.id, started_at=start + dt.timedelta(days=day), dose="0.5mg/kg")
    records.record_assessment(patient.id, "pcl5", [2] * 20, start - dt.timedelta(days=1))

    assert submit(browser, f"/patients/{patient.id}/forecast", {}).status_code == 303
    assert records.latest_forecast(patient.id).to_dict()["result"]["fit"]["population"] == "trd"
    page = browser.get(f"/patients/{patient.id}").text
    assert re.search(r'id="forecast-prior">trd population<', page)

    assert submit(browser, f"/patients/{patient.id}/plan", {}).status_code == 303
    assert records.latest_forecast(patient.id).to_dict()["result"]["fit"]["population"] == "trd"
    assert re.search(r'id="plan-prior">trd population<', browser.get(f"/patients/{patient.id}/plan").text)

    # Changed since: the pages say the stored forecast used another prior.
    records.update_patient(patient.id, population="ptsd_trd")
    assert "the patient's is now ptsd_trd" in browser.get(f"/patients/{patient.id}").text
    assert "the patient's is now ptsd_trd" in browser.get(f"/patients/{patient.id}/plan").text
