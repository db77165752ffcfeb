"""Every field of a scored instrument, for each instrument: which instrument and recall period
it is (as published), the items as scored, what is missing, the flags with the words that
explain them, the LOINC codes where verified, and the JSON form. Found missing by mutation
testing (docs/testing.md): the scoring tests checked totals and bands, not the rest."""

from __future__ import annotations

import pytest

from ketamine_ptsd.clinic import instruments as ins
from ketamine_ptsd.errors import InputError

EMPTY_LOINC = {"panel": None, "total": None, "items": None}
# LOINC PHQ-9 panel 44249-1, total score 44261-6, items 44250-9 ... 44260-8, difficulty 69722-7.
PHQ9_LOINC = {"panel": "44249-1", "total": "44261-6",
              "items": ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
                        "44260-8"], "difficulty": "69722-7"}


def common(result):
    d = result.to_dict()
    return {k: d[k] for k in ("instrument", "name", "time_frame", "items", "total", "flags", "notes", "prorated",
                              "n_missing", "loinc", "is_complete")}


def test_dast10_reverses_item_3_and_reports_a_positive_screen_even_when_incomplete():
    r = ins.score_dast10([1, 1, 0, 1, 0, 0, 0, 0, 0, None])
    assert common(r) == {
        "instrument": "dast10", "name": "DAST-10", "time_frame": "past 12 months",
        "items": [1, 1, 1, 1, 0, 0, 0, 0, 0, None], "total": None,
        "flags": ["incomplete", "positive_screen"],
        "notes": ["incomplete: 1 answer(s) missing; no total",
                  "positive_screen: DAST-10 >= 3: further assessment of drug use"],
        "prorated": False, "n_missing": 1, "loinc": EMPTY_LOINC, "is_complete": False}
    assert r.positive_screen == "positive" and r.band is None
    assert set(r.thresholds) == {"dast10.bands", "dast10.positive_screen"}
    two = ins.score_dast10([1, 0, 1, 1] + [0] * 6)         # 1 + 0 + 0 (item 3 "yes" = 0) + 1 = 2
    assert (two.total, two.band, two.positive_screen, two.flags) == (2, "low", "negative", ())
    maybe = ins.score_dast10([1, 1, 1, None, 0, 0, 0, 0, 0, 0])   # 2 points, one unknown: could reach 3
    assert maybe.positive_screen == "indeterminate"


def test_phq9_fields_item9_and_difficulty():
    missing9 = ins.score_phq9([1] * 8 + [None], difficulty=2)
    assert common(missing9) == {
        "instrument": "phq9", "name": "PHQ-9", "time_frame": "past 2 weeks", "items": [1] * 8 + [None],
        "total": None, "flags": ["incomplete", "item9_missing"],
        "notes": ["incomplete: 1 item(s) missing (item 9); no total",
                  "item9_missing: item 9 (self-harm thoughts) not answered: ask item 9 / C-SSRS"],
        "prorated": False, "n_missing": 1, "loinc": PHQ9_LOINC, "is_complete": False}
    assert (missing9.difficulty, missing9.item9_flag, missing9.major_depression_screen) == (2, None, "indeterminate")
    r = ins.score_phq9([2, 2, 2, 2, 1, 1, 0, 0, 2])
    assert (r.total, r.band, r.major_depression_screen, r.item9_flag, r.difficulty) == (12, "moderate", "positive",
                                                                                       True, None)
    assert r.notes == ("major_depression_screen: total >= 10",
                       "suicide_risk: item 9 = 2: same-day suicide-risk review (C-SSRS)")
    nine = ins.score_phq9([1] * 9)
    assert (nine.total, nine.major_depression_screen, nine.flags) == (9, "negative", ("suicide_risk",))
    with pytest.raises(InputError) as err:
        ins.score_phq9([0] * 9, difficulty=4)
    assert (err.value.field, err.value.allowed) == ("PHQ-9 difficulty", "integer 0-3")


def test_phq9_is_not_prorated_with_an_item_missing():
    # At least 90 % of the items must be answered to prorate: none of the 9 PHQ-9 items may miss.
    r = ins.score_phq9([None] + [1] * 8, prorate=True)
    assert (r.total, r.prorated, r.flags) == (None, False, ("incomplete", "not_prorated", "suicide_risk"))
    assert r.notes[:2] == ("incomplete: 1 item(s) missing (item 1)",
                           "not_prorated: 1 missing > 0 allowed for proration; no total")


def test_iesr_proration_notes_and_fields():
    r = ins.score_iesr([1] * 21 + [None], prorate=True)
    assert common(r) == {
        "instrument": "iesr", "name": "IES-R", "time_frame": "past 7 days", "items": [1] * 21 + [None],
        "total": 22, "flags": ["incomplete", "prorated"],
        "notes": ["incomplete: 1 item(s) missing (item 22)",
                  "prorated: total estimated by person-mean proration from 21 items"],
        "prorated": True, "n_missing": 1, "loinc": EMPTY_LOINC, "is_complete": False}
    assert r.subscale_means == {"intrusion": 1.0, "avoidance": 1.0, "hyperarousal": 1.0}


def test_cadss_fields_and_the_short_form():
    r = ins.score_cadss([1] * 22 + [None])
    assert common(r) == {
        "instrument": "cadss", "name": "CADSS", "time_frame": "now ('at this time, in this room')",
        "items": [1] * 22 + [None], "total": None, "flags": ["incomplete", "notable_dissociation"],
        "notes": ["incomplete: 1 item(s) missing (item 23); no total", "notable_dissociation: CADSS > 4"],
        "prorated": False, "n_missing": 1, "loinc": EMPTY_LOINC, "is_complete": False}
    assert r.cadss6 == 6 and r.notable is True       # items 1, 2, 6, 7, 15, 22
    quiet = ins.score_cadss([0] * 23)
    assert (quiet.total, quiet.cadss6, quiet.notable, quiet.flags) == (0, 0, False, ())


def test_madrs_item10_missing_is_flagged():
    r = ins.score_madrs([3] * 9 + [None], prorate=True)
    assert common(r)["notes"] == [
        "incomplete: 1 item(s) missing (item 10)", "prorated: total estimated by person-mean proration from 9 items",
        "item10_missing: item 10 (suicidal thoughts) not rated: assess suicide risk"]
    assert (r.total, r.band, r.name, r.time_frame) == (30, "moderate", "MADRS", "past week")


def test_bprs_positive_fields():
    r = ins.score_bprs_positive([2, 3, 1, 1], convention="1-7")
    assert common(r) == {
        "instrument": "bprs_pos", "name": "BPRS positive subscale",
        "time_frame": "current (pre-dose and ~40 min post-dose)", "items": [2, 3, 1, 1], "total": 7,
        "flags": [], "notes": [], "prorated": False, "n_missing": 0, "loinc": EMPTY_LOINC, "is_complete": True}
    assert (r.convention, r.zero_based_total) == ("1-7", 3)


def test_interstitial_cystitis_indices():
    high = ins.score_icsi([5, 5, 5, 5])
    assert common(high) == {
        "instrument": "icsi", "name": "O'Leary-Sant ICSI", "time_frame": "past month", "items": [5, 5, 5, 5],
        "total": 20, "flags": ["icsi_high"],
        "notes": ["icsi_high: ICSI >= 12 (IC/BPS trial-entry level): clinician review"],
        "prorated": False, "n_missing": 0, "loinc": EMPTY_LOINC, "is_complete": True}
    assert ins.score_icsi([3, 3, 3, 2]).flags == ()                      # 11: below the cut-off
    assert ins.score_icsi([3, 3, 3, 3]).flags == ("icsi_high",)          # 12, the cut-off itself
    icpi = ins.score_icpi([1, 2, None, 3])
    assert common(icpi) == {
        "instrument": "icpi", "name": "O'Leary-Sant ICPI", "time_frame": "past month", "items": [1, 2, None, 3],
        "total": None, "flags": ["incomplete"], "notes": ["incomplete: 1 item(s) missing; no total"],
        "prorated": False, "n_missing": 1, "loinc": EMPTY_LOINC, "is_complete": False}
    assert icpi.thresholds == {}


def test_cssrs_skip_logic_and_the_range_of_an_incomplete_screen():
    unsure = ins.score_cssrs([1, 1, None, None, None, 0, None])
    assert common(unsure) == {
        "instrument": "cssrs", "name": "C-SSRS screener",
        "time_frame": "past month (Q1-Q5); lifetime and past 3 months (Q6)", "items": [1, 1, None, None, None, 0, None],
        "total": None, "flags": ["incomplete"],
        "notes": ["incomplete: unanswered Q3, Q4, Q5: risk between low and high"], "prorated": False,
        "n_missing": 3, "loinc": EMPTY_LOINC, "is_complete": False}
    assert (unsure.risk, unsure.skipped) == ("indeterminate", ("Q6_recent",))
    # Q2 No skips Q3-Q5; Q6 Yes with Q6_recent unanswered: moderate (long ago) or high (recent).
    recent = ins.score_cssrs([1, 0, None, None, None, 1, None])
    assert (recent.risk, recent.skipped, recent.n_missing) == ("indeterminate", ("Q3", "Q4", "Q5"), 1)
    assert recent.notes == ("incomplete: unanswered Q6_recent: risk between moderate and high",)
    both = ins.score_cssrs([0, 0, None, None, None, 0, None])
    assert (both.risk, both.skipped, both.flags, both.n_missing) == ("none", ("Q3", "Q4", "Q5", "Q6_recent"), (), 0)
    moderate = ins.score_cssrs([1, 1, 1, 0, 0, 1, 0])
    assert moderate.risk == "moderate" and moderate.skipped == ()
    assert moderate.notes == ("moderate_risk: C-SSRS moderate risk: clinician safety assessment",)
    high = ins.score_cssrs({"Q1": 1, "Q2": 1, "Q3": 0, "Q4": 0, "Q5": 0, "Q6": 1, "Q6_recent": 1})
    assert high.notes == ("high_risk: C-SSRS high risk: block dosing, same-day clinician assessment",)
    # Q1 unknown alone cannot change a level already set by Q6: only the unknowns that matter count.
    q2_unknown = ins.score_cssrs([1, None, None, None, None, 0, None])
    assert q2_unknown.risk == "indeterminate" and "risk between low and high" in q2_unknown.notes[0]
    with pytest.raises(InputError) as err:
        ins.score_cssrs([1, 1, 1, 0, 0, 1, "maybe"])
    assert err.value.field == "C-SSRS Q6_recent"


def test_bprs_positive_with_a_missing_item_and_the_0_6_convention():
    r = ins.score_bprs_positive([1, None, 2, 0], convention="0-6")
    assert (r.total, r.flags, r.notes, r.n_missing, r.zero_based_total) == (
        None, ("incomplete",), ("incomplete: 1 item(s) missing; no total",), 1, None)
    full = ins.score_bprs_positive([1, 3, 2, 0], convention="0-6")
    assert (full.total, full.zero_based_total, full.convention) == (6, 6, "0-6")


def test_change_json_lists_every_rule_with_its_words():
    c = ins.assess_change("madrs", 30, 15)
    d = c.to_dict()
    assert {k: d[k] for k in ("instrument", "baseline", "current", "delta", "percent_reduction")} == {
        "instrument": "madrs", "baseline": 30.0, "current": 15.0, "delta": 15.0, "percent_reduction": 50.0}
    assert [(o["rule"], o["description"], o["met"]) for o in d["outcomes"]] == [
        ("madrs.response", ">= 50 % reduction", True), ("madrs.remission", "score <= 12", False),
        ("madrs.remission_alt", "score < 10", False)]
    assert all(o["citation"] for o in d["outcomes"]) and set(d["outcomes"][0]) == {"rule", "description", "met",
                                                                                  "citation"}
    assert c.met("response") is True and c.met("remission") is False
    with pytest.raises(KeyError, match="no outcome rule 'cure' for madrs"):
        c.met("cure")


CAPS5_DIAGNOSTIC = [2, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]   # 1 B, 1 C, 2 D, 2 E at >= 2


def test_caps5_every_field_of_a_dissociative_ptsd_diagnosis():
    r = ins.score_caps5(CAPS5_DIAGNOSTIC, criterion_a=True, criterion_f=True, impairment_items=[2, 0, 0],
                        dissociation_items=[0, 2])
    d = r.to_dict()
    assert common(r) == {
        "instrument": "caps5", "name": "CAPS-5", "time_frame": "past month", "items": CAPS5_DIAGNOSTIC, "total": 12,
        "flags": ["ptsd_diagnosis", "dissociative_subtype"],
        "notes": ["ptsd_diagnosis: meets CAPS-5 DSM-5 PTSD criteria A-G",
                  "dissociative_subtype: PTSD with dissociative symptoms (item 29/30 >= 2)"],
        "prorated": False, "n_missing": 0, "loinc": EMPTY_LOINC, "is_complete": True}
    assert {k: d[k] for k in ("version", "symptom_rule", "criterion_a", "criterion_f", "criterion_g",
                              "impairment_items", "dissociation_items", "dissociation_score",
                              "dissociative_subtype", "clusters")} == {
        "version": "past_month", "symptom_rule": "positive", "criterion_a": True, "criterion_f": True,
        "criterion_g": "positive", "impairment_items": [2, 0, 0], "dissociation_items": [0, 2],
        "dissociation_score": 2, "dissociative_subtype": "positive", "clusters": {"B": 2, "C": 2, "D": 4, "E": 4}}


def test_caps5_versions_and_bad_extra_items():
    week = ins.score_caps5(CAPS5_DIAGNOSTIC, version="past_week")
    assert (week.time_frame, week.provisional_diagnosis, week.flags) == ("past week", None, ("monitoring_only",))
    assert week.notes == ("monitoring_only: past-week version: symptom monitoring, no diagnosis",)
    worst = ins.score_caps5(CAPS5_DIAGNOSTIC, version="worst_month")
    assert (worst.time_frame, worst.version) == ("worst month (lifetime)", "worst_month")
    with pytest.raises(InputError) as err:
        ins.score_caps5(CAPS5_DIAGNOSTIC, criterion_a="maybe")
    assert (err.value.field, err.value.allowed) == ("criterion_a", "true, false or None (not assessed)")
    with pytest.raises(InputError) as err:
        ins.score_caps5(CAPS5_DIAGNOSTIC, criterion_f="maybe")
    assert err.value.field == "criterion_f"
    for kwargs, field in (({"impairment_items": [1, 2]}, "CAPS-5 items 23, 24, 25"),
                          ({"dissociation_items": [1, 2, 3]}, "CAPS-5 items 29, 30")):
        with pytest.raises(InputError) as err:
            ins.score_caps5(CAPS5_DIAGNOSTIC, **kwargs)
        assert err.value.field == field and err.value.allowed.endswith("integers 0-4")


def test_iesr_cutoff_flag_configured_cutoff_and_missing_items():
    """Guards the IES-R's probable-PTSD flag and its note, a configured cut-off, and what a
    missing item does without proration: no total, the bounds (0 or 4 for the missing item)
    still decide the cut-off when they agree, the subscale missing an item has no mean while
    the complete ones keep theirs, and there is no total mean (found by mutation testing)."""
    r = ins.score_iesr([2] * 22)  # 44 >= 33
    assert r.flags == ("cutoff_positive",)
    assert r.notes == ("cutoff_positive: sum >= 33 (probable PTSD)",)
    custom = ins.score_iesr([2] * 22, settings={"iesr.cutoff.at_or_above": 45})
    assert (custom.provisional_diagnosis, custom.flags) == ("negative", ())
    r = ins.score_iesr([4] * 21 + [None])  # item 22 is an avoidance item
    assert (r.total, r.prorated, r.provisional_diagnosis) == (None, False, "positive")  # 84 or 88
    assert r.subscale_means == {"intrusion": 4.0, "avoidance": None, "hyperarousal": 4.0}
    assert r.total_mean is None
    undecided = ins.score_iesr([1] * 20 + [None, None])  # 20 to 28: negative either way
    assert undecided.provisional_diagnosis == "negative"
    assert ins.score_iesr([2] * 16 + [None] * 6).provisional_diagnosis == "indeterminate"  # 32 to 56


def test_madrs_fields_item10_flags_and_no_proration_by_default():
    """Guards the MADRS result fields and the wording of its item-10 flags (prompt a C-SSRS
    from 2, a suicide-risk review from 4, both quoting the rating and the threshold), and
    that a missing item leaves no total unless proration is asked for."""
    r = ins.score_madrs([1] * 9 + [4])
    assert common(r) == {
        "instrument": "madrs", "name": "MADRS", "time_frame": "past week", "items": [1] * 9 + [4], "total": 13,
        "flags": ["cssrs_prompt", "suicide_review"],
        "notes": ["cssrs_prompt: item 10 = 4 (>= 2): administer the C-SSRS",
                  "suicide_review: item 10 = 4 (>= 4): suicide-risk review"],
        "prorated": False, "n_missing": 0, "loinc": EMPTY_LOINC, "is_complete": True}
    missing = ins.score_madrs([1] * 8 + [None, 0])
    assert (missing.total, missing.prorated, missing.n_missing) == (None, False, 1)
