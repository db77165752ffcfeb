"""Sign-in: argon2 check, the session cookie's flags, server-side sessions that end at
sign-out and after the idle or absolute timeout, and the login rate limit."""

from __future__ import annotations

import json

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
    # The block is per account and address: another address may sign in to the same account.
    other = TestClient(limited_app, client=("10.0.0.9", 5000))
    assert other.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]}).status_code == 200


def test_login_limiter_counts_account_and_address_together_with_growing_delays():
    clock = Clock()
    limiter = LoginLimiter(max_failures=2, window_s=900, delay_s=30, clock=clock)
    for _ in range(2):
        limiter.failed("a", "x")
    # The allowed failures cost nothing; the next try waits 30 s, then 60, 120 ...
    assert limiter.retry_after("a", "x") == 30
    assert limiter.retry_after("b", "x") == 0 and limiter.retry_after("a", "y") == 0
    clock.now += 30
    limiter.failed("a", "x")
    assert limiter.retry_after("a", "x") == 60
    clock.now += 60
    limiter.failed("a", "x")
    assert limiter.retry_after("a", "x") == 120
    for _ in range(10):
        limiter.failed("a", "x")
    assert limiter.retry_after("a", "x") == 900  # capped at the window
    assert limiter.locked() == {"a": 900}
    limiter.succeeded("a", "y")
    assert limiter.retry_after("a", "x") == 900
    assert limiter.unlock("a") == 1 and limiter.retry_after("a", "x") == 0 and limiter.locked() == {}


def test_failures_of_one_account_never_block_another_account_from_the_same_address(tmp_path):
    app = make_app(tmp_path, users={"cleo": "clinician", "rita": "readonly"})
    client = TestClient(app, client=("10.0.0.20", 5000))
    for _ in range(5):
        assert client.post("/api/session", json={"name": "rita", "password": "guess"}).status_code == 401
    assert client.post("/api/session", json={"name": "rita", "password": "guess"}).status_code == 429
    signed_in = client.post("/api/session", json={"name": "cleo", "password": PASSWORDS["cleo"]})
    assert signed_in.status_code == 200 and signed_in.json()["name"] == "cleo"


def test_an_admin_unlocks_an_account(tmp_path):
    app = make_app(tmp_path, users={"ada": "admin", "rita": "readonly"}, login_max_failures=1)
    rita = TestClient(app, client=("10.0.0.21", 5000))
    rita.post("/api/session", json={"name": "rita", "password": "guess"})
    assert rita.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]}).status_code == 429
    admin = TestClient(app)
    token = admin.post("/api/session", json={"name": "ada", "password": PASSWORDS["ada"]}).json()["csrf_token"]
    assert admin.get("/api/users/locked").json() == [{"name": "rita", "retry_after_s": 30}]
    assert admin.post("/api/users/rita/unlock", headers={"X-CSRF-Token": token}).status_code == 204
    assert rita.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]}).status_code == 200


def test_forwarded_for_is_believed_only_from_a_configured_proxy(tmp_path):
    app = make_app(tmp_path, users={"rita": "readonly"}, login_max_failures=1, trusted_proxies=("10.9.0.1",))
    # A client that is not the proxy cannot rotate its address with the header.
    direct = TestClient(app, client=("127.0.0.1", 5000))
    direct.post("/api/session", json={"name": "rita", "password": "guess"}, headers={"X-Forwarded-For": "1.1.1.1"})
    retry = direct.post("/api/session", json={"name": "rita", "password": "guess"},
                        headers={"X-Forwarded-For": "2.2.2.2"})
    assert retry.status_code == 429
    # Through the proxy, each client is its own address (the right-most untrusted one).
    proxy = TestClient(app, client=("10.9.0.1", 5000))
    proxy.post("/api/session", json={"name": "rita", "password": "guess"},
               headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.7"})
    assert proxy.post("/api/session", json={"name": "rita", "password": "guess"},
                      headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 429
    assert proxy.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]},
                      headers={"X-Forwarded-For": "192.0.2.8"}).status_code == 200


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
    with pytest.raises(InputError, match="trusted_proxies"):
        WebConfig(secret_key="x" * 32, trusted_proxies=("not-an-address",))


def test_sign_in_and_out_are_in_the_audit_trail(app, clients):
    """Each sign-in and sign-out is one audit entry on the user's record, under their name; a
    sign-in records the client's address and nothing else (the password never reaches the trail)."""
    client = sign_in(app, "rita")
    assert client.delete("/api/session").status_code == 204
    assert client.get("/api/session").status_code == 401
    entries = clients["admin"].get("/api/audit", params={"table": "users", "limit": 1000}).json()
    mine = [e for e in entries if e["actor"] == "rita"]
    rita_id = str(next(e["record_id"] for e in mine if e["action"] == "sign_in"))
    out = [e for e in mine if e["action"] == "sign_out"]
    assert len(out) == 1
    signed_in = next(e for e in mine if e["action"] == "sign_in")
    for e in (out[0], signed_in):
        assert (e["table_name"], e["record_id"], e["field"], e["old_value"]) == ("users", rita_id, "*", None)
    assert out[0]["new_value"] is None
    assert json.loads(signed_in["new_value"]) == {"address": "testclient"}
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


def test_an_unlock_clears_the_hold_and_is_audited_under_the_admins_name(tmp_path):
    """Found by mutation testing: the unlock must clear the named account (not another, not
    none), and its audit entry must say who unlocked which account and how many addresses
    were held."""
    import json

    app = make_app(tmp_path, users={"ada": "admin", "rita": "readonly", "cleo": "clinician"}, login_max_failures=1)
    for address in ("10.0.0.31", "10.0.0.32"):
        TestClient(app, client=(address, 5000)).post("/api/session", json={"name": "rita", "password": "guess"})
    TestClient(app, client=("10.0.0.33", 5000)).post("/api/session", json={"name": "cleo", "password": "guess"})
    admin = TestClient(app)
    token = admin.post("/api/session", json={"name": "ada", "password": PASSWORDS["ada"]}).json()["csrf_token"]
    assert {e["name"] for e in admin.get("/api/users/locked").json()} == {"rita", "cleo"}
    assert admin.post("/api/users/rita/unlock", headers={"X-CSRF-Token": token}).status_code == 204
    # Only rita is released; cleo is still held.
    assert [e["name"] for e in admin.get("/api/users/locked").json()] == ["cleo"]
    unlocks = admin.get("/api/audit", params={"limit": 1000, "action": "unlock"}).json()
    assert [(e["actor"], e["table_name"], e["record_id"], json.loads(e["new_value"])) for e in unlocks] == \
        [("ada", "users", "rita", {"addresses": 2})]


def test_a_successful_sign_in_forgets_that_accounts_failures_from_that_address(tmp_path):
    """Found by mutation testing: after a right password, the earlier failures of that name
    from that address no longer count. With 3 failures allowed: two wrong guesses, the right
    password, then two more wrong guesses are still answered (401); without the reset the
    fourth failure in the window would be held back (429)."""
    app = make_app(tmp_path, users={"rita": "readonly"}, login_max_failures=3)
    client = TestClient(app, client=("10.0.0.41", 5000))
    wrong = {"name": "rita", "password": "guess"}
    assert [client.post("/api/session", json=wrong).status_code for _ in range(2)] == [401, 401]
    assert client.post("/api/session", json={"name": "rita", "password": PASSWORDS["rita"]}).status_code == 200
    assert [client.post("/api/session", json=wrong).status_code for _ in range(4)] == [401, 401, 401, 429]


def test_a_failed_sign_in_is_audited_on_the_users_table_with_the_name_tried(tmp_path):
    """Found by mutation testing: the failed sign-in's audit entry is on the users table and
    its details keep the name as typed."""
    import json

    app = make_app(tmp_path, users={"ada": "admin"})
    TestClient(app, client=("10.0.0.42", 5000)).post("/api/session", json={"name": "Nobody", "password": "x"})
    admin = TestClient(app)
    admin.post("/api/session", json={"name": "ada", "password": PASSWORDS["ada"]})
    failed = admin.get("/api/audit", params={"limit": 1000, "action": "sign_in_failed"}).json()
    assert [(e["table_name"], e["record_id"], json.loads(e["new_value"])["name"]) for e in failed] == \
        [("users", "Nobody", "Nobody")]
