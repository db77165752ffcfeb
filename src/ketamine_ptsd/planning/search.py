"""``plan population``: a search over induction and maintenance schedules on a virtual
population for two objectives, with Optuna's NSGA-II sampler.

Every candidate meets the same virtual patients with the same instrument errors (common
random numbers: the spec's seed and patient ids), so differences between candidates are
paired. A generation of candidates is asked of the sampler, evaluated (chunks of patients
here or on a Dask cluster, :func:`~ketamine_ptsd.distributed.map_tasks`) and told back in
trial order, so the result depends on the seed only, not on the number of workers. The
objectives are the spec's ``search.cost`` (sessions or mg/kg per patient-year, minimised)
and ``search.benefit`` (days in response per patient-year or the share in response at the
horizon, maximised), each a mean over patients with a 95 % confidence interval.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..distributed import map_tasks
from ..files import write_atomic
from .spec import PlanSpec, SearchSection
from .strategies import Schedule, join, run_task, summarise, tasks_for

NOTICE = "Decision support on a model, not a prescription. Research software, not a medical device."


def suggest(trial, search: SearchSection, infusion_min: float) -> Schedule:
    """A candidate schedule from an Optuna trial, within the spec's ranges."""
    kind = trial.suggest_categorical("maintenance", list(search.maintenance))
    therapy = trial.suggest_categorical("therapy_hours_after_dose", [str(v) for v in search.therapy_hours_after_dose])
    return Schedule(
        induction_sessions=trial.suggest_int("induction_sessions", *search.induction_sessions),
        sessions_per_week=trial.suggest_int("sessions_per_week", *search.sessions_per_week),
        dose_mg_per_kg=trial.suggest_float("dose_mg_per_kg", *search.dose_mg_per_kg, step=0.05)
        if search.dose_mg_per_kg[1] - search.dose_mg_per_kg[0] >= 0.05 else search.dose_mg_per_kg[0],
        infusion_min=infusion_min,
        maintenance=kind,
        interval_days=trial.suggest_int("interval_days", *search.interval_days) if kind == "interval" else 14,
        visit_every_days=trial.suggest_int("visit_every_days", *search.visit_every_days) if kind == "triggered"
        else 7,
        therapy_hours_after_dose=None if therapy == "none" else float(therapy),
    )


def search_schedules(spec: PlanSpec, client=None, progress: Callable[[int], None] | None = None) -> dict:
    """Run the search; returns the JSON-ready result (``front``: the Pareto-optimal
    candidates, ``candidates``: every one, each with its schedule and its objectives with
    95 % confidence intervals)."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    setting, search = spec.setting(search=True), spec.search
    sampler = optuna.samplers.NSGAIISampler(population_size=search.population_size, seed=spec.plan.seed)
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    candidates = []
    started = time.process_time(), time.perf_counter()
    while len(candidates) < search.trials:
        trials = [study.ask() for _ in range(min(search.population_size, search.trials - len(candidates)))]
        schedules = [suggest(t, search, spec.induction.infusion_min) for t in trials]
        chunks = [tasks_for(setting, s, spec.plan.chunk) for s in schedules]
        flat = [task for tasks in chunks for task in tasks]
        results = map_tasks(run_task, flat, client, done=(lambda i: progress(1)) if progress else None)
        k = 0
        for trial, schedule, tasks in zip(trials, schedules, chunks):
            summary = summarise(join(results[k:k + len(tasks)]), setting)
            k += len(tasks)
            values = (summary[search.cost]["mean"], summary[search.benefit]["mean"])
            study.tell(trial, values)
            candidates.append({"number": trial.number, "generation": trial.number // search.population_size,
                               "schedule": schedule.describe(), "objectives": {search.cost: summary[search.cost],
                                                                              search.benefit: summary[search.benefit]},
                               "measures": summary})
    best = {t.number for t in study.best_trials}
    front = sorted((c for c in candidates if c["number"] in best), key=lambda c: c["objectives"][search.cost]["mean"])
    return {
        "name": spec.plan.name, "seed": spec.plan.seed, "n_patients": setting.n_patients,
        "population": setting.population or "default", "horizon_days": setting.horizon_days,
        "loss_rule": setting.rule, "limits": {"max_sessions_per_7_days": setting.max_sessions_per_7_days,
                                              "max_cumulative_mg": setting.max_cumulative_mg},
        "objectives": {"minimise": search.cost, "maximise": search.benefit},
        "sampler": f"optuna {optuna.__version__} NSGAIISampler(population_size={search.population_size}, "
                   f"seed={spec.plan.seed})",
        "trials": search.trials, "front": front, "candidates": candidates,
        "cpu_seconds_here": round(time.process_time() - started[0], 1),
        "wall_seconds": round(time.perf_counter() - started[1], 1),
        "notice": NOTICE,
    }


def write_outputs(result: dict, out: Path) -> list[Path]:
    """``pareto.json`` and ``pareto.html`` (a plotly plot: every candidate, the front with its
    confidence intervals, each point's schedule on hover) in ``out``."""
    import plotly.graph_objects as go

    out.mkdir(parents=True, exist_ok=True)
    timing = {k: result[k] for k in ("cpu_seconds_here", "wall_seconds")}
    stable = {k: v for k, v in result.items() if k not in timing}
    paths = [write_atomic(out / "pareto.json", json.dumps(stable, indent=2)),
             write_atomic(out / "timing.json", json.dumps(timing, indent=2))]
    cost, benefit = result["objectives"]["minimise"], result["objectives"]["maximise"]

    def trace(points, name, **style):
        x = [p["objectives"][cost]["mean"] for p in points]
        y = [p["objectives"][benefit]["mean"] for p in points]
        ex = [p["objectives"][cost]["ci_high"] - p["objectives"][cost]["mean"] for p in points]
        ey = [p["objectives"][benefit]["ci_high"] - p["objectives"][benefit]["mean"] for p in points]
        text = ["<br>".join(f"{k}: {v}" for k, v in p["schedule"].items()) for p in points]
        return go.Scatter(x=x, y=y, mode="markers", name=name, text=text, hovertemplate="%{text}<extra></extra>",
                          error_x={"type": "data", "array": ex, "visible": name == "Pareto front"},
                          error_y={"type": "data", "array": ey, "visible": name == "Pareto front"}, **style)

    figure = go.Figure([trace(result["candidates"], "candidates", marker={"color": "lightgrey"}),
                        trace(result["front"], "Pareto front", marker={"color": "crimson", "size": 10})])
    figure.update_layout(title=f"{result['name']}: {len(result['front'])} Pareto-optimal schedules of "
                               f"{len(result['candidates'])} ({result['n_patients']} virtual patients, "
                               f"{result['horizon_days']} days; 95 % CIs). {result['notice']}",
                         xaxis_title=f"{cost} (lower is better)", yaxis_title=f"{benefit} (higher is better)")
    paths.append(write_atomic(out / "pareto.html", figure.to_html(include_plotlyjs=True, full_html=True)))
    return paths
