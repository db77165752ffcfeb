"""Planning on virtual patients: schedules against hand calculation and the model run
directly, common random numbers, limits, the search's front and its reproducibility, the
spec's errors and the strategy comparison's paired differences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ketamine_ptsd import simulate
from ketamine_ptsd.calibration.individual import improvement_needed, loss_rule
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.planning.evaluate import MEASURES, evaluate_strategies
from ketamine_ptsd.planning.search import search_schedules, write_outputs
from ketamine_ptsd.planning.spec import parse_plan_spec
from ketamine_ptsd.planning.strategies import Schedule, Setting, Task, join, run_task, tasks_for
from ketamine_ptsd.population import Population

RULE = loss_rule({"percent_reduction": 30})
SETTING = Setting(n_patients=24, seed=5, horizon_days=70, rule=RULE, max_sessions_per_7_days=3,
                  max_cumulative_mg=1e6)

SMALL = """
[plan]
name = "small"
seed = 3
n_patients = 24
horizon_days = 70
chunk = 12
[response]
percent_reduction = 30
[search]
trials = 8
population_size = 4
induction_sessions = [3, 6]
interval_days = [7, 28]
visit_every_days = [7, 21]
[[strategies]]
name = "fixed_14_days"
kind = "interval"
[[strategies]]
name = "forecast_guided"
kind = "forecast"
[[strategies]]
name = "symptom_triggered"
kind = "triggered"
"""


def test_induction_days_spread_each_week_as_feder_2021():
    assert Schedule(sessions_per_week=3).induction_days() == [0, 2, 4, 7, 9, 11]
    assert Schedule(induction_sessions=4, sessions_per_week=2).induction_days() == [0, 3, 7, 10]


def test_induction_only_is_the_model_run_directly():
    schedule = Schedule(maintenance="none")
    result = run_task(Task(SETTING, schedule, 0, SETTING.n_patients))
    patients = Population.virtual(SETTING.n_patients, seed=SETTING.seed)
    course = simulate(schedule.regimen(schedule.induction_days()), patients,
                      times=np.arange(SETTING.horizon_days + 1) * 24.0, outputs=["pcl5_total"])["pcl5_total"]
    inside = (course[:, :1] - course) >= improvement_needed(course[:, 0], RULE)[:, None]
    assert np.array_equal(result["days_in_response"], inside[:, 1:].sum(axis=1))
    assert np.all(result["sessions"] == 6)


def test_an_interval_gives_the_sessions_counted_by_hand_within_the_dose_cap():
    schedule = Schedule(maintenance="interval", interval_days=10)
    result = run_task(Task(SETTING, schedule, 0, SETTING.n_patients))
    # Induction ends on day 11; sessions on days 21, 31, 41, 51, 61 within 70 days.
    assert np.all(result["sessions"] == 6 + 5)
    capped = Setting(**{**SETTING.__dict__, "max_cumulative_mg": 300.0})
    result = run_task(Task(capped, schedule, 0, SETTING.n_patients))
    assert np.all(result["cumulative_mg"] <= 300.0 + 1e-9)
    assert np.any(result["sessions"] < 11)


@pytest.mark.parametrize("kind", ["triggered", "forecast"])
def test_results_do_not_depend_on_the_chunking(kind):
    schedule = Schedule(maintenance=kind)
    whole = run_task(Task(SETTING, schedule, 0, SETTING.n_patients))
    parts = join([run_task(t) for t in tasks_for(SETTING, schedule, 7)])
    for key in whole:
        assert np.array_equal(whole[key], parts[key]), key


def test_sessions_on_relapse_add_sessions_and_days_in_response():
    none = run_task(Task(SETTING, Schedule(maintenance="none"), 0, SETTING.n_patients))
    triggered = run_task(Task(SETTING, Schedule(maintenance="triggered"), 0, SETTING.n_patients))
    assert np.all(triggered["sessions"] >= none["sessions"]) and triggered["sessions"].sum() > none["sessions"].sum()
    assert triggered["days_in_response"].mean() > none["days_in_response"].mean()
    limited = Setting(**{**SETTING.__dict__, "max_sessions_per_7_days": 1})
    capped = run_task(Task(limited, Schedule(maintenance="triggered", visit_every_days=1), 0, SETTING.n_patients))
    # At most one session in any 7 days after the induction: at most ceil(59 / 7) more.
    assert np.all(capped["sessions"] <= 6 + 9)


def test_the_search_front_is_not_dominated_reproducible_and_written(tmp_path):
    spec = parse_plan_spec(SMALL, "small.toml")
    first = search_schedules(spec)
    again = search_schedules(spec)
    strip = ("cpu_seconds_here", "wall_seconds")
    assert {k: v for k, v in first.items() if k not in strip} == {k: v for k, v in again.items() if k not in strip}
    cost, benefit = first["objectives"]["minimise"], first["objectives"]["maximise"]
    points = [(c["objectives"][cost]["mean"], c["objectives"][benefit]["mean"]) for c in first["candidates"]]
    assert len(first["candidates"]) == 8 and first["front"]
    for p in first["front"]:
        x, y = p["objectives"][cost]["mean"], p["objectives"][benefit]["mean"]
        assert not any(a <= x and b >= y and (a, b) != (x, y) for a, b in points)
        assert p["objectives"][cost]["ci_low"] <= x <= p["objectives"][cost]["ci_high"]
        assert 3 <= p["schedule"]["induction_sessions"] <= 6
    paths = write_outputs(first, tmp_path)
    assert json.loads((tmp_path / "pareto.json").read_text())["front"] == first["front"]
    assert "plotly" in (tmp_path / "pareto.html").read_text()[:20000].lower() and len(paths) == 3


def test_the_search_on_two_dask_workers_gives_the_same_front():
    from ketamine_ptsd.distributed import dask_client

    spec = parse_plan_spec(SMALL.replace("trials = 8", "trials = 4"), "small.toml")
    here = search_schedules(spec)
    with dask_client(workers=2) as client:
        there = search_schedules(spec, client)
    assert here["candidates"] == there["candidates"] and here["front"] == there["front"]


def test_strategies_are_compared_on_the_same_patients_with_paired_differences():
    spec = parse_plan_spec(SMALL, "small.toml")
    result = evaluate_strategies(spec)
    assert list(result["strategies"]) == ["fixed_14_days", "forecast_guided", "symptom_triggered"]
    for name in ("forecast_guided", "symptom_triggered"):
        diff = result["differences"][f"{name} - fixed_14_days"]
        for m in MEASURES:
            expected = result["strategies"][name][m]["mean"] - result["strategies"]["fixed_14_days"][m]["mean"]
            assert diff[m]["mean"] == pytest.approx(expected, abs=2e-3)
            assert diff[m]["ci_low"] <= diff[m]["mean"] <= diff[m]["ci_high"]


@pytest.mark.parametrize("text, field", [
    ("[plan]\nseeds = 1\n", "line 2, plan.seeds"),
    ("[search]\nmaintenance = ['weekly']\n", "search.maintenance[0]"),
    ("[plan]\nhorizon_days = 7\n", "plan.horizon_days"),
    ("[response]\npercent_reduction = 30\nabsolute_reduction = 5\n", "response"),
    ("[[strategies]]\nname = 'a'\nkind = 'interval'\n[[strategies]]\nname = 'a'\nkind = 'none'\n", "strategies"),
])
def test_spec_errors_name_the_line_and_field(text, field):
    with pytest.raises(InputError) as info:
        parse_plan_spec(text, "p.toml")
    assert field in info.value.field
