"""The sign-in rules without the web server around them: the permission check of every route
(signed out, wrong role, missing CSRF token, in that order), the session registry's idle and
absolute time-outs at their exact edges, and the refusal messages. Found missing by mutation
testing (docs/testing.md): the app's routes build their checks once at start-up."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from ketamine_ptsd.store.database import connect
from ketamine_ptsd.store.migrate import ensure_current
from ketamine_ptsd.store.records import Records
from ketamine_ptsd.web.auth import (
    SESSION_KEY,
    Forbidden,
    NotSignedIn,
    SessionRegistry,
    SignInRefused,
    require,
)
from ketamine_ptsd.web.csrf import CSRF_KEY, HEADER, CsrfFailed


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def user_db(tmp_path_factory):
    """A real records database holding the users the sessions below name: ``require`` reads
    each signed-in user's role and whether the account is disabled on every request."""
    engine = connect(f"sqlite:///{tmp_path_factory.mktemp('auth') / 'records.sqlite'}")
    ensure_current(engine)
    with Records(engine, "setup") as records:
        ids = {name: records.add_user(name, role, "long enough password").id
               for name, role in (("cleo", "clinician"), ("rita", "readonly"))}
    yield engine, ids
    engine.dispose()


def request(registry, method="POST", sid=None, token=None, header=None, engine=None) -> Request:
    headers = [] if header is None else [(HEADER.lower().encode(), header.encode())]
    session = {} if sid is None else {SESSION_KEY: sid}
    if token is not None:
        session[CSRF_KEY] = token
    app = SimpleNamespace(state=SimpleNamespace(sessions=registry, read_engine=engine))
    return Request({"type": "http", "method": method, "headers": headers, "session": session, "app": app,
                    "path": "/", "query_string": b""})


def check(permission, req):
    return asyncio.run(require(permission).dependency(req))


def test_require_checks_sign_in_then_role_then_csrf(user_db):
    engine, ids = user_db
    registry = SessionRegistry(idle_timeout_s=60, absolute_timeout_s=600, clock=Clock())
    clinician = registry.open(ids["cleo"], "cleo", "clinician")
    reader = registry.open(ids["rita"], "rita", "readonly")
    with pytest.raises(NotSignedIn):
        check("read", request(registry, "GET", engine=engine))
    with pytest.raises(NotSignedIn):
        check("read", request(registry, "GET", sid="not-a-session", engine=engine))
    assert check("read", request(registry, "GET", sid=reader.sid, engine=engine)) is reader
    with pytest.raises(Forbidden) as err:
        check("write", request(registry, sid=reader.sid, token="t", header="t", engine=engine))
    assert (err.value.role, err.value.permission) == ("readonly", "write")
    assert str(err.value) == "the readonly role does not have the write permission"
    with pytest.raises(CsrfFailed):
        check("write", request(registry, sid=clinician.sid, token="t", header="u", engine=engine))
    assert check("write", request(registry, sid=clinician.sid, token="t", header="t", engine=engine)) is clinician
    with pytest.raises(Forbidden):
        check("admin", request(registry, sid=clinician.sid, token="t", header="t", engine=engine))
    assert require("admin").dependency.permission == "admin"


def test_require_refuses_an_unknown_permission_at_once():
    with pytest.raises(ValueError, match="unknown permission 'delete'"):
        require("delete")


def test_sessions_expire_at_exactly_the_idle_and_absolute_limits():
    clock = Clock()
    registry = SessionRegistry(idle_timeout_s=60, absolute_timeout_s=150, clock=clock)
    s = registry.open(1, "ada", "admin")
    assert s.started == s.last_seen == 1000.0
    clock.now += 59.9
    assert registry.get(s.sid) is s and s.last_seen == 1059.9     # a request restarts the idle clock
    clock.now += 59.9
    assert registry.get(s.sid) is s
    clock.now = 1000.0 + 149.9
    assert registry.get(s.sid) is s
    clock.now = 1000.0 + 150.0                                     # the absolute limit itself: over
    assert registry.get(s.sid) is None
    t = registry.open(2, "cleo", "clinician")
    clock.now += 60.0                                              # exactly idle for the limit: over
    assert registry.get(t.sid) is None
    assert registry.get(None) is None and registry.get("") is None


def test_opening_a_session_drops_expired_ones_and_close_ends_one():
    clock = Clock()
    registry = SessionRegistry(idle_timeout_s=60, absolute_timeout_s=600, clock=clock)
    old = registry.open(1, "ada", "admin")
    clock.now += 61
    new = registry.open(2, "cleo", "clinician")
    assert old.sid not in registry._sessions and new.sid in registry._sessions
    assert new.sid != old.sid and len(new.sid) >= 43                # 32 random bytes, URL-safe
    registry.close(new.sid)
    assert registry.get(new.sid) is None
    registry.close(None)                                           # nothing to close: no error


def test_sign_in_refusal_messages():
    assert str(SignInRefused()) == "wrong name or password" and SignInRefused().retry_after_s == 0.0
    locked = SignInRefused(retry_after_s=30.0)
    assert str(locked) == "too many failed sign-ins" and locked.retry_after_s == 30.0
