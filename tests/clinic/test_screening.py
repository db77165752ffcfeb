"""Screening checklist (SPRAVATO label, consensus and trial exclusions): hard stops, reviews,
notes."""

import pytest

from ketamine_ptsd.clinic.screening import REQUIRED, parse_patient, screen
from ketamine_ptsd.errors import InputError

YES_NO = [q for q in REQUIRED if q not in (
    "age_years", "bp_readings", "sud_severity", "cssrs_risk", "brain_injury", "child_pugh",
    "medications", "hyperthyroidism")]


def clean(**changes):
    """A fully assessed patient with nothing to report, plus changes."""
    patient = {q: False for q in YES_NO}
    patient.update(age_years=40, bp_readings=["128/82", "124/80"], sud_severity="none",
                   cssrs_risk="none", brain_injury="none", child_pugh="none", medications=[],
                   hyperthyroidism="none")
    patient.update(changes)
    return patient


def codes(result):
    return [r.code for r in result.reasons]


def test_clean_patient_is_eligible():
    r = screen(clean())
    assert r.decision == "eligible"
    assert r.reasons == ()
    assert r.mean_bp == (126.0, 81.0)


def test_unassessed_question_is_never_read_as_absent():
    patient = clean()
    del patient["pregnant"]
    r = screen(patient)
    assert r.decision == "needs_review"
    assert r.not_assessed == ("pregnant",)
    assert codes(r) == ["not_assessed"]


@pytest.mark.parametrize("question, code", [
    ("aneurysmal_vascular_disease", "aneurysmal_vascular_disease"),
    ("uncontrolled_hypertension", "uncontrolled_hypertension"),
    ("arteriovenous_malformation", "arteriovenous_malformation"),
    ("intracerebral_haemorrhage_history", "intracerebral_haemorrhage"),
    ("hypersensitivity", "hypersensitivity"),
    ("bp_increase_serious_hazard", "bp_increase_serious_hazard"),
    ("psychosis_current", "psychosis_current"),
    ("mania_current", "mania_current"),
    ("pregnant", "pregnancy"),
    ("breastfeeding", "breastfeeding"),
])
def test_hard_stops(question, code):
    r = screen(clean(**{question: True}))
    assert r.decision == "not_eligible"
    assert codes(r) == [code]
    assert r.reasons[0].severity == "hard_stop"
    assert r.reasons[0].source
    assert r.reasons[0].tag in "VMU"


@pytest.mark.parametrize("question, code", [
    ("unstable_cardiovascular_disease", "unstable_cardiovascular_disease"),
    ("cerebrovascular_disease", "cerebrovascular_disease"),
    ("hypertensive_encephalopathy_history", "hypertensive_encephalopathy_history"),
    ("psychosis_history", "psychosis_history"),
    ("dissociative_misuse_history", "dissociative_misuse_history"),
    ("raised_intracranial_pressure", "raised_intracranial_pressure"),
    ("raised_intraocular_pressure", "raised_intraocular_pressure"),
])
def test_review_items(question, code):
    r = screen(clean(**{question: True}))
    assert r.decision == "needs_review"
    assert codes(r) == [code]


class TestBloodPressure:
    def test_vector_150_95_is_review_not_hard_stop(self):
        r = screen(clean(bp_readings=["150/95"]))
        assert r.decision == "needs_review"
        assert codes(r) == ["elevated_bp"]

    @pytest.mark.parametrize("bp, expected, decision", [
        ("140/90", [], "eligible"), ("141/90", ["elevated_bp"], "needs_review"),
        ("140/91", ["elevated_bp"], "needs_review"), ("159/99", ["elevated_bp"], "needs_review"),
        ("160/80", ["bp_hold"], "not_eligible"), ("130/100", ["bp_hold"], "not_eligible"),
        ("200/120", ["bp_hold"], "not_eligible"),
    ])
    def test_thresholds(self, bp, expected, decision):
        r = screen(clean(bp_readings=[bp]))
        assert codes(r) == expected
        assert r.decision == decision

    def test_hold_names_threshold_and_source(self):
        reason = screen(clean(bp_readings=["200/120"])).reasons[0]
        assert reason.severity == "hard_stop"
        assert "160/100" in reason.detail and "200/120" in reason.detail
        assert "screening.uncontrolled_bp" in reason.source and "JNC 7" in reason.source

    def test_one_high_reading_is_not_hidden_by_the_mean(self):
        # mean 143/83 is below the hold, but the first reading is above it
        r = screen(clean(bp_readings=["190/110", "120/70", "120/70"]))
        assert r.decision == "not_eligible"
        assert codes(r) == ["bp_hold"]
        assert "190/110" in r.reasons[0].detail
        assert r.mean_bp == (143.3, 83.3)

    def test_readings_just_below_hold_stay_review(self):
        r = screen(clean(bp_readings=["159/99", "150/95"]))
        assert r.decision == "needs_review"
        assert codes(r) == ["elevated_bp"]

    def test_clinician_flag_defers_whatever_the_readings(self):
        r = screen(clean(uncontrolled_hypertension=True, bp_readings=["128/82"]))
        assert r.decision == "not_eligible"
        assert codes(r) == ["uncontrolled_hypertension"]
        assert "160/100" in r.reasons[0].detail
        assert "screening.uncontrolled_bp" in r.reasons[0].source

    def test_flag_and_high_reading_both_listed(self):
        r = screen(clean(uncontrolled_hypertension=True, bp_readings=["170/105"]))
        assert codes(r) == ["uncontrolled_hypertension", "bp_hold"]

    def test_hold_threshold_and_severity_are_settings(self):
        bp = clean(bp_readings=["170/95"])
        assert screen(bp, settings={"screening.uncontrolled_bp.sbp_at_or_above": 180}
                      ).decision == "needs_review"
        assert screen(bp, settings={"screening.conditions.bp_hold.severity": "review"}
                      ).decision == "needs_review"

    def test_mean_of_readings(self):
        # (150 + 130) / 2 = 140, (95 + 85) / 2 = 90 -> not above 140/90
        r = screen(clean(bp_readings=["150/95", "130/85"]))
        assert r.decision == "eligible"
        assert r.mean_bp == (140.0, 90.0)

    def test_threshold_override(self):
        r = screen(clean(bp_readings=["150/95"]),
                   settings={"screening.elevated_bp": {"sbp_above": 150, "dbp_above": 95}})
        assert r.decision == "eligible"

    def test_pairs_accepted(self):
        assert screen(clean(bp_readings=[(128, 82)])).mean_bp == (128.0, 82.0)

    @pytest.mark.parametrize("bp, field", [
        ("150-95", "bp_readings[0]"), ("400/95", "bp_readings[0] systolic"),
        ("120/130", "bp_readings[0]"),
    ])
    def test_bad_bp(self, bp, field):
        with pytest.raises(InputError) as err:
            screen(clean(bp_readings=[bp]))
        assert err.value.field == field


class TestSubstanceUse:
    @pytest.mark.parametrize("severity", ["moderate", "severe"])
    def test_recent_moderate_or_severe_is_hard_stop(self, severity):
        r = screen(clean(sud_severity=severity, sud_months_since_active=5.9))
        assert r.decision == "not_eligible"
        assert codes(r) == ["sud_recent"]
        assert "screening.recent_sud" in r.reasons[0].source

    @pytest.mark.parametrize("severity", ["moderate", "severe"])
    def test_six_months_is_no_longer_recent(self, severity):
        r = screen(clean(sud_severity=severity, sud_months_since_active=6))
        assert r.decision == "needs_review"
        assert codes(r) == ["sud_history"]

    def test_window_is_a_setting(self):
        r = screen(clean(sud_severity="severe", sud_months_since_active=8),
                   settings={"screening.recent_sud.months": 12})
        assert r.decision == "not_eligible"

    def test_severities_are_a_setting(self):
        r = screen(clean(sud_severity="moderate", sud_months_since_active=1),
                   settings={"screening.recent_sud.severities": ["severe"]})
        assert codes(r) == ["sud_history"]

    def test_mild_current_is_review(self):
        assert codes(screen(clean(sud_severity="mild", sud_months_since_active=0))) == [
            "sud_history"]

    def test_timing_must_be_given(self):
        r = screen(clean(sud_severity="moderate"))
        assert "sud_months_since_active" in r.not_assessed

    def test_dast10(self):
        assert codes(screen(clean(dast10_score=2))) == []
        assert codes(screen(clean(dast10_score=3))) == ["dast10_positive"]


class TestStrokeMiAndThyroid:
    def test_recent_stroke_or_mi_is_hard_stop(self):
        r = screen(clean(stroke_or_mi=True, stroke_or_mi_months_since=11.9))
        assert r.decision == "not_eligible"
        assert codes(r) == ["stroke_mi_recent"]
        assert "screening.recent_stroke_mi" in r.reasons[0].source

    def test_older_stroke_or_mi_is_review(self):
        r = screen(clean(stroke_or_mi=True, stroke_or_mi_months_since=12))
        assert r.decision == "needs_review"
        assert codes(r) == ["stroke_mi_history"]

    def test_window_is_a_setting(self):
        r = screen(clean(stroke_or_mi=True, stroke_or_mi_months_since=7),
                   settings={"screening.recent_stroke_mi.months": 6})
        assert codes(r) == ["stroke_mi_history"]

    def test_months_must_be_given(self):
        r = screen(clean(stroke_or_mi=True))
        assert "stroke_or_mi_months_since" in r.not_assessed
        assert r.decision == "needs_review"

    def test_unanswered_is_not_absent(self):
        patient = clean()
        del patient["stroke_or_mi"], patient["hyperthyroidism"]
        assert screen(patient).not_assessed == ("stroke_or_mi", "hyperthyroidism")

    @pytest.mark.parametrize("state, expected, decision", [
        ("none", [], "eligible"),
        ("controlled", ["hyperthyroidism_controlled"], "eligible"),
        ("uncontrolled", ["hyperthyroidism_uncontrolled"], "not_eligible"),
    ])
    def test_hyperthyroidism(self, state, expected, decision):
        r = screen(clean(hyperthyroidism=state))
        assert codes(r) == expected
        assert r.decision == decision


class TestSuicideRisk:
    def test_cssrs_high_blocks(self):
        r = screen(clean(cssrs_risk="high"))
        assert r.decision == "not_eligible"
        assert codes(r) == ["suicide_risk_high"]

    def test_cssrs_moderate_and_low(self):
        assert screen(clean(cssrs_risk="moderate")).decision == "needs_review"
        assert screen(clean(cssrs_risk="low")).decision == "eligible"

    def test_phq9_item9(self):
        assert codes(screen(clean(phq9_item9=1))) == ["phq9_item9_positive"]
        assert codes(screen(clean(phq9_item9=0))) == []


class TestOtherConditions:
    @pytest.mark.parametrize("tbi, decision", [
        ("none", "eligible"), ("mild", "eligible"), ("moderate", "not_eligible"),
        ("severe", "not_eligible"),
    ])
    def test_brain_injury(self, tbi, decision):
        assert screen(clean(brain_injury=tbi)).decision == decision

    def test_hepatic(self):
        assert codes(screen(clean(child_pugh="C"))) == ["hepatic_child_pugh_c"]
        assert screen(clean(child_pugh="C")).decision == "needs_review"
        r = screen(clean(child_pugh="B"))
        assert r.decision == "eligible"  # a note does not change the decision
        assert codes(r) == ["hepatic_child_pugh_b"]
        assert r.reasons[0].severity == "note"

    def test_age(self):
        assert codes(screen(clean(age_years=64))) == []
        assert codes(screen(clean(age_years=65))) == ["older_adult"]
        assert codes(screen(clean(age_years=17))) == ["minor"]
        assert codes(screen(clean(age_years=18))) == []

    def test_severity_is_configurable(self):
        r = screen(clean(psychosis_history=True),
                   settings={"screening.conditions.psychosis_history.severity": "hard_stop"})
        assert r.decision == "not_eligible"

    def test_non_screening_severity_rejected(self):
        with pytest.raises(InputError, match="screening severity"):
            screen(clean(psychosis_history=True),
                   settings={"screening.conditions.psychosis_history.severity": "stop"})


class TestMedications:
    def test_maoi_and_stimulant_review_cns_depressants_note(self):
        r = screen(clean(medications=["maoi", "psychostimulant", "benzodiazepine", "opioid",
                                      "non_benzo_hypnotic"]))
        assert r.decision == "needs_review"
        severities = {x.code: x.severity for x in r.reasons}
        assert severities == {"maoi": "review", "psychostimulant": "review",
                              "benzodiazepine": "note", "opioid": "note",
                              "non_benzo_hypnotic": "note"}

    def test_benzodiazepine_alone_stays_eligible(self):
        assert screen(clean(medications=["benzodiazepine"])).decision == "eligible"

    def test_unknown_class_rejected(self):
        with pytest.raises(InputError) as err:
            screen(clean(medications=["benzodiazepine", "benzos"]))
        assert err.value.field == "medications[1]"
        assert "maoi" in str(err.value)


def test_hard_stops_listed_first_with_all_reasons():
    r = screen(clean(pregnant=True, psychosis_history=True, medications=["opioid"]))
    assert [x.severity for x in r.reasons] == ["hard_stop", "review", "note"]
    data = r.to_dict()
    assert data["decision"] == "not_eligible"
    assert {"code", "text", "severity", "source", "tag"} <= set(data["reasons"][0])


@pytest.mark.parametrize("data, field", [
    ({"foo": 1}, "foo"), ({"pregnant": "maybe"}, "pregnant"),
    ({"sud_severity": "heavy"}, "sud_severity"), ({"dast10_score": 11}, "dast10_score"),
    ({"product": "compounded"}, "product"),
])
def test_bad_patient_fields(data, field):
    with pytest.raises(InputError) as err:
        parse_patient(data)
    assert err.value.field == field
    assert err.value.allowed
