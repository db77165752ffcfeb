"""Instrument scoring against the published rules and their worked test vectors.

Every expected value below is computed by hand from the published definition.
"""

import math
from typing import ClassVar

import numpy as np
import pytest

from ketamine_ptsd.clinic import instruments as ins
from ketamine_ptsd.errors import InputError


def items_with(n, value=0, **set_items):
    """n items of ``value`` with selected 1-based items overridden (item_7=2)."""
    out = [value] * n
    for key, v in set_items.items():
        out[int(key.split("_")[1]) - 1] = v
    return out


# --------------------------------------------------------------------------- PCL-5


class TestPCL5Vectors:
    def test_all_zero(self):
        r = ins.score_pcl5([0] * 20)
        assert r.total == 0
        assert r.clusters == {"B": 0, "C": 0, "D": 0, "E": 0}
        assert r.cut_point_result == "negative"
        assert r.dsm5_symptom_rule == "negative"

    def test_all_max(self):
        r = ins.score_pcl5([4] * 20)
        assert r.total == 80
        assert r.clusters == {"B": 20, "C": 8, "D": 28, "E": 24}
        assert r.cut_point_result == "positive"
        assert r.dsm5_symptom_rule == "positive"

    def test_dsm_minimal_positive_but_below_cut_point(self):
        r = ins.score_pcl5(items_with(20, item_1=2, item_6=2, item_8=2, item_9=2,
                                      item_15=2, item_16=2))
        assert r.total == 12
        assert r.dsm5_symptom_rule == "positive"
        assert r.cut_point_result == "negative"
        assert "dsm5_rule_positive" in r.flags
        assert "cut_point_positive" not in r.flags

    def test_dsm_fails_on_c(self):
        r = ins.score_pcl5([4] * 5 + [1, 1] + [4] * 13)
        assert r.total == 74
        assert r.dsm5_symptom_rule == "negative"
        assert r.cut_point_result == "positive"

    def test_missing_item_no_total_dsm_still_computable(self):
        # Item 7 missing, item 6 = 2 satisfies C; B, D, E met by answered items.
        items = items_with(20, item_1=2, item_6=2, item_8=2, item_9=2, item_15=2, item_16=2)
        items[6] = None
        r = ins.score_pcl5(items)
        assert r.total is None
        assert r.prorated is False
        assert r.dsm5_symptom_rule == "positive"
        assert r.clusters["C"] is None
        assert r.clusters["B"] == 2
        assert "incomplete" in r.flags
        assert not r.is_complete

    def test_loinc(self):
        r = ins.score_pcl5([0] * 20)
        assert r.loinc["panel"] == "101697-1"
        assert r.loinc["total"] == "101698-9"
        assert r.loinc["items"][8] == "101699-7"
        assert r.loinc["items"][0] is None

    def test_no_severity_band(self):
        assert not hasattr(ins.score_pcl5([2] * 20), "band")


class TestPCL5CutPoint:
    def test_boundary_32_33(self):
        # 8 items x 4 = 32; one more point -> 33
        assert ins.score_pcl5([4] * 8 + [0] * 12).cut_point_result == "negative"
        assert ins.score_pcl5([4] * 8 + [1] + [0] * 11).cut_point_result == "positive"

    def test_override_cut_point(self):
        items = [4] * 7 + [3] + [0] * 12  # 31
        assert ins.score_pcl5(items).cut_point_result == "negative"
        r = ins.score_pcl5(items, settings={"pcl5.cut_point.at_or_above": 31})
        assert r.cut_point_result == "positive"
        assert "overridden locally" in r.thresholds["pcl5.cut_point"]

    def test_missing_items_decided_by_bounds(self):
        # 19 answered sum 36 >= 33 whatever item 20 is
        items = [2] * 18 + [0, None]
        assert ins.score_pcl5(items).cut_point_result == "positive"
        # answered 30: 30..34 -> indeterminate
        items = [2] * 15 + [0] * 4 + [None]
        assert ins.score_pcl5(items).cut_point_result == "indeterminate"
        # answered 28: at most 32 -> negative
        items = [2] * 14 + [0] * 5 + [None]
        assert ins.score_pcl5(items).cut_point_result == "negative"


class TestPCL5DSMRule:
    base: ClassVar[dict] = {
        "item_1": 2, "item_6": 2, "item_8": 2, "item_9": 2, "item_15": 2, "item_16": 2,
    }

    @pytest.mark.parametrize("drop", ["item_1", "item_6", "item_8", "item_15"])
    def test_each_cluster_minimum_needed(self, drop):
        settings = dict(self.base)
        settings[drop] = 1
        assert ins.score_pcl5(items_with(20, **settings)).dsm5_symptom_rule == "negative"

    def test_rating_1_is_not_endorsed(self):
        assert ins.score_pcl5([1] * 20).dsm5_symptom_rule == "negative"

    def test_missing_never_counts_as_endorsed_when_other_cluster_fails(self):
        items = items_with(20, **self.base)
        items[0] = None  # only B item endorsed is now missing ...
        items[14] = 0  # ... and E has only one endorsed item
        assert ins.score_pcl5(items).dsm5_symptom_rule == "negative"

    def test_missing_can_make_rule_indeterminate(self):
        items = items_with(20, **self.base)
        items[0] = None  # B now depends on the missing item
        assert ins.score_pcl5(items).dsm5_symptom_rule == "indeterminate"


class TestPCL5Combined:
    DSM_ONLY: ClassVar[dict] = {"item_1": 2, "item_6": 2, "item_8": 2, "item_9": 2,
                                "item_15": 2, "item_16": 2}  # total 12: rule yes, cut-point no

    def test_both_positive_agree(self):
        r = ins.score_pcl5([4] * 20)
        assert (r.probable_ptsd, r.methods_agree, r.provisional_diagnosis) == (
            "positive", True, "positive")
        assert "methods_differ" not in r.flags

    def test_both_negative_agree(self):
        r = ins.score_pcl5([0] * 20)
        assert (r.probable_ptsd, r.methods_agree) == ("negative", True)

    def test_dsm_rule_only_differs_and_says_so(self):
        r = ins.score_pcl5(items_with(20, **self.DSM_ONLY))
        assert (r.dsm5_symptom_rule, r.cut_point_result) == ("positive", "negative")
        assert (r.probable_ptsd, r.methods_agree) == ("negative", False)
        assert "methods_differ" in r.flags
        assert any("confirm with CAPS-5" in n for n in r.notes)

    def test_cut_point_only_differs(self):
        r = ins.score_pcl5([4] * 5 + [1, 1] + [4] * 13)  # 74, no C item endorsed
        assert (r.dsm5_symptom_rule, r.cut_point_result) == ("negative", "positive")
        assert (r.probable_ptsd, r.methods_agree) == ("negative", False)

    @pytest.mark.parametrize("method, expected", [
        ("both", "negative"), ("either", "positive"), ("dsm5", "positive"),
        ("cut_point", "negative"),
    ])
    def test_method_is_a_setting(self, method, expected):
        r = ins.score_pcl5(items_with(20, **self.DSM_ONLY),
                           settings={"pcl5.combined.method": method})
        assert r.probable_ptsd == expected
        assert r.combined_method == method

    def test_indeterminate_method_gives_no_agreement(self):
        items = [4] * 20
        items[0] = None  # total unknown but >= 76: cut-point positive, rule positive
        assert ins.score_pcl5(items).methods_agree is True
        items = items_with(20, **self.DSM_ONLY)
        items[0] = None  # the rule now depends on the missing B item
        r = ins.score_pcl5(items)
        assert r.dsm5_symptom_rule == "indeterminate"
        assert r.methods_agree is None
        assert r.probable_ptsd == "negative"  # the cut-point is negative either way

    def test_unknown_method_refused(self):
        with pytest.raises(InputError, match="pcl5.combined.method"):
            ins.score_pcl5([0] * 20, settings={"pcl5.combined.method": "majority"})

    def test_json_fields(self):
        data = ins.score_pcl5([4] * 20).to_dict()
        assert {"dsm5_symptom_rule", "cut_point_result", "probable_ptsd",
                "methods_agree"} <= set(data)


class TestProration:
    def test_not_prorated_by_default(self):
        assert ins.score_pcl5([1] * 19 + [None]).total is None

    def test_person_mean_one_missing(self):
        # 19 answered, sum 19 -> 19 * 20 / 19 = 20
        r = ins.score_pcl5([1] * 19 + [None], prorate=True)
        assert r.total == 20
        assert r.prorated is True
        assert "prorated" in r.flags

    def test_two_missing_allowed_three_not(self):
        # 18 answered sum 36 -> 36 * 20 / 18 = 40
        assert ins.score_pcl5([2] * 18 + [None, None], prorate=True).total == 40
        r = ins.score_pcl5([2] * 17 + [None] * 3, prorate=True)
        assert r.total is None
        assert r.prorated is False
        assert "not_prorated" in r.flags

    def test_max_missing_is_a_setting(self):
        r = ins.score_pcl5([2] * 17 + [None] * 3, prorate=True,
                           settings={"proration.max_missing.pcl5": 3})
        assert r.total == 40  # 34 * 20 / 17

    def test_rounds_half_up(self):
        # IES-R, 20 answered sum 15: 15 * 22 / 20 = 16.5 -> 17 (banker's rounding gives 16)
        items = [1] * 15 + [0] * 5 + [None, None]
        assert ins.score_iesr(items, prorate=True).total == 17

    def test_clusters_never_prorated(self):
        r = ins.score_pcl5([2] * 19 + [None], prorate=True)
        assert r.clusters["E"] is None
        assert r.clusters["B"] == 10


class TestItemValidation:
    @pytest.mark.parametrize("bad", [5, -1, 2.5, "2", True, [1]])
    def test_rejects_bad_item_naming_it(self, bad):
        items = [0] * 20
        items[2] = bad
        with pytest.raises(InputError) as err:
            ins.score_pcl5(items)
        assert err.value.field == "PCL-5 item 3"
        assert "0-4" in str(err.value)

    def test_never_clamps(self):
        with pytest.raises(InputError, match="outside the scale"):
            ins.score_pcl5([4] * 19 + [5])

    def test_wrong_count(self):
        with pytest.raises(InputError, match="needs 20 item values, got 19") as err:
            ins.score_pcl5([0] * 19)
        assert err.value.field == "items"

    def test_string_is_not_a_sequence_of_items(self):
        with pytest.raises(InputError):
            ins.score_pcl5("0" * 20)

    def test_integral_floats_numpy_and_nan(self):
        items = [2.0] * 10 + list(np.array([1] * 9)) + [math.nan]
        r = ins.score_pcl5(items)
        assert r.items[0] == 2
        assert r.items[19] is None
        assert r.n_missing == 1


# --------------------------------------------------------------------------- CAPS-5

DIAGNOSTIC = items_with(20, item_1=2, item_6=2, item_8=2, item_9=2, item_15=2, item_16=2)


class TestCAPS5:
    def test_full_diagnosis(self):
        r = ins.score_caps5(DIAGNOSTIC, criterion_a=True, criterion_f=True,
                            impairment_items=[2, 0, 0], dissociation_items=[0, 0])
        assert r.total == 12
        assert r.clusters == {"B": 2, "C": 2, "D": 4, "E": 4}
        assert r.provisional_diagnosis == "positive"
        assert r.dissociative_subtype == "negative"
        assert r.dissociation_score == 0

    @pytest.mark.parametrize("kwargs", [
        {"criterion_a": False}, {"criterion_f": False}, {"impairment_items": [1, 1, 1]},
    ])
    def test_each_criterion_required(self, kwargs):
        args = {"criterion_a": True, "criterion_f": True, "impairment_items": [2, 0, 0]}
        args.update(kwargs)
        assert ins.score_caps5(DIAGNOSTIC, **args).provisional_diagnosis == "negative"

    def test_symptom_rule_fails(self):
        items = list(DIAGNOSTIC)
        items[15] = 1  # only one E symptom present
        r = ins.score_caps5(items, criterion_a=True, criterion_f=True,
                            impairment_items=[4, 4, 4])
        assert r.symptom_rule == "negative"
        assert r.provisional_diagnosis == "negative"

    def test_unassessed_criterion_is_indeterminate(self):
        r = ins.score_caps5(DIAGNOSTIC, criterion_f=True, impairment_items=[2, 0, 0])
        assert r.provisional_diagnosis == "indeterminate"

    def test_dissociative_subtype(self):
        args = {"criterion_a": True, "criterion_f": True, "impairment_items": [0, 0, 3]}
        assert ins.score_caps5(DIAGNOSTIC, dissociation_items=[0, 2], **args
                               ).dissociative_subtype == "positive"
        assert ins.score_caps5(DIAGNOSTIC, dissociation_items=[1, 1], **args
                               ).dissociative_subtype == "negative"
        assert ins.score_caps5(DIAGNOSTIC, **args).dissociative_subtype == "indeterminate"

    def test_no_subtype_without_diagnosis(self):
        r = ins.score_caps5(DIAGNOSTIC, criterion_a=False, criterion_f=True,
                            impairment_items=[2, 2, 2], dissociation_items=[4, 4])
        assert r.dissociative_subtype == "negative"
        assert r.dissociation_score == 8

    def test_past_week_is_monitoring_only(self):
        r = ins.score_caps5(DIAGNOSTIC, criterion_a=True, criterion_f=True,
                            impairment_items=[2, 0, 0], version="past_week")
        assert r.provisional_diagnosis is None
        assert "monitoring_only" in r.flags
        assert r.total == 12

    def test_bad_inputs(self):
        with pytest.raises(InputError, match="version"):
            ins.score_caps5(DIAGNOSTIC, version="past_year")
        with pytest.raises(InputError) as err:
            ins.score_caps5(DIAGNOSTIC, impairment_items=[0, 5, 0])
        assert err.value.field == "CAPS-5 item 24"
        with pytest.raises(InputError, match="criterion_a"):
            ins.score_caps5(DIAGNOSTIC, criterion_a="yes")
        with pytest.raises(InputError, match="expected 2 values"):
            ins.score_caps5(DIAGNOSTIC, dissociation_items=[1])


# --------------------------------------------------------------------------- change rules


class TestChange:
    def test_pcl5_vector(self):
        c = ins.assess_change("pcl5", 50, 44)
        assert c.delta == 6
        assert c.met("reliable_change") is True
        assert c.met("clinically_meaningful_change") is False
        assert c.met("strict_reliable_change") is False

    @pytest.mark.parametrize("current, reliable, meaningful, strict", [
        (46, False, False, False), (45, True, False, False), (41, True, False, False),
        (40, True, True, False), (36, True, True, False), (35, True, True, True),
    ])
    def test_pcl5_boundaries(self, current, reliable, meaningful, strict):
        c = ins.assess_change("pcl5", 50, current)
        assert (c.met("reliable_change"), c.met("clinically_meaningful_change"),
                c.met("strict_reliable_change")) == (reliable, meaningful, strict)

    def test_pcl5_endpoint(self):
        assert ins.assess_change("pcl5", 50, 28).met("strict_endpoint") is True
        assert ins.assess_change("pcl5", 50, 29).met("strict_endpoint") is False

    def test_caps5_response_exactly_30_percent(self):
        assert ins.assess_change("caps5", 60, 42).met("response") is True
        assert ins.assess_change("caps5", 60, 43).met("response") is False
        assert ins.assess_change("caps5", 60, 42).percent_reduction == pytest.approx(30.0)

    def test_caps5_other_rules(self):
        assert ins.assess_change("caps5", 60, 47).met("reliable_change") is True
        assert ins.assess_change("caps5", 60, 48).met("reliable_change") is False
        assert ins.assess_change("caps5", 30, 8).met("strict_endpoint") is True
        assert ins.assess_change("caps5", 30, 9).met("strict_endpoint") is False

    def test_caps5_remission_needs_loss_of_diagnosis(self):
        assert ins.assess_change("caps5", 40, 11).met("remission") is None
        assert ins.assess_change("caps5", 40, 11, current_diagnosis="negative"
                                 ).met("remission") is True
        assert ins.assess_change("caps5", 40, 11, current_diagnosis="positive"
                                 ).met("remission") is False
        assert ins.assess_change("caps5", 40, 12, current_diagnosis="negative"
                                 ).met("remission") is False

    def test_madrs_vector(self):
        c = ins.assess_change("madrs", 34, 12)
        assert c.percent_reduction == pytest.approx(64.7, abs=0.05)
        assert c.met("response") is True
        assert c.met("remission") is True
        assert c.met("remission_alt") is False

    def test_madrs_boundaries(self):
        assert ins.assess_change("madrs", 34, 17).met("response") is True  # exactly 50 %
        assert ins.assess_change("madrs", 34, 18).met("response") is False
        assert ins.assess_change("madrs", 34, 13).met("remission") is False
        assert ins.assess_change("madrs", 34, 9).met("remission_alt") is True

    def test_phq9(self):
        assert ins.assess_change("phq9", 20, 10).met("response") is True
        assert ins.assess_change("phq9", 20, 11).met("response") is False
        assert ins.assess_change("phq9", 20, 4).met("remission") is True
        assert ins.assess_change("phq9", 20, 5).met("remission") is False

    def test_bad_input(self):
        with pytest.raises(InputError, match="baseline"):
            ins.assess_change("pcl5", 81, 10)
        with pytest.raises(InputError, match="current"):
            ins.assess_change("pcl5", 50, -1)
        with pytest.raises(InputError, match="instrument"):
            ins.assess_change("cadss", 10, 5)


class TestGenericResponseRule:
    def test_percent_or_absolute(self):
        assert ins.meets_response(60, 42, percent_reduction=30) is True
        assert ins.meets_response(60, 43, percent_reduction=30) is False
        assert ins.meets_response(60, 43, percent_reduction=30, absolute_reduction=17) is True
        assert ins.meets_response(60, 44, percent_reduction=30, absolute_reduction=17) is False

    def test_zero_baseline_percent_not_evaluable(self):
        assert ins.meets_response(0, 0, percent_reduction=50) is None

    def test_needs_a_criterion(self):
        with pytest.raises(InputError):
            ins.meets_response(10, 5)


# --------------------------------------------------------------------------- CADSS


class TestCADSS:
    def test_range(self):
        assert ins.score_cadss([4] * 23).total == 92
        assert ins.score_cadss([0] * 23).total == 0

    def test_notable_boundary(self):
        assert ins.score_cadss([1] * 4 + [0] * 19).notable is False
        r = ins.score_cadss([1] * 5 + [0] * 18)
        assert r.notable is True
        assert "notable_dissociation" in r.flags

    def test_cadss6_items(self):
        items = list(range(1, 24))
        items = [i % 5 for i in items]  # item n scores n mod 5
        # items 1, 2, 6, 7, 15, 22 -> 1 + 2 + 1 + 2 + 0 + 2 = 8
        assert ins.score_cadss(items).cadss6 == 8

    def test_wrong_count(self):
        with pytest.raises(InputError, match="23"):
            ins.score_cadss([0] * 27)


# --------------------------------------------------------------------------- MADRS


class TestMADRS:
    @pytest.mark.parametrize("total, band", [
        (0, "absent/normal"), (6, "absent/normal"), (7, "mild"), (19, "mild"),
        (20, "moderate"), (34, "moderate"), (35, "severe"), (60, "severe"),
    ])
    def test_bands(self, total, band):
        items = [6] * (total // 6) + [total % 6] + [0] * 10
        assert ins.score_madrs(items[:10]).band == band
        assert ins.score_madrs(items[:10]).total == total

    def test_item10(self):
        assert "suicide_review" in ins.score_madrs([0] * 9 + [4]).flags
        assert "suicide_review" not in ins.score_madrs([0] * 9 + [3]).flags
        assert "item10_missing" in ins.score_madrs([0] * 9 + [None]).flags

    @pytest.mark.parametrize("item10, prompt", [(0, False), (1, False), (2, True), (6, True)])
    def test_item10_prompts_cssrs(self, item10, prompt):
        r = ins.score_madrs([0] * 9 + [item10])
        assert ("cssrs_prompt" in r.flags) is prompt
        assert "madrs.item10_cssrs" in r.thresholds

    def test_cssrs_prompt_is_a_setting(self):
        r = ins.score_madrs([0] * 9 + [2], settings={"madrs.item10_cssrs.at_or_above": 3})
        assert "cssrs_prompt" not in r.flags

    def test_scale(self):
        with pytest.raises(InputError, match="MADRS item 2"):
            ins.score_madrs([0, 7] + [0] * 8)


# --------------------------------------------------------------------------- PHQ-9


class TestPHQ9:
    def test_vector_item9(self):
        r = ins.score_phq9([1, 1, 1, 0, 0, 0, 0, 0, 1])
        assert r.total == 4
        assert r.band == "minimal"
        assert r.item9_flag is True
        assert "suicide_risk" in r.flags

    def test_item9_zero_and_missing(self):
        assert ins.score_phq9([3] * 8 + [0]).item9_flag is False
        r = ins.score_phq9([0] * 8 + [None])
        assert r.item9_flag is None
        assert "item9_missing" in r.flags

    @pytest.mark.parametrize("total, band", [
        (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
        (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe"),
    ])
    def test_bands(self, total, band):
        items = ([3] * (total // 3) + [total % 3] + [0] * 9)[:9]
        assert ins.score_phq9(items).band == band

    def test_major_depression_cutoff(self):
        assert ins.score_phq9([3, 3, 3, 0, 0, 0, 0, 0, 0]).major_depression_screen == "negative"
        assert ins.score_phq9([3, 3, 3, 1, 0, 0, 0, 0, 0]).major_depression_screen == "positive"

    def test_loinc(self):
        r = ins.score_phq9([0] * 9)
        assert r.loinc["panel"] == "44249-1"
        assert r.loinc["total"] == "44261-6"
        assert r.loinc["items"][0] == "44250-9"
        assert r.loinc["items"][8] == "44260-8"

    def test_difficulty_and_scale(self):
        assert ins.score_phq9([0] * 9, difficulty=2).difficulty == 2
        with pytest.raises(InputError, match="difficulty"):
            ins.score_phq9([0] * 9, difficulty=4)
        with pytest.raises(InputError, match="PHQ-9 item 1: .*0-3"):
            ins.score_phq9([4] + [0] * 8)


# --------------------------------------------------------------------------- IES-R


class TestIESR:
    def test_vector_all_two(self):
        r = ins.score_iesr([2] * 22)
        assert r.total == 44
        assert r.provisional_diagnosis == "positive"
        assert r.subscale_means == {"intrusion": 2.0, "avoidance": 2.0, "hyperarousal": 2.0}
        assert r.total_mean == 6.0

    def test_cutoff_boundary(self):
        assert ins.score_iesr([4] * 8 + [0] * 14).provisional_diagnosis == "negative"  # 32
        assert ins.score_iesr([4] * 8 + [1] + [0] * 13).provisional_diagnosis == "positive"

    def test_item14_is_intrusion(self):
        r = ins.score_iesr(items_with(22, item_14=4))
        assert r.subscale_means["intrusion"] == 0.5  # 4 / 8
        assert r.subscale_means["hyperarousal"] == 0.0

    # Weiss & Marmar 1997 (IES-R scoring key): the items of each subscale.
    WEISS_MARMAR = {"intrusion": (1, 2, 3, 6, 9, 14, 16, 20), "avoidance": (5, 7, 8, 11, 12, 13, 17, 22),
                    "hyperarousal": (4, 10, 15, 18, 19, 21)}

    @pytest.mark.parametrize("subscale", list(WEISS_MARMAR))
    def test_subscales_are_the_published_items(self, subscale):
        """Scoring only one subscale's published items (4 each) gives that subscale a mean of
        4 and the others 0: the membership comes from the scoring key, not from the table."""
        members = self.WEISS_MARMAR[subscale]
        r = ins.score_iesr([4 if i in members else 0 for i in range(1, 23)])
        assert r.subscale_means == {name: (4.0 if name == subscale else 0.0) for name in self.WEISS_MARMAR}
        assert r.total == 4 * len(members)

    def test_hyperarousal_mean(self):
        # items 4, 10, 15, 18, 19, 21 = 3 -> hyperarousal mean 3.0, others 0
        r = ins.score_iesr(items_with(22, item_4=3, item_10=3, item_15=3, item_18=3,
                                      item_19=3, item_21=3))
        assert r.subscale_means["hyperarousal"] == 3.0
        assert r.total_mean == 3.0
        assert r.total == 18


# --------------------------------------------------------------------------- BPRS+


class TestBPRSPositive:
    def test_zero_based(self):
        r = ins.score_bprs_positive([0, 1, 2, 6], convention="0-6")
        assert r.total == 9
        assert r.zero_based_total == 9

    def test_one_based(self):
        r = ins.score_bprs_positive([1, 1, 2, 7], convention="1-7")
        assert r.total == 11
        assert r.zero_based_total == 7

    def test_one_based_rejects_zero(self):
        with pytest.raises(InputError) as err:
            ins.score_bprs_positive([1, 0, 1, 1], convention="1-7")
        assert err.value.field == "BPRS positive subscale item 11"

    def test_extracts_from_18_items(self):
        items = [0] * 18
        items[3], items[10], items[11], items[14] = 1, 2, 3, 4
        items[0] = 6  # somatic concern is not a positive item
        r = ins.score_bprs_positive(items, convention="0-6")
        assert r.items == (1, 2, 3, 4)
        assert r.total == 10

    def test_convention_must_be_known(self):
        with pytest.raises(InputError, match="convention"):
            ins.score_bprs_positive([0] * 4, convention="0-7")


# --------------------------------------------------------------------------- C-SSRS


class TestCSSRS:
    def test_vector_q1_q6_recent_is_high(self):
        r = ins.score_cssrs([True, False, None, None, None, True, True])
        assert r.skipped == ("Q3", "Q4", "Q5")
        assert r.risk == "high"
        assert "high_risk" in r.flags

    @pytest.mark.parametrize("answers, risk", [
        ([0, 0, None, None, None, 0, None], "none"),
        ([1, 0, None, None, None, 0, None], "low"),
        ([1, 1, 0, 0, 0, 0, None], "low"),
        ([1, 1, 1, 0, 0, 0, None], "moderate"),
        ([0, 0, None, None, None, 1, 0], "moderate"),
        ([1, 1, 0, 1, 0, 0, None], "high"),
        ([1, 1, 0, 0, 1, 0, None], "high"),
    ])
    def test_triage(self, answers, risk):
        assert ins.score_cssrs(answers).risk == risk

    def test_skip_logic_enforced(self):
        with pytest.raises(InputError) as err:
            ins.score_cssrs([1, 0, 1, None, None, 0, None])
        assert err.value.field == "C-SSRS Q3"
        with pytest.raises(InputError, match="Q6_recent"):
            ins.score_cssrs([0, 0, None, None, None, 0, 1])

    def test_unanswered_is_indeterminate_unless_decided(self):
        assert ins.score_cssrs([1, 1, None, None, None, 0, None]).risk == "indeterminate"
        # Q4 yes is high whatever the rest says
        assert ins.score_cssrs({"Q1": 1, "Q2": 1, "Q4": 1}).risk == "high"

    def test_bad_answers(self):
        with pytest.raises(InputError, match="Q7"):
            ins.score_cssrs({"Q7": 1})
        with pytest.raises(InputError, match="yes/no"):
            ins.score_cssrs([2, 0, None, None, None, 0, None])
        with pytest.raises(InputError, match="7 answers"):
            ins.score_cssrs([0, 0])


# --------------------------------------------------------------------------- DAST-10


class TestDAST10:
    def test_item3_reversed(self):
        # all "no": only item 3 ("able to stop?" = no) scores
        r = ins.score_dast10([0] * 10)
        assert r.total == 1
        assert r.band == "low"
        # all "yes": item 3 yes scores 0
        assert ins.score_dast10([1] * 10).total == 9

    @pytest.mark.parametrize("yes_items, total, band, positive", [
        ((3,), 0, "none", "negative"),
        ((1, 3), 1, "low", "negative"),
        ((1, 2), 3, "moderate", "positive"),
        ((1, 2, 3, 4), 3, "moderate", "positive"),
        ((1, 2, 4, 5, 6), 6, "substantial", "positive"),
        ((1, 2, 4, 5, 6, 7, 8), 8, "substantial", "positive"),
        ((1, 2, 4, 5, 6, 7, 8, 9), 9, "severe", "positive"),
        ((1, 2, 4, 5, 6, 7, 8, 9, 10), 10, "severe", "positive"),
    ])
    def test_bands(self, yes_items, total, band, positive):
        answers = [1 if i in yes_items else 0 for i in range(1, 11)]
        r = ins.score_dast10(answers)
        assert (r.total, r.band, r.positive_screen) == (total, band, positive)

    def test_bad(self):
        with pytest.raises(InputError, match="DAST-10 item 2"):
            ins.score_dast10([0, 2] + [0] * 8)


# --------------------------------------------------------------------------- ICSI / ICPI


class TestBladderIndices:
    def test_icsi_range_and_item4(self):
        assert ins.score_icsi([5, 5, 5, 5]).total == 20
        with pytest.raises(InputError) as err:
            ins.score_icsi([0, 0, 0, 1])
        assert err.value.field == "O'Leary-Sant ICSI item 4"
        assert "0, 2, 3, 4, 5" in str(err.value)

    def test_icsi_review_boundary(self):
        assert "icsi_high" not in ins.score_icsi([3, 3, 3, 2]).flags  # 11
        assert "icsi_high" in ins.score_icsi([3, 3, 3, 3]).flags  # 12

    def test_icpi(self):
        assert ins.score_icpi([4, 4, 4, 4]).total == 16
        with pytest.raises(InputError, match="0-4"):
            ins.score_icpi([5, 0, 0, 0])


def test_to_dict_is_json_ready():
    import json

    for result in (ins.score_pcl5([1] * 20), ins.score_caps5(DIAGNOSTIC),
                   ins.score_iesr([1] * 22), ins.score_cssrs([0, 0, None, None, None, 0, None])):
        data = json.loads(json.dumps(result.to_dict()))
        assert {"total", "clusters", "provisional_diagnosis", "flags", "prorated"} <= set(data)
