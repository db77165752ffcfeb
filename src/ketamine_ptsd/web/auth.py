"""Who is signed in, and what their role lets them do.

Sign-in checks the password against the argon2 hash in the records
(:meth:`Records.authenticate`) under the login rate limit. A signed-in session is a random
id kept in the signed, HttpOnly, SameSite session cookie and registered on the server, so
signing out really ends it, and it ends by itself after the idle or absolute timeout of
:class:`~ketamine_ptsd.web.config.WebConfig`. The user's name and role are read once, at
sign-in.

Roles: ``readonly`` may read everything clinical and run model comparisons (which change
nothing); ``clinician`` may also record and change; ``admin`` may also manage users and
read the audit trail. Every route depends on :func:`require` with one permission, which
also checks the CSRF token of every state-changing request.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy import select

from ketamine_ptsd.store import Records
from ketamine_ptsd.store.models import User

from .client_address import client_address
from .csrf import SAFE_METHODS, check_csrf, new_csrf_token
from .database import QueuedRecords

READ, WRITE, ADMIN = "read", "write", "admin"
PERMISSIONS = {"readonly": frozenset({READ}), "clinician": frozenset({READ, WRITE}),
               "admin": frozenset({READ, WRITE, ADMIN})}
SESSION_KEY = "sid"


class NotSignedIn(Exception):
    """The request carries no valid signed-in session."""


class Forbidden(Exception):
    """The signed-in user's role does not allow this."""

    def __init__(self, role: str, permission: str):
        super().__init__(f"the {role} role does not have the {permission} permission")
        self.role = role
        self.permission = permission


class SignInRefused(Exception):
    """Wrong name or password, or too many failures (``retry_after_s`` > 0)."""

    def __init__(self, retry_after_s: float = 0.0):
        super().__init__("too many failed sign-ins" if retry_after_s else "wrong name or password")
        self.retry_after_s = retry_after_s


@dataclass
class SignedIn:
    """One signed-in session: the user, and its start and last request (monotonic seconds)."""

    sid: str
    user_id: int
    name: str
    role: str
    started: float
    last_seen: float

    def may(self, permission: str) -> bool:
        """Whether this user's role includes ``permission`` (read, write, admin)."""
        return permission in PERMISSIONS.get(self.role, frozenset())


class SessionRegistry:
    """The signed-in sessions of this server process; thread-safe."""

    def __init__(self, idle_timeout_s: float, absolute_timeout_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        self.clock = clock
        self._sessions: dict[str, SignedIn] = {}
        self._lock = threading.Lock()

    def _alive(self, s: SignedIn, now: float) -> bool:
        return now - s.last_seen < self.idle_timeout_s and now - s.started < self.absolute_timeout_s

    def open(self, user_id: int, name: str, role: str) -> SignedIn:
        """Register a new session for the user (and drop expired ones)."""
        with self._lock:
            now = self.clock()
            self._sessions = {k: s for k, s in self._sessions.items() if self._alive(s, now)}
            session = SignedIn(secrets.token_urlsafe(32), user_id, name, role, now, now)
            self._sessions[session.sid] = session
            return session

    def get(self, sid: str | None) -> SignedIn | None:
        """The live session with this id (its idle clock restarts), else None."""
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            now = self.clock()
            if session is None or not self._alive(session, now):
                self._sessions.pop(sid, None)
                return None
            session.last_seen = now
            return session

    def close(self, sid: str | None) -> None:
        """End the session (sign-out)."""
        with self._lock:
            self._sessions.pop(sid or "", None)

    def close_user(self, user_id: int) -> int:
        """End every session of a user; returns how many there were."""
        with self._lock:
            ended = [k for k, s in self._sessions.items() if s.user_id == user_id]
            for key in ended:
                del self._sessions[key]
            return len(ended)


def sign_in(request: Request, name: str, password: str) -> SignedIn:
    """Check the password under the rate limit, open a session, set the cookie's session id
    and a new CSRF token, and log the sign-in in the audit trail."""
    state = request.app.state
    address = client_address(request)
    wait = state.login_limiter.retry_after(name, address)
    if wait > 0:
        _failed_sign_in(request, name, address, "held back after failed sign-ins")
        raise SignInRefused(wait)
    user = Records(state.read_engine, "sign-in", state.settings).authenticate(name, password) if name else None
    if user is None:
        state.login_limiter.failed(name, address)
        _failed_sign_in(request, name, address, "wrong name or password, or disabled")
        raise SignInRefused()
    state.login_limiter.succeeded(name, address)
    state.sessions.close(request.session.get(SESSION_KEY))
    session = state.sessions.open(user.id, user.name, user.role)
    request.session.clear()
    request.session[SESSION_KEY] = session.sid
    new_csrf_token(request)
    records_for(request, session, read_only=False).log_event("sign_in", "users", user.id, {"address": address})
    return session


#: The actor of a failed sign-in's audit entry (nobody is signed in).
SIGN_IN_ACTOR = "(sign-in)"


def _failed_sign_in(request: Request, name: str, address: str, reason: str) -> None:
    state = request.app.state
    records = QueuedRecords(state.engine, SIGN_IN_ACTOR, state.settings, lock=state.write_lock)
    records.log_event("sign_in_failed", "users", name or "(empty)", {"name": name, "address": address,
                                                                     "reason": reason})


def unlock_account(request: Request, admin: SignedIn, name: str) -> int:
    """Clear the failed sign-ins of account ``name`` from every address, and audit it."""
    held = request.app.state.login_limiter.unlock(name)
    records_for(request, admin, read_only=False).log_event("unlock", "users", name, {"addresses": held})
    return held


def sign_out(request: Request) -> None:
    """End the signed-in session (if any) and clear the cookie's contents."""
    session = request.app.state.sessions.get(request.session.get(SESSION_KEY))
    request.app.state.sessions.close(request.session.get(SESSION_KEY))
    request.session.clear()
    if session is not None:
        records_for(request, session, read_only=False).log_event("sign_out", "users", session.user_id)


def log_read(request: Request, user: SignedIn, table: str, record_id: int) -> None:
    """Audit that ``user`` viewed a patient's records (``table`` patients or sessions), and where."""
    records_for(request, user, read_only=False).log_event("read", table, record_id, {"path": request.url.path})


def current_user(request: Request) -> SignedIn | None:
    """The signed-in session of this request, if any. The user's record is read on every
    request, so a user disabled (here or with ``ketamine-ptsd user disable``) is signed out
    at their next request, and a changed role applies at once."""
    state = request.app.state
    sid = request.session.get(SESSION_KEY)
    session = state.sessions.get(sid)
    if session is None:
        return None
    with state.read_engine.connect() as connection:
        row = connection.execute(select(User.role, User.disabled).where(User.id == session.user_id)).first()
    if row is None or row.disabled:
        state.sessions.close(sid)
        return None
    session.role = row.role
    return session


def require(permission: str):
    """A dependency: the signed-in user, who must have ``permission`` (read, write, admin),
    and, for a state-changing request, the session's CSRF token (checked after the user, so
    a signed-out request is told to sign in rather than that its token is missing)."""
    if permission not in PERMISSIONS["admin"]:
        raise ValueError(f"unknown permission {permission!r}")

    async def signed_in_with_permission(request: Request) -> SignedIn:
        user = current_user(request)
        if user is None:
            raise NotSignedIn()
        if not user.may(permission):
            raise Forbidden(user.role, permission)
        await check_csrf(request)
        return user

    signed_in_with_permission.permission = permission
    return Depends(signed_in_with_permission)


def records_for(request: Request, user: SignedIn, read_only: bool | None = None) -> Records:
    """The clinic records service acting as ``user`` (every change is audited under their
    name). ``read_only`` (default: a safe request, GET or HEAD) reads through the read-only
    engine; otherwise transactions queue on the process's write lock (``web.database``)."""
    state = request.app.state
    if request.method in SAFE_METHODS if read_only is None else read_only:
        return QueuedRecords(state.read_engine, user.name, state.settings, now=state.now)
    return QueuedRecords(state.engine, user.name, state.settings, now=state.now, lock=state.write_lock)

