"""A cap on request bodies: a body larger than ``max_body_bytes`` (:class:`WebConfig`) is
refused with ``413`` before it is read.

A request that declares its length (``Content-Length``) over the cap is answered at once,
without reading a byte of the body; a body sent without a length (chunked) is counted as
it arrives and refused as soon as it passes the cap. Nothing else in the app (sign-in
check, session, form parsing) runs on a refused body's bytes.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _refuse(status: int, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}).encode()
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]},
            {"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def too_large(self) -> str:
        return f"the request body is larger than the {self.max_bytes} bytes this server accepts"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                length = -1
            if length < 0:
                for message in _refuse(400, "the Content-Length header is not a number of bytes"):
                    await send(message)
                return
            if length > self.max_bytes:
                for message in _refuse(413, self.too_large()):
                    await send(message)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app's body read: its error answers turn it into 413.
                    raise HTTPException(413, self.too_large())
            return message

        await self.app(scope, counted, send)
