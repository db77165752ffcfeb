"""Power by repeated simulation: the trial run again with seeds derived from its own."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..distributed import map_tasks
from ..engine import Engine
from ..errors import InputError
from ..params import ParameterTable
from .run import run_trial
from .spec import TrialSpec
from .statistics import compare


def trial_seed(seed: int, k: int) -> int:
    """Seed of the ``k``-th repeat of a trial with seed ``seed`` (a 63-bit integer)."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class PowerTask:
    spec: TrialSpec
    model_params: ParameterTable | None = None
    threads: int | None = None
    engine: Engine | str | None = None


def _power_once(task: PowerTask) -> dict[str, float]:
    result = run_trial(task.spec, task.model_params, threads=task.threads, engine=task.engine)
    return {name: compare(result, name).p_value for name in task.spec.arm_names if name != task.spec.trial.control}


def check_has_control(spec: TrialSpec) -> None:
    """Power needs a comparison: an InputError naming ``trial.control`` for a single-arm trial."""
    if spec.trial.control is None:
        raise spec.error("trial.control", "power compares arms with a control, and a single-arm trial has none",
                         "a parallel or crossover trial")


def power(spec: TrialSpec, n_per_arm: int | None = None, n_trials: int = 100, model_params=None, client=None,
          progress: Callable[[int], None] | None = None, engine: Engine | str | None = None) -> dict:
    """Power by repeated simulation: the share of ``n_trials`` trials (each with its own seed
    derived from the spec's) whose primary comparison has p < ``analysis.alpha``, per arm
    compared with the control, with its Monte Carlo standard error. ``engine`` integrates
    every trial (an :class:`~ketamine_ptsd.engine.Engine` or its name; None: numba)."""
    if int(n_trials) < 1:
        raise InputError("n_trials", f"must be at least 1, got {n_trials}", ">= 1")
    check_has_control(spec)
    spec = spec.with_overrides(n_per_arm=n_per_arm)
    tasks = [PowerTask(spec.with_overrides(seed=trial_seed(spec.trial.seed, k)), model_params,
                       1 if client is not None else None, engine) for k in range(int(n_trials))]
    done = None if progress is None else (lambda i: progress(1))
    p_values = map_tasks(_power_once, tasks, client, done)
    alpha = spec.analysis.alpha
    by_arm = {}
    for name in p_values[0]:
        p = np.array([r[name] for r in p_values])
        share = float(np.mean(p < alpha))
        by_arm[name] = {"power": share, "standard_error": math.sqrt(share * (1 - share) / p.size)}
    return {"n_per_arm": spec.arm_sizes(), "trials": int(n_trials), "alpha": alpha, "by_arm": by_arm,
            "definition": "share of simulated trials (seeds derived from the trial seed) with p < alpha in the "
                          f"primary comparison ({spec.analysis.method})"}
