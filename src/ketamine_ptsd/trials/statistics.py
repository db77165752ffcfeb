"""The statistics of a trial: observed scores and changes from baseline, responders and
remission, Kaplan-Meier time to loss of response, Cohen's d and the between-arm comparison
(ANCOVA, the paired crossover difference, or a mixed model for repeated measures)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .measures import reduction
from .run import TrialResult


def observed_scores(result: TrialResult, arm: str, instrument: str, day: float) -> np.ndarray:
    """Observed score of every patient of ``arm`` at visit ``day`` (NaN if not observed)."""
    return result.arm(arm).visits[:, result.visit(day), result.column(instrument)]


def change_from_baseline(result: TrialResult, arm: str, instrument: str, day: float) -> np.ndarray:
    """Observed score at ``day`` minus baseline, per patient (points; NaN if not observed)."""
    return observed_scores(result, arm, instrument, day) - observed_scores(result, arm, instrument, 0.0)


def mean_score(result: TrialResult, arm: str, instrument: str, day: float) -> float:
    """Mean observed score among patients assessed at ``day`` (points)."""
    return _nanmean(observed_scores(result, arm, instrument, day))


def reduction_at(result: TrialResult, arm: str, instrument: str | None = None, day: float | None = None) -> np.ndarray:
    """Fractional reduction from baseline per patient at ``day`` (NaN when not assessed);
    defaults: the ``[response]`` instrument and day."""
    r = result.spec.response
    instrument, day = instrument or r.instrument, r.day if day is None else day
    return reduction(observed_scores(result, arm, instrument, 0.0), observed_scores(result, arm, instrument, day))


def responder_rate(result: TrialResult, arm: str, instrument: str | None = None, day: float | None = None,
                   percent_reduction: float | None = None) -> float:
    """Share of patients assessed at ``day`` whose reduction is at least ``percent_reduction``
    % (0-1); defaults from ``[response]``."""
    percent = result.spec.response.percent_reduction if percent_reduction is None else percent_reduction
    red = reduction_at(result, arm, instrument, day)
    red = red[~np.isnan(red)]
    return float(np.mean(red >= percent / 100.0)) if red.size else math.nan


def remission_rate(result: TrialResult, arm: str) -> float:
    """Share of patients assessed on the remission day at or below the ``[remission]`` score."""
    rem = result.spec.remission
    score = observed_scores(result, arm, rem.instrument, result.spec.remission_day())
    score = score[~np.isnan(score)]
    return _nanmean((score <= rem.at_or_below).astype(float))


def _is_responder(result: TrialResult, arm: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return reduction_at(result, arm) >= result.spec.response.percent_reduction / 100.0


@dataclass(frozen=True)
class KaplanMeier:
    """Time to loss of response among responders: event times (days after the response day),
    survival probabilities after each, and the median (NaN when not reached)."""

    times: np.ndarray
    survival: np.ndarray
    median: float
    n: int


def loss_of_response(result: TrialResult, arm: str) -> KaplanMeier:
    """Kaplan-Meier estimate of the days from the response day to the first assessment
    without response, among that day's responders; patients still responding at their last
    assessment are censored there."""
    data = result.arm(arm)
    mask = _is_responder(result, arm)
    return kaplan_meier(data.loss_day[mask], data.lost[mask])


def kaplan_meier(times: np.ndarray, events: np.ndarray) -> KaplanMeier:
    """Kaplan-Meier estimate (statsmodels ``SurvfuncRight``) from follow-up ``times`` and
    whether each ended in the event (otherwise censored there)."""
    from statsmodels.duration.survfunc import SurvfuncRight

    times, events = np.asarray(times, dtype=float), np.asarray(events, dtype=bool)
    if not times.size:
        return KaplanMeier(np.zeros(0), np.zeros(0), math.nan, 0)
    km = SurvfuncRight(times, events.astype(float))
    return KaplanMeier(np.asarray(km.surv_times), np.asarray(km.surv_prob), float(km.quantile(0.5)), int(times.size))


def share_by(km: KaplanMeier, day: float) -> float:
    """1 - S(``day``): the Kaplan-Meier share with the event by ``day`` (NaN without patients)."""
    if km.n == 0:
        return math.nan
    before = km.times <= day
    return float(1.0 - km.survival[before][-1]) if before.any() else 0.0


@dataclass(frozen=True)
class Comparison:
    """An arm against the control: difference in change from baseline (arm minus control,
    points; negative = more improvement on a symptom scale), its confidence interval and
    p-value, Cohen's d of the change (same sign), the method and patients analysed."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    effect_size_d: float
    method: str
    n_arm: int
    n_control: int


def cohen_d(arm: np.ndarray, control: np.ndarray) -> float:
    """(mean arm - mean control) / pooled standard deviation."""
    arm, control = arm[~np.isnan(arm)], control[~np.isnan(control)]
    n1, n2 = arm.size, control.size
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = math.sqrt(((n1 - 1) * arm.var(ddof=1) + (n2 - 1) * control.var(ddof=1)) / (n1 + n2 - 2))
    return float((arm.mean() - control.mean()) / pooled) if pooled > 0 else math.nan


def compare(result: TrialResult, arm: str, method: str | None = None) -> Comparison:
    """The primary comparison of ``arm`` with the control (``[analysis]``).

    Parallel design: ANCOVA, change ~ arm + baseline (statsmodels OLS), on the patients of
    both arms assessed on the analysis day; crossover: the within-patient difference of the
    changes (paired). ``mmrm``: a linear mixed model over every post-baseline visit (fixed
    effects visit, arm, visit x arm and baseline; a random intercept per patient), estimated
    at the analysis day.
    """
    spec = result.spec
    a = spec.analysis
    method = method or a.method
    control = spec.trial.control
    inst, day = a.instrument, a.day
    ch_arm = change_from_baseline(result, arm, inst, day)
    ch_ctl = change_from_baseline(result, control, inst, day)
    d = cohen_d(ch_arm, ch_ctl)
    if method == "mmrm":
        estimate = _mmrm(result, arm, control, inst, day, a.alpha)
        label = "MMRM"
    elif spec.trial.design == "crossover":
        estimate = _paired(ch_arm, ch_ctl, a.alpha)
        label = "paired (crossover)"
    else:
        base = np.concatenate([observed_scores(result, arm, inst, 0.0), observed_scores(result, control, inst, 0.0)])
        change = np.concatenate([ch_arm, ch_ctl])
        is_arm = np.concatenate([np.ones(ch_arm.size), np.zeros(ch_ctl.size)])
        estimate = _ancova(change, base, is_arm, a.alpha)
        label = "ANCOVA"
    n_arm, n_ctl = int(np.sum(~np.isnan(ch_arm))), int(np.sum(~np.isnan(ch_ctl)))
    return Comparison(*estimate, d, label, n_arm, n_ctl)


def _ancova(change, baseline, is_arm, alpha) -> tuple[float, float, float, float]:
    import statsmodels.api as sm

    ok = ~np.isnan(change)
    if ok.sum() < 4 or len(set(is_arm[ok])) < 2:
        return (math.nan,) * 4
    X = np.column_stack([np.ones(ok.sum()), is_arm[ok], baseline[ok]])
    fit = sm.OLS(change[ok], X).fit()
    lo, hi = fit.conf_int(alpha)[1]
    return float(fit.params[1]), float(lo), float(hi), float(fit.pvalues[1])


def _paired(ch_arm, ch_ctl, alpha) -> tuple[float, float, float, float]:
    import statsmodels.api as sm

    diff = ch_arm - ch_ctl
    diff = diff[~np.isnan(diff)]
    if diff.size < 2:
        return (math.nan,) * 4
    fit = sm.OLS(diff, np.ones(diff.size)).fit()
    lo, hi = fit.conf_int(alpha)[0]
    return float(fit.params[0]), float(lo), float(hi), float(fit.pvalues[0])


def _mmrm(result, arm, control, inst, day, alpha) -> tuple[float, float, float, float]:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    spec = result.spec
    post = [float(d) for d in spec.visits.days[1:]]
    others = [d for d in post if d != float(day)]
    rows = []
    for is_arm, name in ((1.0, arm), (0.0, control)):
        data = result.arm(name)
        base = data.visits[:, 0, result.column(inst)]
        for d in post:
            change = data.visits[:, result.visit(d), result.column(inst)] - base
            ok = ~np.isnan(change)
            # Grouped by patient id: in a crossover the same patient's two periods form one group.
            rows.append((data.ids[ok], np.full(ok.sum(), d), np.full(ok.sum(), is_arm), base[ok], change[ok]))
    group, visit, is_arm, base, y = (np.concatenate(c) for c in zip(*rows))
    # The analysis day is the reference visit, so the arm coefficient is the effect on that day.
    dummies = [(visit == d).astype(float) for d in others]
    X = np.column_stack([np.ones(y.size), is_arm, base, *dummies, *[v * is_arm for v in dummies]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = sm.MixedLM(y, X, groups=group).fit(reml=True)
    lo, hi = np.asarray(fit.conf_int(alpha))[1]
    return float(fit.params[1]), float(lo), float(hi), float(fit.pvalues[1])



def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan

