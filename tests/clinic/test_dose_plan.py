"""Dose plans: weights, mg/kg ranges and caps, infusion arithmetic, esketamine devices.

Expected numbers are worked by hand in the comments.
"""

import pytest

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic import dose_plan as dp
from ketamine_ptsd.errors import InputError


class TestWeights:
    def test_devine(self):
        # 175 cm = 68.898 in; 8.898 in over 5 ft x 2.3 = 20.465 kg
        assert dp.ideal_body_weight_kg(175, "male") == pytest.approx(70.465, abs=1e-3)
        assert dp.ideal_body_weight_kg(175, "female") == pytest.approx(65.965, abs=1e-3)
        assert dp.ideal_body_weight_kg(152.4, "male") == pytest.approx(50.0)

    def test_adjusted(self):
        # 70.465 + 0.4 x (120 - 70.465) = 90.279
        w = dp.dosing_weight(120, height_cm=175, sex="male", policy="adjusted")
        assert w.bmi == pytest.approx(39.18, abs=0.01)
        assert w.dosing_kg == pytest.approx(90.279, abs=1e-3)

    def test_adjusted_only_above_bmi_30(self):
        # 91.875 kg at 175 cm is BMI 30.0 exactly -> actual weight
        w = dp.dosing_weight(91.875, height_cm=175, sex="male", policy="adjusted")
        assert w.dosing_kg == 91.875
        w = dp.dosing_weight(92, height_cm=175, sex="male", policy="adjusted")
        assert w.dosing_kg == pytest.approx(70.465 + 0.4 * (92 - 70.465), abs=1e-3)

    def test_ideal_never_above_actual(self):
        assert dp.dosing_weight(60, height_cm=175, sex="male", policy="ideal").dosing_kg == 60
        w = dp.dosing_weight(80, height_cm=175, sex="male", policy="ideal")
        assert w.dosing_kg == pytest.approx(70.465, abs=1e-3)

    def test_actual_is_default(self):
        w = dp.dosing_weight(80)
        assert (w.policy, w.dosing_kg, w.bmi) == ("actual", 80, None)

    @pytest.mark.parametrize("kwargs, field", [
        ({"weight_kg": 25}, "weight_kg"),
        ({"weight_kg": 80, "policy": "lean"}, "weight_policy"),
        ({"weight_kg": 80, "policy": "ideal"}, "height_cm"),
        ({"weight_kg": 80, "policy": "ideal", "height_cm": 175}, "sex"),
        ({"weight_kg": 80, "height_cm": 300}, "height_cm"),
    ])
    def test_bad(self, kwargs, field):
        with pytest.raises(InputError) as err:
            dp.dosing_weight(**kwargs)
        assert err.value.field == field


class TestRacemicInfusion:
    def test_standard_80kg(self):
        # 0.5 x 80 = 40 mg; 40 / 10 = 4.0 mL; 100 + 4 = 104 mL; 104 x 60 / 40 = 156 mL/h
        p = dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, height_cm=175)
        assert p.dose_mg == 40
        assert p.drug_volume_ml == 4.0
        assert p.total_volume_ml == 104.0
        assert p.rate_ml_per_h == 156.0
        assert p.final_mg_per_ml == pytest.approx(40 / 104, abs=1e-4)
        assert p.rate_mg_per_min == 1.0
        assert p.flags == ()

    def test_adjusted_weight_and_half_up_rate(self):
        # 0.5 x 90.279 = 45.1 -> 45 mg; 4.5 mL; 104.5 mL x 60 / 40 = 156.75 -> 156.8 mL/h
        p = dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=120, height_cm=175,
                    sex="male", weight_policy="adjusted")
        assert p.dose_mg == 45
        assert p.total_volume_ml == 104.5
        assert p.rate_ml_per_h == 156.8

    def test_withdraw_equal_volume_and_60_min(self):
        p = dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, bag_ml=100,
                    infusion_min=60, withdraw_equal_volume=True)
        assert p.total_volume_ml == 100
        assert p.rate_ml_per_h == 100.0

    def test_vial_choice(self):
        p = dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, vial_mg_per_ml=50)
        assert p.drug_volume_ml == 0.8
        with pytest.raises(InputError, match="stocked strength") as err:
            dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, vial_mg_per_ml=25)
        assert err.value.field == "vial_mg_per_ml"

    def test_dose_rounds_half_up_to_whole_mg(self):
        # 0.5 x 73 = 36.5 -> 37 mg
        assert dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=73).dose_mg == 37

    def test_flat_dose(self):
        p = dp.plan("racemic", "iv_infusion", "35 mg", weight_kg=70)
        assert p.dose_mg == 35
        assert p.dose_basis == "mg"
        assert p.dose_mg_per_kg == 0.5

    @pytest.mark.parametrize("dose, flag", [
        ("0.5mg/kg", None), ("0.49mg/kg", "below_usual_range"), ("1.0mg/kg", None),
        ("1.01mg/kg", "above_usual_range"), ("1.5mg/kg", "above_usual_range"),
    ])
    def test_usual_range(self, dose, flag):
        p = dp.plan("racemic", "iv_infusion", dose, weight_kg=80)
        assert p.flags == (() if flag is None else (flag,))

    def test_hard_cap_refused(self):
        with pytest.raises(InputError, match="hard cap") as err:
            dp.plan("racemic", "iv_infusion", "1.51mg/kg", weight_kg=80)
        assert err.value.field == "dose"
        assert "1.5 mg/kg" in err.value.allowed

    def test_absolute_mg_cap(self):
        # 1.5 x 100 = 150 mg allowed; 1.5 x 101 = 151.5 -> 152 mg refused
        assert dp.plan("racemic", "iv_infusion", "1.5mg/kg", weight_kg=100).dose_mg == 150
        with pytest.raises(InputError, match="hard cap"):
            dp.plan("racemic", "iv_infusion", "1.5mg/kg", weight_kg=101)

    def test_caps_are_settings(self):
        p = dp.plan("racemic", "iv_infusion", "0.4mg/kg", weight_kg=80,
                    settings={"dose.racemic.usual_range.min_mg_per_kg": 0.2})
        assert p.flags == ()
        with pytest.raises(InputError):
            dp.plan("racemic", "iv_infusion", "1.2mg/kg", weight_kg=80,
                    settings={"dose.racemic.hard_cap.max_mg_per_kg": 1.0})

    @pytest.mark.parametrize("minutes, flagged", [(20, True), (39, True), (40, False),
                                                  (60, False), (61, True)])
    def test_infusion_time(self, minutes, flagged):
        p = dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, infusion_min=minutes)
        assert ("infusion_time_unusual" in p.flags) is flagged

    def test_infusion_too_fast_refused(self):
        with pytest.raises(InputError) as err:
            dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, infusion_min=19)
        assert err.value.field == "infusion_min"

    def test_bad_bag(self):
        with pytest.raises(InputError) as err:
            dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80, bag_ml=5)
        assert err.value.field == "bag_ml"


class TestRacemicIM:
    def test_im_uses_concentrated_vial(self):
        # 0.5 x 70 = 35 mg; 35 / 50 = 0.7 mL
        p = dp.plan("racemic", "im", "0.5mg/kg", weight_kg=70)
        assert (p.vial_mg_per_ml, p.drug_volume_ml, p.bag_ml) == (50, 0.7, None)

    def test_volume_rounding_changes_dose_is_flagged(self):
        # 0.75 x 70 = 52.5 -> 53 mg; 53 / 50 = 1.06 -> 1.1 mL = 55 mg
        p = dp.plan("racemic", "im", "0.75mg/kg", weight_kg=70)
        assert "volume_rounding" in p.flags

    def test_no_bag_for_im(self):
        with pytest.raises(InputError, match="no infusion bag"):
            dp.plan("racemic", "im", "0.5mg/kg", weight_kg=70, bag_ml=100)


class TestEsketamine:
    def test_first_56(self):
        p = dp.plan("esketamine", "intranasal", "56mg")
        assert [(d.device, d.minute, d.cumulative_mg) for d in p.devices] == [(1, 0, 28),
                                                                             (2, 5, 56)]
        assert p.flags == ("observation",)

    def test_84_after_56(self):
        p = dp.plan("esketamine", "intranasal", "84mg", previous_dose_mg=56)
        assert [d.minute for d in p.devices] == [0, 5, 10]
        assert p.devices[-1].cumulative_mg == 84

    @pytest.mark.parametrize("previous", [None, 28])
    def test_84_refused_without_prior_56(self, previous):
        with pytest.raises(InputError, match="only after a prior 56 mg"):
            dp.plan("esketamine", "intranasal", "84mg", previous_dose_mg=previous)

    def test_mdsi_starts_at_84(self):
        assert dp.plan("esketamine", "intranasal", "84mg", regimen="mdsi").dose_mg == 84

    def test_first_dose_not_56_flagged(self):
        assert "first_dose" in dp.plan("esketamine", "intranasal", "28mg").flags

    def test_older_adult(self):
        p = dp.plan("esketamine", "intranasal", "56mg", age_years=65)
        assert "older_adult_start" in p.flags
        assert "older_adult_start" not in dp.plan("esketamine", "intranasal", "56mg",
                                                  age_years=64).flags

    def test_per_kg_reported_when_weight_given(self):
        assert dp.plan("esketamine", "intranasal", "56mg", weight_kg=80).dose_mg_per_kg == 0.7

    @pytest.mark.parametrize("dose, match", [("70mg", "not an esketamine dose"),
                                             ("0.5mg/kg", "fixed dose")])
    def test_bad_doses(self, dose, match):
        with pytest.raises(InputError, match=match):
            dp.plan("esketamine", "intranasal", dose)


class TestDispatch:
    @pytest.mark.parametrize("product, route, field", [
        ("racemic", "intranasal", "route"), ("esketamine", "iv_infusion", "route"),
        ("compounded", "oral", "product"), ("ketalar", "im", "product"),
    ])
    def test_bad_product_route(self, product, route, field):
        with pytest.raises(InputError) as err:
            dp.plan(product, route, "0.5mg/kg", weight_kg=80)
        assert err.value.field == field

    def test_compounded_explains_why(self):
        with pytest.raises(InputError, match="not FDA-approved"):
            dp.plan("compounded", "oral", "1mg")

    @pytest.mark.parametrize("text, expected", [("0.5mg/kg", (0.5, "mg/kg")),
                                                ("0.5 MG/KG", (0.5, "mg/kg")),
                                                ("56mg", (56.0, "mg"))])
    def test_parse_dose(self, text, expected):
        assert dp.parse_dose(text) == expected

    @pytest.mark.parametrize("text", ["abc", "0.5", "-1mg", "0.5mg/lb"])
    def test_parse_dose_bad(self, text):
        with pytest.raises(InputError, match="cannot read dose"):
            dp.parse_dose(text)


def test_renderings_carry_check_lines_and_notice():
    p = dp.plan("racemic", "iv_infusion", "0.5mg/kg", weight_kg=80)
    text = p.render_text()
    assert "156.0 mL/h" in text
    assert "4.0 mL of 10 mg/mL" in text
    assert "Independent check" in text
    assert NOT_A_MEDICAL_DEVICE in text
    md = p.render_markdown()
    assert "| Infuse | over 40 min at 156.0 mL/h" in md
    assert p.to_dict()["notice"] == NOT_A_MEDICAL_DEVICE
