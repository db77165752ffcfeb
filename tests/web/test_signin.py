"""Sign-in: argon2 check, the session cookie's flags, server-side sessions that end at
sign-out and after the idle or absolute timeout, and the login rate limit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.web import WebConfig
from ketamine_ptsd.web.auth import SessionRegistry
from ketamine_ptsd.web.login_limit import LoginLimiter

from .conftest import PASSWORDS, make_app, sign_in


class Clock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def limited_app(tmp_path_factory):
    """An app of its own: the rate-limit tests exhaust its limiter."""
    return make_app(tmp_path_factory.mktemp("limits"), users={"cleo": "clinician", "rita": "readonly"},
                    login_max_failures=3)


def test_session_cookie_is_httponly_and_samesite(app):
    client = TestClient(app)
    response = client.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert response.json()["role"] == "readonly" and len(response.json()["csrf_token"]) >= 32


def test_secure_and_strict_cookie_when_configured(tmp_path):
    app = make_app(tmp_path, users={"rita": "readonly"}, secure_cookie=True, same_site="strict")
    cookie = TestClient(app, base_url="https://testserver").post(
        "/api/session", json={"name": "rita", "password": PASSWORDS["rita"]}).headers["set-cookie"].lower()
    assert "secure" in cookie and "samesite=strict" in cookie


def test_wrong_password_and_unknown_user_are_refused_alike(limited_app):
    client = TestClient(limited_app)
    wrong = client.post("/api/session", json={"name": "cleo", "password": "not-the-password"})
    unknown = client.post("/api/session", json={"name": "nobody", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong name or password"}
    assert client.get("/api/session").status_code == 401


def test_too_many_failures_block_the_account_even_with_the_right_password(limited_app):
    client = TestClient(limited_app, client=("10.0.0.8", 5000))
    for _ in range(3):
        assert client.post("/api/session", json={"name": "rita", "password": "guess"}).status_code == 401
    blocked = client.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # The block is per account and per address: another address may sign in to another account.
    other = TestClient(limited_app, client=("10.0.0.9", 5000))
    assert other.post("/api/session", json={"name": "cleo", "password": PASSWORDS["cleo"]}).status_code == 200


def test_login_limiter_window_and_reset():
    clock = Clock()
    limiter = LoginLimiter(max_failures=2, window_s=60, clock=clock)
    limiter.failed("name:a", "addr:x")
    assert limiter.retry_after("name:a") == 0
    limiter.failed("name:a", "addr:x")
    assert limiter.retry_after("name:a") == 60 and limiter.retry_after("addr:x") == 60
    clock.now += 45
    assert limiter.retry_after("name:a", "addr:y") == 15
    limiter.succeeded("name:a")
    assert limiter.retry_after("name:a") == 0 and limiter.retry_after("addr:x") == 15
    clock.now += 15
    assert limiter.retry_after("addr:x") == 0


def test_sessions_end_after_idle_and_absolute_timeouts():
    clock = Clock()
    registry = SessionRegistry(idle_timeout_s=30 * 60, absolute_timeout_s=8 * 3600, clock=clock)
    session = registry.open(1, "cleo", "clinician")
    clock.now += 29 * 60
    assert registry.get(session.sid) is session
    clock.now += 31 * 60
    assert registry.get(session.sid) is None
    busy = registry.open(1, "cleo", "clinician")
    for _ in range(16):  # a request every 29 minutes keeps it alive until 8 hours
        clock.now += 29 * 60
        assert registry.get(busy.sid) is busy
    clock.now += 29 * 60
    assert registry.get(busy.sid) is None


def test_a_forged_session_id_is_not_signed_in(app):
    client = TestClient(app, cookies={"ketamine_ptsd_session": "eyJzaWQiOiAiZm9yZ2VkIn0=.forged.signature"})
    assert client.get("/api/patients").status_code == 401


def test_config_refuses_weak_settings():
    with pytest.raises(InputError, match="secret_key"):
        WebConfig(secret_key="short")
    with pytest.raises(InputError, match="login_max_failures"):
        WebConfig(secret_key="x" * 32, login_max_failures=1000)


def test_sign_in_and_out_are_in_the_audit_trail(app, clients):
    """Each sign-in and sign-out is one audit entry on the user's record, under their name,
    with no field values (the password never reaches the trail)."""
    client = sign_in(app, "rita")
    assert client.delete("/api/session").status_code == 204
    assert client.get("/api/session").status_code == 401
    entries = clients["admin"].get("/api/audit", params={"table": "users", "limit": 1000}).json()
    mine = [e for e in entries if e["actor"] == "rita"]
    rita_id = str(next(e["record_id"] for e in mine if e["action"] == "sign_in"))
    out = [e for e in mine if e["action"] == "sign_out"]
    assert len(out) == 1
    for e in (out[0], next(e for e in mine if e["action"] == "sign_in")):
        assert (e["table_name"], e["record_id"], e["field"], e["old_value"], e["new_value"]) == (
            "users", rita_id, "*", None, None)
    ada = next(e for e in entries if e["actor"] == "ada" and e["action"] == "sign_in")
    assert ada["record_id"] != rita_id


def test_signing_in_again_ends_the_previous_session(app):
    """A new sign-in on the same browser replaces its session: the old session id (which
    someone may have planted or seen) is no longer valid."""
    from ketamine_ptsd.web.app import COOKIE_NAME

    client = sign_in(app, "rita")
    old_cookie = client.cookies[COOKIE_NAME]
    assert client.post("/api/session", json={"name": "cleo", "password": PASSWORDS["cleo"]}).status_code == 200
    assert client.get("/api/session").json()["name"] == "cleo"
    replay = TestClient(app, cookies={COOKIE_NAME: old_cookie})
    assert replay.get("/api/session").status_code == 401
