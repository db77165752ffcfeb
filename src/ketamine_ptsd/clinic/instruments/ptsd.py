"""The PTSD scales: PCL-5 (self-report), CAPS-5 (clinician interview), IES-R."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ketamine_ptsd.clinic.settings import RuleLog, resolve
from ketamine_ptsd.errors import InputError

from .items import (
    INDETERMINATE,
    NEGATIVE,
    POSITIVE,
    _any_at_least,
    _bool_state,
    _cluster_sums,
    _extra_items,
    _loinc,
    _optional_bool,
    _symptom_rule,
    _threshold_state,
    _total,
    _tri_and,
    _validate,
)
from .results import CAPS5Result, IESRResult, PCL5Result
from .specs import CAPS5, IESR, PCL5


def score_pcl5(items: Sequence[Any], *, prorate: bool = False, settings: Any = None) -> PCL5Result:
    """Score the PCL-5 (20 items, 0-4): total 0-80, clusters B/C/D/E, DSM-5 rule, cut-point.

    ``dsm5_symptom_rule`` is the DSM-5 symptom rule (>= 1 B, >= 1 C, >= 2 D, >= 2 E
    items rated >= 2). ``cut_point_result`` compares the total with
    ``pcl5.cut_point`` (default 33). ``probable_ptsd`` (also ``provisional_diagnosis``)
    combines them by ``pcl5.combined.method``: ``both`` (default), ``either``,
    ``cut_point`` or ``dsm5``; when the methods differ a note says so. All are
    provisional: a structured interview (CAPS-5) confirms. No severity bands exist for
    the PCL-5, so none are given.
    """
    s = resolve(settings)
    values = _validate(PCL5, items)
    b = RuleLog()
    total, prorated = _total(PCL5, values, prorate, s, b)
    dsm = _symptom_rule(PCL5, values, b.use(s["pcl5.dsm5_rule"]), "endorsed_at_or_above")
    cut = b.use(s["pcl5.cut_point"])["at_or_above"]
    cut_state = _threshold_state(values, total, PCL5.scale, lambda t: t >= cut)
    if dsm == POSITIVE:
        b.flag("dsm5_rule_positive", "DSM-5 symptom rule met (provisional PTSD)")
    if cut_state == POSITIVE:
        b.flag("cut_point_positive", f"total >= {cut} (probable PTSD)")
    method = b.use(s["pcl5.combined"])["method"]
    combined = _combine(method, dsm, cut_state)
    decided = {dsm, cut_state} <= {POSITIVE, NEGATIVE}
    agree = (dsm == cut_state) if decided else None
    if agree is False:
        b.flag("methods_differ",
               f"DSM-5 symptom rule {dsm}, cut-point ({cut}) {cut_state}: probable PTSD is "
               f"{combined} by the '{method}' rule (pcl5.combined); confirm with CAPS-5")
    return PCL5Result(
        instrument=PCL5.id, name=PCL5.name, time_frame=PCL5.time_frame, items=values,
        total=total, clusters=_cluster_sums(PCL5, values), provisional_diagnosis=combined,
        prorated=prorated, n_missing=values.count(None), loinc=_loinc(PCL5),
        cut_point=cut, cut_point_result=cut_state, dsm5_symptom_rule=dsm,
        probable_ptsd=combined, methods_agree=agree, combined_method=method, **b.common(),
    )


PCL5_COMBINATIONS = ("both", "either", "cut_point", "dsm5")


def _combine(method: str, dsm: str, cut: str) -> str:
    """Probable PTSD from the two PCL-5 methods under ``method``."""
    if method == "dsm5":
        return dsm
    if method == "cut_point":
        return cut
    if method not in ("both", "either"):
        raise InputError("settings pcl5.combined.method", f"unknown method {method!r}",
                         ", ".join(PCL5_COMBINATIONS))
    decisive = NEGATIVE if method == "both" else POSITIVE
    other = POSITIVE if decisive == NEGATIVE else NEGATIVE
    if decisive in (dsm, cut):
        return decisive
    return other if dsm == cut == other else INDETERMINATE


CAPS5_VERSIONS = ("past_month", "past_week", "worst_month")


def score_caps5(
    items: Sequence[Any],
    *,
    criterion_a: bool | None = None,
    criterion_f: bool | None = None,
    impairment_items: Sequence[Any] | None = None,
    dissociation_items: Sequence[Any] | None = None,
    version: str = "past_month",
    prorate: bool = False,
    settings: Any = None,
) -> CAPS5Result:
    """Score CAPS-5 severities (items 1-20, 0-4) and the DSM-5 PTSD diagnosis.

    Severities are the clinician's ratings and are never recomputed from frequency and
    intensity. Diagnosis = criterion A (index trauma) AND >= 1 B, >= 1 C, >= 2 D,
    >= 2 E symptoms at severity >= 2 AND criterion F (duration > 1 month) AND
    criterion G (any of items 23-25 >= 2). Dissociative subtype = diagnosis AND item 29
    or 30 >= 2. ``None`` for A or F, or missing items, give ``"indeterminate"`` unless
    another criterion already fails. The past-week version is for symptom monitoring
    only and yields no diagnosis.
    """
    s = resolve(settings)
    if version not in CAPS5_VERSIONS:
        raise InputError("version", f"unknown CAPS-5 version {version!r}",
                         ", ".join(CAPS5_VERSIONS))
    values = _validate(CAPS5, items)
    a = _optional_bool("criterion_a", criterion_a)
    f = _optional_bool("criterion_f", criterion_f)
    impairment = _extra_items("CAPS-5", impairment_items, (23, 24, 25))
    dissociation = _extra_items("CAPS-5", dissociation_items, (29, 30))
    b = RuleLog()
    total, prorated = _total(CAPS5, values, prorate, s, b)
    symptoms = _symptom_rule(CAPS5, values, b.use(s["caps5.dsm5_rule"]), "present_at_or_above")
    g_min = b.use(s["caps5.criterion_g"])["any_item_at_or_above"]
    g = _any_at_least(impairment, g_min)
    if version == "past_week":
        diagnosis, subtype = None, None
        b.flag("monitoring_only", "past-week version: symptom monitoring, no diagnosis")
    else:
        diagnosis = _tri_and(_bool_state(a), symptoms, _bool_state(f), g)
        d_min = b.use(s["caps5.dissociative_subtype"])["any_item_at_or_above"]
        subtype = _tri_and(diagnosis, _any_at_least(dissociation, d_min))
        if diagnosis == POSITIVE:
            b.flag("ptsd_diagnosis", "meets CAPS-5 DSM-5 PTSD criteria A-G")
        if subtype == POSITIVE:
            b.flag("dissociative_subtype", "PTSD with dissociative symptoms (item 29/30 >= 2)")
    return CAPS5Result(
        instrument=CAPS5.id, name=CAPS5.name,
        time_frame={"past_week": "past week", "worst_month": "worst month (lifetime)"}.get(
            version, CAPS5.time_frame),
        items=values, total=total, clusters=_cluster_sums(CAPS5, values),
        provisional_diagnosis=diagnosis, prorated=prorated, n_missing=values.count(None),
        loinc=_loinc(CAPS5), version=version, symptom_rule=symptoms, criterion_a=a,
        criterion_f=f, criterion_g=g, impairment_items=impairment,
        dissociation_items=dissociation,
        dissociation_score=None if None in dissociation else sum(dissociation),
        dissociative_subtype=subtype, **b.common(),
    )


def score_iesr(items: Sequence[Any], *, prorate: bool = False, settings: Any = None
               ) -> IESRResult:
    """Score the IES-R (22 items, 0-4): sum 0-88, cut-off >= 33, Weiss subscale means.

    Subscales follow Weiss & Marmar (intrusion 8 items incl. item 14, avoidance 8,
    hyperarousal 6); ``total_mean`` is the sum of the three means (0-12).
    ``provisional_diagnosis`` is the cut-off classification (probable PTSD).
    With proration a subscale mean is the mean of its answered items.
    """
    s = resolve(settings)
    values = _validate(IESR, items)
    b = RuleLog()
    total, prorated = _total(IESR, values, prorate, s, b)
    cut = b.use(s["iesr.cutoff"])["at_or_above"]
    state = _threshold_state(values, total, IESR.scale, lambda t: t >= cut)
    if state == POSITIVE:
        b.flag("cutoff_positive", f"sum >= {cut} (probable PTSD)")
    means: dict[str, float | None] = {}
    for name, members in IESR.clusters.items():
        vals = [values[n - 1] for n in members if values[n - 1] is not None]
        complete = len(vals) == len(members)
        means[name] = sum(vals) / len(vals) if vals and (complete or total is not None) else None
    total_mean = None if None in means.values() else sum(means.values())
    return IESRResult(
        instrument=IESR.id, name=IESR.name, time_frame=IESR.time_frame, items=values,
        total=total, provisional_diagnosis=state, prorated=prorated,
        n_missing=values.count(None), loinc=_loinc(IESR), subscale_means=means,
        total_mean=total_mean, **b.common(),
    )
