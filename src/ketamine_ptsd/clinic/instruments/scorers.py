"""The other instruments (dissociation, depression, psychosis, suicide risk, drug use,
bladder), and ``SCORERS``: every scorer by instrument id."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ketamine_ptsd.clinic.settings import RuleLog, resolve
from ketamine_ptsd.errors import InputError

from .items import (
    INDETERMINATE,
    POSITIVE,
    _as_list,
    _band,
    _coerce_item,
    _loinc,
    _threshold_state,
    _total,
    _validate,
    _yes_no,
)
from .ptsd import score_caps5, score_iesr, score_pcl5
from .results import (
    BandedResult,
    BPRSPositiveResult,
    CADSSResult,
    CSSRSResult,
    DAST10Result,
    PHQ9Result,
    ScoreResult,
)
from .specs import (
    BPRS_CONVENTIONS,
    BPRS_POS,
    CADSS,
    CADSS6_ITEMS,
    CAPS5,
    CSSRS,
    CSSRS_QUESTIONS,
    DAST10,
    DAST10_REVERSED_ITEM,
    ICPI,
    ICSI,
    IESR,
    MADRS,
    PCL5,
    PHQ9,
    PHQ9_DIFFICULTY_LOINC,
)


def score_cadss(items: Sequence[Any], *, prorate: bool = False, settings: Any = None
                ) -> CADSSResult:
    """Score the 23-item CADSS (0-4 each, total 0-92) and the CADSS-6 short form.

    ``notable`` is True when the total is certainly above ``cadss.notable`` (> 4). This is
    a flag, not an adverse-event definition, and never an efficacy predictor.
    """
    s = resolve(settings)
    values = _validate(CADSS, items)
    b = RuleLog()
    total, prorated = _total(CADSS, values, prorate, s, b)
    rule = b.use(s["cadss.notable"])
    answered = sum(v for v in values if v is not None)
    notable = (total if total is not None else answered) > rule["above"]
    if notable:
        b.flag("notable_dissociation", f"CADSS > {rule['above']}")
    short = [values[n - 1] for n in CADSS6_ITEMS]
    return CADSSResult(
        instrument=CADSS.id, name=CADSS.name, time_frame=CADSS.time_frame, items=values,
        total=total, prorated=prorated, n_missing=values.count(None), loinc=_loinc(CADSS),
        cadss6=None if None in short else sum(short), notable=notable, **b.common(),
    )


def score_madrs(items: Sequence[Any], *, prorate: bool = False, settings: Any = None
                ) -> BandedResult:
    """Score the MADRS (10 items, 0-6, total 0-60) with Snaith severity bands.

    Item 10 (suicidal thoughts) >= ``madrs.item10_cssrs`` (2, "fleeting suicidal
    thoughts") prompts a C-SSRS; >= ``madrs.item10_review`` (4, tag U) raises a
    suicide-risk review flag as well; a missing item 10 is flagged too.
    """
    s = resolve(settings)
    values = _validate(MADRS, items)
    b = RuleLog()
    total, prorated = _total(MADRS, values, prorate, s, b)
    band = _band(total, b.use(s["madrs.bands"]))
    item10 = values[9]
    limit = b.use(s["madrs.item10_review"])["at_or_above"]
    prompt = b.use(s["madrs.item10_cssrs"])["at_or_above"]
    if item10 is None:
        b.flag("item10_missing", "item 10 (suicidal thoughts) not rated: assess suicide risk")
    else:
        if item10 >= prompt:
            b.flag("cssrs_prompt", f"item 10 = {item10} (>= {prompt}): administer the C-SSRS")
        if item10 >= limit:
            b.flag("suicide_review", f"item 10 = {item10} (>= {limit}): suicide-risk review")
    return BandedResult(
        instrument=MADRS.id, name=MADRS.name, time_frame=MADRS.time_frame, items=values,
        total=total, prorated=prorated, n_missing=values.count(None), loinc=_loinc(MADRS),
        band=band, **b.common(),
    )


def score_phq9(
    items: Sequence[Any], *, difficulty: Any = None, prorate: bool = False, settings: Any = None
) -> PHQ9Result:
    """Score the PHQ-9 (9 items, 0-3, total 0-27), band, >= 10 screen and item 9 flag.

    Item 9 > 0 raises the suicide flag regardless of the total (same-day clinician review,
    C-SSRS). A missing item 9 is flagged as well. ``difficulty`` is the unscored
    functional item (0-3, LOINC 69722-7).
    """
    s = resolve(settings)
    values = _validate(PHQ9, items)
    diff = _coerce_item("PHQ-9 difficulty", difficulty, range(4), "integer 0-3")
    b = RuleLog()
    total, prorated = _total(PHQ9, values, prorate, s, b)
    band = _band(total, b.use(s["phq9.bands"]))
    cut = b.use(s["phq9.major_depression_cutoff"])["at_or_above"]
    screen = _threshold_state(values, total, PHQ9.scale, lambda t: t >= cut)
    if screen == POSITIVE:
        b.flag("major_depression_screen", f"total >= {cut}")
    item9 = values[8]
    above = b.use(s["phq9.item9_flag"])["above"]
    flag9 = None if item9 is None else item9 > above
    if item9 is None:
        b.flag("item9_missing", "item 9 (self-harm thoughts) not answered: ask item 9 / C-SSRS")
    elif flag9:
        b.flag("suicide_risk", f"item 9 = {item9}: same-day suicide-risk review (C-SSRS)")
    loinc = _loinc(PHQ9) | {"difficulty": PHQ9_DIFFICULTY_LOINC}
    return PHQ9Result(
        instrument=PHQ9.id, name=PHQ9.name, time_frame=PHQ9.time_frame, items=values,
        total=total, prorated=prorated, n_missing=values.count(None), loinc=loinc, band=band,
        major_depression_screen=screen, item9_flag=flag9, difficulty=diff, **b.common(),
    )


def score_bprs_positive(items: Sequence[Any], *, convention: str, settings: Any = None
                        ) -> BPRSPositiveResult:
    """Score the BPRS positive subscale (items 4, 11, 12, 15).

    ``settings`` is accepted for a uniform scorer signature; no threshold applies.

    ``items`` is either the 4 positive items in that order or all 18 BPRS items.
    ``convention`` must be stated, ``"0-6"`` (NCT04226963) or ``"1-7"`` (Overall &
    Gorham), because the same total means different things in each.
    """
    resolve(settings)
    if convention not in BPRS_CONVENTIONS:
        raise InputError("convention", f"unknown BPRS convention {convention!r}",
                         ", ".join(BPRS_CONVENTIONS))
    values_in = _as_list(items, "items")
    if len(values_in) == 18:
        values_in = [values_in[n - 1] for n in BPRS_POS.item_numbers]
    elif len(values_in) != 4:
        raise InputError("items", f"BPRS positive subscale needs 4 or 18 values, got "
                         f"{len(values_in)}", "4 values (items 4, 11, 12, 15) or all 18 items")
    scale = BPRS_CONVENTIONS[convention]
    values = _validate(BPRS_POS, values_in, scale=scale)
    b = RuleLog()
    total = None if None in values else sum(values)
    if total is None:
        b.flag("incomplete", f"{values.count(None)} item(s) missing; no total")
    return BPRSPositiveResult(
        instrument=BPRS_POS.id, name=BPRS_POS.name, time_frame=BPRS_POS.time_frame,
        items=values, total=total, n_missing=values.count(None), loinc=_loinc(BPRS_POS),
        convention=convention,
        zero_based_total=None if total is None else total - 4 * scale[0], **b.common(),
    )


def _cssrs_risk(a: Mapping[str, bool]) -> str:
    if a["Q4"] or a["Q5"] or (a["Q6"] and a["Q6_recent"]):
        return "high"
    if a["Q3"] or a["Q6"]:
        return "moderate"
    if a["Q1"] or a["Q2"]:
        return "low"
    return "none"


_RISK_ORDER = ("none", "low", "moderate", "high")


def score_cssrs(answers: Sequence[Any] | Mapping[str, Any], *, settings: Any = None
                ) -> CSSRSResult:
    """Triage the C-SSRS screener (Q1-Q6 and whether Q6 behaviour was in the past 3 months).

    ``answers`` is a sequence in the order Q1, Q2, Q3, Q4, Q5, Q6, Q6_recent or a mapping
    with those keys; yes/no as bool or 1/0, None for not asked. Skip logic: when Q2 is
    No, Q3-Q5 are not asked and must be empty; Q6_recent is asked only when Q6 is Yes.
    Risk: high = Q4 or Q5 yes, or Q6 yes within 3 months; moderate = Q3 yes, or Q6 yes
    longer ago; low = only Q1/Q2 yes. Unanswered questions that could change the level
    give ``"indeterminate"``. High risk blocks dosing pending clinician assessment.
    """
    s = resolve(settings)
    if isinstance(answers, Mapping):
        unknown = set(answers) - set(CSSRS_QUESTIONS)
        if unknown:
            raise InputError(f"C-SSRS {min(unknown)}", "unknown question",
                             ", ".join(CSSRS_QUESTIONS))
        raw = [answers.get(q) for q in CSSRS_QUESTIONS]
    else:
        raw = _as_list(answers, "answers")
        if len(raw) != len(CSSRS_QUESTIONS):
            raise InputError("answers", f"C-SSRS screener needs 7 answers, got {len(raw)}",
                             "Q1, Q2, Q3, Q4, Q5, Q6, Q6_recent (yes/no, empty if not asked)")
    a = {q: _yes_no(f"C-SSRS {q}", v) for q, v in zip(CSSRS_QUESTIONS, raw, strict=True)}
    skipped = []
    if a["Q2"] is False:
        for q in ("Q3", "Q4", "Q5"):
            if a[q] is not None:
                raise InputError(f"C-SSRS {q}", "must be skipped when Q2 is No",
                                 "leave Q3-Q5 empty when Q2 = No")
        skipped += ["Q3", "Q4", "Q5"]
    if a["Q6"] is False:
        if a["Q6_recent"] is not None:
            raise InputError("C-SSRS Q6_recent", "asked only when Q6 is Yes",
                             "leave empty when Q6 = No")
        skipped.append("Q6_recent")
    b = RuleLog()
    b.use(s["cssrs.triage"])
    unknown = [q for q in CSSRS_QUESTIONS if a[q] is None and q not in skipped]
    levels = set()
    for mask in range(2 ** len(unknown)):
        filled = {q: bool(a[q]) for q in CSSRS_QUESTIONS}
        for i, q in enumerate(unknown):
            filled[q] = bool(mask >> i & 1)
        if not filled["Q2"]:
            filled.update(Q3=False, Q4=False, Q5=False)
        if not filled["Q6"]:
            filled["Q6_recent"] = False
        levels.add(_cssrs_risk(filled))
    risk = levels.pop() if len(levels) == 1 else INDETERMINATE
    if risk == INDETERMINATE:
        lo = min(levels, key=_RISK_ORDER.index)
        hi = max(levels, key=_RISK_ORDER.index)
        b.flag("incomplete", f"unanswered {', '.join(unknown)}: risk between {lo} and {hi}")
    if risk == "high":
        b.flag("high_risk", "C-SSRS high risk: block dosing, same-day clinician assessment")
    elif risk == "moderate":
        b.flag("moderate_risk", "C-SSRS moderate risk: clinician safety assessment")
    items = tuple(None if a[q] is None else int(a[q]) for q in CSSRS_QUESTIONS)
    return CSSRSResult(
        instrument=CSSRS.id, name=CSSRS.name, time_frame=CSSRS.time_frame, items=items,
        total=None, n_missing=len(unknown), loinc=_loinc(CSSRS), risk=risk,
        skipped=tuple(skipped), **b.common(),
    )


def score_dast10(answers: Sequence[Any], *, settings: Any = None) -> DAST10Result:
    """Score the DAST-10: 1 point per Yes except item 3 ("able to stop?"), where No scores.

    Answers are yes/no (bool or 1/0; None = missing). Bands 0 none, 1-2 low, 3-5
    moderate, 6-8 substantial, 9-10 severe; >= 3 is a positive screen. ``items`` in the
    result holds the points per item (after reversing item 3).
    """
    s = resolve(settings)
    raw = _as_list(answers, "answers")
    if len(raw) != DAST10.n_items:
        raise InputError("answers", f"DAST-10 needs 10 answers, got {len(raw)}",
                         "10 yes/no answers (1/0), empty = missing")
    yes = [_yes_no(f"DAST-10 item {i}", v) for i, v in enumerate(raw, start=1)]
    points = tuple(None if y is None else int(y != (i == DAST10_REVERSED_ITEM))
                   for i, y in enumerate(yes, start=1))
    b = RuleLog()
    total = None if None in points else sum(points)
    if total is None:
        b.flag("incomplete", f"{points.count(None)} answer(s) missing; no total")
    band = _band(total, b.use(s["dast10.bands"]))
    cut = b.use(s["dast10.positive_screen"])["at_or_above"]
    screen = _threshold_state(points, total, (0, 1), lambda t: t >= cut)
    if screen == POSITIVE:
        b.flag("positive_screen", f"DAST-10 >= {cut}: further assessment of drug use")
    return DAST10Result(
        instrument=DAST10.id, name=DAST10.name, time_frame=DAST10.time_frame, items=points,
        total=total, n_missing=points.count(None), loinc=_loinc(DAST10), band=band,
        positive_screen=screen, **b.common(),
    )


def score_icsi(items: Sequence[Any], *, settings: Any = None) -> ScoreResult:
    """Score the O'Leary-Sant Interstitial Cystitis Symptom Index (4 items, total 0-20).

    Items: urgency, frequency, nocturia (0-5) and bladder pain/burning (0, 2, 3, 4, 5).
    """
    s = resolve(settings)
    values = _validate(ICSI, items)
    b = RuleLog()
    total = None if None in values else sum(values)
    if total is None:
        b.flag("incomplete", f"{values.count(None)} item(s) missing; no total")
    high = b.use(s["risk.icsi_high"])["at_or_above"]
    if total is not None and total >= high:
        b.flag("icsi_high", f"ICSI >= {high} (IC/BPS trial-entry level): clinician review")
    return ScoreResult(instrument=ICSI.id, name=ICSI.name, time_frame=ICSI.time_frame,
                       items=values, total=total, n_missing=values.count(None),
                       loinc=_loinc(ICSI), **b.common())


def score_icpi(items: Sequence[Any], *, settings: Any = None) -> ScoreResult:
    """Score the O'Leary-Sant Interstitial Cystitis Problem Index (4 items 0-4, total 0-16).

    ``settings`` is accepted for a uniform scorer signature; no threshold applies.
    """
    resolve(settings)
    values = _validate(ICPI, items)
    b = RuleLog()
    total = None if None in values else sum(values)
    if total is None:
        b.flag("incomplete", f"{values.count(None)} item(s) missing; no total")
    return ScoreResult(instrument=ICPI.id, name=ICPI.name, time_frame=ICPI.time_frame,
                       items=values, total=total, n_missing=values.count(None),
                       loinc=_loinc(ICPI), **b.common())


# Scorers addressable by instrument id (the CLI, the records and batch tools use this table).
SCORERS: dict[str, Callable[..., ScoreResult]] = {
    PCL5.id: score_pcl5,
    CAPS5.id: score_caps5,
    CADSS.id: score_cadss,
    MADRS.id: score_madrs,
    PHQ9.id: score_phq9,
    IESR.id: score_iesr,
    BPRS_POS.id: score_bprs_positive,
    CSSRS.id: score_cssrs,
    DAST10.id: score_dast10,
    ICSI.id: score_icsi,
    ICPI.id: score_icpi,
}
