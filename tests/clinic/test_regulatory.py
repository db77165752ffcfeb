"""Regulatory table (FDA alerts, approvals) and consent summaries."""

import datetime as dt

import pytest

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.regulatory import (
    as_of,
    consent_summary,
    expiry_flag,
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
    assert dates["treatment-resistant depression (with an oral antidepressant)"] == "2019-03-05"
    assert any("suicidal" in i for i in dates)
    (ptsd,) = find("esketamine", "PTSD")
    assert ptsd.status == "not approved"
    (eu,) = find("esketamine", "treatment-resistant", "EU")
    assert "EU/1/19/1410" in eu.detail
    assert eu.date == "2019-12-18"


def test_spravato_label_and_rems_unconfirmed_rows_are_marked():
    (label,) = find("esketamine", "labeling")
    assert (label.date, label.tag) == ("2026-03-13", "U")
    assert "could not be confirmed" in label.detail
    (rems,) = find("esketamine", "REMS")
    assert (rems.date, rems.tag) == ("2024-12-31", "U")


def test_telemedicine_row_applies_to_every_product_with_its_expiry():
    for product in ("racemic", "esketamine", "compounded"):
        (row,) = find(product, "telemedicine")
        assert row.product == "all" and row.expires == "2026-12-31"
        assert "through 31 Dec 2026" in row.detail and "61301" in row.source
    (row,) = [r for r in regulatory_status(today=dt.date(2026, 12, 4))
              if "telemedicine" in r.indication]
    assert row.expiry.startswith("EXPIRES 2026-12-31 (in 27 days)")


@pytest.mark.parametrize("today, start", [
    (dt.date(2026, 10, 1), "expires 2026-12-31"),  # 91 days ahead: plain
    (dt.date(2026, 10, 2), "EXPIRES 2026-12-31 (in 90 days)"),
    (dt.date(2026, 12, 31), "EXPIRES 2026-12-31 (in 0 days)"),
    (dt.date(2027, 1, 1), "EXPIRED on 2026-12-31"),
])
def test_expiry_flag(today, start):
    assert expiry_flag("2026-12-31", today).startswith(start)
    assert expiry_flag("", today) == ""


def test_brexpiprazole_outcome_and_approved_ptsd_medicines():
    context = {c["topic"]: c for c in regulatory_context()}
    assert "Only sertraline and paroxetine" in context["FDA-approved PTSD medicines"]["text"]
    brex = context["Brexpiprazole + sertraline for PTSD"]
    assert brex["text"].startswith("Not approved") and brex["date"].startswith("2025")


def test_compounded_not_approved_with_both_fda_alerts():
    rows = [r for r in regulatory_status("compounded") if r.product == "compounded"]
    assert {r.status for r in rows} == {"not approved"}
    assert {r.date for r in rows} == {"2022-02-16", "2023-10-10"}


def test_every_row_is_dated_and_sourced():
    for row in regulatory_status():
        assert row.source and row.tag in ("V", "M", "U"), row
        assert row.date[:4].isdigit(), row
    for row in regulatory_context():
        assert row["source"] and row["tag"] in ("V", "M", "U")
        assert row["date"][:4].isdigit(), row
    assert as_of() == "2026-12-04"
    assert max(r.date for r in regulatory_status()) <= as_of()


def test_unknown_product():
    with pytest.raises(InputError) as err:
        regulatory_status("ketalar")
    assert err.value.field == "product"


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


def test_racemic_consent_evidence_is_balanced():
    text = consent_summary("racemic", "iv_infusion")
    assert "Feder et al., Am J Psychiatry 2021" in text
    assert "158 US veterans" in text and "0.2 or 0.5 mg/kg" in text
    assert "neither dose reduced PTSD symptoms" in text and "Abdallah et al." in text
    assert "fades within about two weeks" in text
    assert "benefit lasts weeks, not months" in text
    assert "Abdallah" not in consent_summary("esketamine", "intranasal")


def test_esketamine_summary_has_rems_monitoring():
    assert "at least 2 hours" in consent_summary("esketamine", "intranasal")


@pytest.mark.parametrize("product, route, field", [
    ("racemic", "oral", "route"), ("esketamine", "iv_infusion", "route"),
    ("mdma", "oral", "product"),
])
def test_consent_bad_input(product, route, field):
    with pytest.raises(InputError) as err:
        consent_summary(product, route)
    assert err.value.field == field
