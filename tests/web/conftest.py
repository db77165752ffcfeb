"""Fixtures of the web-app tests: an app on a temporary SQLite database with one user per
role, and clients signed in as each of them.

Signing in verifies an argon2 hash (deliberately slow, about 0.7 s here), so the app, its
users and the signed-in clients are made once per test module; tests that need a fresh
sign-in limiter or database make their own app with :func:`make_app`.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from ketamine_ptsd.store import Records
from ketamine_ptsd.web import WebConfig, create_app

PASSWORDS = {"ada": "admin-password-1", "cleo": "clinician-password-1", "rita": "readonly-password-1"}
ROLES = {"ada": "admin", "cleo": "clinician", "rita": "readonly"}
SECRET = "test-secret-key-of-at-least-16-characters"


def make_app(path, users=ROLES, **config):
    """An app on a new SQLite file under ``path`` with the given users (name -> role)."""
    app = create_app(f"sqlite:///{path / 'records.sqlite'}", config=WebConfig(secret_key=SECRET, **config))
    records = Records(app.state.engine, "test-setup")
    for name, role in users.items():
        records.add_user(name, role, PASSWORDS[name])
    return app


def sign_in(app, name: str) -> TestClient:
    """A client signed in through the API, sending its CSRF token with every request."""
    client = TestClient(app)
    response = client.post("/api/session", json={"name": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def clients(app):
    """Signed-in clients by role: admin, clinician, readonly."""
    return {ROLES[name]: sign_in(app, name) for name in ROLES}


@pytest.fixture(scope="module")
def clinician(clients):
    return clients["clinician"]


def ago(**delta) -> str:
    """An ISO time that long before now (UTC)."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


def new_patient(client, **fields) -> int:
    """Register a patient through the API; returns the id."""
    body = {"name": "Test Patient", "sex": "female", "weight_kg": 70.0, "birth_date": "1980-05-17", **fields}
    response = client.post("/api/patients", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]
