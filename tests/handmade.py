"""Hand-made trial results: observed scores written by the test, not simulated, so that the
endpoints and the target quantities computed from them can be checked against arithmetic done
by hand."""

from __future__ import annotations

import numpy as np

from ketamine_ptsd.trial import ArmData, TrialResult, TrialSpec


def arm_data(spec: TrialSpec, scores: dict[str, list], loss_day=None, lost=None) -> ArmData:
    """One arm whose observed ``scores[instrument]`` are rows (patients) of values at every
    visit of ``spec``; instruments not given stay 0. ``loss_day``/``lost``: per patient."""
    days = spec.visits.days
    n = len(next(iter(scores.values())))
    visits = np.zeros((n, len(days), len(spec.visits.instruments)))
    for name, rows in scores.items():
        rows = np.asarray(rows, dtype=float)
        assert rows.shape == (n, len(days)), f"{name}: one row per patient, one value per visit day {days}"
        visits[:, :, spec.visits.instruments.index(name)] = rows
    false = np.zeros(n, dtype=bool)
    return ArmData(
        ids=np.arange(n), visits=visits, course=np.zeros((n, len(days)), dtype=np.float32),
        loss_day=np.zeros(n) if loss_day is None else np.asarray(loss_day, dtype=float),
        lost=false if lost is None else np.asarray(lost, dtype=bool),
        female=false, depressed=false, resistant=false,
    )


def trial_result(spec: TrialSpec, arms: dict[str, ArmData]) -> TrialResult:
    """A :class:`TrialResult` of ``spec`` with the given arms (by name, in the spec's order)."""
    return TrialResult(spec, tuple(arms[name] for name in spec.arm_names), screened=0)
