"""No patient data in the logs.

Two ways patient data could reach a server log are closed here:

* the access log line includes the query string (``/patients?q=<a name>``):
  :class:`AccessLogWithoutQuery` drops it, keeping method, path (ids only), status;
* an unexpected error's message can quote the values involved (a database error prints
  the SQL parameters): :class:`ContainErrors` answers 500 itself and logs only the error's
  type, the route and the code locations of the traceback, never the message.
"""

from __future__ import annotations

import logging
import secrets
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("ketamine_ptsd.web")


class AccessLogWithoutQuery(logging.Filter):
    """Logging filter for uvicorn's access log: the request path loses its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access records carry (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class ContainErrors:
    """ASGI middleware: an unhandled error becomes a plain 500 with a reference number, and
    the log gets the reference, the error type, the route and the traceback's code lines."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            reference = secrets.token_hex(4)
            frames = "".join(traceback.format_tb(exc.__traceback__))
            logger.error("unhandled %s on %s %s (reference %s)\n%s", type(exc).__name__, scope.get("method"),
                         scope.get("path"), reference, frames)
            if started:
                raise RuntimeError(f"response already started (reference {reference})") from None
            body = f"internal error, reference {reference}".encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
