"""What the screening result tells the clinician, word for word where a word matters: each
reason's detail (the numbers behind it), its provenance (the rule's own source and evidence
tag), the order hard stops -> reviews -> notes, the JSON form, and input errors that name the
field and the allowed values. Found missing by mutation testing (docs/testing.md)."""

from __future__ import annotations

import pytest

from ketamine_ptsd.clinic.screening import REQUIRED, parse_patient, screen
from ketamine_ptsd.clinic.settings import default_settings
from ketamine_ptsd.errors import InputError

YES_NO = [q for q in REQUIRED if q not in (
    "age_years", "bp_readings", "hyperthyroidism", "sud_severity", "cssrs_risk", "brain_injury", "child_pugh",
    "medications")]


def clean(**changes):
    patient = {q: False for q in YES_NO}
    patient.update(age_years=40, bp_readings=["128/82", "124/80"], hyperthyroidism="none", sud_severity="none",
                   cssrs_risk="none",
                   brain_injury="none", child_pugh="none", medications=[])
    patient.update(changes)
    return patient


def details(result) -> dict[str, str]:
    return {r.code: r.detail for r in result.reasons}


@pytest.mark.parametrize("changes, code, detail", [
    # Issue 13: moderate or severe SUD active < 6 months ago is a hard stop (screening.recent_sud).
    ({"sud_severity": "severe", "sud_months_since_active": 3}, "sud_recent",
     "severe SUD active 3 month(s) ago (< 6)"),
    ({"sud_severity": "severe", "sud_months_since_active": 6}, "sud_history", "severe SUD, last active 6 month(s) ago"),
    ({"sud_severity": "moderate", "sud_months_since_active": 5.9}, "sud_recent",
     "moderate SUD active 5.9 month(s) ago (< 6)"),
    ({"sud_severity": "moderate", "sud_months_since_active": 6}, "sud_history",
     "moderate SUD, last active 6 month(s) ago"),
    ({"sud_severity": "mild", "sud_months_since_active": 1.5}, "sud_history",
     "mild SUD, last active 1.5 month(s) ago"),
    ({"sud_severity": "mild"}, "sud_history", "mild SUD"),
    # Stroke or MI < 12 months ago is a hard stop, an older one a review (screening.recent_stroke_mi).
    ({"stroke_or_mi": True, "stroke_or_mi_months_since": 11.9}, "stroke_mi_recent", "11.9 month(s) ago (< 12)"),
    ({"stroke_or_mi": True, "stroke_or_mi_months_since": 12}, "stroke_mi_history", "12 month(s) ago"),
    ({"hyperthyroidism": "uncontrolled"}, "hyperthyroidism_uncontrolled", ""),
    ({"hyperthyroidism": "controlled"}, "hyperthyroidism_controlled", ""),
    ({"cssrs_risk": "high"}, "suicide_risk_high", "C-SSRS screener: high"),
    ({"cssrs_risk": "moderate"}, "suicide_risk_moderate", "C-SSRS screener: moderate"),
    ({"phq9_item9": 2}, "phq9_item9_positive", "PHQ-9 item 9 = 2"),
    ({"dast10_score": 3}, "dast10_positive", "DAST-10 = 3"),
    ({"brain_injury": "moderate"}, "brain_injury_moderate_severe", "moderate TBI"),
    ({"brain_injury": "severe"}, "brain_injury_moderate_severe", "severe TBI"),
    ({"age_years": 65}, "older_adult", "age 65"),
    ({"age_years": 17.5}, "minor", "age 17.5"),
    ({"bp_readings": ["150/95", "146/91"]}, "elevated_bp", "mean of 2 reading(s) 148/93 mmHg > 140/90"),
    ({"child_pugh": "B"}, "hepatic_child_pugh_b", ""),
])
def test_each_reason_shows_the_numbers_behind_it(changes, code, detail):
    r = screen(clean(**changes))
    assert details(r)[code] == detail


@pytest.mark.parametrize("changes, absent", [
    ({"dast10_score": 2}, "dast10_positive"), ({"age_years": 64.9}, "older_adult"), ({"age_years": 18}, "minor"),
    ({"brain_injury": "mild"}, "brain_injury_moderate_severe"), ({"phq9_item9": 0}, "phq9_item9_positive"),
    ({"cssrs_risk": "low"}, "suicide_risk_moderate"), ({"child_pugh": "A"}, "hepatic_child_pugh_b"),
])
def test_just_inside_the_limits_nothing_is_reported(changes, absent):
    r = screen(clean(**changes))
    assert absent not in details(r) and r.decision == "eligible"


def test_reasons_carry_their_rules_provenance_and_sort_by_severity():
    r = screen(clean(psychosis_current=True, sud_severity="mild", sud_months_since_active=24, age_years=70,
                     medications=["benzodiazepine"], cssrs_risk="high"))
    # Found in the order psychosis, SUD, suicide risk, age, medication; shown by severity
    # (a stable sort: the order of finding is kept within a severity).
    assert [(x.code, x.severity) for x in r.reasons] == [
        ("psychosis_current", "hard_stop"), ("suicide_risk_high", "hard_stop"), ("sud_history", "review"),
        ("older_adult", "note"), ("benzodiazepine", "note")]
    s = default_settings()
    for reason in r.reasons:
        table = "screening.interactions" if reason.code == "benzodiazepine" else "screening.conditions"
        rule = s[f"{table}.{reason.code}"]
        assert (reason.text, reason.severity, reason.source, reason.tag) == (
            rule["text"], rule["severity"], rule.source, rule.tag), reason.code
        assert reason.text and reason.source and reason.tag
    assert r.decision == "not_eligible" and r.product == "racemic"


def test_json_form():
    r = screen(clean(product="esketamine", dast10_score=5, bp_readings=["130/80"]))
    d = r.to_dict()
    assert set(d) == {"decision", "product", "reasons", "not_assessed", "mean_bp"}
    assert d["product"] == "esketamine" and d["mean_bp"] == [130.0, 80.0] and d["not_assessed"] == []
    reason = d["reasons"][0]
    assert set(reason) == {"code", "text", "severity", "source", "tag", "detail"}
    assert reason["code"] == "dast10_positive" and reason["detail"] == "DAST-10 = 5"
    no_bp = screen(clean(bp_readings=None)).to_dict()
    assert no_bp["mean_bp"] is None and no_bp["not_assessed"] == ["bp_readings"]


def test_mean_bp_is_rounded_to_one_decimal():
    r = screen(clean(bp_readings=["121/81", "122/80", "122/80"]))
    assert r.mean_bp == (121.7, 80.3)


def test_unanswered_questions_are_listed_in_one_review():
    patient = clean(sud_severity="moderate")
    del patient["pregnant"], patient["breastfeeding"]
    r = screen(patient)
    assert r.not_assessed == ("pregnant", "breastfeeding", "sud_months_since_active")
    reason = next(x for x in r.reasons if x.code == "not_assessed")
    assert reason.text == "Safety questions not answered: pregnant, breastfeeding, sud_months_since_active"
    assert (reason.severity, reason.tag) == ("review", "M")
    assert reason.source == "Design rule: an unanswered safety question is never read as 'absent'"


@pytest.mark.parametrize("age", [12, 110])
def test_age_at_the_plausible_limits_is_accepted(age):
    assert screen(clean(age_years=age)).decision in ("needs_review", "eligible")


@pytest.mark.parametrize("changes, field, allowed, message", [
    ({"age_years": 11.9}, "age_years", "12-110", "outside the plausible range"),
    ({"age_years": 110.5}, "age_years", "12-110", "outside the plausible range"),
    ({"bp_readings": ["128/82", "49/40"]}, "bp_readings[1] systolic", "50-300", "outside the plausible range"),
    ({"bp_readings": ["128/201"]}, "bp_readings[0] diastolic", "20-200", "outside the plausible range"),
    ({"bp_readings": ["120/120"]}, "bp_readings[0]", '"SBP/DBP" with SBP > DBP', "120/120: diastolic >= systolic"),
])
def test_implausible_numbers_name_the_field_and_range(changes, field, allowed, message):
    with pytest.raises(InputError) as err:
        screen(clean(**changes))
    assert (err.value.field, err.value.allowed) == (field, allowed)
    assert message in err.value.message


BP_ALLOWED = 'a list of "SBP/DBP" strings, e.g. ["132/84"] (or omit)'


@pytest.mark.parametrize("changes, field, allowed", [
    ({"colour": "blue"}, "colour", "the keys documented in docs/clinic.md (PATIENT.toml)"),
    ({"dast10_score": 11}, "dast10_score", "0-10"),
    ({"sud_months_since_active": -1}, "sud_months_since_active", ">= 0"),
    ({"pregnant": "perhaps"}, "pregnant", "true or false (or omit)"),
    ({"age_years": "old"}, "age_years", "a number (or omit)"),
    ({"cssrs_risk": "very"}, "cssrs_risk", "none, low, moderate, high (or omit)"),
    ({"hyperthyroidism": True}, "hyperthyroidism", "none, controlled, uncontrolled (or omit)"),
    ({"stroke_or_mi_months_since": -1}, "stroke_or_mi_months_since", ">= 0"),
    ({"product": "ketamine"}, "product", "racemic, esketamine"),
    ({"medications": "benzodiazepine"}, "medications", "a list of medication classes (or omit)"),
    ({"bp_readings": "150/95"}, "bp_readings", BP_ALLOWED),
    ({"bp_readings": ["150 / 95", "15O/95"]}, "bp_readings[1]", BP_ALLOWED),
    ({"bp_readings": [["x", 80]]}, "bp_readings[0]", BP_ALLOWED),   # the reading, not its part
])
def test_bad_patient_files_name_the_field_and_what_is_allowed(changes, field, allowed):
    with pytest.raises(InputError) as err:
        parse_patient(clean(**changes))
    assert (err.value.field, err.value.allowed) == (field, allowed)


def test_blood_pressure_may_be_written_with_spaces_or_as_pairs():
    assert parse_patient(clean(bp_readings=["150 / 95", [140, 90]])).bp_readings == [(150, 95), (140, 90)]
    with pytest.raises(InputError) as err:
        parse_patient(clean(bp_readings=["150/95/80"]))
    assert "is not a blood pressure like '132/84'" in err.value.message


def test_unknown_medication_class_is_named():
    with pytest.raises(InputError) as err:
        screen(clean(medications=["benzodiazepine", "aspirin"]))
    assert err.value.field == "medications[1]" and "'aspirin'" in err.value.message
    assert "benzodiazepine" in err.value.allowed
