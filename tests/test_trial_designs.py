"""Trial designs beyond the two-arm parallel trial: single-arm specs, one arm per dose,
titration and maintenance schedules, every instrument at every visit, relapse definitions,
acute-safety endpoints over the sessions, the comparator / oral antidepressant / population
fields that the model is told about, and the built-in specs of the generalisation targets.

Numbers are checked against independent calculations (the standard library, numpy written
out by hand, or the model run directly), never against this package's own output."""

from __future__ import annotations

import math
import re
import statistics

import numpy as np
import pytest

from ketamine_ptsd import Population, simulate
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.trials import (
    BUILTIN,
    ArmData,
    TrialResult,
    builtin_spec,
    builtin_spec_text,
    endpoints,
    parse_spec,
    power,
    run_trial,
)
from ketamine_ptsd.trials.measures import acute_safety_events, days_to_relapse

OPEN = """\
[trial]
name = "open"
design = "single_arm"
n_per_arm = 8
seed = 5

[[arms]]
name = "ketamine"
drug = "racemic"
dose = "0.5mg/kg"
days = [0, 2, 4]

[visits]
days = [0, 1, 5, 12]
instruments = ["madrs", "pcl5_total"]

[analysis]
instrument = "madrs"
day = 5

[response]
instrument = "madrs"
percent_reduction = 50
day = 5

[remission]
instrument = "madrs"
at_or_below = 12

[follow_up]
every_days = 7
until_day = 26
"""

DOSES = """\
[trial]
name = "doses"
n_per_arm = 6
control = "saline"
seed = 9

[randomisation]
block_size = 6

[[arms]]
name = "low"
drug = "racemic"
dose = "0.1mg/kg"
days = [0]

[[arms]]
name = "high"
drug = "racemic"
dose = "0.5mg/kg"
days = [0]

[[arms]]
name = "saline"
drug = "saline"
dose = "0.5mg/kg"
days = [0]

[visits]
days = [0, 1, 3]
instruments = ["madrs", "caps5_total"]

[analysis]
instrument = "madrs"
day = 1

[response]
instrument = "madrs"
percent_reduction = 50
day = 1

[remission]
instrument = "madrs"
at_or_below = 12
"""


def edit(text: str, **edits) -> str:
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# --------------------------------------------------------------------------- single arm


def test_a_single_arm_trial_runs_without_comparisons():
    spec = parse_spec(OPEN)
    assert spec.trial.control is None and spec.arm_names == ["ketamine"]
    e = endpoints(run_trial(spec, threads=1))
    assert e["control"] is None and e["comparisons"] == {}
    arm = e["arms"]["ketamine"]
    assert arm["n"] == 8 and set(arm["by_visit"]) == {"madrs", "pcl5_total"}
    assert set(arm["by_visit"]["madrs"]) == {"1", "5", "12"}


def test_power_needs_a_control_arm():
    with pytest.raises(InputError) as err:
        power(parse_spec(OPEN, "open.toml"), n_trials=2)
    assert err.value.field.endswith("trial.control") and "single-arm" in err.value.message


@pytest.mark.parametrize("edits,field", [
    # a control named in a single-arm trial
    ({'design = "single_arm"': 'design = "single_arm"\ncontrol = "ketamine"'}, "trial.control"),
    # a parallel trial without a control
    ({'design = "single_arm"': 'design = "parallel"'}, "trial.control"),
    # two arms in a single-arm trial
    ({"[visits]": '[[arms]]\nname = "other"\ndrug = "racemic"\ndose = "0.2mg/kg"\ndays = [0]\n\n[visits]'}, "arms"),
])
def test_single_arm_design_errors_name_the_field(edits, field):
    with pytest.raises(InputError) as err:
        parse_spec(edit(OPEN, **edits), "open.toml")
    assert re.fullmatch(rf"open\.toml( line \d+)?, {re.escape(field)}", err.value.field), err.value.field


# --------------------------------------------------------------------------- one arm per dose


def test_one_arm_per_dose_each_compared_with_the_control():
    spec = parse_spec(DOSES)
    assert [spec.regimen(i).doses[0].amount for i in range(3)] == [0.1, 0.5, 0.5]
    result = run_trial(spec, threads=1)
    e = endpoints(result)
    assert set(e["comparisons"]) == {"low", "high"}
    for name in ("low", "high"):
        c = e["comparisons"][name]["by_visit"]
        assert set(c) == {"madrs", "caps5_total"} and set(c["madrs"]) == {"1", "3"}
    # Each dose arm's patients are its own: three arms of 6 from 18 enrolled, none shared.
    ids = [set(a.ids.tolist()) for a in result.arms]
    assert [len(i) for i in ids] == [6, 6, 6] and len(set().union(*ids)) == 18


# --------------------------------------------------------------------------- every instrument at every visit


def handmade(response_day: int = 1) -> TrialResult:
    """Two arms with chosen MADRS and CAPS-5 scores at visits 0, 1, 5 (one missed visit)."""
    text = edit(DOSES, **{"percent_reduction = 50\nday = 1": f"percent_reduction = 50\nday = {response_day}",
                          '[[arms]]\nname = "low"\ndrug = "racemic"\ndose = "0.1mg/kg"\ndays = [0]\n\n': "",
                          "block_size = 6": "block_size = 4", "days = [0, 1, 3]": "days = [0, 1, 5]",
                          "[remission]": "[outcomes.caps5_total]\npercent_reduction = 30\nremission_at_or_below = 20"
                                         "\n\n[remission]"})
    spec = parse_spec(text)
    nan = math.nan
    high_madrs = [[30, 14, 20], [28, 15, 10], [34, 30, 25], [40, 12, nan]]
    high_caps = [[40, 26, 30], [50, 30, 34], [36, 35, 20], [44, 40, nan]]
    sal_madrs = [[30, 25, 28], [32, 30, 16], [26, 24, 20]]
    sal_caps = [[40, 38, 36], [45, 44, 30], [30, 19, 29]]

    def arm(ids, madrs, caps):
        n = len(ids)
        visits = np.stack([np.array(madrs, float), np.array(caps, float)], axis=2)
        return ArmData(ids=np.array(ids), visits=visits, course=np.zeros((n, 3), np.float32), loss_day=np.zeros(n),
                       lost=np.zeros(n, bool), female=np.zeros(n, bool), depressed=np.zeros(n, bool),
                       resistant=np.zeros(n, bool))

    return TrialResult(spec, (arm([1, 2, 3, 4], high_madrs, high_caps), arm([5, 6, 7], sal_madrs, sal_caps)), 7)


def _by_hand(rows, day_col, percent, remission):
    seen = [r for r in rows if not math.isnan(r[day_col])]
    change = [r[day_col] - r[0] for r in seen]
    return {
        "n": len(seen), "mean": statistics.fmean(r[day_col] for r in seen), "mean_change": statistics.fmean(change),
        "sd_change": statistics.stdev(change),
        "responder_rate": sum((r[0] - r[day_col]) / r[0] >= percent / 100 for r in seen) / len(seen),
        "remission_rate": sum(r[day_col] <= remission for r in seen) / len(seen),
    }, change


def test_every_instrument_at_every_visit_against_a_calculation_by_hand():
    result = handmade()
    e = endpoints(result)
    nan = math.nan
    rows = {
        ("high", "madrs"): [[30, 14, 20], [28, 15, 10], [34, 30, 25], [40, 12, nan]],
        ("high", "caps5_total"): [[40, 26, 30], [50, 30, 34], [36, 35, 20], [44, 40, nan]],
        ("saline", "madrs"): [[30, 25, 28], [32, 30, 16], [26, 24, 20]],
        ("saline", "caps5_total"): [[40, 38, 36], [45, 44, 30], [30, 19, 29]],
    }
    # MADRS thresholds from [response] / [remission]; CAPS-5 from [outcomes.caps5_total].
    thresholds = {"madrs": (50, 12), "caps5_total": (30, 20)}
    for (arm, inst), data in rows.items():
        for col, day in ((1, "1"), (2, "5")):
            expected, _ = _by_hand(data, col, *thresholds[inst])
            got = e["arms"][arm]["by_visit"][inst][day]
            for key, value in expected.items():
                assert got[key] == pytest.approx(value), (arm, inst, day, key)
    for inst in ("madrs", "caps5_total"):
        for col, day in ((1, "1"), (2, "5")):
            _, a = _by_hand(rows[("high", inst)], col, *thresholds[inst])
            _, c = _by_hand(rows[("saline", inst)], col, *thresholds[inst])
            pooled = math.sqrt(((len(a) - 1) * statistics.variance(a) + (len(c) - 1) * statistics.variance(c))
                               / (len(a) + len(c) - 2))
            got = e["comparisons"]["high"]["by_visit"][inst][day]
            assert got["effect_size_d"] == pytest.approx((statistics.fmean(a) - statistics.fmean(c)) / pooled)
            assert got["difference"] == pytest.approx(statistics.fmean(a) - statistics.fmean(c))


def test_thresholds_per_instrument_come_from_outcomes_or_the_response_and_remission_sections():
    to_caps = {f"[{s}]\ninstrument = \"madrs\"": f"[{s}]\ninstrument = \"caps5_total\""
               for s in ("response", "remission")}
    spec = parse_spec(edit(DOSES, **to_caps))
    assert spec.outcome_thresholds("madrs") == (None, None)
    assert spec.outcome_thresholds("caps5_total") == (50, 12)
    spec = parse_spec(DOSES + "\n[outcomes.caps5_total]\npercent_reduction = 30\n")
    assert spec.outcome_thresholds("caps5_total") == (30, None)
    assert spec.outcome_thresholds("madrs") == (50, 12)


def test_first_response_counts_the_visits_up_to_the_response_day():
    e = endpoints(handmade(response_day=5))["arms"]
    # high: 30 -> 14 (day 1), 28 -> 15 -> 10 (day 5), 34 never, 40 -> 12 (day 1)
    assert e["high"]["first_response"] == {"responders": 3, "median_day": 1.0}
    # saline: only 32 -> 16 on day 5
    assert e["saline"]["first_response"] == {"responders": 1, "median_day": 5.0}
    assert endpoints(handmade(response_day=1))["arms"]["high"]["first_response"]["responders"] == 2


# --------------------------------------------------------------------------- relapse on hand-made series


DAYS = np.array([0.0, 7, 14, 21, 28, 35])


def test_loss_of_response_relapse_on_hand_made_series():
    nan = math.nan
    scores = np.array([
        [30, 12, 14, 20, 25, 25],    # responder (60 %), 33 % at day 21: relapse 14 days after day 7
        [30, 20, 10, 10, 10, 10],    # 33 % at day 7: not at risk
        [30, 10, 16, 12, 17, 18],    # one bad visit at 14, then 17 and 18 at 28, 35
        [30, 15, 12, 12, nan, nan],  # responder, censored at day 21 (last seen)
        [30, 15, nan, 16, 16, 10],   # a missed visit breaks no single-visit rule: relapse at 21
    ], float)
    at_risk, relapsed, days = days_to_relapse(scores, DAYS, 7, "loss_of_response", 50, 50)
    assert at_risk.tolist() == [True, False, True, True, True]
    assert relapsed.tolist() == [True, False, True, False, True]
    assert days[[0, 2, 3, 4]].tolist() == [14, 7, 14, 14] and math.isnan(days[1])
    # Two consecutive visits: patient 3's lone bad visit at day 14 no longer counts; 28-35 do.
    at_risk, relapsed, days = days_to_relapse(scores, DAYS, 7, "loss_of_response", 50, 50, consecutive=2)
    assert relapsed.tolist() == [True, False, True, False, True]
    assert days[[0, 2, 3, 4]].tolist() == [14, 21, 14, 14]
    # Counted from day 4 (the last infusion): three days more, censoring included.
    _, _, later = days_to_relapse(scores, DAYS, 7, "loss_of_response", 50, 50, consecutive=2, clock_from=4)
    assert later[[0, 2, 3, 4]].tolist() == [17, 24, 17, 17]


def test_two_consecutive_visits_need_both_observed():
    nan = math.nan
    scores = np.array([[30, 10, 20, nan, 20, 10]], float)   # bad, missed, bad: no run of two
    _, relapsed, days = days_to_relapse(scores, DAYS, 7, "loss_of_response", 50, 50, consecutive=2)
    assert not relapsed[0] and days[0] == 35 - 7


def test_relapse_from_remission_by_a_threshold():
    scores = np.array([
        [30, 8, 12, 22, 25, 25],     # in remission (<= 10), >= 22 at day 21
        [30, 12, 8, 8, 8, 8],        # not in remission on day 7
        [30, 10, 21, 19, 21, 5],     # never reaches 22
    ], float)
    at_risk, relapsed, days = days_to_relapse(scores, DAYS, 7, "from_remission", 10, 22)
    assert at_risk.tolist() == [True, False, True]
    assert relapsed.tolist() == [True, False, False]
    assert days[0] == 14 and days[2] == 28


RELAPSE = """
[[relapse]]
instrument = "madrs"
kind = "loss_of_response"
day = 5
by_days = [7, 21]

[[relapse]]
name = "remission_lost"
instrument = "madrs"
kind = "from_remission"
day = 5
remission_at_or_below = 20
relapse_at_or_above = 24
consecutive = 2
"""


def test_relapse_endpoints_of_a_run_match_the_scores_they_come_from():
    spec = parse_spec(OPEN + RELAPSE)
    result = run_trial(spec, threads=1)
    e = endpoints(result)["arms"]["ketamine"]["relapse"]
    assert set(e) == {"madrs_loss_of_response", "remission_lost"}
    visits = result.arms[0].visits[:, :, 0]        # MADRS at days 0, 1, 5, 12
    red5 = (visits[:, 0] - visits[:, 2]) / visits[:, 0]
    assert e["madrs_loss_of_response"]["at_risk"] == int(np.sum(red5 >= 0.5))
    assert e["remission_lost"]["at_risk"] == int(np.sum(visits[:, 2] <= 20))
    # MADRS follow-up every 7 days from day 5: the series covers days 12, 19, 26.
    course = result.arms[0].course.astype(float)
    assert course.shape[1] == len(spec.assessment_days())
    lost_by_12 = np.sum((red5 >= 0.5) & ((course[:, 0] - course[:, 3]) / course[:, 0] < 0.5))
    assert e["madrs_loss_of_response"]["relapsed"] >= lost_by_12


@pytest.mark.parametrize("block,field", [
    ('[[relapse]]\ninstrument = "iesr_total"\nkind = "loss_of_response"\nday = 5\n', "relapse[0].instrument"),
    ('[[relapse]]\ninstrument = "madrs"\nkind = "loss_of_response"\nday = 6\n', "relapse[0].day"),
    ('[[relapse]]\ninstrument = "madrs"\nkind = "from_remission"\nday = 5\n', "relapse[0].relapse_at_or_above"),
    ('[[relapse]]\ninstrument = "pcl5_total"\nkind = "loss_of_response"\nday = 5\n', "relapse[0].percent_reduction"),
    ('[[relapse]]\ninstrument = "madrs"\nkind = "relapse_soon"\nday = 5\n', "relapse[0].kind"),
    ('[[relapse]]\ninstrument = "madrs"\nkind = "loss_of_response"\nday = 5\nclock_from_day = 6\n',
     "relapse[0].clock_from_day"),
    ('[[relapse]]\ninstrument = "madrs"\nkind = "from_remission"\nday = 5\nrelapse_at_or_above = 10\n',
     "relapse[0].relapse_at_or_above"),
    ("[outcomes.iesr_total]\npercent_reduction = 30\n", "outcomes.iesr_total"),
    ("[safety]\nreading_hours = [0.5, 1]\n", "safety.reading_hours"),
    ("[safety]\ncadss_above = -1\n", "safety.cadss_above"),
])
def test_bad_endpoint_definitions_name_the_field_and_line(block, field):
    with pytest.raises(InputError) as err:
        parse_spec(OPEN + "\n" + block, "open.toml")
    assert re.fullmatch(rf"open\.toml line \d+, {re.escape(field)}", err.value.field), err.value.field


# --------------------------------------------------------------------------- acute safety


def test_acute_safety_events_on_hand_made_vitals():
    nan = math.nan
    # patients x sessions x readings (pre, 40 min, 1.5 h) x (CADSS, SBP, DBP)
    readings = np.array([
        [  # CADSS 5 but already 5 before the dose: no event; SBP +40 exactly: event
            [[5, 120, 80], [5, 160, 90], [2, 130, 80]],
            [[0, 120, 80], [3, 150, 95], [0, 125, 82]],
        ],
        [  # CADSS 4 is not above 4; 4.5 is, at the 1.5-h reading; SBP +39.9: none; DBP +25: event
            [[0, 120, 80], [4, 159.9, 105], [1, 121, 81]],
            [[0, 118, 78], [1, 130, 80], [4.5, 120, 79]],
        ],
        [  # second session not attended: only the first counts
            [[0, 130, 85], [2, 140, 90], [1, 131, 86]],
            [[nan, nan, nan], [nan, nan, nan], [nan, nan, nan]],
        ],
    ], float)
    ev = acute_safety_events(readings, cadss_above=4, sbp_rise=40, dbp_rise=25)
    assert ev["cadss_above"].tolist() == [False, True, False]
    assert ev["sbp_rise"].tolist() == [True, False, False]
    assert ev["dbp_rise"].tolist() == [False, True, False]
    assert ev["max_sbp_rise"].tolist() == pytest.approx([40, 39.9, 10])
    assert ev["max_dbp_rise"].tolist() == pytest.approx([15, 25, 5])
    assert ev["sessions"].tolist() == [2, 2, 1]


SAFETY = """\
[trial]
name = "spray"
n_per_arm = 4
control = "placebo"
seed = 2

[[arms]]
name = "esketamine"
drug = "esketamine"
route = "intranasal"
dose = ["56mg", "84mg", "84mg"]
days = [0, 3, 7]

[[arms]]
name = "placebo"
drug = "saline"
route = "intranasal"
dose = "56mg"
days = [0, 3, 7]

[visits]
days = [0, 1, 8]
instruments = ["madrs"]

[analysis]
instrument = "madrs"
day = 8

[response]
instrument = "madrs"
percent_reduction = 50
day = 8

[remission]
instrument = "madrs"
at_or_below = 12

[safety]
reading_hours = [0, 0.67, 1.5]
cadss_above = 4
sbp_rise_at_least = 8
dbp_rise_at_least = 5
until_day = 3
"""


def test_safety_endpoints_read_the_model_at_each_session():
    spec = parse_spec(SAFETY)
    result = run_trial(spec, threads=1)
    e = endpoints(result)["arms"]["esketamine"]["safety"]
    # The model run directly at the readings of the sessions up to day 3 (days 0 and 3).
    ids = result.arms[0].ids
    times = np.array([h + d * 24.0 for d in (0, 3) for h in (0, 0.67, 1.5)])
    traj = simulate(spec.regimen(0), Population.from_ids(ids, spec.trial.seed), times=times,
                    outputs=["cadss", "sbp_mmhg", "dbp_mmhg"])
    v = traj.values.reshape(ids.size, 2, 3, 3)
    rise = v[:, :, 1:, :] - v[:, :, :1, :]
    sbp = np.any(rise[..., 1] >= 8, axis=(1, 2))
    dbp = np.any(rise[..., 2] >= 5, axis=(1, 2))
    cadss = np.any((v[:, :, 1:, 0] > 4) & (rise[..., 0] > 0), axis=(1, 2))
    assert e["sbp_rise"] == pytest.approx(sbp.mean())
    assert e["dbp_rise"] == pytest.approx(dbp.mean())
    assert e["cadss_above"] == pytest.approx(cadss.mean())
    assert e["mean_max_sbp_rise"] == pytest.approx(rise[..., 1].reshape(ids.size, -1).max(axis=1).mean())
    assert e["sessions_per_patient"] == 2 and e["patients"] == ids.size
    assert e["mean_max_sbp_rise"] > 0


def test_safety_readings_leave_the_visits_unchanged():
    """Extra output times for the session readings do not move the scores at the visits."""
    with_safety = run_trial(parse_spec(SAFETY), threads=1)
    without = run_trial(parse_spec(SAFETY[:SAFETY.index("[safety]")]), threads=1)
    for a, b in zip(with_safety.arms, without.arms):
        # Within the solver's tolerance: the output grid may shorten a step, nothing more.
        np.testing.assert_allclose(a.visits, b.visits, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- titration and maintenance


def test_titration_gives_each_session_its_own_dose():
    spec = parse_spec(SAFETY)
    doses = spec.regimen(0).doses
    assert [d.time_h / 24 for d in doses] == [0, 3, 7]
    assert [d.amount for d in doses] == [56, 84, 84] and not any(d.per_kg for d in doses)


def test_a_titration_list_of_the_wrong_length_is_named():
    text = edit(SAFETY, **{'dose = ["56mg", "84mg", "84mg"]': 'dose = ["56mg", "84mg"]'})
    with pytest.raises(InputError) as err:
        parse_spec(text, "spray.toml")
    assert err.value.field == f"spray.toml line {line_of(text, 'dose = [')}, arms[0].dose"
    text = edit(SAFETY, **{'dose = ["56mg", "84mg", "84mg"]': 'dose = ["56mg", "lots", "84mg"]'})
    with pytest.raises(InputError) as err:
        parse_spec(text, "spray.toml")
    assert err.value.field.endswith("arms[0].dose")


MAINTENANCE = '[arms.maintenance]\ndays = [12, 19, 26]\ndose = "0.75mg/kg"\n\n[visits]'


def test_maintenance_on_listed_days_with_its_own_dose():
    text = edit(OPEN, **{"[visits]": MAINTENANCE, "until_day = 26": "until_day = 33"})
    regimen = parse_spec(text).regimen(0)
    assert [d.time_h / 24 for d in regimen.doses] == [0, 2, 4, 12, 19, 26]
    assert [d.amount for d in regimen.doses] == [0.5, 0.5, 0.5, 0.75, 0.75, 0.75]
    result = run_trial(parse_spec(text), threads=1)
    assert result.arms[0].failed == 0


def test_maintenance_every_n_days_keeps_the_last_dose_unless_given():
    block = '[arms.maintenance]\nevery_days = 7\nfrom_day = 11\nuntil_day = 25\n\n[visits]'
    regimen = parse_spec(edit(OPEN, **{"[visits]": block})).regimen(0)
    assert [d.time_h / 24 for d in regimen.doses] == [0, 2, 4, 11, 18, 25]
    assert {d.amount for d in regimen.doses} == {0.5}


@pytest.mark.parametrize("block,field", [
    ('[arms.maintenance]\ndays = [12]\nevery_days = 7\n\n[visits]', "arms[0].maintenance.every_days"),
    ('[arms.maintenance]\nevery_days = 7\nfrom_day = 12\n\n[visits]', "arms[0].maintenance.until_day"),
    ('[arms.maintenance]\ndays = [19, 12]\n\n[visits]', "arms[0].maintenance.days"),
    ('[arms.maintenance]\ndays = [12]\ndose = "much"\n\n[visits]', "arms[0].maintenance.dose"),
    ('[arms.maintenance]\ndays = [40]\n\n[visits]', "arms[0].maintenance"),
])
def test_bad_maintenance_names_the_field(block, field):
    with pytest.raises(InputError) as err:
        parse_spec(edit(OPEN, **{"[visits]": block}), "open.toml")
    assert re.fullmatch(rf"open\.toml line \d+, {re.escape(field)}", err.value.field), err.value.field


# --------------------------------------------------------------------------- what the model is told


@pytest.mark.parametrize("edits,field", [
    ({'comparator = "none"': 'comparator = "sugar_pill"'}, "arms[0].comparator"),
    ({'comparator = "none"': 'comparator = "none"\noral_ad = "sometimes"'}, "arms[0].oral_ad"),
])
def test_unknown_context_values_are_named(edits, field):
    text = edit(edit(OPEN, **{"days = [0, 2, 4]": 'days = [0, 2, 4]\ncomparator = "none"'}), **edits)
    with pytest.raises(InputError) as err:
        parse_spec(text, "open.toml")
    assert err.value.field.endswith(field) and "unknown value" in err.value.message


def test_a_named_population_the_model_lacks_is_a_clear_error_before_any_simulation():
    text = edit(OPEN, **{"seed = 5": 'seed = 5\npopulation = "martians"'})
    spec = parse_spec(text, "open.toml")
    with pytest.raises(InputError) as err:
        run_trial(spec)
    assert err.value.field == f"open.toml line {line_of(text, 'population =')}, trial.population"
    assert "martians" in err.value.message


# --------------------------------------------------------------------------- the built-in specs

NEW_BUILTINS = ("fava2018", "synapse", "abdallah2022", "cochrane2021", "transform2", "murrough2013", "phillips2019",
                "wilkinson2017", "esketamine_bp_tail")


@pytest.mark.parametrize("name", NEW_BUILTINS)
def test_new_builtins_are_listed_sourced_and_valid(name):
    assert name in BUILTIN
    text = builtin_spec_text(name)
    assert text.startswith("# ") and "source = " in text
    spec = builtin_spec(name)
    assert spec.trial.name == name and spec.trial.population is not None


def test_builtins_express_the_published_designs():
    fava = builtin_spec("fava2018")
    assert [fava.regimen(i).doses[0].amount for i in range(4)] == [0.1, 0.2, 0.5, 1.0]
    assert {a.comparator for a in fava.arms} == {"midazolam"} and {a.oral_ad for a in fava.arms} == {"stable"}
    synapse = builtin_spec("synapse")
    assert synapse.arm_sizes() == [11, 11, 12, 33]
    transform = builtin_spec("transform2")
    assert [d.amount for d in transform.regimen(0).doses] == [56] + [84] * 7
    assert {a.oral_ad for a in transform.arms} == {"new"}
    assert builtin_spec("murrough2013").trial.design == "single_arm"
    phillips = builtin_spec("phillips2019")
    assert [d.time_h / 24 for d in phillips.regimen(0).doses][-4:] == [18, 25, 32, 39]
    tail = builtin_spec("esketamine_bp_tail")
    assert tail.safety.sbp_rise_at_least == 40 and tail.safety.dbp_rise_at_least == 25
    assert len(tail.safety_sessions(tail.regimen(0))) == 8


@pytest.mark.parametrize("name", NEW_BUILTINS)
def test_new_builtins_run_and_give_every_instrument_at_every_visit(name):
    spec = builtin_spec(name).with_overrides(n_per_arm=12)
    e = endpoints(run_trial(spec, threads=1))
    for arm in spec.arm_names:
        by_visit = e["arms"][arm]["by_visit"]
        assert set(by_visit) == set(spec.visits.instruments)
        assert all(v["n"] == 12 for inst in by_visit.values() for v in inst.values())
    expected = set(spec.arm_names) - {spec.trial.control} if spec.trial.control else set()
    assert set(e["comparisons"]) == expected


RESPONDERS_ONLY = edit(OPEN, **{
    "[visits]": "[arms.maintenance]\ndays = [12, 19]\nresponders_only = true\n\n[visits]",
    "until_day = 26": "until_day = 26\n\n[safety]",
})


def test_responders_only_maintenance_goes_to_the_responders_of_the_decision_day():
    spec = parse_spec(RESPONDERS_ONLY)
    result = run_trial(spec, threads=1)
    data = result.arms[0]
    madrs = data.visits[:, :, 0]                     # days 0, 1, 5, 12
    responders = (madrs[:, 0] - madrs[:, 2]) / madrs[:, 0] >= 0.5
    assert data.maintained.tolist() == responders.tolist()
    assert endpoints(result)["arms"]["ketamine"]["maintained"] == int(responders.sum())
    # Each patient's scores are those of the model run with or without the maintenance doses.
    pop = Population.from_ids(data.ids, spec.trial.seed)
    days = spec.assessment_days() * 24.0
    full = simulate(spec.regimen(0), pop, times=days, outputs=["madrs"]).values[:, :, 0]
    induction = simulate(spec.regimen(0, maintenance=False), pop, times=days, outputs=["madrs"]).values[:, :, 0]
    expected = np.where(responders[:, None], full, induction)
    np.testing.assert_allclose(data.course, expected, rtol=1e-4, atol=1e-3)
    assert not np.allclose(full[:, -1], induction[:, -1])  # the maintenance doses matter
    # Sessions: three induction sessions for everyone, two more for the responders.
    sessions = data.safety[:, -1]
    assert sessions.tolist() == np.where(responders, 5, 3).tolist()


@pytest.mark.parametrize("extra,field", [
    ("decision_day = 6", "arms[0].maintenance.decision_day"),     # not an assessment day
    ("decision_day = 19", "arms[0].maintenance.decision_day"),    # after the first maintenance dose
])
def test_a_bad_maintenance_decision_day_is_named(extra, field):
    text = edit(RESPONDERS_ONLY, **{"responders_only = true": f"responders_only = true\n{extra}"})
    with pytest.raises(InputError) as err:
        parse_spec(text, "open.toml")
    assert err.value.field == f"open.toml line {line_of(text, 'decision_day')}, {field}"


@pytest.mark.parametrize("block,allowed", [
    ("[outcomes.madrs]\nresponse = 3\n", "percent_reduction, remission_at_or_below, source"),
    ("[safety]\nsbp = 3\n", "cadss_above, dbp_rise_at_least, reading_hours, sbp_rise_at_least, source, until_day"),
])
def test_an_unknown_key_in_a_new_section_lists_the_keys_allowed(block, allowed):
    with pytest.raises(InputError) as err:
        parse_spec(OPEN + "\n" + block, "open.toml")
    assert err.value.message == "unknown key" and err.value.allowed == allowed
