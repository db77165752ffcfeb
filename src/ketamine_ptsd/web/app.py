"""The app factory: one FastAPI application on one clinic database.

:func:`create_app` connects to the records (SQLite by default, any URL the records
support), creates the schema in an empty database, and assembles the pages, the JSON API,
the static assets (htmx vendored, plotly.js from the installed plotly package), the
session cookie, the security headers, and the error answers: a page request that is not
signed in is sent to the sign-in page, an API request gets ``401``; a wrong role ``403``;
refused input ``422`` naming the field; an unexpected error ``500`` with a reference, and
only the reference and the code location in the log.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketamine_ptsd import __version__
from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.settings import Settings, resolve
from ketamine_ptsd.dosing import CLINIC_ROUTES
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.params import DEFAULT_POPULATION
from ketamine_ptsd.store import connect, ensure_current
from ketamine_ptsd.store.models import utcnow
from ketamine_ptsd.store.records import DatabaseRefused

from .auth import Forbidden, NotSignedIn, SessionRegistry, current_user
from .body_limit import BodyLimit
from .client_address import networks
from .config import WebConfig
from .csrf import FORM_FIELD, HEADER, CsrfFailed, csrf_token
from .database import read_engine, write_lock
from .forms import web_error
from .login_limit import LoginLimiter
from .model_runs import ModelBusy, ModelRunner
from .privacy import ContainErrors
from .routes import api, pages
from .routes import plan as plan_routes

HERE = Path(__file__).resolve().parent
COOKIE_NAME = "ketamine_ptsd_session"
#: Scripts only from this server (no inline script, no CDN); plotly and htmx set inline
#: styles, hence 'unsafe-inline' for styles only; no framing (clickjacking).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                           "base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Page addresses carry patient ids; they stay on this server.
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every response (static assets may be cached)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS
                            if k not in present and not (static and k == b"cache-control")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def pretty_json(text: str | None) -> str:
    """An audit value (JSON text) indented for reading, in full; other text as it is."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _page_error(request: Request, status: int, message: str) -> Response:
    # The signed-in user keeps the navigation bar on an error page (404, 403 ...).
    user = current_user(request) if "session" in request.scope else None
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message, "user": user}, status_code=status)


def _install_error_answers(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "not signed in"}, status_code=401)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        message = f"the {exc.role} role does not have the {exc.permission} permission this needs"
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=403)
        return _page_error(request, 403, message)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        message = f"missing or wrong CSRF token (send the {HEADER} header or the {FORM_FIELD} form field)"
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=403)
        return _page_error(request, 403, "The form has expired; reload the page and try again.")

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        path = request.url.path
        exc = web_error(exc, "started_at" if path.endswith("/sessions") else
                        "administered_at" if path.endswith("/assessments") else "date")
        if _is_api(request):
            # The same shape as FastAPI's own validation errors, so one error schema covers both.
            return JSONResponse({"detail": [{"loc": ["body", exc.field], "msg": exc.message, "type": "input_error",
                                             "ctx": {"allowed": exc.allowed}}]}, status_code=422)
        return _page_error(request, 422, str(exc))

    @app.exception_handler(DatabaseRefused)
    async def database_refused(request: Request, exc: DatabaseRefused) -> Response:
        # A constraint another request met first (409), or the database busy or gone (503);
        # the records' message names the constraint, never the values.
        status = 409 if exc.conflict else 503
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return _page_error(request, status, str(exc))

    @app.exception_handler(ModelBusy)
    async def model_busy(request: Request, exc: ModelBusy) -> Response:
        headers = {"Retry-After": str(int(exc.retry_after_s) + 1)}
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)
        response = _page_error(request, 503, str(exc))
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Echoing the input back would put submitted values (patient data) into responses
        # that proxies may log; the location and the message are enough to fix it.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        if _is_api(request):
            return JSONResponse({"detail": detail}, status_code=422)
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        return _page_error(request, 422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code == 405:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _page_error(request, exc.status_code, str(exc.detail))


def create_app(db_url: str | None = None, *, config: WebConfig | None = None,
               settings: Settings | dict[str, Any] | str | None = None, now: Any = utcnow) -> FastAPI:
    """The clinic web app on the records at ``db_url`` (resolved as by ``--db``: explicit,
    else ``$KETAMINE_PTSD_DB``, else SQLite in the user's data folder).

    ``config`` holds the security settings (:class:`WebConfig`), ``settings`` the clinic's
    thresholds (an override of the packaged ``settings.toml``), ``now`` the clock that
    judges "in the future" (a timezone-aware datetime factory; tests pass a fixed one).
    """
    config = config or WebConfig()
    engine = connect(db_url)
    try:
        ensure_current(engine)
    except BaseException:
        engine.dispose()
        raise

    reader = read_engine(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        app.state.model_runner.close()
        reader.dispose()
        engine.dispose()

    app = FastAPI(title="ketamine-ptsd clinic", version=__version__, lifespan=lifespan,
                  description=f"Clinic records, session monitoring, forecasts and protocol comparison. "
                              f"{NOT_A_MEDICAL_DEVICE}",
                  docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["pretty_json"] = pretty_json
    templates.env.globals.update(csrf_token=csrf_token, notice=NOT_A_MEDICAL_DEVICE, version=__version__,
                                 induction_days=pages.INDUCTION_DAYS_TEXT, clinic_routes=CLINIC_ROUTES,
                                 other_instruments=pages.OTHER_INSTRUMENTS, populations=pages.POPULATIONS,
                                 default_population=DEFAULT_POPULATION)
    app.state.engine = engine
    app.state.read_engine = reader
    app.state.write_lock = write_lock(engine)
    app.state.settings = resolve(settings)
    app.state.config = config
    app.state.now = now
    app.state.templates = templates
    app.state.sessions = SessionRegistry(config.idle_timeout_s, config.absolute_timeout_s)
    app.state.login_limiter = LoginLimiter(config.login_max_failures, config.login_window_s, config.login_delay_s)
    app.state.trusted_proxies = networks(config.trusted_proxies)
    app.state.model_runner = ModelRunner(config.model_timeout_s, config.model_max_running)

    plotly_js = resources.files("plotly") / "package_data" / "plotly.min.js"

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_script() -> FileResponse:
        """plotly.js as shipped by the installed plotly package (never a CDN)."""
        return FileResponse(str(plotly_js), media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(plan_routes.router)
    _install_error_answers(app)
    app.add_middleware(SessionMiddleware, secret_key=config.secret_key, session_cookie=COOKIE_NAME,
                       max_age=int(config.absolute_timeout_s), same_site=config.same_site,
                       https_only=config.secure_cookie)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ContainErrors)
    return app
