"""No patient data in the logs: the access log loses query strings, an unexpected error is
logged by type and code location only, and refused input is not echoed back."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ketamine_ptsd.cli_web import uvicorn_log_config
from ketamine_ptsd.web.privacy import AccessLogWithoutQuery, ContainErrors


def access_record(path: str) -> logging.LogRecord:
    # The shape of uvicorn's access-log records.
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:50000", "GET", path, "1.1", 200), None)


def test_access_log_keeps_the_path_and_drops_the_query():
    record = access_record("/patients?q=Jane%20Doe")
    assert AccessLogWithoutQuery().filter(record)
    assert record.getMessage() == '127.0.0.1:50000 - "GET /patients HTTP/1.1" 200'


def test_serve_installs_the_filter_on_the_access_log():
    config = uvicorn_log_config()
    assert config["handlers"]["access"]["filters"] == ["without_query"]
    assert config["filters"]["without_query"]["()"].endswith("AccessLogWithoutQuery")


def test_unexpected_error_is_contained_and_logged_without_its_message(caplog):
    inner = FastAPI()

    @inner.get("/boom")
    def boom(q: str):
        raise ValueError(f"patient {q}")

    inner.add_middleware(ContainErrors)
    with caplog.at_level(logging.ERROR, logger="ketamine_ptsd.web"):
        response = TestClient(inner, raise_server_exceptions=False).get("/boom", params={"q": "Jane Doe"})
    assert response.status_code == 500 and "reference" in response.text and "Jane" not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ValueError" in logged and "/boom" in logged
    assert "Jane" not in logged and "Doe" not in logged


def test_refused_input_is_not_echoed(clinician):
    response = clinician.post("/api/patients", json={"name": "Secret Name\x00", "weight_kg": "heavy Secret"})
    assert response.status_code == 422 and "Secret" not in response.text
