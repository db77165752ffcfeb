"""Dose plans: racemic ketamine (IV infusion, IM) and esketamine nasal spray.

Racemic ketamine is dosed in mg/kg on a chosen body weight:

* ``actual``: total body weight (the usual practice);
* ``ideal``: Devine ideal body weight, 50 kg (male) or 45.5 kg (female) + 2.3 kg per inch
  over 5 ft; never more than the actual weight;
* ``adjusted``: IBW + 0.4 x (TBW - IBW) when BMI > 30, otherwise the actual weight.

Doses outside the usual range (ASKP3 0.5-1 mg/kg) are flagged with the reason; doses
above the hard cap (clinic policy, tag U) are refused with an InputError. The infusion
plan gives the volume to draw, the bag volume and the pump rate in mL/h.

Esketamine (SPRAVATO) is a fixed dose of 28-mg devices: 56 or 84 mg (28 mg for some
older adults), 5 minutes between devices, 84 mg only after a prior 56 mg dose in TRD.

All numbers come from ``settings.toml``; the plan must be checked by a second person.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.settings import RuleLog, Settings, resolve
from ketamine_ptsd.dosing import PRODUCT_ROUTES, Route
from ketamine_ptsd.errors import InputError

WEIGHT_POLICIES = ("actual", "ideal", "adjusted")
SEXES = ("male", "female")
ESKETAMINE_REGIMENS = ("trd", "mdsi")
INCH_CM = 2.54
_COMPOUNDED = ("compounded products are not FDA-approved and have no approved dosing "
               "regimen (FDA alerts 16 Feb 2022 and 10 Oct 2023); no plan is produced")


def _round_step(value: float | Fraction, step: float) -> float:
    """Round half up to a multiple of ``step`` (exact, so 0.05 mL rounds up)."""
    q = Fraction(value) / Fraction(str(step))
    return float(math.floor(q + Fraction(1, 2)) * Fraction(str(step)))


def _positive(field_name: str, value: Any, limits: tuple[float, float], unit: str) -> float:
    lo, hi = limits
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InputError(field_name, f"{value!r} is not a number", f"{lo}-{hi} {unit}")
    if not lo <= value <= hi:
        raise InputError(field_name, f"{value:g} {unit} is outside the plausible range",
                         f"{lo}-{hi} {unit}")
    return float(value)


def ideal_body_weight_kg(height_cm: float, sex: str) -> float:
    """Devine ideal body weight: 50 kg (male) / 45.5 kg (female) + 2.3 kg per inch over 60 in."""
    if sex not in SEXES:
        raise InputError("sex", f"{sex!r} is needed for ideal body weight", "male or female")
    base = 50.0 if sex == "male" else 45.5
    return base + 2.3 * (height_cm / INCH_CM - 60)


def adjusted_body_weight_kg(weight_kg: float, ideal_kg: float, factor: float = 0.4) -> float:
    """Adjusted body weight: IBW + factor x (TBW - IBW)."""
    return ideal_kg + factor * (weight_kg - ideal_kg)


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body-mass index in kg/m2."""
    return weight_kg / (height_cm / 100) ** 2


@dataclass(frozen=True)
class DosingWeight:
    """The weight a mg/kg dose is multiplied by, and why that weight was chosen."""

    policy: str
    actual_kg: float
    dosing_kg: float
    ideal_kg: float | None
    adjusted_kg: float | None
    bmi: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def dosing_weight(
    weight_kg: float,
    *,
    height_cm: float | None = None,
    sex: str | None = None,
    policy: str = "actual",
    settings: Any = None,
) -> DosingWeight:
    """Choose the dosing weight under ``policy`` (actual, ideal or adjusted)."""
    s = resolve(settings)
    limits = s["input.limits"]
    w = _positive("weight_kg", weight_kg, limits["weight_kg"], "kg")
    h = None if height_cm is None else _positive("height_cm", height_cm,
                                                 limits["height_cm"], "cm")
    if policy not in WEIGHT_POLICIES:
        raise InputError("weight_policy", f"unknown policy {policy!r}",
                         ", ".join(WEIGHT_POLICIES))
    index = None if h is None else bmi(w, h)
    if policy == "actual":
        return DosingWeight(policy, w, w, None, None, index, "actual body weight")
    if h is None:
        raise InputError("height_cm", f"height is needed for the {policy} weight policy",
                         f"{limits['height_cm'][0]}-{limits['height_cm'][1]} cm")
    rule = s["dose.weight"]
    ideal = ideal_body_weight_kg(h, sex or "")
    adjusted = adjusted_body_weight_kg(w, ideal, rule["adjusted_weight_factor"])
    if policy == "ideal":
        if w < ideal:
            return DosingWeight(policy, w, w, ideal, None, index,
                                "actual weight is below ideal weight, so actual is used")
        return DosingWeight(policy, w, ideal, ideal, None, index, "Devine ideal body weight")
    if index is not None and index > rule["obesity_bmi_above"]:
        return DosingWeight(policy, w, adjusted, ideal, adjusted, index,
                            f"BMI {index:.1f} > {rule['obesity_bmi_above']}: adjusted weight "
                            f"IBW + {rule['adjusted_weight_factor']} x (TBW - IBW)")
    return DosingWeight(policy, w, w, ideal, adjusted, index,
                        f"BMI {index:.1f} <= {rule['obesity_bmi_above']}: actual weight "
                        "(adjustment applies only above the obesity threshold)")


@dataclass(frozen=True)
class DeviceStep:
    """One esketamine nasal device: its number, minute after the first, cumulative mg."""

    device: int
    minute: int
    cumulative_mg: int

    def to_dict(self) -> dict[str, int]:
        """Plain dict for JSON."""
        return {"device": self.device, "minute": self.minute, "cumulative_mg": self.cumulative_mg}


@dataclass(frozen=True, kw_only=True)
class DosePlan:
    """A checked, printable dose plan. Volumes in mL, rates in mL/h."""

    product: str
    route: str
    dose_mg: float
    weight: DosingWeight | None = None
    dose_basis: str = "mg"
    dose_mg_per_kg: float | None = None
    vial_mg_per_ml: float | None = None
    drug_volume_ml: float | None = None
    diluent: str | None = None
    bag_ml: float | None = None
    total_volume_ml: float | None = None
    final_mg_per_ml: float | None = None
    infusion_min: float | None = None
    rate_ml_per_h: float | None = None
    rate_mg_per_min: float | None = None
    regimen: str | None = None
    devices: tuple[DeviceStep, ...] = ()
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    thresholds: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict of every field."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "to_dict"):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = [v.to_dict() if hasattr(v, "to_dict") else v for v in value]
            out[f.name] = value
        out["notice"] = NOT_A_MEDICAL_DEVICE
        return out

    def lines(self) -> list[tuple[str, str]]:
        """The plan as (label, value) rows, shared by the text and markdown renderings."""
        rows: list[tuple[str, str]] = [("Product", _PRODUCT_NAMES[self.product]),
                                       ("Route", _ROUTE_NAMES[self.route])]
        w = self.weight
        if w is not None:
            extra = f", BMI {w.bmi:.1f}" if w.bmi is not None else ""
            rows.append(("Weight", f"{w.actual_kg:g} kg actual{extra}"))
            rows.append(("Dosing weight", f"{w.dosing_kg:.1f} kg ({w.policy}: {w.reason})"))
        if self.dose_basis == "mg/kg" and w is not None:
            rows.append(("Dose", f"{self.dose_mg_per_kg:g} mg/kg x {w.dosing_kg:.1f} kg = "
                                 f"{self.dose_mg:g} mg"))
        elif self.dose_mg_per_kg is not None:
            rows.append(("Dose", f"{self.dose_mg:g} mg ({self.dose_mg_per_kg:.2f} mg/kg)"))
        else:
            rows.append(("Dose", f"{self.dose_mg:g} mg"))
        if self.vial_mg_per_ml is not None:
            rows.append(("Draw", f"{self.drug_volume_ml:.1f} mL of {self.vial_mg_per_ml:g} mg/mL"
                                 " ketamine"))
        if self.bag_ml is not None:
            rows.append(("Dilute in", f"{self.bag_ml:g} mL {self.diluent} -> total "
                                      f"{self.total_volume_ml:.1f} mL "
                                      f"({self.final_mg_per_ml:.3f} mg/mL)"))
            rows.append(("Infuse", f"over {self.infusion_min:g} min at "
                                   f"{self.rate_ml_per_h:.1f} mL/h "
                                   f"({self.rate_mg_per_min:.2f} mg/min)"))
        for step in self.devices:
            rows.append((f"Device {step.device}",
                         f"minute {step.minute}: 28 mg (1 spray per nostril), "
                         f"cumulative {step.cumulative_mg} mg"))
        rows.extend(("Flag", note) for note in self.notes)
        return rows

    def render_text(self) -> str:
        """Plain-text plan for printing, with sign-off lines and the notice."""
        rows = self.lines()
        width = max(len(label) for label, _ in rows)
        body = "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)
        return (f"DOSE PLAN - verify before use\n{body}\n\n"
                "Prepared by: ____________  Independent check: ____________\n\n"
                f"{NOT_A_MEDICAL_DEVICE}\n")

    def render_markdown(self) -> str:
        """Markdown plan (a two-column table) with sign-off lines and the notice."""
        body = "\n".join(f"| {label} | {value} |" for label, value in self.lines())
        return ("## Dose plan (verify before use)\n\n| Item | Value |\n|---|---|\n"
                f"{body}\n\nPrepared by: ____________  Independent check: ____________\n\n"
                f"> {NOT_A_MEDICAL_DEVICE}\n")


_PRODUCT_NAMES = {"racemic": "racemic ketamine hydrochloride",
                  "esketamine": "esketamine nasal spray (SPRAVATO)"}
_ROUTE_NAMES = {Route.IV_INFUSION.value: "IV infusion", Route.IM.value: "IM injection",
                Route.INTRANASAL.value: "intranasal (do not prime the device)"}


def parse_dose(text: str) -> tuple[float, str]:
    """Parse ``"0.5mg/kg"``, ``"0.5 mg/kg"`` or ``"56mg"`` into (value, "mg/kg" | "mg")."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mg/kg|mg)\s*", str(text).lower())
    if not match:
        raise InputError("dose", f"cannot read dose {text!r}",
                         "a number with mg/kg or mg, e.g. 0.5mg/kg or 56mg")
    return float(match.group(1)), match.group(2)


def plan_racemic(
    *,
    weight_kg: float,
    dose_mg_per_kg: float | None = None,
    dose_mg: float | None = None,
    route: str = "iv_infusion",
    height_cm: float | None = None,
    sex: str | None = None,
    weight_policy: str = "actual",
    vial_mg_per_ml: float | None = None,
    bag_ml: float | None = None,
    infusion_min: float = 40,
    withdraw_equal_volume: bool = False,
    settings: Any = None,
) -> DosePlan:
    """Plan a racemic ketamine dose for IV infusion or IM injection.

    Give exactly one of ``dose_mg_per_kg`` (multiplied by the dosing weight) or
    ``dose_mg`` (a flat dose, checked in mg/kg against the same ranges). The dose is
    rounded to ``dose.rounding.dose_mg``; the prescribed mg/kg is checked against the usual
    range and the hard cap, the rounded mg against the absolute cap. For IV, the drug is
    added to the bag (``withdraw_equal_volume`` removes the same volume of diluent first,
    so the total stays at the bag volume), and the pump rate is total volume / duration.
    """
    s = resolve(settings)
    n = RuleLog()
    if route not in PRODUCT_ROUTES["racemic"]:
        raise InputError("route", f"{route!r} is not a planned route for racemic ketamine",
                         ", ".join(PRODUCT_ROUTES["racemic"]))
    weight = dosing_weight(weight_kg, height_cm=height_cm, sex=sex, policy=weight_policy,
                           settings=s)
    if weight_policy != "actual":
        n.use(s["dose.weight"])
    if (dose_mg_per_kg is None) == (dose_mg is None):
        raise InputError("dose", "give the dose either in mg/kg or in mg",
                         "exactly one of mg/kg or mg")
    rounding = n.use(s["dose.rounding"])
    limits = s["input.limits"]
    if dose_mg_per_kg is not None:
        per_kg = _positive("dose", dose_mg_per_kg, limits["dose_mg_per_kg"], "mg/kg")
        mg = _round_step(Fraction(str(per_kg)) * Fraction(weight.dosing_kg), rounding["dose_mg"])
    else:
        mg = _round_step(_positive("dose", dose_mg, limits["dose_mg"], "mg"),
                         rounding["dose_mg"])
        per_kg = mg / weight.dosing_kg
    if mg <= 0:
        raise InputError("dose", "the dose rounds to 0 mg", "a dose of at least 1 mg")
    _check_racemic_dose(mg, per_kg, s, n)

    vials = n.use(s["dose.racemic.vials"])
    default_vial = vials["default_iv_mg_per_ml" if route == "iv_infusion"
                         else "default_im_mg_per_ml"]
    vial = default_vial if vial_mg_per_ml is None else vial_mg_per_ml
    if vial not in vials["mg_per_ml"]:
        raise InputError("vial_mg_per_ml", f"{vial!r} mg/mL is not a stocked strength",
                         ", ".join(f"{v:g}" for v in vials["mg_per_ml"]) + " mg/mL")
    volume = _round_step(Fraction(str(mg)) / Fraction(str(vial)), rounding["volume_ml"])
    drawn = volume * vial
    if not math.isclose(drawn, mg):
        n.flag("volume_rounding", f"{volume:.1f} mL x {vial:g} mg/mL = {drawn:g} mg, not "
                                  f"{mg:g} mg: use a weaker vial or a finer syringe")
    if volume < rounding["volume_ml"]:
        raise InputError("vial_mg_per_ml", f"{mg:g} mg is below one syringe graduation at "
                         f"{vial:g} mg/mL", "a weaker vial strength")
    common = dict(product="racemic", route=route, dose_mg=mg, weight=weight,
                  dose_basis="mg/kg" if dose_mg_per_kg is not None else "mg",
                  dose_mg_per_kg=round(per_kg, 4), vial_mg_per_ml=vial, drug_volume_ml=volume)
    if route == "im":
        if bag_ml is not None:
            raise InputError("bag_ml", "no infusion bag for an IM injection",
                             "no bag_ml for route im")
        return DosePlan(**common, flags=tuple(n.flags), notes=tuple(n.notes),
                        thresholds=n.thresholds)

    diluent = n.use(s["dose.racemic.diluent"])
    bag = _positive("bag_ml", diluent["default_bag_ml"] if bag_ml is None else bag_ml,
                    limits["bag_ml"], "mL")
    minutes = _positive("infusion_min", infusion_min, limits["infusion_minutes"], "min")
    timing = n.use(s["dose.racemic.infusion_minutes"])
    if minutes < timing["refuse_below"]:
        raise InputError("infusion_min", f"{minutes:g} min is faster than the clinic minimum",
                         f">= {timing['refuse_below']} min (dose.racemic.infusion_minutes, "
                         f"usual {timing['usual_min']}-{timing['usual_max']})")
    if not timing["usual_min"] <= minutes <= timing["usual_max"]:
        n.flag("infusion_time_unusual", f"{minutes:g} min is outside the usual "
                                        f"{timing['usual_min']}-{timing['usual_max']} min")
    total = bag if withdraw_equal_volume else bag + volume
    rate = _round_step(Fraction(str(total)) * 60 / Fraction(str(minutes)),
                       rounding["rate_ml_per_h"])
    return DosePlan(
        **common, diluent=diluent["name"], bag_ml=bag, total_volume_ml=round(total, 3),
        final_mg_per_ml=round(mg / total, 4), infusion_min=minutes, rate_ml_per_h=rate,
        rate_mg_per_min=round(mg / minutes, 4), flags=tuple(n.flags), notes=tuple(n.notes),
        thresholds=n.thresholds,
    )


def _check_racemic_dose(mg: float, per_kg: float, s: Settings, n: RuleLog) -> None:
    """Prescribed mg/kg against the ranges; the rounded mg against the absolute cap."""
    cap = n.use(s["dose.racemic.hard_cap"])
    if per_kg > cap["max_mg_per_kg"] or mg > cap["max_mg"]:
        raise InputError(
            "dose", f"{mg:g} mg ({per_kg:.2f} mg/kg) is above the hard cap",
            f"<= {cap['max_mg_per_kg']} mg/kg and <= {cap['max_mg']} mg "
            f"(dose.racemic.hard_cap, {cap.tag}: set locally)")
    usual = n.use(s["dose.racemic.usual_range"])
    if per_kg < usual["min_mg_per_kg"]:
        n.flag("below_usual_range", f"{per_kg:.2f} mg/kg is below the usual "
                                    f"{usual['min_mg_per_kg']}-{usual['max_mg_per_kg']} mg/kg")
    elif per_kg > usual["max_mg_per_kg"]:
        n.flag("above_usual_range", f"{per_kg:.2f} mg/kg is above the usual "
                                    f"{usual['min_mg_per_kg']}-{usual['max_mg_per_kg']} mg/kg "
                                    "(escalation needs a documented reason)")


def plan_esketamine(
    *,
    dose_mg: float,
    previous_dose_mg: float | None = None,
    regimen: str = "trd",
    age_years: float | None = None,
    weight_kg: float | None = None,
    settings: Any = None,
) -> DosePlan:
    """Plan an esketamine nasal-spray session: devices, timing and label checks.

    ``previous_dose_mg`` is the dose of the last session (None for the first session).
    TRD: 84 mg is refused unless a previous session was >= 56 mg; a first dose other
    than 56 mg is flagged (28 mg is the EU start for patients >= 65). MDSI: 84 mg from
    the first session. Devices are given 5 minutes apart.
    """
    s = resolve(settings)
    n = RuleLog()
    rule = n.use(s["dose.esketamine"])
    allowed = rule["allowed_mg"]
    if dose_mg not in allowed:
        raise InputError("dose", f"{dose_mg:g} mg is not an esketamine dose",
                         ", ".join(f"{d} mg" for d in allowed) + " (28-mg devices)")
    if regimen not in ESKETAMINE_REGIMENS:
        raise InputError("regimen", f"unknown regimen {regimen!r}",
                         ", ".join(ESKETAMINE_REGIMENS))
    if previous_dose_mg is not None and previous_dose_mg not in allowed:
        raise InputError("previous_dose_mg", f"{previous_dose_mg:g} mg is not an esketamine "
                         "dose", ", ".join(f"{d} mg" for d in allowed))
    first = previous_dose_mg is None
    if regimen == "trd":
        if dose_mg == max(allowed) and (first or previous_dose_mg < rule["first_dose_trd_mg"]):
            raise InputError("dose", f"{dose_mg:g} mg only after a prior "
                             f"{rule['first_dose_trd_mg']} mg dose (TRD)",
                             f"{rule['first_dose_trd_mg']} mg or less for this session")
        if first and dose_mg != rule["first_dose_trd_mg"]:
            n.flag("first_dose", f"label day-1 dose is {rule['first_dose_trd_mg']} mg "
                                 f"(EU: {rule['start_dose_older_adult_mg']} mg if >= 65 y)")
    older = n.use(s["screening.older_adult"])["age_at_or_above"]
    if age_years is not None:
        _positive("age_years", age_years, s["input.limits"]["age_years"], "years")
        if age_years >= older and first and dose_mg > rule["start_dose_older_adult_mg"]:
            n.flag("older_adult_start", f"age >= {older}: EU/HK label starts at "
                                        f"{rule['start_dose_older_adult_mg']} mg "
                                        "(US label 56 mg)")
    n.flag("observation", "observe >= 2 h after the first device and until sedation, "
                          "dissociation and respiratory depression resolve (REMS)")
    count = int(dose_mg // rule["device_mg"])
    gap = rule["minutes_between_devices"]
    devices = tuple(DeviceStep(i + 1, i * gap, (i + 1) * rule["device_mg"])
                    for i in range(count))
    weight = None
    per_kg = None
    if weight_kg is not None:
        weight = dosing_weight(weight_kg, settings=s)
        per_kg = round(dose_mg / weight.dosing_kg, 4)
    return DosePlan(
        product="esketamine", route="intranasal", dose_mg=float(dose_mg), weight=weight,
        dose_mg_per_kg=per_kg, regimen=regimen, devices=devices, flags=tuple(n.flags),
        notes=tuple(n.notes), thresholds=n.thresholds,
    )


def plan(product: str, route: str, dose: str, settings: Any = None, **kwargs: Any
         ) -> DosePlan:
    """Dispatch a dose text (``"0.5mg/kg"``, ``"56mg"``) to the product's planner."""
    if product == "compounded":
        raise InputError("product", _COMPOUNDED, "racemic or esketamine")
    if product not in PRODUCT_ROUTES:
        raise InputError("product", f"unknown product {product!r}", "racemic or esketamine")
    if route not in PRODUCT_ROUTES[product]:
        raise InputError("route", f"{route!r} is not a planned route for {product}",
                         ", ".join(PRODUCT_ROUTES[product]))
    value, unit = parse_dose(dose)
    if product == "esketamine":
        if unit != "mg":
            raise InputError("dose", "esketamine is a fixed dose, not mg/kg",
                             "28mg, 56mg or 84mg")
        return plan_esketamine(dose_mg=value, settings=settings, **kwargs)
    key = "dose_mg_per_kg" if unit == "mg/kg" else "dose_mg"
    return plan_racemic(route=route, settings=settings, **{key: value}, **kwargs)
