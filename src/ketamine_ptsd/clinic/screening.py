"""Pre-treatment screening for racemic ketamine or esketamine.

One checklist merges the SPRAVATO contraindications and warnings, the consensus and
trial exclusions for IV ketamine, and the medication interactions. Each condition's
severity, text and source live in ``settings.toml`` (``screening.conditions.*`` and
``screening.interactions.*``), so a clinic can change a review item into a hard stop,
or the reverse, and see that it did.

Decision: ``not_eligible`` if any hard stop applies, otherwise ``needs_review`` if any
review item applies (including anything not assessed), otherwise ``eligible``. Notes
never change the decision. Every safety question must be answered explicitly: a
missing answer is never read as "absent".
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ketamine_ptsd.clinic.settings import Settings, resolve
from ketamine_ptsd.errors import InputError

_SEVERITY_ORDER = {"hard_stop": 0, "review": 1, "note": 2}


def _parse_bp(value: Any) -> Any:
    """Accept "150/95" (the way BP is written) as well as a (150, 95) pair."""
    if isinstance(value, str):
        parts = value.replace(" ", "").split("/")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{value!r} is not a blood pressure like '132/84'")
        return int(parts[0]), int(parts[1])
    return value


BloodPressure = Annotated[tuple[int, int], BeforeValidator(_parse_bp)]


class PatientScreeningInput(BaseModel):
    """What screening needs to know about one patient (the PATIENT.toml keys).

    Yes/no conditions are ``None`` until assessed; an unassessed safety question sends
    the patient to clinician review. ``medications`` lists interacting classes only
    (``[]`` = none of them); see ``screening.interactions`` in the settings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: Literal["racemic", "esketamine"] = "racemic"
    age_years: float | None = None
    bp_readings: list[BloodPressure] | None = None
    # contraindications and cardiovascular
    aneurysmal_vascular_disease: bool | None = None
    arteriovenous_malformation: bool | None = None
    intracerebral_haemorrhage_history: bool | None = None
    hypersensitivity: bool | None = None
    bp_increase_serious_hazard: bool | None = None
    uncontrolled_hypertension: bool | None = None
    unstable_cardiovascular_disease: bool | None = None
    cerebrovascular_disease: bool | None = None
    hypertensive_encephalopathy_history: bool | None = None
    stroke_or_mi: bool | None = None
    stroke_or_mi_months_since: float | None = Field(None, ge=0)
    hyperthyroidism: Literal["none", "controlled", "uncontrolled"] | None = None
    # psychiatric and substance use
    psychosis_current: bool | None = None
    psychosis_history: bool | None = None
    mania_current: bool | None = None
    sud_severity: Literal["none", "mild", "moderate", "severe"] | None = None
    sud_months_since_active: float | None = Field(None, ge=0)
    dissociative_misuse_history: bool | None = None
    dast10_score: int | None = Field(None, ge=0, le=10)
    cssrs_risk: Literal["none", "low", "moderate", "high"] | None = None
    phq9_item9: int | None = Field(None, ge=0, le=3)
    # other medical
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    brain_injury: Literal["none", "mild", "moderate", "severe"] | None = None
    raised_intracranial_pressure: bool | None = None
    raised_intraocular_pressure: bool | None = None
    child_pugh: Literal["none", "A", "B", "C"] | None = None
    medications: list[str] | None = None


# Yes/no questions whose "yes" maps directly onto one condition code.
_DIRECT = {
    "aneurysmal_vascular_disease": "aneurysmal_vascular_disease",
    "arteriovenous_malformation": "arteriovenous_malformation",
    "intracerebral_haemorrhage_history": "intracerebral_haemorrhage",
    "hypersensitivity": "hypersensitivity",
    "bp_increase_serious_hazard": "bp_increase_serious_hazard",
    "unstable_cardiovascular_disease": "unstable_cardiovascular_disease",
    "cerebrovascular_disease": "cerebrovascular_disease",
    "hypertensive_encephalopathy_history": "hypertensive_encephalopathy_history",
    "psychosis_current": "psychosis_current",
    "psychosis_history": "psychosis_history",
    "mania_current": "mania_current",
    "dissociative_misuse_history": "dissociative_misuse_history",
    "pregnant": "pregnancy",
    "breastfeeding": "breastfeeding",
    "raised_intracranial_pressure": "raised_intracranial_pressure",
    "raised_intraocular_pressure": "raised_intraocular_pressure",
}
# Questions that must be answered before a patient can be called eligible.
REQUIRED = (*_DIRECT, "uncontrolled_hypertension", "age_years", "bp_readings", "stroke_or_mi", "hyperthyroidism",
            "sud_severity", "cssrs_risk", "brain_injury", "child_pugh", "medications")


@dataclass(frozen=True)
class Reason:
    """One finding: stable code, words, severity (hard_stop/review/note) and provenance."""

    code: str
    text: str
    severity: str
    source: str
    tag: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        """Plain dict for JSON."""
        return {"code": self.code, "text": self.text, "severity": self.severity,
                "source": self.source, "tag": self.tag, "detail": self.detail}


@dataclass(frozen=True)
class ScreeningResult:
    """Decision (eligible / needs_review / not_eligible) with every reason behind it."""

    decision: str
    product: str
    reasons: tuple[Reason, ...]
    not_assessed: tuple[str, ...]
    mean_bp: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"decision": self.decision, "product": self.product,
                "reasons": [r.to_dict() for r in self.reasons],
                "not_assessed": list(self.not_assessed),
                "mean_bp": list(self.mean_bp) if self.mean_bp else None}


def _allowed_for(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return ", ".join(map(str, args))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_allowed_for(a) for a in args if a is not type(None)) + " (or omit)"
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return "a number"
    if typing.get_origin(annotation) is list:
        inner = args[0] if args else str
        return ('a list of "SBP/DBP" strings, e.g. ["132/84"]' if inner is not str
                else "a list of medication classes")
    return str(annotation)


def parse_patient(data: Mapping[str, Any] | PatientScreeningInput) -> PatientScreeningInput:
    """Validate a PATIENT.toml mapping; the first problem becomes an InputError naming it."""
    if isinstance(data, PatientScreeningInput):
        return data
    try:
        return PatientScreeningInput.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else "patient"
        field = name + "".join(f"[{p}]" for p in loc[1:2])
        model_field = PatientScreeningInput.model_fields.get(name)
        if model_field is None:
            allowed = "the keys documented in docs/clinic.md (PATIENT.toml)"
        else:
            lo = next((m.ge for m in model_field.metadata if hasattr(m, "ge")), None)
            hi = next((m.le for m in model_field.metadata if hasattr(m, "le")), None)
            allowed = (f"{lo}-{hi}" if lo is not None and hi is not None
                       else f">= {lo}" if lo is not None
                       else _allowed_for(model_field.annotation))
        raise InputError(field, err["msg"], allowed) from None


def _check_range(field: str, value: float | None, settings: Settings, limit_key: str) -> None:
    if value is None:
        return
    lo, hi = settings["input.limits"][limit_key]
    if not lo <= value <= hi:
        raise InputError(field, f"{value} is outside the plausible range", f"{lo}-{hi}")


def screen(patient: Mapping[str, Any] | PatientScreeningInput, settings: Any = None
           ) -> ScreeningResult:
    """Screen one patient for ketamine or esketamine and return the decision with reasons.

    Blood pressure: any single reading at or above the hold threshold
    ``screening.uncontrolled_bp`` (>= 160/100, tag U, the same as the monitoring
    pre-dose hold) is a hard stop (defer until controlled), as is the clinician's
    ``uncontrolled_hypertension`` flag; otherwise a mean above ``screening.elevated_bp``
    (> 140/90, SPRAVATO general guide) is a review. A moderate or severe substance use
    disorder active within ``screening.recent_sud.months`` (6) is a hard stop; mild or
    older SUD is a review. A stroke or myocardial infarction within
    ``screening.recent_stroke_mi.months`` is a hard stop, an older one a review;
    untreated hyperthyroidism is a hard stop. C-SSRS high blocks dosing.
    """
    s = resolve(settings)
    p = parse_patient(patient)
    _check_range("age_years", p.age_years, s, "age_years")
    for i, (sbp, dbp) in enumerate(p.bp_readings or []):
        _check_range(f"bp_readings[{i}] systolic", sbp, s, "sbp_mmhg")
        _check_range(f"bp_readings[{i}] diastolic", dbp, s, "dbp_mmhg")
        if dbp >= sbp:
            raise InputError(f"bp_readings[{i}]", f"{sbp}/{dbp}: diastolic >= systolic",
                             '"SBP/DBP" with SBP > DBP')
    conditions = s.children("screening.conditions")
    interactions = s.children("screening.interactions")
    reasons: list[Reason] = []

    def add(code: str, detail: str = "", table: Mapping[str, Any] = conditions,
            also: Any = None) -> None:
        """Record condition ``code``; ``also`` is a threshold rule whose source is cited too."""
        rule = table[code]
        if rule["severity"] not in _SEVERITY_ORDER:
            raise InputError(f"settings {rule.key}.severity",
                             f"{rule['severity']!r} is not a screening severity",
                             ", ".join(_SEVERITY_ORDER))
        source = rule.source if also is None else f"{rule.source}; {also.key}: {also.citation}"
        reasons.append(Reason(code, rule["text"], rule["severity"], source, rule.tag, detail))

    for question, code in _DIRECT.items():
        if getattr(p, question):
            add(code)

    mean_bp = _blood_pressure(p, s, add)
    _stroke_mi(p, s, add)
    if p.hyperthyroidism in ("controlled", "uncontrolled"):
        add(f"hyperthyroidism_{p.hyperthyroidism}")
    _substance_use(p, s, add)
    _suicide(p, add)
    if p.dast10_score is not None and (
            p.dast10_score >= s["dast10.positive_screen"]["at_or_above"]):
        add("dast10_positive", f"DAST-10 = {p.dast10_score}")
    if p.brain_injury in ("moderate", "severe"):
        add("brain_injury_moderate_severe", f"{p.brain_injury} TBI")
    if p.child_pugh == "C":
        add("hepatic_child_pugh_c")
    elif p.child_pugh == "B":
        add("hepatic_child_pugh_b")
    if p.age_years is not None:
        if p.age_years >= s["screening.older_adult"]["age_at_or_above"]:
            add("older_adult", f"age {p.age_years:g}")
        if p.age_years < s["screening.minimum_age"]["age_below"]:
            add("minor", f"age {p.age_years:g}")
    for i, med in enumerate(p.medications or []):
        if med not in interactions:
            raise InputError(f"medications[{i}]", f"unknown medication class {med!r}",
                             ", ".join(interactions))
        add(med, table=interactions)

    not_assessed = tuple(q for q in REQUIRED if getattr(p, q) is None)
    if p.sud_severity not in (None, "none") and p.sud_months_since_active is None:
        not_assessed += ("sud_months_since_active",)
    if p.stroke_or_mi and p.stroke_or_mi_months_since is None:
        not_assessed += ("stroke_or_mi_months_since",)
    if not_assessed:
        reasons.append(Reason(
            "not_assessed", "Safety questions not answered: " + ", ".join(not_assessed),
            "review", "Design rule: an unanswered safety question is never read as 'absent'",
            "M"))
    reasons.sort(key=lambda r: _SEVERITY_ORDER.get(r.severity, 3))
    severities = {r.severity for r in reasons}
    decision = ("not_eligible" if "hard_stop" in severities
                else "needs_review" if "review" in severities else "eligible")
    return ScreeningResult(decision, p.product, tuple(reasons), not_assessed, mean_bp)


def _blood_pressure(p: PatientScreeningInput, s: Settings, add: Any
                    ) -> tuple[float, float] | None:
    hold, elevated = s["screening.uncontrolled_bp"], s["screening.elevated_bp"]
    limit = f"hold threshold >= {hold['sbp_at_or_above']}/{hold['dbp_at_or_above']} mmHg"
    if p.uncontrolled_hypertension:
        add("uncontrolled_hypertension", f"clinician's flag; {limit}", also=hold)
    if not p.bp_readings:
        return None
    # Averaging several readings is how hypertension is judged, but one reading at or
    # above the hold threshold is enough to defer a dose: the mean must not hide it.
    sbp = sum(r[0] for r in p.bp_readings) / len(p.bp_readings)
    dbp = sum(r[1] for r in p.bp_readings) / len(p.bp_readings)
    high = [f"{a}/{b}" for a, b in p.bp_readings
            if a >= hold["sbp_at_or_above"] or b >= hold["dbp_at_or_above"]]
    if high:
        add("bp_hold", f"reading(s) {', '.join(high)} mmHg at or above the {limit}", also=hold)
    elif sbp > elevated["sbp_above"] or dbp > elevated["dbp_above"]:
        add("elevated_bp", f"mean of {len(p.bp_readings)} reading(s) {sbp:.0f}/{dbp:.0f} mmHg "
                           f"> {elevated['sbp_above']}/{elevated['dbp_above']}")
    return round(sbp, 1), round(dbp, 1)


def _substance_use(p: PatientScreeningInput, s: Settings, add: Any) -> None:
    if p.sud_severity in (None, "none"):
        return
    months = p.sud_months_since_active
    rule = s["screening.recent_sud"]
    window = rule["months"]
    if p.sud_severity in rule["severities"] and months is not None and months < window:
        add("sud_recent", f"{p.sud_severity} SUD active {months:g} month(s) ago (< {window})",
            also=rule)
    else:
        since = "" if months is None else f", last active {months:g} month(s) ago"
        add("sud_history", f"{p.sud_severity} SUD{since}")


def _stroke_mi(p: PatientScreeningInput, s: Settings, add: Any) -> None:
    if not p.stroke_or_mi:
        return
    months = p.stroke_or_mi_months_since
    rule = s["screening.recent_stroke_mi"]
    if months is not None and months < rule["months"]:
        add("stroke_mi_recent", f"{months:g} month(s) ago (< {rule['months']})", also=rule)
    else:
        add("stroke_mi_history", "" if months is None else f"{months:g} month(s) ago")


def _suicide(p: PatientScreeningInput, add: Any) -> None:
    if p.cssrs_risk == "high":
        add("suicide_risk_high", "C-SSRS screener: high")
    elif p.cssrs_risk == "moderate":
        add("suicide_risk_moderate", "C-SSRS screener: moderate")
    if p.phq9_item9:
        add("phq9_item9_positive", f"PHQ-9 item 9 = {p.phq9_item9}")
