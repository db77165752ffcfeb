"""``plan evaluate``: strategies compared on the same virtual patients (known truth, scores
with instrument error), with paired differences.

Each ``[[strategies]]`` entry of the spec is run on the same patients with the same
instrument errors (:mod:`.strategies`). Reported per strategy: sessions, mg/kg, days in
response and relapses per patient-year and the share in response at the horizon (means with
95 % CIs); per strategy after the first, the paired difference from the first (mean of the
per-patient differences with a 95 % CI).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..distributed import map_tasks
from .search import NOTICE
from .spec import PlanSpec
from .strategies import join, mean_ci, per_year, run_task, summarise, tasks_for

MEASURES = ("sessions_per_year", "mg_per_kg_per_year", "days_in_response_per_year", "relapses_per_year",
            "share_in_response_at_end")



def evaluate_strategies(spec: PlanSpec, client=None, progress: Callable[[int], None] | None = None) -> dict:
    """Run every strategy of the spec; returns the JSON-ready comparison."""
    from ..errors import InputError

    schedules = spec.strategy_schedules()
    if not schedules:
        raise InputError("strategies", "no [[strategies]] to compare", "one or more [[strategies]] entries")
    setting = spec.setting()
    out = {"name": spec.plan.name, "seed": spec.plan.seed, "n_patients": setting.n_patients,
           "population": setting.population or "default", "horizon_days": setting.horizon_days,
           "loss_rule": setting.rule, "limits": {"max_sessions_per_7_days": setting.max_sessions_per_7_days,
                                                 "max_cumulative_mg": setting.max_cumulative_mg},
           "strategies": {}, "differences": {}, "notice": NOTICE}
    per_patient = {}
    seconds = {}
    for name, schedule in schedules.items():
        start = time.perf_counter()
        tasks = tasks_for(setting, schedule, spec.plan.chunk)
        joined = join(map_tasks(run_task, tasks, client, done=(lambda i: progress(1)) if progress else None))
        seconds[name] = round(time.perf_counter() - start, 1)
        per_patient[name] = per_year(joined, setting.horizon_days)
        out["strategies"][name] = {"schedule": schedule.describe(), **summarise(joined, setting)}
    reference = next(iter(schedules))
    for name in list(schedules)[1:]:
        out["differences"][f"{name} - {reference}"] = {
            m: mean_ci(per_patient[name][m] - per_patient[reference][m]) for m in MEASURES}
    out["wall_seconds"] = seconds
    return out
