"""The endpoints beyond the primary ones: every instrument at every visit (mean change, its
standard deviation, Cohen's d against the control, responders and remission), relapse by each
``[[relapse]]`` definition, and the acute-safety events of ``[safety]``."""

from __future__ import annotations

import math

import numpy as np

from .measures import reduction
from .run import SAFETY_COLUMNS, TrialResult
from .spec import TrialSpec
from .statistics import _nanmean, change_from_baseline, cohen_d, kaplan_meier, observed_scores, share_by


def _share(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if flags.size else math.nan


def _sd(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.std(ddof=1)) if values.size > 1 else math.nan


def by_visit(result: TrialResult, arm: str) -> dict:
    """Instrument -> visit day -> ``n`` assessed, ``mean`` score, ``mean_change`` from
    baseline and its ``sd_change`` (sample SD), ``responder_rate`` and ``remission_rate``
    (thresholds of :meth:`TrialSpec.outcome_thresholds`; None without one)."""
    spec = result.spec
    out: dict = {}
    for inst in spec.visits.instruments:
        percent, remission = spec.outcome_thresholds(inst)
        base = observed_scores(result, arm, inst, 0.0)
        out[inst] = {}
        for day in spec.visits.days[1:]:
            score = observed_scores(result, arm, inst, day)
            seen = ~np.isnan(score)
            change = score - base
            red = reduction(base, score)[seen]
            red = red[~np.isnan(red)]
            out[inst][f"{float(day):g}"] = {
                "n": int(seen.sum()), "mean": _nanmean(score), "mean_change": _nanmean(change),
                "sd_change": _sd(change),
                "responder_rate": None if percent is None else _share(red >= percent / 100.0),
                "remission_rate": None if remission is None else _share(score[seen] <= remission),
            }
    return out


def by_visit_comparison(result: TrialResult, arm: str, control: str) -> dict:
    """Instrument -> visit day -> ``difference`` of the mean changes (arm minus control,
    unadjusted) and ``effect_size_d`` (Cohen's d of the changes, pooled SD)."""
    spec = result.spec
    out: dict = {}
    for inst in spec.visits.instruments:
        out[inst] = {}
        for day in spec.visits.days[1:]:
            a = change_from_baseline(result, arm, inst, day)
            c = change_from_baseline(result, control, inst, day)
            out[inst][f"{float(day):g}"] = {"difference": _nanmean(a) - _nanmean(c), "effect_size_d": cohen_d(a, c)}
    return out


def first_response(result: TrialResult, arm: str) -> dict:
    """Among patients responding (``[response]``) at some visit up to the response day: how
    many, and the median day of the first visit at which they responded (with visits after
    each session, the number of sessions to response)."""
    spec = result.spec
    r = spec.response
    days = np.array([float(d) for d in spec.visits.days])
    upto = (days > 0) & (days <= r.day)
    score = result.arm(arm).visits[:, :, result.column(r.instrument)]
    with np.errstate(invalid="ignore"):
        hit = reduction(score[:, :1], score)[:, upto] >= r.percent_reduction / 100.0
    ever = hit.any(axis=1)
    first = days[upto][np.argmax(hit, axis=1)][ever]
    return {"responders": int(ever.sum()), "median_day": float(np.median(first)) if first.size else math.nan}


def relapse_endpoints(result: TrialResult, arm: str) -> dict:
    """Per ``[[relapse]]`` definition: patients ``at_risk``, ``relapsed`` (observed),
    Kaplan-Meier ``median_days`` to relapse and ``relapsed_by`` (day -> share)."""
    spec = result.spec
    data = result.arm(arm)
    out = {}
    for r, definition in enumerate(spec.relapse):
        at_risk = data.relapse[:, r, 0] > 0
        km = kaplan_meier(data.relapse[at_risk, r, 2], data.relapse[at_risk, r, 1] > 0)
        out[definition.label] = {
            "instrument": definition.instrument, "kind": definition.kind, "at_risk": int(at_risk.sum()),
            "relapsed": int(np.sum(data.relapse[at_risk, r, 1] > 0)), "median_days": km.median,
            "relapsed_by": {f"{float(d):g}": share_by(km, d) for d in definition.by_days},
        }
    return out


def safety_endpoints(result: TrialResult, arm: str) -> dict:
    """Shares of patients (among those attending at least one session) with each acute
    event at least once, the mean largest rises (mmHg) and the mean sessions attended."""
    data = result.arm(arm)
    col = {c: data.safety[:, i] for i, c in enumerate(SAFETY_COLUMNS)}
    attended = col["sessions"] > 0
    out = {c: _share(col[c][attended] > 0) for c in ("cadss_above", "sbp_rise", "dbp_rise")}
    out.update({"mean_max_sbp_rise": _nanmean(col["max_sbp_rise"]), "mean_max_dbp_rise": _nanmean(col["max_dbp_rise"]),
                "sessions_per_patient": _nanmean(col["sessions"]), "patients": int(attended.sum())})
    return out


def outcome_definitions(spec: TrialSpec) -> dict:
    """What the per-visit, relapse and safety endpoints mean, in words."""
    r = spec.response
    out = {"first_response": f"patients whose {r.instrument} fell by at least {r.percent_reduction:g} % at some visit "
                             f"up to day {r.day:g}, and the median day of the first such visit",
           "by_visit": "per instrument and visit day: patients assessed, mean score, mean and sample SD of the "
                       "change from baseline (points); responder rate (reduction >= the instrument's threshold) and "
                       "remission rate (score <= its threshold) among those assessed; against the control, the "
                       "difference of the mean changes (unadjusted) and Cohen's d (pooled SD)"}
    for i, r in enumerate(spec.relapse):
        enter, relapse = spec.relapse_thresholds(i)
        clock = r.day if r.clock_from_day is None else r.clock_from_day
        who = (f"day-{r.day:g} responders ({r.instrument} reduction >= {enter:g} %)" if r.kind == "loss_of_response"
               else f"patients in remission on day {r.day:g} ({r.instrument} <= {enter:g})")
        event = (f"reduction below {relapse:g} %" if r.kind == "loss_of_response" else f"score >= {relapse:g}")
        out[f"relapse.{r.label}"] = (f"among {who}: Kaplan-Meier days from day {clock:g} to the first of "
                                     f"{r.consecutive} consecutive later assessment(s) with a {event}; censored at "
                                     f"the last assessment. {r.source}").strip()
    if spec.safety is not None:
        s = spec.safety
        hours = ", ".join(f"{h:g}" for h in s.reading_hours[1:])
        out["safety"] = (f"share of patients (attending at least one session) with, at least once over the sessions "
                         f"(readings {hours} h after each dose against the pre-dose reading): CADSS > "
                         f"{s.cadss_above:g} and above pre-dose (cadss_above); systolic rise >= "
                         f"{s.sbp_rise_at_least:g} mmHg (sbp_rise); diastolic rise >= {s.dbp_rise_at_least:g} mmHg "
                         f"(dbp_rise); mean of each patient's largest rise. {s.source}").strip()
    return out
