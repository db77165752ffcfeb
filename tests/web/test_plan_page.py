"""The personal planner on the patient page: plan the next session, see the date, the band
with and without it, and the booking."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from ketamine_ptsd.store import Records

from .conftest import PASSWORDS
from .test_pages import submit, token_of


def test_the_plan_page_plans_books_and_shows_the_next_session(app):
    records = Records(app.state.engine, "test-setup")
    patient = records.add_patient(name="Planned Patient", weight_kg=72.0)
    start = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0) - dt.timedelta(days=12)
    records.start_course(patient.id, started_on=start.date(), days=(0, 2, 4), maintenance_rule="forecast")
    for day in (0, 2, 4):
        records.record_session(patient.id, started_at=start + dt.timedelta(days=day), dose="0.5mg/kg")
    for day, item in ((-1, 3), (1, 2), (5, 1), (9, 2)):
        records.record_assessment(patient.id, "pcl5", [item] * 20, start + dt.timedelta(days=day, hours=1))

    client = TestClient(app)
    login = client.get("/login")
    client.post("/login", data={"name": "cleo", "password": PASSWORDS["cleo"], "csrf_token": token_of(login)})
    client.token = token_of(client.get("/patients"))
    assert "No plan computed yet" in client.get(f"/patients/{patient.id}/plan").text
    assert f'href="/patients/{patient.id}/plan"' in client.get(f"/patients/{patient.id}").text
    response = submit(client, f"/patients/{patient.id}/plan", {})
    assert response.status_code == 303
    page = client.get(f"/patients/{patient.id}/plan").text
    assert 'id="next-session-date"' in page and "with the session" in page and "not a medical device" in page
    stored = records.latest_forecast(patient.id).to_dict()["result"]["plan"]
    assert stored["next_session_date"] in page
    assert stored["booking"]["due_on"] in page
    # The plan's forecast is stored as a forecast is: the patient page draws it.
    patient_page = client.get(f"/patients/{patient.id}")
    assert patient_page.status_code == 200 and 'id="maintenance-date"' in patient_page.text
