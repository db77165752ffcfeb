"""Long-term risk over a treatment course: exposure, bladder toxicity, misuse signals.

* Exposure: cumulative mg and mg/kg, number of sessions, the most sessions in any 7-day
  window (compared with the product's induction maximum), and an informational flag at
  a cumulative amount (heuristic, tag U: no human dose-incidence curve for cystitis at
  therapeutic exposure exists).
* Bladder: O'Leary-Sant ICSI (0-20) and ICPI (0-16) over time; a urinary symptom
  (haematuria, dysuria, frequency, urgency, suprapubic pain) absent at the first screen
  and present later -> clinician review (urinalysis/culture, consider pausing); ICSI at
  the IC/BPS trial-entry level -> review; a screen overdue by sessions or days -> note.
* Misuse and dependence: logged events (dose/frequency increase requests, early-visit
  requests, non-prescribed use, diversion concern), tolerance (peak CADSS falling while
  the dose rises), DAST-10.

Each flag carries its rule, source and evidence tag from ``settings.toml`` (``risk.*``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ketamine_ptsd.clinic.instruments import ICPI, ICSI, score_dast10, score_icpi, score_icsi
from ketamine_ptsd.clinic.screening import Reason
from ketamine_ptsd.clinic.settings import Rule, Settings, resolve
from ketamine_ptsd.errors import InputError

PRODUCTS = ("racemic", "esketamine")
#: The bladder indices a course's risk reads (a ``bladder`` entry holds their items).
BLADDER_INSTRUMENTS = (ICSI.id, ICPI.id)
URINARY_SYMPTOMS = ("haematuria", "dysuria", "frequency", "urgency", "suprapubic_pain")
EVENT_KINDS = ("dose_increase_request", "frequency_increase_request", "early_visit_request",
               "non_prescribed_use", "diversion_concern")
_REQUESTS = EVENT_KINDS[:3]
_SEVERITY_ORDER = ("review", "note")


def as_date(field: str, value: Any) -> dt.date:
    """``value`` (a date, datetime or ISO text) as a date; InputError naming ``field`` otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(field, f"{value!r} is not a date", "YYYY-MM-DD") from None


def _get(item: Any, name: str, default: Any = None) -> Any:
    return item.get(name, default) if isinstance(item, Mapping) else getattr(item, name, default)


@dataclass(frozen=True)
class CourseSession:
    """One dosing session of the course."""

    date: dt.date
    product: str
    dose_mg: float
    weight_kg: float | None = None
    cadss_peak: float | None = None

    @property
    def mg_per_kg(self) -> float | None:
        """Dose per kg of the weight recorded at that session."""
        return None if self.weight_kg is None else self.dose_mg / self.weight_kg


@dataclass(frozen=True)
class BladderResult:
    """One bladder screen, scored."""

    date: dt.date
    icsi: int | None
    icpi: int | None
    symptoms: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"date": self.date.isoformat(), "icsi": self.icsi, "icpi": self.icpi,
                "symptoms": list(self.symptoms)}


@dataclass(frozen=True)
class CourseReport:
    """Exposure, bladder screens and misuse signals with every flag's provenance."""

    n_sessions: int
    first_date: dt.date | None
    last_date: dt.date | None
    cumulative_mg: float
    cumulative_mg_per_kg: float | None
    max_sessions_in_7_days: int
    bladder: tuple[BladderResult, ...]
    event_counts: Mapping[str, int]
    dast10_total: int | None
    flags: tuple[Reason, ...]

    @property
    def highest_severity(self) -> str | None:
        """``review`` if any flag needs clinician review, else ``note``, else None."""
        found = {f.severity for f in self.flags}
        return next((s for s in _SEVERITY_ORDER if s in found), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "n_sessions": self.n_sessions,
            "first_date": self.first_date and self.first_date.isoformat(),
            "last_date": self.last_date and self.last_date.isoformat(),
            "cumulative_mg": self.cumulative_mg,
            "cumulative_mg_per_kg": self.cumulative_mg_per_kg,
            "max_sessions_in_7_days": self.max_sessions_in_7_days,
            "bladder": [b.to_dict() for b in self.bladder],
            "event_counts": dict(self.event_counts), "dast10_total": self.dast10_total,
            "flags": [f.to_dict() for f in self.flags],
            "highest_severity": self.highest_severity,
        }


def _flag(code: str, rule: Rule, text: str, severity: str | None = None) -> Reason:
    return Reason(code, text, severity or rule["severity"], rule.source, rule.tag)


def _sessions(raw: Sequence[Any], s: Settings) -> list[CourseSession]:
    out = []
    limits = s["input.limits"]["weight_kg"]
    lo, hi = s["input.limits"]["dose_mg"]
    for i, item in enumerate(raw):
        where = f"sessions[{i}]"
        product = _get(item, "product")
        if product not in PRODUCTS:
            raise InputError(f"{where}.product", f"unknown product {product!r}",
                             ", ".join(PRODUCTS))
        dose = _get(item, "dose_mg")
        if isinstance(dose, bool) or not isinstance(dose, (int, float)) or not lo <= dose <= hi:
            raise InputError(f"{where}.dose_mg", f"{dose!r} is not a dose", f"{lo}-{hi} mg")
        weight = _get(item, "weight_kg")
        if weight is not None and not (isinstance(weight, (int, float))
                                       and limits[0] <= weight <= limits[1]):
            raise InputError(f"{where}.weight_kg", f"{weight!r} is outside the plausible range",
                             f"{limits[0]}-{limits[1]} kg")
        cadss = _get(item, "cadss_peak")
        if cadss is not None and not (isinstance(cadss, (int, float)) and 0 <= cadss <= 92):
            raise InputError(f"{where}.cadss_peak", f"{cadss!r} is not a CADSS total", "0-92")
        out.append(CourseSession(as_date(f"{where}.date", _get(item, "date")), product,
                                 float(dose), weight, cadss))
    return sorted(out, key=lambda x: x.date)


def _max_in_7_days(dates: Sequence[dt.date]) -> int:
    best = 0
    for i, d in enumerate(dates):
        best = max(best, sum(1 for e in dates[: i + 1] if (d - e).days < 7))
    return best


def assess_course(
    sessions: Sequence[Any],
    *,
    bladder: Sequence[Any] = (),
    events: Sequence[Any] = (),
    dast10: Sequence[Any] | None = None,
    as_of: Any = None,
    settings: Any = None,
) -> CourseReport:
    """Assess a treatment course for cumulative exposure, bladder toxicity and misuse.

    ``sessions``: items with date, product (racemic/esketamine), dose_mg, optional
    weight_kg and cadss_peak. ``bladder``: items with date, optional ``icsi`` and ``icpi``
    (4 item scores each) and symptom booleans (haematuria, dysuria, frequency, urgency,
    suprapubic_pain). ``events``: items with date and kind (one of EVENT_KINDS).
    ``dast10``: the 10 yes/no answers, if taken. ``as_of`` (default: last session) is the
    date at which overdue screens are judged. Items may be mappings or objects.
    """
    s = resolve(settings)
    course = _sessions(sessions, s)
    flags: list[Reason] = []
    dates = [x.date for x in course]
    weights_known = all(x.weight_kg is not None for x in course)
    cumulative = sum(x.dose_mg for x in course)
    per_kg = sum(x.mg_per_kg for x in course) if course and weights_known else None

    freq = s["risk.max_sessions_per_7_days"]
    worst = 0
    for product in PRODUCTS:
        count = _max_in_7_days([x.date for x in course if x.product == product])
        worst = max(worst, count)
        if count > freq[product]:
            flags.append(_flag("frequency_above_induction", freq,
                               f"{count} {product} sessions within 7 days (induction maximum "
                               f"{freq[product]})"))
    info = s["risk.cumulative_dose_info"]
    if cumulative >= info["at_or_above_mg"]:
        flags.append(_flag("cumulative_dose", info, f"cumulative {cumulative:g} mg >= "
                                                    f"{info['at_or_above_mg']} mg"))
    flags += _tolerance(course, s)

    end = as_date("as_of", as_of) if as_of is not None else (dates[-1] if dates else None)
    screens = _bladder(bladder, s)
    flags += _bladder_flags(screens, course, end, s)

    counts = {k: 0 for k in EVENT_KINDS}
    for i, e in enumerate(events):
        kind = _get(e, "kind")
        if kind not in counts:
            raise InputError(f"events[{i}].kind", f"unknown event {kind!r}",
                             ", ".join(EVENT_KINDS))
        as_date(f"events[{i}].date", _get(e, "date"))
        counts[kind] += 1
    flags += _misuse_flags(counts, s)

    dast_total = None
    if dast10 is not None:
        result = score_dast10(dast10, settings=s)
        dast_total = result.total
        if result.positive_screen == "positive":
            flags.append(_flag("dast10_positive", s["risk.dast10_positive"],
                               f"DAST-10 = {result.total} ({result.band})"))
    flags.sort(key=lambda f: _SEVERITY_ORDER.index(f.severity)
               if f.severity in _SEVERITY_ORDER else len(_SEVERITY_ORDER))
    return CourseReport(
        n_sessions=len(course), first_date=dates[0] if dates else None,
        last_date=dates[-1] if dates else None, cumulative_mg=cumulative,
        cumulative_mg_per_kg=None if per_kg is None else round(per_kg, 4),
        max_sessions_in_7_days=worst, bladder=tuple(screens), event_counts=counts,
        dast10_total=dast_total, flags=tuple(flags),
    )


def _tolerance(course: Sequence[CourseSession], s: Settings) -> list[Reason]:
    rule = s["risk.tolerance"]
    known = [x for x in course if x.mg_per_kg is not None and x.cadss_peak is not None]
    if len(known) < 2:
        return []
    first, last = known[0], known[-1]
    # Exact ratio so that 0.5 -> 0.6 mg/kg is exactly +20 %, not 19.999...
    ratio = (Fraction(last.dose_mg) / Fraction(last.weight_kg)) / (
        Fraction(first.dose_mg) / Fraction(first.weight_kg))
    rise = float((ratio - 1) * 100)
    drop = first.cadss_peak - last.cadss_peak
    if rise >= rule["dose_rise_percent_at_least"] and drop >= rule["cadss_drop_at_least"]:
        return [_flag("possible_tolerance", rule,
                      f"dose {first.mg_per_kg:.2f} -> {last.mg_per_kg:.2f} mg/kg (+{rise:.0f} %) "
                      f"while peak CADSS fell {first.cadss_peak:g} -> {last.cadss_peak:g}")]
    return []


def _bladder(raw: Sequence[Any], s: Settings) -> list[BladderResult]:
    out = []
    for i, item in enumerate(raw):
        where = f"bladder[{i}]"
        date = as_date(f"{where}.date", _get(item, "date"))
        icsi = _get(item, "icsi")
        icpi = _get(item, "icpi")
        symptoms = []
        for name in URINARY_SYMPTOMS:
            value = _get(item, name)
            if value not in (None, True, False):
                raise InputError(f"{where}.{name}", f"{value!r} is not yes/no", "true or false")
            if value:
                symptoms.append(name)
        out.append(BladderResult(
            date,
            None if icsi is None else score_icsi(icsi, settings=s).total,
            None if icpi is None else score_icpi(icpi, settings=s).total,
            tuple(symptoms),
        ))
    return sorted(out, key=lambda b: b.date)


def _bladder_flags(screens: Sequence[BladderResult], course: Sequence[CourseSession],
                   end: dt.date | None, s: Settings) -> list[Reason]:
    flags = []
    new_rule, high = s["risk.new_urinary_symptom"], s["risk.icsi_high"]
    baseline = set(screens[0].symptoms) if screens else set()
    if baseline:
        flags.append(_flag("urinary_symptoms_at_baseline", new_rule,
                           f"present at first screen ({screens[0].date}): "
                           + ", ".join(sorted(baseline)) + "; document and investigate",
                           severity="note"))
    for b in screens[1:]:
        new = sorted(set(b.symptoms) - baseline)
        if new:
            flags.append(_flag("new_urinary_symptom", new_rule,
                               f"{b.date}: new " + ", ".join(new)
                               + ": urinalysis/culture, consider pausing"))
    for b in screens:
        if b.icsi is not None and b.icsi >= high["at_or_above"]:
            flags.append(_flag("icsi_high", high, f"{b.date}: ICSI {b.icsi} >= "
                                                  f"{high['at_or_above']}"))
    interval = s["risk.bladder_screen_interval"]
    if course and end is not None:
        last = screens[-1].date if screens else None
        since = [x for x in course if last is None or x.date > last]
        days = None if last is None else (end - last).days
        if last is None:
            flags.append(_flag("bladder_screen_due", interval,
                               "no bladder screen (ICSI/ICPI) recorded: screen at baseline"))
        elif len(since) >= interval["max_sessions"] or days > interval["max_days"]:
            flags.append(_flag("bladder_screen_due", interval,
                               f"last screen {last}: {len(since)} session(s) and {days} day(s)"
                               f" ago (every {interval['max_sessions']} sessions or "
                               f"{interval['max_days']} days)"))
    return flags


def _misuse_flags(counts: Mapping[str, int], s: Settings) -> list[Reason]:
    flags = []
    requests = s["risk.requests"]
    n_requests = sum(counts[k] for k in _REQUESTS)
    if n_requests:
        severity = (requests["severity"] if n_requests >= requests["review_at_count"]
                    else requests["severity_below_count"])
        detail = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in _REQUESTS if counts[k])
        flags.append(_flag("escalation_requests", requests, detail, severity=severity))
    for kind in ("non_prescribed_use", "diversion_concern"):
        if counts[kind]:
            flags.append(_flag(kind, s[f"risk.{kind}"],
                               f"{counts[kind]} {kind.replace('_', ' ')} event(s) logged"))
    return flags
