"""Request bodies are capped: a body over the limit is refused with 413 before it is read
(a declared length at once; a chunked body as soon as it passes the cap)."""

from __future__ import annotations

import asyncio

from .conftest import make_app, sign_in

MIB = 1024 * 1024


def call(app, headers, chunks):
    """Run one request through the ASGI app; returns (status, body, number of body chunks read)."""
    sent, reads = [], [0]

    async def receive():
        if reads[0] < len(chunks):
            reads[0] += 1
            return {"type": "http.request", "body": chunks[reads[0] - 1], "more_body": reads[0] < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/session", "raw_path": b"/api/session", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, reads[0]


def test_a_declared_50_mib_body_is_refused_with_413_without_being_read(tmp_path):
    app = make_app(tmp_path)
    status, body, reads = call(app, [(b"content-type", b"application/json"),
                                     (b"content-length", str(50 * MIB).encode())], [b"x" * MIB] * 50)
    assert status == 413 and b"1048576 bytes" in body
    assert reads == 0


def test_a_chunked_body_is_refused_once_it_passes_the_cap(tmp_path):
    app = make_app(tmp_path, max_body_bytes=64 * 1024)
    chunks = [b"{" + b" " * (16 * 1024 - 1)] * 200
    status, body, reads = call(app, [(b"content-type", b"application/json")], chunks)
    assert status == 413 and b"65536 bytes" in body
    # Refused after the fifth 16 KiB chunk (> 64 KiB), never reading the remaining 195.
    assert reads == 5


def test_a_body_under_the_cap_is_served_and_the_cap_is_configurable(tmp_path):
    app = make_app(tmp_path, users={"cleo": "clinician"}, max_body_bytes=2048)
    client = sign_in(app, "cleo")
    assert client.post("/api/patients", json={"name": "Small", "sex": "female"}).status_code == 201
    response = client.post("/api/patients", json={"name": "Big", "note": "n" * 3000})
    assert response.status_code == 413
    assert "2048 bytes" in response.json()["detail"]


def test_an_unreadable_content_length_is_refused(tmp_path):
    app = make_app(tmp_path)
    status, _, reads = call(app, [(b"content-length", b"lots")], [b"{}"])
    assert status == 400 and reads == 0
