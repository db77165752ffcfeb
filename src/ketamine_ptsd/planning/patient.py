"""The personal planner: the latest day for the next session that keeps the probability of
staying in response at or above a target, from the patient's own forecast.

The symptom analogue of the interval that holds a trough concentration: the forecast's
weighted draws give, for each day, the probability that the patient is in response under
the loss rule (:class:`~ketamine_ptsd.calibration.individual.ResponseSamples`). From the
first day the next session could be given (``earliest_day``: after the last dose, given or
planned, and not before today), the planner finds the most probable day of response and the
first day after it on which the probability falls below the target; the session is due the
day before. If the probability is already below the target, the session is due as soon as
possible; if it never falls below the target within the horizon, none is due yet. The
same draws are then simulated with that session added, for the band with and without it.
Decision support, not a prescription.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..calibration.individual import (
    OUTPUTS,
    Forecast,
    ResponseSamples,
    first_day_below,
    forecast_curves,
    observed_scores,
    simulate_posterior,
)
from ..dosing import HOURS_PER_DAY, Regimen
from ..errors import InputError

#: Default target: the probability of staying in response the next session should protect.
#: The forecast's own maintenance rule books at 1 - maintenance_quantile = 0.8.
DEFAULT_TARGET = 0.8
NOISE_STREAM = 8


def check_target(target) -> float:
    """The target probability as a number in (0.5, 0.99)."""
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise InputError("target_probability", f"not a number: {target!r}", "0.5 to 0.99") from None
    if not (math.isfinite(value) and 0.5 <= value <= 0.99):
        raise InputError("target_probability", f"{value:g} is out of range", "0.5 to 0.99")
    return value


def next_session_day(samples: ResponseSamples, earliest_day: int, target: float) -> tuple[int | None, str]:
    """The latest day for the next session and why (``due``, ``as soon as possible``,
    ``not due within the horizon``), from the forecast's samples."""
    probability = samples.probability()
    start = int(max(earliest_day, samples.start_day))
    if start > samples.days[-1]:
        return None, "not due within the horizon"
    below = first_day_below(probability, samples.days, start, target)
    if below is None:
        return None, "not due within the horizon"
    if below - 1 < start:
        return start, "as soon as possible"
    return below - 1, "due"


def plan_next_session(result: Forecast, regimen: Regimen, earliest_day: int, target: float = DEFAULT_TARGET,
                      seed: int = 0) -> dict:
    """The next session for one forecast: its day (from the first dose), the probability of
    being in response on each day with and without it, and the forecast's median and 80 %
    band of the rule's instrument with and without it. The session repeats the last dose of
    ``regimen`` at the same time of day."""
    target = check_target(target)
    if result.samples is None or result.posterior is None:
        raise InputError("forecast", "the forecast carries no samples", "a forecast from calibration.individual")
    samples = result.samples
    day, status = next_session_day(samples, earliest_day, target)
    probability = samples.probability()
    instrument = result.threshold["instrument"]
    key = instrument  # the forecast's curves are keyed by instrument
    out = {
        "target_probability": target,
        "next_session_day": day,
        "status": status,
        "earliest_day": int(max(earliest_day, samples.start_day)),
        "probability_at_session": None if day is None else round(float(probability[day]), 4),
        "instrument": instrument,
        "without_session": {"probability_in_response": samples.curve(),
                            **{k: result.to_dict()[k][key] for k in ("median", "band_low", "band_high")}},
        "with_session": None,
    }
    if day is None:
        return out
    last = regimen.doses[-1]
    time_h = day * HOURS_PER_DAY + (last.time_h % HOURS_PER_DAY)
    # replace() keeps every other field of the regimen (its context, in model versions that have one).
    extended = dataclasses.replace(regimen, doses=regimen.doses + (dataclasses.replace(last, time_h=time_h),))
    daily = simulate_posterior(result.posterior, extended, samples.days)
    column = OUTPUTS.index({"pcl5": "pcl5_total", "caps5": "caps5_total", "madrs": "madrs"}[instrument])
    with_probability = samples.probability(daily[:, :, column])
    curves = forecast_curves(daily, samples.days, samples.weights,
                     observed_scores(daily, np.random.default_rng([seed, NOISE_STREAM])))
    out["with_session"] = {
        "session_time_h": time_h,
        "probability_in_response": {int(d): round(float(p), 4) for d, p in zip(samples.days, with_probability)},
        **{k: curves[k][key] for k in ("median", "band_low", "band_high")},
    }
    return out
