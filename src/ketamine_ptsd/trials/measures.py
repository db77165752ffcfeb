"""Per-patient measures computed from score series: reduction from baseline and the days to
loss of response. Pure numpy functions of arrays, so they can be checked on hand-made series."""

from __future__ import annotations

import numpy as np


def reduction(baseline: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Fractional reduction from baseline, (baseline - score) / baseline; NaN where the
    baseline is 0 or either value is missing."""
    baseline = np.asarray(baseline, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(baseline > 0, (baseline - score) / baseline, np.nan)


def days_to_loss_of_response(red: np.ndarray, days: np.ndarray, response_day: float,
                             percent_reduction: float) -> tuple[np.ndarray, np.ndarray]:
    """Days from ``response_day`` to the first later assessment whose reduction ``red``
    (patients x ``days``, NaN = not assessed) is below ``percent_reduction`` %, and whether
    that happened; otherwise the days to the last assessment (censored; 0 if none)."""
    after = days > response_day
    n = red.shape[0]
    if not after.any():
        return np.zeros(n), np.zeros(n, dtype=bool)
    follow = days[after] - response_day
    seen = ~np.isnan(red[:, after])
    with np.errstate(invalid="ignore"):
        below = seen & (red[:, after] < percent_reduction / 100.0)
    lost = below.any(axis=1)
    last_seen = seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    censored_at = np.where(seen.any(axis=1), follow[last_seen], 0.0)
    return np.where(lost, follow[np.argmax(below, axis=1)], censored_at), lost

