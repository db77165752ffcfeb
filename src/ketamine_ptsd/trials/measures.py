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



def days_to_relapse(scores: np.ndarray, days: np.ndarray, day: float, kind: str, enter: float, relapse: float,
                    consecutive: int = 1, clock_from: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relapse of one instrument's scores (patients x ``days``, column 0 the baseline on day 0,
    NaN = not assessed).

    At risk on ``day``: ``kind = "loss_of_response"``, a reduction from baseline of at least
    ``enter`` %; ``"from_remission"``, a score at or below ``enter``. Relapse: the first run of
    ``consecutive`` assessments after ``day`` that are all observed and all relapsed (a
    reduction below ``relapse`` %, or a score at or above ``relapse``); a missed assessment
    breaks a run. Returns ``(at_risk, relapsed, days)``: the days from ``clock_from`` (default
    ``day``) to the first assessment of that run, or to the last observed assessment (censored;
    0 when none after ``day``)."""
    scores = np.asarray(scores, dtype=float)
    days = np.asarray(days, dtype=float)
    start = float(day if clock_from is None else clock_from)
    col = int(np.searchsorted(days, float(day)))
    with np.errstate(invalid="ignore"):
        if kind == "loss_of_response":
            red = reduction(scores[:, :1], scores)
            at_risk = red[:, col] >= enter / 100.0
            hit = red < relapse / 100.0
        else:
            at_risk = scores[:, col] <= enter
            hit = scores >= relapse
    after = np.arange(days.size) > col
    seen = ~np.isnan(scores) & after
    hit = hit & seen
    # run[i, j]: assessments j .. j + consecutive - 1 are all relapsed.
    run = hit.copy()
    for k in range(1, int(consecutive)):
        shifted = np.zeros_like(hit)
        shifted[:, :-k] = hit[:, k:]
        run &= shifted
    relapsed = run.any(axis=1) & at_risk
    first = np.argmax(run, axis=1)
    last_seen = seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    censored = np.where(seen.any(axis=1), days[last_seen] - start, 0.0)
    time = np.where(relapsed, days[first] - start, censored)
    return at_risk, relapsed, np.where(at_risk, time, np.nan)


#: Columns of the acute readings given to :func:`acute_safety_events`.
SAFETY_OUTPUTS = ("cadss", "sbp_mmhg", "dbp_mmhg")


def acute_safety_events(readings: np.ndarray, cadss_above: float, sbp_rise: float, dbp_rise: float
                        ) -> dict[str, np.ndarray]:
    """Acute-safety events over a course, per patient.

    ``readings[i, s, r, k]``: patient ``i``, session ``s``, reading ``r`` (0 = before the
    dose), output ``k`` of :data:`SAFETY_OUTPUTS`; a session of NaN readings was not attended.
    At least once over the sessions: a post-dose CADSS above ``cadss_above`` and above that
    session's pre-dose value; a systolic rise from the pre-dose reading of at least
    ``sbp_rise`` mmHg; a diastolic rise of at least ``dbp_rise``. Also the largest systolic and
    diastolic rises (NaN without an attended session) and the sessions attended."""
    readings = np.asarray(readings, dtype=float)
    pre, post = readings[:, :, :1, :], readings[:, :, 1:, :]
    rise = post - pre
    with np.errstate(invalid="ignore"):
        cadss = (post[..., 0] > cadss_above) & (rise[..., 0] > 0)
        sbp = rise[..., 1] >= sbp_rise
        dbp = rise[..., 2] >= dbp_rise
    attended = ~np.isnan(readings[:, :, 0, 0])

    def peak(values: np.ndarray) -> np.ndarray:
        flat = values.reshape(values.shape[0], -1)
        out = np.full(flat.shape[0], np.nan)
        some = ~np.all(np.isnan(flat), axis=1)
        out[some] = np.nanmax(flat[some], axis=1)
        return out

    return {"cadss_above": cadss.any(axis=(1, 2)), "sbp_rise": sbp.any(axis=(1, 2)),
            "dbp_rise": dbp.any(axis=(1, 2)), "max_sbp_rise": peak(rise[..., 1]), "max_dbp_rise": peak(rise[..., 2]),
            "sessions": attended.sum(axis=1)}
