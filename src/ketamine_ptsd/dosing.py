"""Doses, routes and regimens, kept apart from the equations.

A :class:`Regimen` is an immutable, time-ordered set of doses and psychotherapy sessions.
Builders (:func:`single_dose`, :func:`induction_series`, :func:`with_maintenance`,
:func:`with_therapy`) return new regimens. :func:`administrations` applies the route
rules of ``params/routes.toml`` (bioavailability, nasal and swallowed fractions, device
timing, zero-order phases, lag) and turns a regimen into abstract inputs that the model
layer maps onto its compartments. Times are in hours from the first dose, amounts in mg.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from .errors import InputError
from .params import route_rules

HOURS_PER_DAY = 24.0


class Route(str, Enum):
    """Routes of administration."""

    IV_INFUSION = "iv_infusion"
    IV_BOLUS = "iv_bolus"
    IM = "im"
    INTRANASAL = "intranasal"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"


class Product(str, Enum):
    """What is given: racemic ketamine, esketamine, or a control."""

    RACEMIC = "racemic"
    ESKETAMINE = "esketamine"
    MIDAZOLAM = "midazolam"
    SALINE = "saline"


KETAMINE_PRODUCTS = (Product.RACEMIC, Product.ESKETAMINE)

#: Concomitant oral antidepressant of a regimen (see :class:`Regimen`).
ORAL_AD = ("none", "stable", "new")


def _enum(kind, value, field_name):
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InputError(field_name, f"unknown value {value!r}", allowed) from None


def finite_positive(value, field_name, allow_zero=False):
    """``value`` as a float, or an :class:`InputError` naming ``field_name`` when it is not a
    finite number above zero (at or above zero with ``allow_zero``)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(field_name, f"not a number: {value!r}", "a finite number") from None
    if math.isnan(value) or math.isinf(value):
        raise InputError(field_name, f"must be finite, got {value}", "a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise InputError(field_name, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}",
                         ">= 0" if allow_zero else "> 0")
    return value


@dataclass(frozen=True)
class Dose:
    """One administration.

    ``amount`` is in mg, or in mg/kg when ``per_kg`` is true; ``time_h`` is hours from the
    start of the regimen; ``duration_h`` is the infusion length (IV infusion only; default
    from the route rules, 40 min for ketamine).
    """

    time_h: float
    amount: float
    route: Route = Route.IV_INFUSION
    product: Product = Product.RACEMIC
    per_kg: bool = False
    duration_h: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "route", _enum(Route, self.route, "route"))
        object.__setattr__(self, "product", _enum(Product, self.product, "drug"))
        object.__setattr__(self, "time_h", finite_positive(self.time_h, "time_h", allow_zero=True))
        object.__setattr__(self, "amount", finite_positive(self.amount, "dose"))
        rules = route_rules().get(self.product.value, {})
        if self.route.value not in rules:
            raise InputError(
                "route",
                f"{self.route.value} is not a modelled route for {self.product.value}",
                ", ".join(rules),
            )
        if self.route is Route.IV_INFUSION:
            duration = self.duration_h
            if duration is None:
                duration = rules[self.route.value]["default_duration_min"] / 60.0
            object.__setattr__(self, "duration_h", finite_positive(duration, "infusion_min"))
        elif self.duration_h is not None:
            raise InputError("infusion_min", f"a duration only applies to iv_infusion, not {self.route.value}",
                             "omit it for this route")

    def amount_mg(self, weight_kg: float) -> float:
        """The dose in mg for a patient of ``weight_kg``."""
        return self.amount * weight_kg if self.per_kg else self.amount


@dataclass(frozen=True)
class TherapySession:
    """A psychotherapy session (for instance prolonged exposure in KAP) at ``time_h``."""

    time_h: float
    duration_h: float = 1.5

    def __post_init__(self):
        object.__setattr__(self, "time_h", finite_positive(self.time_h, "therapy time_h", allow_zero=True))
        object.__setattr__(self, "duration_h", finite_positive(self.duration_h, "therapy duration_h"))


@dataclass(frozen=True)
class Regimen:
    """An ordered, immutable treatment plan: doses plus psychotherapy sessions.

    All ketamine doses of one regimen are of one product (racemic or esketamine), since
    the two have separate PK parameter sets; midazolam and saline doses may accompany them.
    """

    doses: tuple[Dose, ...] = ()
    therapy: tuple[TherapySession, ...] = ()
    name: str = ""
    #: Concomitant oral antidepressant: ``none``, ``stable`` (taken before and throughout;
    #: its effect is part of the baseline) or ``new`` (started at time 0; works over weeks).
    oral_ad: str = "none"
    #: True when patient and staff know the treatment (single-arm series): more expectancy.
    open_label: bool = False
    _ketamine: Product | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        doses = tuple(sorted(self.doses, key=lambda d: d.time_h))
        therapy = tuple(sorted(self.therapy, key=lambda s: s.time_h))
        object.__setattr__(self, "doses", doses)
        object.__setattr__(self, "therapy", therapy)
        if self.oral_ad not in ORAL_AD:
            raise InputError("oral_ad", f"unknown value {self.oral_ad!r}", ", ".join(ORAL_AD))
        products = {d.product for d in doses if d.product in KETAMINE_PRODUCTS}
        if len(products) > 1:
            raise InputError(
                "drug",
                "one regimen mixes racemic ketamine and esketamine",
                "one ketamine product per regimen (their PK parameter sets differ)",
            )
        object.__setattr__(self, "_ketamine", products.pop() if products else None)

    @property
    def ketamine_product(self) -> Product | None:
        """The regimen's ketamine product, or None for a control regimen."""
        return self._ketamine

    @property
    def pk_product(self) -> str:
        """Which PK parameter set the regimen uses (racemic for control-only regimens)."""
        return (self._ketamine or Product.RACEMIC).value

    @property
    def end_h(self) -> float:
        """Time of the last event's end, in hours."""
        ends = [d.time_h + (d.duration_h or 0.0) for d in self.doses]
        ends += [s.time_h + s.duration_h for s in self.therapy]
        return max(ends, default=0.0)

    def __add__(self, other: Regimen) -> Regimen:
        oral_ad = self.oral_ad if self.oral_ad != "none" else other.oral_ad
        return Regimen(self.doses + other.doses, self.therapy + other.therapy, self.name or other.name,
                       oral_ad, self.open_label or other.open_label)

    def with_context(self, oral_ad: str | None = None, open_label: bool | None = None) -> Regimen:
        """A copy with the concomitant oral antidepressant and/or open-label flag set."""
        return replace(self, oral_ad=self.oral_ad if oral_ad is None else oral_ad,
                       open_label=self.open_label if open_label is None else bool(open_label))


def _check_days(days: Sequence[float], field_name: str) -> list[float]:
    days = [finite_positive(d, field_name, allow_zero=True) for d in days]
    if not days:
        raise InputError(field_name, "no days given", "one or more days, e.g. 0,2,4")
    for a, b in zip(days, days[1:]):
        if not b > a:
            raise InputError(field_name, f"days out of order or repeated ({a:g} then {b:g})",
                             "strictly increasing days, e.g. 0,2,4,7,9,11")
    return days


def single_dose(
    amount: float = 0.5,
    per_kg: bool = True,
    route: Route | str = Route.IV_INFUSION,
    product: Product | str = Product.RACEMIC,
    time_h: float = 0.0,
    duration_min: float | None = None,
) -> Regimen:
    """One dose (default 0.5 mg/kg racemic ketamine IV over 40 min)."""
    duration_h = None if duration_min is None else finite_positive(duration_min, "infusion_min") / 60.0
    return Regimen((Dose(time_h, amount, route, product, per_kg, duration_h),))


DEFAULT_INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)


def induction_series(
    days: Sequence[float] = DEFAULT_INDUCTION_DAYS,
    amount: float = 0.5,
    per_kg: bool = True,
    route: Route | str = Route.IV_INFUSION,
    product: Product | str = Product.RACEMIC,
    duration_min: float | None = None,
) -> Regimen:
    """A series of identical doses on the given days (default: Feder 2021, six infusions of
    0.5 mg/kg over 40 min on days 0, 2, 4, 7, 9, 11)."""
    days = _check_days(days, "days")
    one = single_dose(amount, per_kg, route, product, 0.0, duration_min).doses[0]
    return Regimen(tuple(replace(one, time_h=d * HOURS_PER_DAY) for d in days))


def with_maintenance(regimen: Regimen, every_days: float, from_day: float, until_day: float,
                     dose: Dose | None = None) -> Regimen:
    """Add maintenance doses every ``every_days`` from ``from_day`` up to ``until_day``
    (inclusive), each like ``dose`` (default: the regimen's last dose). A maintenance day that
    already has a dose in the regimen is not dosed twice."""
    every = finite_positive(every_days, "every_days")
    start = finite_positive(from_day, "from_day", allow_zero=True)
    until = finite_positive(until_day, "until_day", allow_zero=True)
    template = dose or (regimen.doses[-1] if regimen.doses else None)
    if template is None:
        raise InputError("dose", "no dose to repeat", "a regimen with at least one dose, or a dose")
    n = int(math.floor((until - start) / every + 1e-9)) + 1 if until >= start else 0
    taken = {d.time_h for d in regimen.doses}
    times = ((start + i * every) * HOURS_PER_DAY for i in range(n))
    extra = tuple(replace(template, time_h=t) for t in times if t not in taken)
    return replace(regimen, doses=regimen.doses + extra)


def with_therapy(regimen: Regimen, days: Iterable[float], hours_after_dose: float = 0.0,
                 duration_h: float = 1.5) -> Regimen:
    """Add psychotherapy sessions on the given days, ``hours_after_dose`` after midnight of
    that day's dose time (24 h after an infusion is the usual KAP rule: pass the next day)."""
    days = _check_days(list(days), "therapy_days")
    offset = finite_positive(hours_after_dose, "hours_after_dose", allow_zero=True)
    sessions = tuple(TherapySession(d * HOURS_PER_DAY + offset, duration_h) for d in days)
    return replace(regimen, therapy=regimen.therapy + sessions)


# --------------------------------------------------------------------------- route rules


@dataclass(frozen=True)
class Administration:
    """One input to the model, in the model's abstract terms.

    ``target`` names where the drug goes: ``central`` (IV bolus), ``iv`` (infusion rate),
    ``depot_im``, ``depot_nasal``, ``depot_sl``, ``depot_gut`` (first-order absorption
    sites), ``gut_rate`` (zero-order transfer of swallowed drug), ``midazolam``,
    ``midazolam_rate``, ``therapy`` (session intensity) or ``session`` (a treatment
    session, for the expectancy response). Amounts are ``fixed_mg + per_kg_mg * weight``;
    a non-zero ``duration_h`` spreads the amount evenly over that time.
    """

    time_h: float
    target: str
    fixed_mg: float
    per_kg_mg: float
    duration_h: float = 0.0


def _split(dose: Dose, fraction: float) -> tuple[float, float]:
    amount = dose.amount * fraction
    return (0.0, amount) if dose.per_kg else (amount, 0.0)


def administrations(regimen: Regimen) -> list[Administration]:
    """Apply the route rules to every dose of ``regimen``.

    Returns the abstract inputs sorted by time; see :class:`Administration`.
    """
    rules = route_rules()
    out: list[Administration] = []
    for dose in regimen.doses:
        rule = rules[dose.product.value][dose.route.value]
        lag = float(rule.get("lag_h", 0.0))
        t = dose.time_h + lag
        out.append(Administration(dose.time_h, "session", 1.0, 0.0))
        if dose.product is Product.SALINE:
            continue
        if dose.product is Product.MIDAZOLAM:
            target = "midazolam_rate" if dose.route is Route.IV_INFUSION else "midazolam"
            out.append(Administration(t, target, *_split(dose, rule["bioavailability"]),
                                      dose.duration_h or 0.0))
            continue
        route = dose.route
        if route is Route.IV_INFUSION:
            out.append(Administration(t, "iv", *_split(dose, rule["bioavailability"]), dose.duration_h))
        elif route is Route.IV_BOLUS:
            out.append(Administration(t, "central", *_split(dose, rule["bioavailability"])))
        elif route is Route.IM:
            out.append(Administration(t, "depot_im", *_split(dose, rule["bioavailability"])))
        elif route is Route.ORAL:
            out.append(_swallowed(t, dose, 1.0, float(rule.get("swallow_duration_h", 0.0))))
        elif route is Route.SUBLINGUAL:
            mucosal = float(rule["mucosal_fraction"])
            out.append(Administration(t, "depot_sl", *_split(dose, mucosal)))
            out.append(_swallowed(t, dose, 1.0 - mucosal, 0.0))
        elif route is Route.INTRANASAL:
            out.extend(_intranasal(t, dose, rule))
    return sorted(out, key=lambda a: a.time_h)


def _swallowed(t: float, dose: Dose, fraction: float, duration_h: float) -> Administration:
    target = "gut_rate" if duration_h > 0 else "depot_gut"
    return Administration(t, target, *_split(dose, fraction), duration_h)


def _intranasal(t: float, dose: Dose, rule: dict) -> list[Administration]:
    """Nasal spray: per device a nasal fraction (reduced for each further device, Perez-Ruixo
    2021) and a swallowed remainder; devices ``device_interval_min`` apart."""
    device_mg = rule.get("device_mg")
    nasal = float(rule["nasal_fraction"])
    factor = float(rule.get("next_device_factor", 1.0))
    swallow = float(rule.get("swallow_duration_h", 0.0))
    if device_mg is None or dose.per_kg:
        # A single administration of the whole dose (racemic sprays, or mg/kg dosing).
        return [Administration(t, "depot_nasal", *_split(dose, nasal)),
                _swallowed(t, dose, 1.0 - nasal, swallow)]
    n_devices = dose.amount / device_mg
    if abs(n_devices - round(n_devices)) > 1e-9 or round(n_devices) < 1:
        raise InputError("dose", f"{dose.amount:g} mg is not a whole number of {device_mg:g}-mg devices",
                         "28, 56 or 84 mg")
    interval_h = float(rule.get("device_interval_min", 0.0)) / 60.0
    out = []
    for k in range(int(round(n_devices))):
        frac_nasal = nasal * factor**k
        device = replace(dose, amount=device_mg)
        tk = t + k * interval_h
        out.append(Administration(tk, "depot_nasal", *_split(device, frac_nasal)))
        out.append(_swallowed(tk, device, 1.0 - frac_nasal, swallow))
    return out


# --------------------------------------------------------------------------- clinic routes, protocols

#: The routes each ketamine product is given by in the clinic, its default first: racemic
#: ketamine as an IV infusion or IM injection (Ketalar label), esketamine as a nasal spray
#: (SPRAVATO label). The clinic's dose plans, monitoring and regulatory status, and the
#: front ends' choices, read this; the route names themselves are :class:`Route`'s.
PRODUCT_ROUTES: dict[str, tuple[str, ...]] = {
    Product.RACEMIC.value: (Route.IV_INFUSION.value, Route.IM.value),
    Product.ESKETAMINE.value: (Route.INTRANASAL.value,),
}
#: Every route a clinic product may take, in :data:`PRODUCT_ROUTES` order.
CLINIC_ROUTES: tuple[str, ...] = tuple(dict.fromkeys(r for routes in PRODUCT_ROUTES.values() for r in routes))


def route_list(routes: Iterable[str] = tuple(r.value for r in Route), last: str = ", ") -> str:
    """Route names for a help text or an error, e.g. ``"iv_infusion, im, intranasal"``."""
    routes = [getattr(r, "value", r) for r in routes]
    return ", ".join(routes[:-1]) + last + routes[-1] if len(routes) > 1 else "".join(routes)


@dataclass(frozen=True)
class Protocol:
    """A treatment protocol as a clinician or a trial states it, the one builder of a
    :class:`Regimen` from one: identical doses on the induction ``days`` (``infusion_min``
    is used only by an IV infusion), psychotherapy on ``therapy_days`` or, with
    ``therapy_after_each_dose``, on every dose day, ``therapy_hours_after_dose`` after that
    day's midnight, and maintenance every ``maintenance_every_days`` from
    ``maintenance_from_day`` (default: that long after the last induction day) up to the
    ``until_day`` given to :meth:`regimen`. Errors name the builders' fields (``days``,
    ``therapy_days``, ``every_days``, ``infusion_min``, ...)."""

    days: Sequence[float] = DEFAULT_INDUCTION_DAYS
    amount: float = 0.5
    per_kg: bool = True
    route: Route | str = Route.IV_INFUSION
    product: Product | str = Product.RACEMIC
    infusion_min: float | None = None
    therapy_days: Sequence[float] = ()
    therapy_after_each_dose: bool = False
    therapy_hours_after_dose: float = 0.0
    maintenance_every_days: float | None = None
    maintenance_from_day: float | None = None
    name: str = ""

    def induction(self) -> Regimen:
        """The induction doses alone."""
        infusion = self.infusion_min if self.route == Route.IV_INFUSION else None
        return induction_series(self.days, self.amount, self.per_kg, self.route, self.product, infusion)

    def regimen(self, until_day: float | None = None) -> Regimen:
        """The protocol in hours from the first dose (day 0 at midnight); maintenance, when the
        protocol has it, up to ``until_day`` (inclusive), and therapy on dose days before it."""
        regimen = self.induction()
        if self.maintenance_every_days is not None:
            if until_day is None:
                raise InputError("until_day", "a protocol with maintenance needs the day it ends", "a day >= 0")
            first = self.maintenance_from_day
            if first is None:
                first = float(self.days[-1]) + self.maintenance_every_days
            regimen = with_maintenance(regimen, self.maintenance_every_days, first, until_day)
        if self.therapy_after_each_dose:
            days = [d.time_h / HOURS_PER_DAY for d in regimen.doses
                    if until_day is None or d.time_h / HOURS_PER_DAY < until_day]
            regimen = with_therapy(regimen, days, hours_after_dose=self.therapy_hours_after_dose)
        elif self.therapy_days:
            regimen = with_therapy(regimen, self.therapy_days, self.therapy_hours_after_dose)
        return Regimen(regimen.doses, regimen.therapy, self.name or regimen.name)
