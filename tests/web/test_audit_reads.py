"""The audit trail records who viewed which patient (page or API) and every sign-in,
failed or successful, with the address; admins read it with the values in full."""

from __future__ import annotations

import html
import json

from fastapi.testclient import TestClient

from .conftest import PASSWORDS, ago, make_app, sign_in


def entries(admin, **params):
    return admin.get("/api/audit", params={"limit": 1000, **params}).json()


def test_reads_of_a_patient_are_audited_with_reader_and_path(tmp_path):
    app = make_app(tmp_path)
    admin, cleo, rita = sign_in(app, "ada"), sign_in(app, "cleo"), sign_in(app, "rita")
    patient_id = cleo.post("/api/patients", json={"name": "Read Me", "weight_kg": 70}).json()["id"]
    session_id = cleo.post(f"/api/patients/{patient_id}/sessions",
                           json={"started_at": ago(hours=1), "dose": "0.5mg/kg"}).json()["id"]
    assert entries(admin, action="read") == []
    assert rita.get(f"/patients/{patient_id}").status_code == 200
    assert rita.get(f"/api/patients/{patient_id}/assessments").status_code == 200
    assert cleo.get(f"/api/sessions/{session_id}").status_code == 200
    assert rita.get("/api/patients/999999").status_code == 404  # nothing was viewed
    reads = [(e["actor"], e["table_name"], e["record_id"], json.loads(e["new_value"])["path"])
             for e in reversed(entries(admin, action="read"))]
    assert reads == [("rita", "patients", str(patient_id), f"/patients/{patient_id}"),
                     ("rita", "patients", str(patient_id), f"/api/patients/{patient_id}/assessments"),
                     ("cleo", "sessions", str(session_id), f"/api/sessions/{session_id}")]


def test_failed_and_successful_sign_ins_are_audited_with_the_address(tmp_path):
    app = make_app(tmp_path, users={"ada": "admin", "rita": "readonly"}, login_max_failures=1)
    client = TestClient(app, client=("10.1.2.3", 5000))
    client.post("/api/session", json={"name": "rita", "password": "wrong-guess"})
    client.post("/api/session", json={"name": "rita", "password": "wrong-again"})  # held back
    client.post("/api/session", json={"name": "nobody", "password": "whatever"})
    assert client.post("/api/session", json={"name": "ada", "password": PASSWORDS["ada"]}).status_code == 200
    admin = sign_in(app, "ada")
    failed = [(e["actor"], e["record_id"], json.loads(e["new_value"])["address"], json.loads(e["new_value"])["reason"])
              for e in reversed(entries(admin, action="sign_in_failed"))]
    assert failed == [("(sign-in)", "rita", "10.1.2.3", "wrong name or password, or disabled"),
                      ("(sign-in)", "rita", "10.1.2.3", "held back after failed sign-ins"),
                      ("(sign-in)", "nobody", "10.1.2.3", "wrong name or password, or disabled")]
    # No password, right or wrong, is ever logged.
    assert "wrong-guess" not in json.dumps(entries(admin))
    signed_in = [(e["actor"], json.loads(e["new_value"])["address"])
                 for e in reversed(entries(admin, action="sign_in"))]
    assert signed_in[0] == ("ada", "10.1.2.3")


def test_the_audit_page_shows_values_in_full_as_json(tmp_path):
    app = make_app(tmp_path)
    admin, cleo = sign_in(app, "ada"), sign_in(app, "cleo")
    note = "a long note " * 30
    cleo.post("/api/patients", json={"name": "Long Note", "note": note.strip()})
    page = html.unescape(admin.get("/audit", params={"table": "patients"}).text)
    assert note.strip() in page and '"name": "Long Note"' in page
    assert sign_in(app, "rita").get("/audit").status_code == 403
