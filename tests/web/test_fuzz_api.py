"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis), signed
in as an admin so every operation is reachable: no answer may be a server error, and every
answer must match the schema (status code, content type, body). Each operation gets valid
requests (positive) and invalid ones (negative, which must be refused with a 4xx).

All of schemathesis's checks run except "schema-valid request accepted": the clinical
limits (plausible weights, scale ranges, dates not in the future, unique names) are the
clinic's configurable settings, not part of the schema, so a schema-valid request may
rightly be refused with 422 naming the field.

Bounded: a dozen examples per operation and mode (about 450 in all), three for the
operations that take seconds each.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from ketamine_ptsd.web.routes import api

from .conftest import ago, make_app, sign_in

EXAMPLES = 12
SLOW_EXAMPLES = 3
# Operations that take seconds: the model runs (what-if, personal forecast) and adding a
# user (an argon2 hash at the production cost, 0.7 s here).
SLOW_OPERATIONS = re.compile(r"/(whatif|forecast|users)$")


def _operations() -> list:
    """(method, path, mode) of every documented operation; invalid requests only where the
    operation takes input (one without parameters or body cannot be sent wrongly). Signing
    out would end the fuzzing session; it is tested in test_authorization."""
    out = []
    for route in api.router.routes:
        if not (isinstance(route, APIRoute) and route.include_in_schema):
            continue
        takes_input = bool(route.dependant.query_params or route.dependant.path_params or route.body_field)
        for method in route.methods - {"HEAD"}:
            if (method, route.path) == ("DELETE", "/api/session"):
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 2 if takes_input else 1]:
                out.append(pytest.param(method, route.path, mode, id=f"{method} {route.path} {mode.value}"))
    return sorted(out, key=lambda p: p.id)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    """The schema of an app with one admin and a patient who has a session (id 1), and the
    headers of the admin's session."""
    app = make_app(tmp_path_factory.mktemp("fuzz"), users={"ada": "admin"})
    client = sign_in(app, "ada")
    patient_id = client.post("/api/patients", json={"name": "Fuzz Patient", "weight_kg": 70}).json()["id"]
    client.post(f"/api/patients/{patient_id}/sessions", json={"started_at": ago(days=2), "dose": "0.5mg/kg"})
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()),
               "X-CSRF-Token": client.headers["X-CSRF-Token"]}
    return schemathesis.openapi.from_asgi("/api/openapi.json", app, headers=headers), headers


@pytest.mark.parametrize("method, path, mode", _operations())
def test_api_answers_match_the_schema(fuzz_target, method, path, mode):
    schema, headers = fuzz_target
    operation = schema[path][method]
    examples = SLOW_EXAMPLES if SLOW_OPERATIONS.search(path) and method == "POST" else EXAMPLES

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def answers_as_documented(case):
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    answers_as_documented()
