"""Being in response under a loss rule, and when response is lost: the pure functions the
personal forecast, the planners and the benchmarks share (no model, no tables)."""

from __future__ import annotations

import numpy as np


def improvement_needed(baseline: np.ndarray, rule: dict) -> np.ndarray:
    """The improvement from ``baseline`` that counts as a response under ``rule``."""
    if "absolute_reduction" in rule:
        return np.full(np.shape(baseline), float(rule["absolute_reduction"]))
    return np.asarray(baseline) * rule["percent_reduction"] / 100.0


def loss_times(score: np.ndarray, baseline: np.ndarray, times: np.ndarray, after_h: float, rule: dict) -> np.ndarray:
    """Hours at which each draw's improvement from baseline is lost: the first time, after
    its largest improvement since ``after_h`` (the end of the last dose), that the
    improvement falls below the rule's threshold. NaN when the improvement never reached
    the threshold after ``after_h`` (no response to lose); +inf when it is not lost
    by the last time."""
    needed = improvement_needed(baseline, rule)
    improved = (baseline[:, None] - score) >= needed[:, None]
    later = times >= after_h
    improvement = np.where(later, baseline[:, None] - score, -np.inf)
    peak = np.argmax(improvement, axis=1)
    out = np.full(score.shape[0], np.inf)
    for i in range(score.shape[0]):
        if not improved[i, peak[i]]:
            out[i] = np.nan
            continue
        lost = np.flatnonzero(~improved[i, peak[i]:])
        if lost.size:
            out[i] = times[peak[i] + lost[0]]
    return out


def first_day_below(probability: np.ndarray, days: np.ndarray, start_day: int, level: float) -> int | None:
    """The first day, after the most probable day of response on or after ``start_day``,
    on which the probability of being in response is below ``level``; None if it never is
    by the last day."""
    after = np.flatnonzero(days >= start_day)
    peak = after[int(np.argmax(probability[after]))]
    below = np.flatnonzero(probability[peak:] < level)
    return int(days[peak + below[0]]) if below.size else None
