"""Stop alerts first: the most severe open alert is a banner at the top of the session and
patient pages, above the entry form, and the alerts come before everything else; an HTMX
reading updates the banner at once; the reading form keeps what was typed when refused."""

from __future__ import annotations

import html

from .conftest import ago, new_patient

PRE = {"time_min": -5, "label": "pre_dose", "sbp": 128, "dbp": 80, "hr": 72, "spo2": 98, "cadss": 0, "moaas": 5}
HIGH = {"time_min": 40, "sbp": 186, "dbp": 104, "hr": 96, "spo2": 97, "cadss": 14, "moaas": 4}


def open_session(client):
    patient_id = new_patient(client)
    session_id = client.post(f"/api/patients/{patient_id}/sessions",
                             json={"started_at": ago(hours=1), "dose": "0.5mg/kg"}).json()["id"]
    return patient_id, session_id


def banner(page: str) -> str:
    start = page.index('id="alert-banner"')
    return page[start:page.index("</div>", start)]


def test_the_stop_alert_is_a_banner_above_the_entry_form(clinician):
    patient_id, session_id = open_session(clinician)
    for reading in (PRE, HIGH):
        assert clinician.post(f"/api/sessions/{session_id}/readings", json=reading).status_code == 201
    page = html.unescape(clinician.get(f"/sessions/{session_id}").text)
    top = banner(page)
    assert "banner-stop" in top and "STOP" in top and "minute 40" in top and "186" in top
    assert page.index('id="alert-banner"') < page.index("<h1>") < page.index('id="reading-form"')
    assert page.index('id="alerts-now"') < page.index('id="reading-form"')
    # The patient page too: the open session's stop alert first, the alerts before the actions.
    patient = html.unescape(clinician.get(f"/patients/{patient_id}").text)
    assert "banner-stop" in banner(patient) and "open session" in banner(patient)
    assert patient.index('id="alert-banner"') < patient.index('id="alerts"') < patient.index('class="actions"')
    assert patient.index('id="alerts"') < patient.index('id="screening"')


def test_an_htmx_reading_replaces_the_banner_out_of_band(clinician):
    _, session_id = open_session(clinician)
    quiet = html.unescape(clinician.get(f"/sessions/{session_id}").text)
    assert 'id="alert-banner" class="banner banner-none" role="alert" hidden' in quiet
    fragment = html.unescape(clinician.post(f"/sessions/{session_id}/readings", headers={"HX-Request": "true"},
                                            data={k: str(v) for k, v in HIGH.items()}).text)
    assert '<div id="alerts-top" hx-swap-oob="true">' in fragment
    assert "banner-stop" in banner(fragment)


def test_the_banner_shows_the_most_severe_alert(clinician):
    _, session_id = open_session(clinician)
    clinician.post(f"/api/sessions/{session_id}/readings", json={**PRE, "sbp": 150, "dbp": 95})  # review
    assert "banner-review" in banner(html.unescape(clinician.get(f"/sessions/{session_id}").text))
    clinician.post(f"/api/sessions/{session_id}/readings", json=HIGH)
    clinician.post(f"/api/sessions/{session_id}/readings", json={"time_min": 60, "sbp": 150, "dbp": 90})
    assert "banner-stop" in banner(html.unescape(clinician.get(f"/sessions/{session_id}").text))


def test_a_refused_reading_keeps_what_was_typed(clinician):
    _, session_id = open_session(clinician)
    typed = {"time_min": "30", "sbp": "120", "dbp": "130", "hr": "77"}  # diastolic above systolic
    page = html.unescape(clinician.post(f"/sessions/{session_id}/readings", data=typed).text)
    assert "<strong>reading dbp</strong>" in page
    for name, value in typed.items():
        assert f'name="{name}" type="number" step="any"' in page
        assert f'value="{value}"' in page
