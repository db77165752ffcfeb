"""Regulatory table (FDA alerts, approvals) and consent summaries."""

import pytest

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.regulatory import (
    as_of,
    consent_summary,
    regulatory_context,
    regulatory_status,
)
from ketamine_ptsd.errors import InputError


def find(product, indication, jurisdiction="US"):
    return [r for r in regulatory_status(product)
            if indication in r.indication and r.jurisdiction == jurisdiction]


def test_racemic_approved_anaesthetic_off_label_ptsd():
    (anaesthesia,) = find("racemic", "anaesthesia")
    assert (anaesthesia.status, anaesthesia.date) == ("approved", "1970")
    assert set(anaesthesia.routes) == {"iv_infusion", "im"}
    (ptsd,) = find("racemic", "PTSD")
    assert ptsd.status == "off-label"


def test_esketamine_approved_for_depression_not_ptsd():
    dates = {r.indication: r.date for r in find("esketamine", "depress")}
    assert dates["treatment-resistant depression (monotherapy)"] == "2025-01-21"
    assert dates["treatment-resistant depression (with an oral antidepressant)"] == "2019-03"
    assert any("suicidal" in i for i in dates)
    (ptsd,) = find("esketamine", "PTSD")
    assert ptsd.status == "not approved"
    (eu,) = find("esketamine", "treatment-resistant", "EU")
    assert "EU/1/19/1410" in eu.detail


def test_compounded_not_approved_with_both_fda_alerts():
    rows = regulatory_status("compounded")
    assert {r.status for r in rows} == {"not approved"}
    assert {r.date for r in rows} == {"2022-02-16", "2023-10-10"}


def test_every_row_has_source_and_tag():
    for row in regulatory_status():
        assert row.source and row.tag in ("V", "M", "U"), row
    for row in regulatory_context():
        assert row["source"] and row["tag"] in ("V", "M", "U")
    assert as_of().startswith("2025-01-21")


def test_unknown_product():
    with pytest.raises(InputError) as err:
        regulatory_status("ketalar")
    assert err.value.field == "--product"


@pytest.mark.parametrize("product, route, status_text", [
    ("racemic", "iv_infusion", "OFF-LABEL"), ("racemic", "im", "OFF-LABEL"),
    ("esketamine", "intranasal", "NOT APPROVED"), ("compounded", "oral", "NOT APPROVED"),
])
def test_consent_summary_states_status_risks_and_notice(product, route, status_text):
    text = consent_summary(product, route)
    assert f"PTSD: {status_text}" in text
    for risk in ("Dissociation", "Blood pressure rises", "Misuse, abuse and dependence",
                 "Bladder and urinary", "respiratory depression", "do not drive"):
        assert risk in text, risk
    assert "[SPRAVATO PI 5.6 and Table 6; Rodrigues et al. 2022; V]" in text
    assert text.rstrip().endswith(NOT_A_MEDICAL_DEVICE)


def test_compounded_summary_warns_about_home_use():
    text = consent_summary("compounded", "intranasal")
    assert "2022-02-16" in text and "2023-10-10" in text
    assert "at home" in text
    assert "Unmonitored use at home" in text
    assert "Unmonitored use at home" not in consent_summary("esketamine", "intranasal")


def test_esketamine_summary_has_rems_monitoring():
    assert "at least 2 hours" in consent_summary("esketamine", "intranasal")


@pytest.mark.parametrize("product, route, field", [
    ("racemic", "oral", "--route"), ("esketamine", "iv_infusion", "--route"),
    ("mdma", "oral", "--product"),
])
def test_consent_bad_input(product, route, field):
    with pytest.raises(InputError) as err:
        consent_summary(product, route)
    assert err.value.field == field
