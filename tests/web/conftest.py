"""Fixtures of the web-app tests: an app on a temporary SQLite database with one user per
role, and clients signed in as each of them.

The app, its users and the signed-in clients are made once per test module; tests that
need a fresh sign-in limiter or database make their own app with :func:`make_app`. Its users
are stored with a low-cost argon2 hash: the records verify a hash by the parameters written
in it, so signing in takes milliseconds instead of the 0.7 s of the production cost, which
the tests that add users through the API and the command line still pay.
"""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import User, utcnow
from ketamine_ptsd.web import WebConfig, create_app

PASSWORDS = {"ada": "admin-password-1", "cleo": "clinician-password-1", "rita": "readonly-password-1"}
ROLES = {"ada": "admin", "cleo": "clinician", "rita": "readonly"}
SECRET = "test-secret-key-of-at-least-16-characters"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_app(path, users=ROLES, **config):
    """An app on a new SQLite file under ``path`` with the given users (name -> role)."""
    app = create_app(f"sqlite:///{path / 'records.sqlite'}", config=WebConfig(secret_key=SECRET, **config))
    with Records(app.state.engine, "test-setup").transaction() as session:
        for name, role in users.items():
            session.add(User(name=name, role=role, password_hash=CHEAP_HASHER.hash(PASSWORDS[name]),
                             created_at=utcnow()))
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
