"""The HTML pages driven through their forms (no JavaScript): sign-in, patients, screening,
session entry with HTMX fragments, instrument forms that refuse invalid answers, the
patient page with its chart, what-if, regulatory; assets served locally."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ketamine_ptsd import web

from .conftest import PASSWORDS, ago

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_of(page) -> str:
    return TOKEN.search(page.text).group(1)


@pytest.fixture(scope="module")
def browser(app):
    """A client signed in through the sign-in form, posting forms with their hidden token."""
    client = TestClient(app)
    login = client.get("/login")
    response = client.post("/login", data={"name": "cleo", "password": PASSWORDS["cleo"],
                                           "csrf_token": token_of(login)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/patients"
    client.token = token_of(client.get("/patients"))
    return client


def submit(client, url, data, **kwargs):
    return client.post(url, data={**data, "csrf_token": client.token}, follow_redirects=False, **kwargs)


def add_patient(client, name="Form Patient", **fields) -> int:
    response = submit(client, "/patients", {"name": name, "sex": "male", "weight_kg": "80", **fields})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_wrong_password_shows_the_form_again(app):
    client = TestClient(app)
    response = client.post("/login", data={"name": "cleo", "password": "wrong-password",
                                           "csrf_token": token_of(client.get("/login"))})
    assert response.status_code == 401 and "Wrong name or password" in response.text


def test_sign_in_form_needs_its_csrf_token(app):
    client = TestClient(app)
    client.get("/login")
    response = client.post("/login", data={"name": "cleo", "password": PASSWORDS["cleo"]}, follow_redirects=False)
    assert response.status_code == 403


def test_patient_added_through_the_form_appears_in_list_and_search(browser):
    patient_id = add_patient(browser, name="Ingrid Form-Search")
    page = browser.get(f"/patients/{patient_id}")
    assert page.status_code == 200 and "Ingrid Form-Search" in page.text
    fragment = browser.get("/patients", params={"q": "form-search"}, headers={"HX-Request": "true"})
    assert "Ingrid Form-Search" in fragment.text and "<html" not in fragment.text
    assert "Ingrid" not in browser.get("/patients", params={"q": "nobody-by-this-name"}).text


def test_refused_form_names_the_field_and_stores_nothing(browser):
    before = browser.get("/patients").text.count("<tr>")
    response = submit(browser, "/patients", {"name": "Too Heavy", "weight_kg": "900"})
    assert response.status_code == 422
    assert "<strong>weight_kg</strong>" in response.text and "30-300 kg" in response.text
    assert "--weight-kg" not in response.text  # a form field, never a command-line flag
    assert 'value="Too Heavy"' in response.text  # the form keeps what was typed
    assert browser.get("/patients").text.count("<tr>") == before


def test_screening_form_gives_the_decision_with_reasons(browser):
    patient_id = add_patient(browser)
    form = browser.get(f"/patients/{patient_id}/screen")
    assert form.status_code == 200 and 'name="psychosis_current"' in form.text
    response = submit(browser, f"/patients/{patient_id}/screen",
                      {"product": "racemic", "bp_readings": "150/96, 148/94", "psychosis_current": "no",
                       "pregnant": "yes"})
    assert response.status_code == 303
    page = browser.get(f"/patients/{patient_id}").text
    # Pregnancy is a hard stop for ketamine in the clinic checklist; the mean BP is shown.
    assert "not eligible" in page and "149.0/95.0" in page


def test_screening_form_refuses_a_bad_blood_pressure(browser):
    patient_id = add_patient(browser)
    response = submit(browser, f"/patients/{patient_id}/screen", {"product": "racemic", "bp_readings": "80/120"})
    assert response.status_code == 422 and "bp_readings[0]" in response.text


def test_session_entry_shows_alerts_at_once(browser):
    patient_id = add_patient(browser)
    opened = submit(browser, f"/patients/{patient_id}/sessions",
                    {"started_at": ago(hours=2)[:16], "dose": "0.5mg/kg", "pre_sbp": "126", "pre_dbp": "78",
                     "pre_hr": "70", "pre_spo2": "98", "pre_cadss": "0", "pre_moaas": "5"})
    assert opened.status_code == 303, opened.text
    session_url = opened.headers["location"]
    page = browser.get(session_url)
    assert "Add a reading" in page.text and "126/78" in page.text
    fragment = submit(browser, f"{session_url}/readings", {"time_min": "40", "sbp": "188", "dbp": "102", "hr": "88"},
                      headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "sev-stop" in fragment.text and "Not ready" in fragment.text
    refused = submit(browser, f"{session_url}/readings", {"time_min": "50", "moaas": "9"},
                     headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "moaas" in refused.text
    assert browser.get(session_url).text.count("<td>50</td>") == 0


def test_instrument_form_refuses_an_answer_off_the_scale(browser):
    patient_id = add_patient(browser)
    form = browser.get(f"/patients/{patient_id}/assess/pcl5")
    assert form.text.count('name="item_') == 20
    answers = {f"item_{i}": "2" for i in range(1, 21)}
    refused = submit(browser, f"/patients/{patient_id}/assess/pcl5", {**answers, "item_7": "5"})
    assert refused.status_code == 422 and "PCL-5 item 7" in refused.text
    saved = submit(browser, f"/patients/{patient_id}/assess/pcl5", {**answers, "administered_at": ago(hours=1)[:16]})
    assert saved.status_code == 303
    page = browser.get(f"/patients/{patient_id}").text
    assert "<td>PCL-5</td><td>40" in page  # 20 items x 2
    assert browser.get(f"/patients/{patient_id}/assess/nonsense").status_code == 404


def test_patient_page_carries_the_chart_and_the_notice(browser):
    patient_id = add_patient(browser)
    submit(browser, f"/patients/{patient_id}/assess/madrs", {f"item_{i}": "3" for i in range(1, 11)})
    page = browser.get(f"/patients/{patient_id}").text
    assert 'id="course-chart-data"' in page and '"name": "MADRS"' in page
    assert "not a medical device" in page


def test_forecast_without_a_session_explains_on_the_page(browser):
    patient_id = add_patient(browser)
    response = submit(browser, f"/patients/{patient_id}/forecast", {})
    assert response.status_code == 422 and "<strong>patient_id</strong>: the patient has no course yet" in response.text


def test_whatif_page_compares_the_default_protocols(browser):
    patient_id = add_patient(browser)
    form = browser.get(f"/patients/{patient_id}/whatif")
    assert form.status_code == 200 and "Feder 2021 induction" in form.text
    values = dict(re.findall(r'name="(p\d_\w+)" value="([^"]*)"', form.text))
    values["horizon_days"] = "42"
    result = submit(browser, f"/patients/{patient_id}/whatif", values)
    assert result.status_code == 200, result.text
    assert 'id="whatif-chart-data"' in result.text and "induction + maintenance every 14 d" in result.text


def test_regulatory_page_shows_the_consent_summary(browser):
    page = browser.get("/regulatory", params={"product": "esketamine", "route": "intranasal"})
    assert page.status_code == 200 and "INFORMED-CONSENT SUMMARY" in page.text


def test_pages_load_scripts_only_from_this_server(browser):
    for name in ("htmx.min.js", "vendor/plotly.min.js", "app.js", "app.css"):
        assert browser.get(f"/static/{name}").status_code == 200
    assert browser.get("/static/vendor/plotly.min.js").headers["content-type"].startswith("text/javascript")
    templates = Path(web.__file__).parent / "templates"
    for template in templates.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', template.read_text()), template.name
    headers = browser.get("/patients").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
