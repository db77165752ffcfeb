"""The endpoints of a trial as a JSON-ready dict: per arm, per comparison with the control,
the population enrolled, and what each number means."""

from __future__ import annotations

import math

import numpy as np

from .outcomes import (
    by_visit,
    by_visit_comparison,
    first_response,
    outcome_definitions,
    relapse_endpoints,
    safety_endpoints,
)
from .run import TrialResult
from .sections import CLUSTERS, NOTICE
from .spec import TrialSpec
from .statistics import (
    _nanmean,
    change_from_baseline,
    compare,
    loss_of_response,
    mean_score,
    reduction_at,
    remission_rate,
    responder_rate,
)


def _clean(value):
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def day_key(day: float) -> str:
    """How a day is written as a JSON key (``14``, ``0.5``)."""
    return f"{float(day):g}"


def _subgroups(result: TrialResult, arm: str) -> dict:
    data = result.arm(arm)
    r = result.spec.response
    red = reduction_at(result, arm)
    out = {}
    for label, mask in (("women", data.female), ("men", ~data.female),
                        ("comorbid_depression", data.depressed), ("no_comorbid_depression", ~data.depressed),
                        ("treatment_resistant", data.resistant), ("not_treatment_resistant", ~data.resistant)):
        sub = red[mask]
        sub = sub[~np.isnan(sub)]
        out[label] = {"n": int(mask.sum()),
                      "responder_rate": float(np.mean(sub >= r.percent_reduction / 100.0)) if sub.size else None}
    return out


def arm_endpoints(result: TrialResult, arm: str) -> dict:
    """The endpoints of one arm (see :func:`endpoints`)."""
    spec = result.spec
    data = result.arm(arm)
    km = loss_of_response(result, arm)
    post = [float(d) for d in spec.visits.days[1:]]
    out = {
        "n": int(data.ids.size),
        "responder_rate": responder_rate(result, arm),
        "remission_rate": remission_rate(result, arm),
        "mean_change_from_baseline": {
            inst: {day_key(d): _nanmean(change_from_baseline(result, arm, inst, d)) for d in post}
            for inst in spec.visits.instruments
        },
        "median_days_to_loss_of_response": km.median,
        "responders_followed": km.n,
        "mean_baseline": {inst: mean_score(result, arm, inst, 0.0) for inst in spec.visits.instruments},
        "completed": int(np.sum(~np.isnan(data.visits[:, -1, 0]))),
        "subgroups": _subgroups(result, arm),
        "failed_integrations": data.failed,
    }
    clusters = [c for c in CLUSTERS if c in spec.visits.instruments]
    if clusters:
        out["clusters"] = {c: _nanmean(change_from_baseline(result, arm, c, spec.analysis.day)) for c in clusters}
    out["by_visit"] = by_visit(result, arm)
    out["first_response"] = first_response(result, arm)
    if data.maintained is not None:
        out["maintained"] = int(data.maintained.sum())
    if spec.relapse:
        out["relapse"] = relapse_endpoints(result, arm)
    if spec.safety is not None:
        out["safety"] = safety_endpoints(result, arm)
    return out


def definitions(spec: TrialSpec) -> dict:
    """What each endpoint means, in words (written into the JSON and the report)."""
    r, rem, a = spec.response, spec.remission, spec.analysis
    follow = (f"assessed every {spec.follow_up.every_days:g} days up to day {spec.follow_up.until_day:g}"
              if spec.follow_up else "assessed at the later visits")
    return {
        "responder_rate": f"share of patients assessed on day {r.day:g} whose {r.instrument} fell by at least "
                          f"{r.percent_reduction:g} % from baseline. {r.source}".strip(),
        "remission_rate": f"share of patients assessed on day {spec.remission_day():g} with {rem.instrument} "
                          f"<= {rem.at_or_below:g}. {rem.source}".strip(),
        "mean_change_from_baseline": "mean of (observed score at the visit - observed baseline) among patients "
                                     "assessed at that visit, points, by instrument and visit day",
        "median_days_to_loss_of_response": f"Kaplan-Meier median, among day-{r.day:g} responders, of the days "
                                           f"from day {r.day:g} to the first assessment ({follow}) with a "
                                           f"reduction below {r.percent_reduction:g} %; censored at the last "
                                           "assessment; null when not reached",
        "difference": f"{a.instrument} change from baseline on day {a.day:g}, arm minus control (points; "
                      f"negative = more improvement); ci at level {1 - a.alpha:g}. ANCOVA: change ~ arm + "
                      "baseline (statsmodels OLS) among patients assessed that day; paired (crossover): mean "
                      "within-patient difference; MMRM: linear mixed model over all post-baseline visits "
                      "(visit, arm, visit x arm, baseline; random intercept per patient)",
        "effect_size_d": "Cohen's d of the change from baseline on the analysis day, arm minus control "
                         "(pooled standard deviation)",
        **outcome_definitions(spec),
    }


def endpoints(result: TrialResult) -> dict:
    """The endpoints as a JSON-ready dict: per arm ``responder_rate``, ``remission_rate``,
    ``mean_change_from_baseline`` (instrument -> visit day -> points) and
    ``median_days_to_loss_of_response``; per arm compared with the control ``difference``,
    ``ci_low``, ``ci_high``, ``p_value`` and ``effect_size_d``; ``by_visit`` (every instrument
    at every visit), ``relapse`` and ``safety`` per arm and ``by_visit`` per comparison
    (:mod:`.outcomes`). A single-arm trial has no comparisons."""
    spec = result.spec
    control = spec.trial.control
    arms = {name: arm_endpoints(result, name) for name in spec.arm_names}
    comparisons = {}
    for name in spec.arm_names:
        if control is None or name == control:
            continue
        c = compare(result, name)
        comparisons[name] = {
            "control": control, "difference": c.difference, "ci_low": c.ci_low, "ci_high": c.ci_high,
            "p_value": c.p_value, "effect_size_d": c.effect_size_d, "method": c.method,
            "n_arm": c.n_arm, "n_control": c.n_control,
        }
        if "clusters" in arms[name]:
            comparisons[name]["clusters"] = {k: arms[name]["clusters"][k] - arms[control]["clusters"][k]
                                             for k in arms[name]["clusters"]}
        comparisons[name]["by_visit"] = by_visit_comparison(result, name, control)
    # In a crossover every arm holds the same patients: count them once.
    cohort = result.arms[:1] if spec.trial.design == "crossover" else result.arms
    enrolled = sum(a.ids.size for a in cohort)
    population = {"screened": result.screened, "enrolled": enrolled}
    for key, field in (("female_share", "female"), ("comorbid_depression_share", "depressed"),
                       ("treatment_resistant_share", "resistant")):
        population[key] = sum(int(getattr(a, field).sum()) for a in cohort) / enrolled
    return _clean({
        "trial": spec.trial.name, "title": spec.trial.title, "source": spec.trial.source,
        "design": spec.trial.design, "seed": spec.trial.seed, "control": control,
        "n_per_arm": dict(zip(spec.arm_names, spec.arm_sizes())),
        "primary": {"instrument": spec.analysis.instrument, "day": spec.analysis.day, "method": spec.analysis.method,
                    "alpha": spec.analysis.alpha},
        "population": population,
        "arms": arms,
        "comparisons": comparisons,
        "definitions": definitions(spec),
        "warnings": list(dict.fromkeys(w for a in result.arms for w in a.warnings)),
        "notice": NOTICE,
    })
