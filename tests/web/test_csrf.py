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


def _without_session_token(client: TestClient) -> TestClient:
    """The same signed-in session with the CSRF token taken out of it (as a session made
    before tokens existed, or one whose token was dropped), re-signed with the app's key."""
    import base64
    import json

    from itsdangerous import TimestampSigner

    from ketamine_ptsd.web.app import COOKIE_NAME

    from .conftest import SECRET

    signer = TimestampSigner(SECRET)
    data = json.loads(base64.b64decode(signer.unsign(client.cookies[COOKIE_NAME])))
    assert data.pop("csrf")                 # the signed-in session did carry a token
    cookie = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
    return TestClient(client.app, cookies={COOKIE_NAME: cookie})


def test_a_session_without_a_token_refuses_every_change(app):
    """The check must fail closed: with no token in the session, no header or form value
    (however it looks, empty included) is accepted."""
    client = _without_session_token(sign_in(app, "cleo"))
    assert client.get("/api/patients").status_code == 200          # still signed in
    for token in ("x" * 43, "", "None"):
        response = client.post("/api/patients", json={"name": "Tokenless"}, headers={"X-CSRF-Token": token})
        assert response.status_code == 403, token
    form = client.post("/patients", data={"name": "Tokenless", "csrf_token": ""}, follow_redirects=False)
    assert form.status_code == 403
    assert client.post("/api/patients", json={"name": "Tokenless"}).status_code == 403
    assert "Tokenless" not in [p["name"] for p in sign_in(app, "cleo").get("/api/patients").json()]


def test_a_form_sent_with_the_header_token_is_accepted(app, clients):
    """HTMX posts forms with the token in the header: the header is enough, the form field
    is only read when no header came."""
    client = TestClient(app, cookies=dict(clients["clinician"].cookies))
    token = clients["clinician"].headers["X-CSRF-Token"]
    ok = client.post("/patients", data={"name": "Header Form"}, headers={"X-CSRF-Token": token},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_a_change_without_a_body_or_content_type_is_refused_not_an_error(app, clients):
    client = TestClient(app, cookies=dict(clients["clinician"].cookies))
    response = client.post("/api/patients")
    assert response.status_code == 403
