"""CSRF: a change without the session's token is refused, through the API and the forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .conftest import sign_in


def test_api_change_needs_the_header_token(app):
    client = sign_in(app, "cleo")
    token = client.headers.pop("X-CSRF-Token")
    assert client.post("/api/patients", json={"name": "No Token"}).status_code == 403
    wrong = client.post("/api/patients", json={"name": "Wrong Token"}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert client.post("/api/patients", json={"name": "Token"}, headers={"X-CSRF-Token": token}).status_code == 201
    names = [p["name"] for p in client.get("/api/patients").json()]
    assert "Token" in names and "No Token" not in names and "Wrong Token" not in names


def test_form_change_needs_the_hidden_field(app, clients):
    client = TestClient(app, cookies=dict(clients["clinician"].cookies))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/patients/new").text).group(1)
    assert client.post("/patients", data={"name": "Form No Token"}, follow_redirects=False).status_code == 403
    ok = client.post("/patients", data={"name": "Form Token", "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303


def test_token_of_one_session_does_not_work_in_another(app, clients):
    other_token = clients["readonly"].headers["X-CSRF-Token"]
    client = TestClient(app, cookies=dict(clients["clinician"].cookies))
    response = client.post("/api/patients", json={"name": "Cross"}, headers={"X-CSRF-Token": other_token})
    assert response.status_code == 403


def test_sign_in_gives_a_new_token(app):
    client = TestClient(app)
    before = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    session = client.post("/api/session", json={"name": "rita", "password": "readonly-password-1"}).json()
    assert session["csrf_token"] != before


def test_json_sign_in_cannot_be_sent_as_a_cross_site_form(app):
    client = TestClient(app)
    response = client.post("/api/session", content='{"name": "rita", "password": "readonly-password-1"}',
                           headers={"content-type": "text/plain"})
    assert response.status_code == 422 and "set-cookie" not in response.headers
