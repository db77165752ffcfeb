"""Properties that must hold for any input (hypothesis), complementing the worked examples."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ketamine_ptsd.clinic.instruments import score_pcl5
from ketamine_ptsd.clinic.monitoring import alert_rates, monitor_session

item = st.integers(0, 4)
pcl5_items = st.lists(item, min_size=20, max_size=20)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(pcl5_items)
def test_total_is_the_sum_of_clusters(items):
    r = score_pcl5(items)
    assert r.total == sum(items) == sum(r.clusters.values())


@FAST
@given(pcl5_items, st.integers(0, 19))
def test_raising_an_item_never_removes_a_positive(items, index):
    before = score_pcl5(items)
    raised = list(items)
    raised[index] = min(4, raised[index] + 1)
    after = score_pcl5(raised)
    if before.provisional_diagnosis == "positive":
        assert after.provisional_diagnosis == "positive"
    if before.dsm5_symptom_rule == "positive":
        assert after.dsm5_symptom_rule == "positive"
    if before.cut_point_result == "positive":
        assert after.cut_point_result == "positive"


@FAST
@given(pcl5_items, st.sets(st.integers(0, 19), min_size=1, max_size=4), pcl5_items)
def test_decided_results_hold_for_every_completion(items, missing, fill):
    """A positive/negative verdict with missing items must not depend on what they were."""
    partial = [None if i in missing else v for i, v in enumerate(items)]
    r = score_pcl5(partial)
    completion = [fill[i] if v is None else v for i, v in enumerate(partial)]
    full = score_pcl5(completion)
    if r.provisional_diagnosis != "indeterminate":
        assert r.provisional_diagnosis == full.provisional_diagnosis
    if r.dsm5_symptom_rule != "indeterminate":
        assert r.dsm5_symptom_rule == full.dsm5_symptom_rule
    if r.cut_point_result != "indeterminate":
        assert r.cut_point_result == full.cut_point_result
    assert r.total is None


@FAST
@given(pcl5_items, st.sets(st.integers(0, 19), min_size=1, max_size=2))
def test_prorated_total_lies_between_worst_and_best_case(items, missing):
    partial = [None if i in missing else v for i, v in enumerate(items)]
    answered = sum(v for v in partial if v is not None)
    r = score_pcl5(partial, prorate=True)
    assert r.prorated
    assert answered <= r.total <= answered + 4 * len(missing)


reading_values = st.fixed_dictionaries({
    "sbp": st.integers(85, 200), "dbp": st.integers(45, 84), "hr": st.integers(45, 130),
    "spo2": st.one_of(st.none(), st.integers(85, 100)), "cadss": st.integers(0, 20),
    "moaas": st.integers(0, 5),
})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(reading_values, min_size=2, max_size=5), min_size=1, max_size=3))
def test_population_rates_equal_per_session_alerts(sessions):
    """alert_rates counts exactly the sessions in which monitor_session raises each rule."""
    times = [-5, 15, 40, 90, 125]
    rows, expected = [], {}
    for sid, readings in enumerate(sessions):
        session_rows = [{"time_min": t, **values}
                        for t, values in zip(times[:len(readings)], readings, strict=True)]
        rows += [{"id": sid, **row} for row in session_rows]
        for alert in monitor_session(session_rows, product="esketamine").alerts:
            expected.setdefault(alert.code, set()).add(sid)
    rates = alert_rates(pd.DataFrame(rows))
    for code, rate in rates.rules.items():
        assert rate.fired == len(expected.get(code, ())), code
