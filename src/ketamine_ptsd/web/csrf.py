"""CSRF protection: every state-changing request carries the session's secret token.

The token lives in the signed session cookie (which another site can neither read nor
forge) and must come back with the request: as the hidden ``csrf_token`` field of every
HTML form, or, for the JSON API and HTMX calls, in the ``X-CSRF-Token`` header. The API
returns the token at sign-in (``POST /api/session``) and from ``GET /api/session``.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

CSRF_KEY = "csrf"
HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token."""


def new_csrf_token(request: Request) -> str:
    """Give the browser session a fresh CSRF token and return it."""
    token = secrets.token_urlsafe(32)
    request.session[CSRF_KEY] = token
    return token


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use, e.g. for the sign-in form)."""
    return request.session.get(CSRF_KEY) or new_csrf_token(request)


async def check_csrf(request: Request) -> None:
    """Dependency: refuse an unsafe request whose token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get(HEADER) or None
    if token is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        token = (await request.form()).get(FORM_FIELD)
    expected = request.session.get(CSRF_KEY)
    if not expected or not isinstance(token, str) or not hmac.compare_digest(token, expected):
        raise CsrfFailed()
