"""The web app's security settings: session lifetime, cookie flags and sign-in limits.

Every number has its source; a clinic changes them through :class:`WebConfig` (and the
``serve`` command's options) rather than in code.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Literal

from ketamine_ptsd.errors import InputError

from .client_address import networks

SECRET_ENV_VAR = "KETAMINE_PTSD_SECRET_KEY"

#: Signed-in sessions end after this long without a request, seconds. Source: OWASP Session
#: Management Cheat Sheet, "common idle timeouts ranges are ... 15-30 minutes for low risk
#: applications"; 30 min lets a clinician stay signed in through a dosing session's readings.
IDLE_TIMEOUT_S = 30 * 60
#: ... and after this long in any case, seconds. Source: OWASP Session Management Cheat Sheet,
#: "common absolute timeouts range between 4 and 8 hours" (one clinic shift).
ABSOLUTE_TIMEOUT_S = 8 * 3600
#: Failed sign-ins allowed per account and client address together within the window. Source:
#: NIST SP 800-63B section 5.2.2 requires a limit of at most 100 consecutive failures; 5 per
#: 15 minutes is this project's stricter design choice (OWASP Authentication Cheat Sheet,
#: "account lockout" example values), so guessing a password online is impractical.
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 15 * 60
#: After the allowed failures, an account+address pair waits this long before the next
#: try, doubling with each further failure up to the window (30, 60, 120 ... 900 s): about
#: five more guesses per window. Design choice (OWASP Authentication Cheat Sheet suggests
#: exponential back-off instead of a hard lock-out).
LOGIN_DELAY_S = 30.0
#: The longest a request waits for the model (what-if, forecast), seconds, before it is
#: answered 503. Design choice: a four-protocol what-if takes about 2 s on one core and a
#: forecast a few seconds; 30 s leaves ten times that for a loaded server, and stays below
#: the 60 s read timeout of common reverse proxies (nginx proxy_read_timeout default).
MODEL_TIMEOUT_S = 30.0
#: Largest request body accepted, bytes; larger ones are refused with 413 before they are
#: read. Design choice: the largest form or JSON body of this app, a session with its 200
#: readings and 50 events of 4,000 characters, is about 250 kB; 1 MiB leaves room for that.
MAX_BODY_BYTES = 1024 * 1024
#: Model runs at once (each takes a core); more wait for a slot within the time limit.
MODEL_MAX_RUNNING = 2


@dataclass(frozen=True)
class WebConfig:
    """Security settings of one app instance.

    ``secret_key`` signs the session cookie (default: ``$KETAMINE_PTSD_SECRET_KEY``, else a
    random key per process, so a restart signs everybody out). ``same_site`` and
    ``secure_cookie`` are the cookie's SameSite and Secure flags (Secure needs HTTPS, so it
    is off for the loopback default). ``trusted_proxies`` are the addresses (or networks)
    of the reverse proxies whose ``X-Forwarded-For`` is believed. Times are in seconds.
    """

    secret_key: str = field(default_factory=lambda: os.environ.get(SECRET_ENV_VAR) or secrets.token_urlsafe(32))
    idle_timeout_s: float = IDLE_TIMEOUT_S
    absolute_timeout_s: float = ABSOLUTE_TIMEOUT_S
    login_max_failures: int = LOGIN_MAX_FAILURES
    login_window_s: float = LOGIN_WINDOW_S
    login_delay_s: float = LOGIN_DELAY_S
    trusted_proxies: tuple[str, ...] = ()
    same_site: Literal["lax", "strict"] = "lax"
    secure_cookie: bool = False
    model_timeout_s: float = MODEL_TIMEOUT_S
    max_body_bytes: int = MAX_BODY_BYTES
    model_max_running: int = MODEL_MAX_RUNNING

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise InputError("secret_key", "shorter than 16 characters", f"16 or more characters (${SECRET_ENV_VAR})")
        for name in ("idle_timeout_s", "absolute_timeout_s", "login_window_s", "login_delay_s",
                     "model_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(name, f"{value!r} is not a positive number of seconds", "> 0 s")
        if isinstance(self.login_max_failures, bool) or not isinstance(self.login_max_failures, int) \
                or not 1 <= self.login_max_failures <= 100:
            raise InputError("login_max_failures", f"{self.login_max_failures!r} is not a limit",
                             "1-100 (NIST SP 800-63B 5.2.2)")
        if isinstance(self.model_max_running, bool) or not isinstance(self.model_max_running, int) \
                or not 1 <= self.model_max_running <= 64:
            raise InputError("model_max_running", f"{self.model_max_running!r} is not a number of runs", "1-64")
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) \
                or not 1024 <= self.max_body_bytes <= 1024**3:
            raise InputError("max_body_bytes", f"{self.max_body_bytes!r} is not a body size", "1 KiB-1 GiB in bytes")
        try:
            networks(self.trusted_proxies)
        except (TypeError, ValueError):
            raise InputError("trusted_proxies", f"{self.trusted_proxies!r} is not a list of addresses",
                             "IP addresses or networks, e.g. 127.0.0.1 or 10.0.0.0/24") from None
        if self.same_site not in ("lax", "strict"):
            raise InputError("same_site", f"{self.same_site!r} is not a SameSite mode", "lax, strict")
