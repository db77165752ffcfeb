"""Access management: ``ketamine-ptsd user list | disable | enable | set-role |
reset-password`` and the same for admins in the web app. A disabled user's open session
ends at the next request, a new role applies at once, every change is audited (never the
password hash), and the last enabled admin cannot be disabled or demoted."""

from __future__ import annotations

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ketamine_ptsd.cli_web import user_app
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records

from .conftest import PASSWORDS, make_app, sign_in

CLI = typer.Typer()
CLI.add_typer(user_app, name="user")


def user_cli(db_url, *args, stdin=None):
    result = CliRunner().invoke(CLI, ["user", *args, "--db", db_url], input=stdin)
    return result


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def db_url(app):
    return str(app.state.engine.url)


def test_cli_disable_ends_the_open_web_session_at_the_next_request(app, monkeypatch):
    monkeypatch.setenv("KETAMINE_PTSD_USER", "it_admin")
    rita = sign_in(app, "rita")
    assert rita.get("/api/patients").status_code == 200
    result = user_cli(db_url(app), "disable", "rita")
    assert result.exit_code == 0 and "disabled user rita" in result.output
    assert rita.get("/api/patients").status_code == 401
    # ... and cannot sign in again, even with the right password, until enabled.
    again = TestClient(app).post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]})
    assert again.status_code == 401
    assert user_cli(db_url(app), "enable", "rita").exit_code == 0
    assert sign_in(app, "rita").get("/api/patients").status_code == 200
    with Records.open(db_url(app), actor="test") as records:
        changes = [(e.actor, e.field, e.old_value, e.new_value) for e in records.audit_trail("users")
                   if e.action == "update"]
    assert changes == [("it_admin", "disabled", "false", "true"), ("it_admin", "disabled", "true", "false")]


def test_cli_list_set_role_and_reset_password(app):
    url = db_url(app)
    listed = user_cli(url, "list").output.splitlines()
    assert [line.split("\t")[0::3] for line in listed] == [["ada", "active"], ["cleo", "active"], ["rita", "active"]]
    assert user_cli(url, "set-role", "rita", "clinician").exit_code == 0
    assert user_cli(url, "reset-password", "rita", stdin="brand-new-password\n").exit_code == 0
    with Records.open(url, actor="test") as records:
        assert records.authenticate("rita", "brand-new-password").role == "clinician"
        assert records.authenticate("rita", PASSWORDS["rita"]) is None
        logged = [(e.field, e.old_value, e.new_value) for e in records.audit_trail("users") if e.action == "update"]
    assert ("role", '"readonly"', '"clinician"') in logged
    assert ("password_hash", '"(not logged)"', '"(not logged)"') in logged
    assert not any("argon2" in (e or "") for row in logged for e in row)


@pytest.mark.parametrize("args, stdin, field", [
    (("disable", "nobody"), None, "name"),
    (("set-role", "rita", "superuser"), None, "ROLE"),
    (("reset-password", "rita"), "short\n", "password"),
    (("disable", "ada"), None, "name"),  # the last enabled admin
    (("set-role", "ada", "readonly"), None, "name"),
])
def test_cli_refusals_name_the_field_and_change_nothing(app, args, stdin, field):
    result = user_cli(db_url(app), *args, stdin=stdin)
    assert isinstance(result.exception, InputError) and result.exception.field == field
    with Records.open(db_url(app), actor="test") as records:
        assert [(u.name, u.role, u.disabled) for u in records.users()] == [
            ("ada", "admin", False), ("cleo", "clinician", False), ("rita", "readonly", False)]


def test_admin_manages_users_in_the_api(app):
    admin, cleo = sign_in(app, "ada"), sign_in(app, "cleo")
    assert cleo.post("/api/patients", json={"name": "Before"}).status_code == 201
    demoted = admin.post("/api/users/cleo/role", json={"role": "readonly"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "readonly"
    assert cleo.post("/api/patients", json={"name": "After"}).status_code == 403
    assert admin.post("/api/users/cleo/password", json={"password": "another-password"}).status_code == 204
    disabled = admin.post("/api/users/cleo/disable")
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert cleo.get("/api/patients").status_code == 401
    assert {u["name"]: u["disabled"] for u in admin.get("/api/users").json()} == {
        "ada": False, "cleo": True, "rita": False}
    assert admin.post("/api/users/ada/disable").status_code == 422
    assert sign_in(app, "rita").post("/api/users/cleo/enable").status_code == 403


def test_admin_manages_users_on_the_page(app):
    admin = sign_in(app, "ada")
    rita = sign_in(app, "rita")
    page = admin.get("/users")
    assert 'action="/users/rita/disable"' in page.text
    response = admin.post("/users/rita/disable", follow_redirects=False)
    assert response.status_code == 303
    assert rita.get("/patients", follow_redirects=False).status_code == 303  # to the sign-in page
    assert "disabled" in admin.get("/users").text
    refused = admin.post("/users/ada/role", data={"role": "readonly"})
    assert refused.status_code == 422 and "last enabled admin" in refused.text
