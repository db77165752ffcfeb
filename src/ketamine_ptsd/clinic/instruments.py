"""Rating instruments scored exactly as published.

PCL-5, CAPS-5 (past month / past week / worst month), CADSS (23-item), MADRS, PHQ-9,
IES-R, BPRS positive subscale, C-SSRS screener, DAST-10, and the O'Leary-Sant ICSI /
ICPI bladder indices, plus a generic change/response rule for CAPS-5, PCL-5, MADRS and
PHQ-9.

Input policy (the same for every instrument):

* An item value must be an integer on the instrument's scale. Anything else is
  rejected with an InputError naming the item and the allowed range; values are never
  clamped. Integral floats (``2.0``, as pandas produces) are accepted; ``2.5`` is not.
* ``None`` or NaN marks a missing item. Without ``prorate=True`` no total is given.
  With it, the total is the person-mean estimate ``sum(answered) * n_items / n_answered``
  rounded half up, only when no more than ``proration.max_missing`` items are missing,
  and the result is marked ``prorated``. Cluster sums are exact or ``None``; they are
  never prorated because a 2-item cluster cannot be estimated from one item.
* Classification rules with missing items are evaluated in the best case (missing =
  scale maximum) and the worst case (missing = scale minimum); a missing item never
  counts as endorsed. When the two disagree the result is ``"indeterminate"``.

Classifications are the strings ``"positive"``, ``"negative"`` or ``"indeterminate"``
(``None`` where the instrument has no such rule). No severity bands are given where none
were published (PCL-5, CAPS-5, IES-R, CADSS).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

from ketamine_ptsd.clinic.settings import Rule, RuleLog, Settings, resolve
from ketamine_ptsd.errors import InputError

POSITIVE, NEGATIVE, INDETERMINATE = "positive", "negative", "indeterminate"


@dataclass(frozen=True)
class InstrumentSpec:
    """Static description of an instrument: items, scale, clusters, codes, source."""

    id: str
    name: str
    n_items: int
    scale: tuple[int, int]
    source: str
    time_frame: str
    item_numbers: tuple[int, ...] = ()
    clusters: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_items: tuple[str | None, ...] = ()

    @property
    def numbers(self) -> tuple[int, ...]:
        """Published item numbers (1..n unless the instrument is a subscale)."""
        return self.item_numbers or tuple(range(1, self.n_items + 1))

    @property
    def max_total(self) -> int:
        """Highest possible total."""
        return self.scale[1] * self.n_items


_DSM_CLUSTERS = {
    "B": tuple(range(1, 6)),
    "C": (6, 7),
    "D": tuple(range(8, 15)),
    "E": tuple(range(15, 21)),
}

PCL5 = InstrumentSpec(
    id="pcl5",
    name="PCL-5",
    n_items=20,
    scale=(0, 4),
    source="Weathers, Litz, Keane, Palmieri, Marx & Schnurr 2013 (NCPTSD); Blevins et al. 2015",
    time_frame="past month",
    clusters=_DSM_CLUSTERS,
    loinc_panel="101697-1",
    loinc_total="101698-9",
    # Only item 9 (101699-7) was verified; other item codes must come from loinc.org.
    loinc_items=(None,) * 8 + ("101699-7",) + (None,) * 11,
)

CAPS5 = InstrumentSpec(
    id="caps5",
    name="CAPS-5",
    n_items=20,
    scale=(0, 4),
    source="Weathers et al. 2013/2015 (NCPTSD); VA CAPS-5 training",
    time_frame="past month",
    clusters=_DSM_CLUSTERS,
)

CADSS = InstrumentSpec(
    id="cadss",
    name="CADSS",
    n_items=23,
    scale=(0, 4),
    source="Bremner et al. 1998; 23 subjective items as in NCT04226963 / Rodrigues et al. 2021",
    time_frame="now ('at this time, in this room')",
)
CADSS6_ITEMS = (1, 2, 6, 7, 15, 22)  # Rodrigues et al. 2021 short form

MADRS = InstrumentSpec(
    id="madrs",
    name="MADRS",
    n_items=10,
    scale=(0, 6),
    source="Montgomery & Asberg 1979",
    time_frame="past week",
)

PHQ9 = InstrumentSpec(
    id="phq9",
    name="PHQ-9",
    n_items=9,
    scale=(0, 3),
    source="Kroenke, Spitzer & Williams, J Gen Intern Med 2001",
    time_frame="past 2 weeks",
    loinc_panel="44249-1",
    loinc_total="44261-6",
    loinc_items=(
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7",
        "44258-2", "44252-5", "44253-3", "44260-8",
    ),
)
PHQ9_DIFFICULTY_LOINC = "69722-7"

IESR = InstrumentSpec(
    id="iesr",
    name="IES-R",
    n_items=22,
    scale=(0, 4),
    source="Weiss & Marmar 1997",
    time_frame="past 7 days",
    # Weiss & Marmar 8/8/6 with item 14 in intrusion (CamCOPS puts it in hyperarousal).
    clusters={
        "intrusion": (1, 2, 3, 6, 9, 14, 16, 20),
        "avoidance": (5, 7, 8, 11, 12, 13, 17, 22),
        "hyperarousal": (4, 10, 15, 18, 19, 21),
    },
)

BPRS_POS = InstrumentSpec(
    id="bprs_pos",
    name="BPRS positive subscale",
    n_items=4,
    scale=(0, 6),
    source="Overall & Gorham 18-item BPRS; positive items 4, 11, 12, 15 as in NCT04226963",
    time_frame="current (pre-dose and ~40 min post-dose)",
    item_numbers=(4, 11, 12, 15),
)
BPRS_CONVENTIONS = {"0-6": (0, 6), "1-7": (1, 7)}

CSSRS = InstrumentSpec(
    id="cssrs",
    name="C-SSRS screener",
    n_items=7,
    scale=(0, 1),
    source="Columbia Lighthouse Project, C-SSRS screen version",
    time_frame="past month (Q1-Q5); lifetime and past 3 months (Q6)",
)
CSSRS_QUESTIONS = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q6_recent")

DAST10 = InstrumentSpec(
    id="dast10",
    name="DAST-10",
    n_items=10,
    scale=(0, 1),
    source="Skinner 1982, DAST-10",
    time_frame="past 12 months",
)
DAST10_REVERSED_ITEM = 3  # "able to stop?": a "no" scores 1

ICSI = InstrumentSpec(
    id="icsi",
    name="O'Leary-Sant ICSI",
    n_items=4,
    scale=(0, 5),
    source="O'Leary et al., Urology 1997 (interstitial cystitis symptom index)",
    time_frame="past month",
)
# The pain item (Q4) offers 0, 2, 3, 4, 5 on the published form (no 1) [M].
ICSI_ITEM4_VALUES = (0, 2, 3, 4, 5)

ICPI = InstrumentSpec(
    id="icpi",
    name="O'Leary-Sant ICPI",
    n_items=4,
    scale=(0, 4),
    source="O'Leary et al., Urology 1997 (interstitial cystitis problem index)",
    time_frame="past month",
)

SPECS = {s.id: s for s in (PCL5, CAPS5, CADSS, MADRS, PHQ9, IESR, BPRS_POS, CSSRS, DAST10,
                           ICSI, ICPI)}


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class ScoreResult:
    """Common result of every instrument (instrument-specific fields in subclasses).

    ``flags`` are stable codes for software; ``notes`` explain each flag in words.
    ``thresholds`` maps every settings rule used to its source and evidence tag.
    """

    instrument: str
    name: str
    time_frame: str
    items: tuple[int | None, ...]
    total: int | None
    clusters: Mapping[str, int | None] = field(default_factory=dict)
    provisional_diagnosis: str | None = None
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    prorated: bool = False
    n_missing: int = 0
    loinc: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_complete(self) -> bool:
        """True when every item was answered."""
        return self.n_missing == 0

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict of every field."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        out["is_complete"] = self.is_complete
        return out


@dataclass(frozen=True, kw_only=True)
class PCL5Result(ScoreResult):
    """PCL-5: both NCPTSD methods and their combination.

    ``dsm5_symptom_rule`` and ``cut_point_result`` are the two methods;
    ``probable_ptsd`` combines them as ``pcl5.combined.method`` says (default: both must
    be positive) and ``provisional_diagnosis`` repeats it; ``methods_agree`` is None
    while either method is indeterminate.
    """

    cut_point: int | float
    cut_point_result: str | None
    dsm5_symptom_rule: str | None
    probable_ptsd: str | None
    methods_agree: bool | None
    combined_method: str


@dataclass(frozen=True, kw_only=True)
class CAPS5Result(ScoreResult):
    """CAPS-5: ``provisional_diagnosis`` combines criteria A, B-E, F and G."""

    version: str
    symptom_rule: str
    criterion_a: bool | None
    criterion_f: bool | None
    criterion_g: str
    impairment_items: tuple[int | None, ...]
    dissociation_items: tuple[int | None, ...]
    dissociation_score: int | None
    dissociative_subtype: str | None


@dataclass(frozen=True, kw_only=True)
class CADSSResult(ScoreResult):
    """CADSS 23-item: total 0-92 and the CADSS-6 short-form sum (items 1,2,6,7,15,22)."""

    cadss6: int | None
    notable: bool


@dataclass(frozen=True, kw_only=True)
class BandedResult(ScoreResult):
    """Instruments with published severity bands (MADRS, PHQ-9, DAST-10)."""

    band: str | None


@dataclass(frozen=True, kw_only=True)
class PHQ9Result(BandedResult):
    """PHQ-9: band, major-depression screen (>= 10), item 9 suicide flag."""

    major_depression_screen: str | None
    item9_flag: bool | None
    difficulty: int | None


@dataclass(frozen=True, kw_only=True)
class IESRResult(ScoreResult):
    """IES-R: sum 0-88 (``total``), subscale means (0-4) and their sum (0-12)."""

    subscale_means: Mapping[str, float | None]
    total_mean: float | None


@dataclass(frozen=True, kw_only=True)
class BPRSPositiveResult(ScoreResult):
    """BPRS positive subscale in the stored convention, plus the 0-6-based total."""

    convention: str
    zero_based_total: int | None


@dataclass(frozen=True, kw_only=True)
class CSSRSResult(ScoreResult):
    """C-SSRS screener: ``risk`` is none/low/moderate/high or indeterminate."""

    risk: str
    skipped: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DAST10Result(BandedResult):
    """DAST-10: score 0-10 (item 3 reversed), band and positive screen (>= 3)."""

    positive_screen: str | None


# ---------------------------------------------------------------------------
# Item validation and scoring helpers
# ---------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _coerce_item(label: str, value: Any, allowed: Sequence[int], allowed_text: str) -> int | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool) or not _is_number(value):
        raise InputError(label, f"{value!r} is not an integer item score", allowed_text)
    if value != int(value):
        raise InputError(label, f"{value!r} is not an integer", allowed_text)
    if int(value) not in allowed:
        raise InputError(label, f"{int(value)} is outside the scale", allowed_text)
    return int(value)


def _is_number(value: Any) -> bool:
    # numpy integers and floats register as numbers.Real, so numpy need not be imported.
    return isinstance(value, numbers.Real)


def _as_list(items: Any, what: str) -> list[Any]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InputError(what, f"expected a sequence of item values, got {type(items).__name__}",
                         "a list of integers (None for a missing item)")
    return list(items)


def _validate(
    spec: InstrumentSpec,
    items: Any,
    scale: tuple[int, int] | None = None,
    allowed_by_item: Mapping[int, Sequence[int]] | None = None,
) -> tuple[int | None, ...]:
    values = _as_list(items, "items")
    lo, hi = scale or spec.scale
    if len(values) != spec.n_items:
        raise InputError(
            "items",
            f"{spec.name} needs {spec.n_items} item values, got {len(values)}",
            f"exactly {spec.n_items} values, integers {lo}-{hi} (empty/None = missing)",
        )
    out = []
    for number, value in zip(spec.numbers, values, strict=True):
        allowed = (allowed_by_item or {}).get(number, range(lo, hi + 1))
        text = (f"integer {lo}-{hi}" if list(allowed) == list(range(lo, hi + 1))
                else "one of " + ", ".join(map(str, allowed)))
        out.append(_coerce_item(f"{spec.name} item {number}", value, allowed, text))
    return tuple(out)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _total(
    spec: InstrumentSpec,
    values: Sequence[int | None],
    prorate: bool,
    settings: Settings,
    b: RuleLog,
) -> tuple[int | None, bool]:
    answered = [v for v in values if v is not None]
    missing = len(values) - len(answered)
    if missing == 0:
        return sum(answered), False
    missing_items = [n for n, v in zip(spec.numbers, values, strict=True) if v is None]
    b.flag("incomplete", f"{missing} item(s) missing ({_list(missing_items)}); no total"
           if not prorate else f"{missing} item(s) missing ({_list(missing_items)})")
    if not prorate:
        return None, False
    rule = b.use(settings["proration.max_missing"])
    limit = rule[spec.id]
    if missing > limit:
        b.flag("not_prorated", f"{missing} missing > {limit} allowed for proration; no total")
        return None, False
    total = _round_half_up(Fraction(sum(answered) * len(values), len(answered)))
    b.flag("prorated", f"total estimated by person-mean proration from {len(answered)} items")
    return total, True


def _list(numbers: Iterable[int]) -> str:
    return "item " + ", ".join(map(str, numbers))


def _cluster_sums(spec: InstrumentSpec, values: Sequence[int | None]) -> dict[str, int | None]:
    index = {n: i for i, n in enumerate(spec.numbers)}
    out: dict[str, int | None] = {}
    for name, members in spec.clusters.items():
        vals = [values[index[n]] for n in members]
        out[name] = None if any(v is None for v in vals) else sum(vals)
    return out


def _tri(best: bool, worst: bool) -> str:
    if best and worst:
        return POSITIVE
    if not best and not worst:
        return NEGATIVE
    return INDETERMINATE


def _tri_and(*states: str) -> str:
    if NEGATIVE in states:
        return NEGATIVE
    return POSITIVE if all(s == POSITIVE for s in states) else INDETERMINATE


def _bool_state(value: bool | None) -> str:
    return INDETERMINATE if value is None else (POSITIVE if value else NEGATIVE)


def _symptom_rule(
    spec: InstrumentSpec, values: Sequence[int | None], rule: Rule, endorse_key: str
) -> str:
    """DSM-5 symptom-count rule, evaluated with missing items at best and worst case."""
    threshold = rule[endorse_key]
    minimums = {c: rule[f"min_{c.lower()}"] for c in ("B", "C", "D", "E")}
    index = {n: i for i, n in enumerate(spec.numbers)}

    def meets(fill: int) -> bool:
        filled = [fill if v is None else v for v in values]
        return all(
            sum(filled[index[n]] >= threshold for n in spec.clusters[c]) >= minimums[c]
            for c in minimums
        )

    return _tri(meets(spec.scale[1]), meets(spec.scale[0]))


def _threshold_state(
    values: Sequence[int | None], total: int | None, scale: tuple[int, int],
    passes: Callable[[float], bool],
) -> str:
    """Classify a total against a cut-off; bounds decide when items are missing."""
    if total is not None:
        return POSITIVE if passes(total) else NEGATIVE
    answered = sum(v for v in values if v is not None)
    n_missing = sum(v is None for v in values)
    return _tri(passes(answered + n_missing * scale[1]), passes(answered + n_missing * scale[0]))


def _band(total: int | None, rule: Rule) -> str | None:
    if total is None:
        return None
    for label, upper in zip(rule["labels"], rule["upper"], strict=True):
        if total <= upper:
            return label
    raise ValueError(f"{rule.key}: total {total} above the last band")


# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------


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
        raise InputError("--settings pcl5.combined.method", f"unknown method {method!r}",
                         ", ".join(PCL5_COMBINATIONS))
    decisive = NEGATIVE if method == "both" else POSITIVE
    other = POSITIVE if decisive == NEGATIVE else NEGATIVE
    if decisive in (dsm, cut):
        return decisive
    return other if dsm == cut == other else INDETERMINATE


def _loinc(spec: InstrumentSpec) -> dict[str, Any]:
    return {"panel": spec.loinc_panel, "total": spec.loinc_total,
            "items": list(spec.loinc_items) or None}


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


def _optional_bool(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InputError(name, f"{value!r} is not yes/no", "true, false or None (not assessed)")


def _extra_items(name: str, values: Sequence[Any] | None, numbers: tuple[int, ...]
                 ) -> tuple[int | None, ...]:
    if values is None:
        return (None,) * len(numbers)
    vals = _as_list(values, f"{name} items {numbers[0]}-{numbers[-1]}")
    if len(vals) != len(numbers):
        raise InputError(f"{name} items {', '.join(map(str, numbers))}",
                         f"expected {len(numbers)} values, got {len(vals)}",
                         f"{len(numbers)} integers 0-4")
    return tuple(_coerce_item(f"{name} item {n}", v, range(5), "integer 0-4")
                 for n, v in zip(numbers, vals, strict=True))


def _any_at_least(values: Sequence[int | None], threshold: int) -> str:
    best = any((4 if v is None else v) >= threshold for v in values)
    worst = any((0 if v is None else v) >= threshold for v in values)
    return _tri(best, worst)


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


def _yes_no(label: str, value: Any) -> bool | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if _is_number(value) and value in (0, 1):
        return bool(value)
    raise InputError(label, f"{value!r} is not a yes/no answer", "yes (1), no (0) or empty")


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
    values = _validate(ICSI, items, allowed_by_item={4: ICSI_ITEM4_VALUES})
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


# ---------------------------------------------------------------------------
# Change over time
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeResult:
    """One outcome rule applied to a baseline/current pair; ``met`` None = not evaluable."""

    rule: str
    description: str
    met: bool | None
    citation: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"rule": self.rule, "description": self.description, "met": self.met,
                "citation": self.citation}


@dataclass(frozen=True)
class ChangeResult:
    """Change from baseline: ``delta = baseline - current`` (positive = improvement)."""

    instrument: str
    baseline: float
    current: float
    delta: float
    percent_reduction: float | None
    outcomes: tuple[OutcomeResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"instrument": self.instrument, "baseline": self.baseline,
                "current": self.current, "delta": self.delta,
                "percent_reduction": self.percent_reduction,
                "outcomes": [o.to_dict() for o in self.outcomes]}

    def met(self, rule: str) -> bool | None:
        """Whether the outcome rule with this short name (e.g. ``"response"``) was met."""
        for outcome in self.outcomes:
            if outcome.rule.rsplit(".", 1)[-1] == rule:
                return outcome.met
        raise KeyError(f"no outcome rule {rule!r} for {self.instrument}")


OUTCOME_RULES = {
    "pcl5": ("reliable_change", "clinically_meaningful_change", "strict_reliable_change",
             "strict_endpoint"),
    "caps5": ("response", "reliable_change", "meaningful_change", "strict_endpoint",
              "remission"),
    "madrs": ("response", "remission", "remission_alt"),
    "phq9": ("response", "remission"),
}


def _number(name: str, value: Any, lo: float, hi: float) -> Fraction:
    if isinstance(value, bool) or not _is_number(value) or math.isnan(value):
        raise InputError(name, f"{value!r} is not a number", f"{lo}-{hi}")
    if not lo <= value <= hi:
        raise InputError(name, f"{value} is outside the scale", f"{lo}-{hi}")
    return Fraction(value)


def meets_response(
    baseline: float,
    current: float,
    *,
    percent_reduction: float | None = None,
    absolute_reduction: float | None = None,
) -> bool | None:
    """Generic response rule: ``percent_reduction >= X`` or ``absolute_reduction >= Y``.

    Criteria left as None are not used; at least one is required. Arithmetic is exact
    (60 -> 42 is exactly a 30 % reduction). A percent criterion cannot be evaluated for a
    baseline of 0; returns None when no given criterion can be evaluated.
    """
    if percent_reduction is None and absolute_reduction is None:
        raise InputError("rule", "no criterion given",
                         "percent_reduction and/or absolute_reduction")
    b, c = Fraction(baseline), Fraction(current)
    results = []
    if absolute_reduction is not None:
        results.append(b - c >= Fraction(str(absolute_reduction)))
    if percent_reduction is not None and b > 0:
        results.append((b - c) * 100 >= Fraction(str(percent_reduction)) * b)
    return any(results) if results else None


def _outcome(rule: Rule, b: Fraction, c: Fraction, current_diagnosis: str | None
             ) -> OutcomeResult:
    p = rule.params
    name = rule.key
    if "percent_reduction" in p or "absolute_reduction" in p:
        met = meets_response(b, c, percent_reduction=p.get("percent_reduction"),
                             absolute_reduction=p.get("absolute_reduction"))
        parts = []
        if "percent_reduction" in p:
            parts.append(f">= {p['percent_reduction']} % reduction")
        if "absolute_reduction" in p:
            parts.append(f">= {p['absolute_reduction']}-point reduction")
        return OutcomeResult(name, " or ".join(parts), met, rule.citation)
    if "at_or_below" in p:
        met, text = c <= Fraction(str(p["at_or_below"])), f"score <= {p['at_or_below']}"
    else:
        met, text = c < Fraction(str(p["below"])), f"score < {p['below']}"
    if p.get("requires_loss_of_diagnosis"):
        text = "no longer meets diagnosis and " + text
        lost = {NEGATIVE: True, POSITIVE: False}.get(current_diagnosis or "")
        met = False if (lost is False or not met) else (None if lost is None else True)
    return OutcomeResult(name, text, met, rule.citation)


def assess_change(
    instrument: str,
    baseline: float,
    current: float,
    *,
    current_diagnosis: str | None = None,
    settings: Any = None,
) -> ChangeResult:
    """Apply every outcome rule of ``instrument`` (pcl5, caps5, madrs, phq9) to two totals.

    PCL-5: reliable (>= 5), clinically meaningful (>= 10), strict RCI (>= 15, Marx 2022),
    endpoint <= 28. CAPS-5: response >= 30 % (Feder 2021), reliable >= 13, meaningful
    >= 10, endpoint <= 8, remission (loss of diagnosis and <= 11; pass
    ``current_diagnosis`` = "positive"/"negative" or it is not evaluable). MADRS: response
    >= 50 %, remission <= 12, alternative remission < 10. PHQ-9: response >= 50 %,
    remission < 5. All values come from the settings.
    """
    s = resolve(settings)
    if instrument not in OUTCOME_RULES:
        raise InputError("instrument", f"no change rules for {instrument!r}",
                         ", ".join(OUTCOME_RULES))
    top = SPECS[instrument].max_total
    b = _number("baseline", baseline, 0, top)
    c = _number("current", current, 0, top)
    outcomes = tuple(_outcome(s[f"{instrument}.{r}"], b, c, current_diagnosis)
                     for r in OUTCOME_RULES[instrument])
    percent = float((b - c) * 100 / b) if b > 0 else None
    return ChangeResult(instrument, float(b), float(c), float(b - c), percent, outcomes)


# Scorers addressable by instrument id (the CLI and batch tools use this table).
SCORERS: dict[str, Callable[..., ScoreResult]] = {
    "pcl5": score_pcl5,
    "caps5": score_caps5,
    "cadss": score_cadss,
    "madrs": score_madrs,
    "phq9": score_phq9,
    "iesr": score_iesr,
    "bprs_pos": score_bprs_positive,
    "cssrs": score_cssrs,
    "dast10": score_dast10,
    "icsi": score_icsi,
    "icpi": score_icpi,
}
