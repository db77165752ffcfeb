"""Refused forms name the field as the form shows it (never a command-line flag such as
``--dose`` or a slot name such as ``p0_days``), say which row, and keep what was typed."""

from __future__ import annotations

import html

import pytest

from .conftest import ago, new_patient


def error_of(page: str) -> str:
    start = page.index('class="error" role="alert"')
    return html.unescape(page[start:page.index("</div>", start)])


@pytest.mark.parametrize("form, field", [
    ({"p0_days": "0,2,x"}, "protocol 1: induction days"),
    ({"p0_days": "0,2", "p1_days": "0,2", "p1_infusion_min": "2"}, "protocol 2: infusion (min)"),
    ({"p0_days": "0,2", "p1_days": "0,500"}, "protocol 2: induction days, day 2"),
    ({"p0_days": "0,2", "p0_dose": "lots"}, "protocol 1 dose"),
    ({"p0_days": "0,2", "baseline_pcl5_c": "9"}, "baseline: PCL-5 cluster C"),
])
def test_whatif_errors_name_the_row_and_the_column(clinician, form, field):
    patient_id = new_patient(clinician)
    page = clinician.post(f"/patients/{patient_id}/whatif", data=form)
    assert page.status_code == 422
    error = error_of(page.text)
    assert f"<strong>{field}</strong>" in error, error
    assert "p0_" not in error and "p1_" not in error and "--" not in error
    # What was typed is still in the form.
    for name, value in form.items():
        assert f'name="{name}"' in page.text and f'value="{value}"' in page.text


@pytest.mark.parametrize("form, field", [
    ({"dose": "half"}, "dose"),
    ({"dose": "0.5mg/kg", "weight_kg": "900"}, "weight_kg"),
    ({"dose": "0.5mg/kg", "pre_sbp": "120", "pre_dbp": "150"}, "pre-dose reading dbp"),
])
def test_session_form_errors_name_the_form_field(clinician, form, field):
    patient_id = new_patient(clinician)
    typed = {"started_at": ago(hours=1)[:16], **form}
    page = clinician.post(f"/patients/{patient_id}/sessions", data=typed)
    assert page.status_code == 422
    assert f"<strong>{field}</strong>" in error_of(page.text)
    for value in typed.values():
        assert f'value="{value}"' in page.text


def test_a_future_session_time_names_the_started_at_field(clinician):
    patient_id = new_patient(clinician)
    future = clinician.post(f"/api/patients/{patient_id}/sessions", json={"started_at": "2999-01-01T09:00",
                                                                          "dose": "0.5mg/kg"})
    assert future.status_code == 422 and future.json()["detail"][0]["loc"][-1] == "started_at"
