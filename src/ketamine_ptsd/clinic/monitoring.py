"""Session monitoring: alerts, discharge readiness and the SPRAVATO REMS form fields.

A session is a list of readings at minutes from the dose (the first esketamine device or
the start of the ketamine infusion); readings at or before minute 0 are pre-dose. Fields
are ``sbp``, ``dbp`` (mmHg), ``hr`` (bpm), ``spo2`` (%), ``cadss`` (CADSS total 0-92)
and ``moaas`` (MOAA/S 0-5); any may be missing at a given time.

The same vectorised rule core evaluates one clinic session (:func:`monitor_session`) and
many simulated sessions (:func:`alert_rates`), so the rates the model reports are the
rates of exactly the rules a clinic would see. Rules and thresholds are in
``settings.toml`` under ``monitoring.*`` and ``discharge.*``:

* pre-dose review (> 140/90), pre-dose hold (>= 160/100, U);
* pause/stop: SBP > 180 or DBP > 100 or HR > 110 after dosing (U);
* rise from pre-dose: SBP >= 40 or DBP >= 25 mmHg (label Table 6);
* hypotension SBP < 90, bradycardia HR < 50, SpO2 < 92 % (U);
* CADSS > 4 (notable dissociation), CADSS > 4 at or after 90 min (prolonged
  dissociation, U), MOAA/S < 5 (sedation), MOAA/S 0 (loss of consciousness);
* documentation: no pre-dose BP; no BP at ~40 min.

Discharge readiness needs the minimum observation (120 min after the first esketamine
device; 60 min after the end of a racemic infusion or IM injection), and, at a reading
at or after it and at every later reading: BP and HR within a margin of pre-dose or
below limits, SpO2 at or above the minimum and near its pre-dose value, MOAA/S 5, CADSS
resolved. Values carry forward from their last post-dose measurement. A stop-level alert
(``discharge.serious_events``) keeps the patient waiting until the clinician's review of
the event is documented (``events_reviewed``). ``criteria_met_min`` is when the measured
criteria were met without the minimum observation: the REMS form's "ready to leave"
time. Escort, orientation, written instructions and the no-driving rule are listed for
the clinician to confirm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.settings import Settings, resolve
from ketamine_ptsd.dosing import PRODUCT_ROUTES
from ketamine_ptsd.errors import InputError

FIELDS = ("sbp", "dbp", "hr", "spo2", "cadss", "moaas")
LABELS = ("", "pre_dose", "pre_discharge")
SEVERITY_ORDER = ("stop", "hold", "review", "notable")
CONCOMITANT = ("benzodiazepine", "non_benzo_hypnotic", "psychostimulant", "maoi", "opioid")
MANUAL_CHECKS = (
    "oriented and ambulating without assistance",
    "responsible adult escort present",
    "written aftercare instructions given",
    "no driving or machinery until the next day after restful sleep",
)
# Reading rules in report order; each is evaluated per reading.
READING_RULES = ("pre_dose_hold", "pre_dose_review", "pause_stop", "bp_rise", "hypotension",
                 "bradycardia", "spo2_low", "loss_of_consciousness", "sedation",
                 "cadss_notable", "prolonged_dissociation")
_RANGES = {"sbp": "sbp_mmhg", "dbp": "dbp_mmhg", "hr": "hr_bpm", "spo2": "spo2_pct"}


@dataclass(frozen=True)
class Reading:
    """One observation time; ``None`` for a field not measured then."""

    time_min: float
    label: str = ""
    sbp: float | None = None
    dbp: float | None = None
    hr: float | None = None
    spo2: float | None = None
    cadss: float | None = None
    moaas: float | None = None


@dataclass(frozen=True)
class Alert:
    """A rule that fired at one reading (or for the whole session, ``time_min`` None)."""

    time_min: float | None
    code: str
    severity: str
    message: str
    source: str
    tag: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"time_min": self.time_min, "code": self.code, "severity": self.severity,
                "message": self.message, "source": self.source, "tag": self.tag}


@dataclass(frozen=True)
class Discharge:
    """Discharge readiness: when the measured criteria were met, and what is still unmet.

    ``ready_time_min`` counts the minimum observation (and is None until ready);
    ``criteria_met_min`` is when the measured criteria were met and stayed met, without
    that minimum. ``serious_events`` lists the stop-level alerts ("code at T min") whose
    review must be documented before discharge.
    """

    ready: bool
    ready_time_min: float | None
    min_observation_until_min: float
    unmet: tuple[str, ...]
    criteria_met_min: float | None = None
    serious_events: tuple[str, ...] = ()
    events_reviewed: bool = False
    manual_checks: tuple[str, ...] = MANUAL_CHECKS

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"ready": self.ready, "ready_time_min": self.ready_time_min,
                "criteria_met_min": self.criteria_met_min,
                "min_observation_until_min": self.min_observation_until_min,
                "serious_events": list(self.serious_events),
                "events_reviewed": self.events_reviewed,
                "unmet": list(self.unmet), "manual_checks": list(self.manual_checks)}


@dataclass(frozen=True)
class SessionReport:
    """Everything the monitor found in one session."""

    product: str
    route: str
    readings: tuple[Reading, ...]
    alerts: tuple[Alert, ...]
    discharge: Discharge
    peak: Mapping[str, float | None]
    pre_dose: Mapping[str, float | None]
    dose_mg: float | None = None
    lot: str | None = None
    start_clock: str | None = None
    concomitant: tuple[str, ...] = ()
    respiratory_depression_reported: bool = False
    thresholds: Mapping[str, str] = field(default_factory=dict)

    @property
    def highest_severity(self) -> str | None:
        """The most serious alert severity (stop > hold > review > notable), or None."""
        found = {a.severity for a in self.alerts}
        return next((s for s in SEVERITY_ORDER if s in found), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (readings included)."""
        return {
            "product": self.product, "route": self.route,
            "alerts": [a.to_dict() for a in self.alerts],
            "highest_severity": self.highest_severity,
            "discharge": self.discharge.to_dict(), "peak": dict(self.peak),
            "pre_dose": dict(self.pre_dose),
            "readings": [{"time_min": r.time_min, "label": r.label,
                          **{f: getattr(r, f) for f in FIELDS}} for r in self.readings],
            "thresholds": dict(self.thresholds), "notice": NOT_A_MEDICAL_DEVICE,
        }

    def rems_form(self) -> dict[str, Any]:
        """Prefill of the SPRAVATO REMS Patient Monitoring Form fields (esketamine only).

        Sedation = any MOAA/S < 5; dissociation = any CADSS above ``cadss_notable``;
        respiratory depression = SpO2 below ``spo2_low`` or reported by the clinician.
        The official form must still be completed and submitted within 7 days.
        """
        if self.product != "esketamine":
            raise InputError("rems_form", "the REMS monitoring form is for SPRAVATO only",
                             "product esketamine")
        codes = {a.code for a in self.alerts}
        end = self.readings[-1].time_min if self.readings else None
        dose = self.dose_mg
        return {
            "form": "SPRAVATO REMS Patient Monitoring Form (prefill)",
            "dose": None if dose is None else (f"{dose:g} mg" if dose in (56, 84)
                                               else f"other: {dose:g} mg"),
            "lot_number": self.lot,
            "first_device_time": _clock(self.start_clock, 0),
            "total_monitoring_min": end,
            "end_of_monitoring_time": _clock(self.start_clock, end),
            "ready_to_leave_min": self.discharge.criteria_met_min,
            "ready_to_leave_time": _clock(self.start_clock, self.discharge.criteria_met_min),
            "ready_to_leave_note": self._ready_note(),
            "bp_pre_dose": _bp_text(self._bp_at(lambda r: r.time_min <= 0, last=True)),
            "bp_40_min": _bp_text(self._bp_near_40()),
            "bp_pre_discharge": _bp_text(self._pre_discharge_bp()),
            "sedation": "sedation" in codes or "loss_of_consciousness" in codes,
            "dissociation": "cadss_notable" in codes,
            "respiratory_depression": "spo2_low" in codes or self.respiratory_depression_reported,
            "benzodiazepines": "benzodiazepine" in self.concomitant,
            "non_benzodiazepine_hypnotics": "non_benzo_hypnotic" in self.concomitant,
            "psychostimulants": "psychostimulant" in self.concomitant,
            "maois": "maoi" in self.concomitant,
            "note": "Prefill only: complete and submit the official form within 7 days.",
        }

    def _ready_note(self) -> str:
        d = self.discharge
        note = ("when the measured criteria were met without the 2-hour minimum "
                "(the minimum still applies to actual discharge)")
        if d.serious_events and not d.events_reviewed:
            note += ("; serious event(s) " + ", ".join(d.serious_events)
                     + ": confirm after the clinician's review")
        return note

    def _bp_at(self, keep: Any, last: bool) -> Reading | None:
        rows = [r for r in self.readings if keep(r) and r.sbp is not None and r.dbp is not None]
        return (rows[-1] if last else rows[0]) if rows else None

    def _bp_near_40(self) -> Reading | None:
        rows = [r for r in self.readings if r.time_min > 0 and r.sbp is not None
                and r.dbp is not None]
        return min(rows, key=lambda r: abs(r.time_min - 40), default=None)

    def _pre_discharge_bp(self) -> Reading | None:
        labelled = self._bp_at(lambda r: r.label == "pre_discharge", last=True)
        return labelled or self._bp_at(lambda r: r.time_min > 0, last=True)


def _bp_text(r: Reading | None) -> str | None:
    return None if r is None else f"{r.sbp:g}/{r.dbp:g}"


def _clock(start: str | None, minutes: float | None) -> str | None:
    if start is None or minutes is None:
        return None
    h, m = (int(x) for x in start.split(":"))
    total = h * 60 + m + int(round(minutes))
    return f"{total // 60 % 24:02d}:{total % 60:02d}"


# ---------------------------------------------------------------------------
# Vectorised core (rows sorted by session, then time)
# ---------------------------------------------------------------------------


def _ffill(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs within each session (never across a session boundary)."""
    idx = np.where(~np.isnan(values), np.arange(len(values)), 0)
    idx[starts] = starts  # a session may not inherit its predecessor's last value
    np.maximum.accumulate(idx, out=idx)
    return values[idx]


def _group_any(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if len(mask) == 0:
        return np.zeros(0, dtype=bool)
    return np.logical_or.reduceat(mask, starts)


@dataclass
class _Core:
    """Row-level masks and per-session results for sorted, grouped arrays."""

    pre: np.ndarray
    base: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    components: dict[str, np.ndarray]
    ready_time: np.ndarray
    criteria_time: np.ndarray
    min_obs: float


def _min_observation(product: str, route: str, infusion_min: float | None, s: Settings
                     ) -> float:
    if product == "esketamine":
        return float(s["discharge.esketamine"]["min_observation_min"])
    rule = s["discharge.racemic"]
    end = 0.0
    if route == "iv_infusion":
        end = float(rule["default_infusion_min"] if infusion_min is None else infusion_min)
    return end + rule["min_after_end_min"]


def _evaluate(
    t: np.ndarray, v: Mapping[str, np.ndarray], starts: np.ndarray, s: Settings,
    min_obs: float, required: Sequence[str],
) -> _Core:
    pre = t <= 0
    post = ~pre
    nan = np.full(len(t), np.nan)
    # Pre-dose rows come first in each session, so the forward fill of pre-dose values
    # is the pre-dose baseline on every post-dose row.
    base = {f: _ffill(np.where(pre, v[f], nan), starts) for f in FIELDS}
    sbp, dbp, hr, spo2, cadss, moaas = (v[f] for f in FIELDS)
    with np.errstate(invalid="ignore"):
        r = {k: s[f"monitoring.{k}"] for k in READING_RULES}
        masks = {
            "pre_dose_hold": pre & ((sbp >= r["pre_dose_hold"]["sbp_at_or_above"])
                                    | (dbp >= r["pre_dose_hold"]["dbp_at_or_above"])),
            "pre_dose_review": pre & ((sbp > r["pre_dose_review"]["sbp_above"])
                                      | (dbp > r["pre_dose_review"]["dbp_above"])),
            "pause_stop": post & ((sbp > r["pause_stop"]["sbp_above"])
                                  | (dbp > r["pause_stop"]["dbp_above"])
                                  | (hr > r["pause_stop"]["hr_above"])),
            "bp_rise": post & ((sbp - base["sbp"] >= r["bp_rise"]["sbp_rise_at_or_above"])
                               | (dbp - base["dbp"] >= r["bp_rise"]["dbp_rise_at_or_above"])),
            "hypotension": sbp < r["hypotension"]["sbp_below"],
            "bradycardia": hr < r["bradycardia"]["hr_below"],
            "spo2_low": spo2 < r["spo2_low"]["below"],
            "loss_of_consciousness": post & (
                moaas <= r["loss_of_consciousness"]["moaas_at_or_below"]),
            "sedation": post & (moaas < r["sedation"]["moaas_below"]),
            "cadss_notable": post & (cadss > r["cadss_notable"]["above"]),
            "prolonged_dissociation": post & (
                t >= r["prolonged_dissociation"]["at_or_after_min"])
            & (cadss > r["prolonged_dissociation"]["cadss_above"]),
        }
        cur = {f: _ffill(np.where(post, v[f], nan), starts) for f in FIELDS}
        vit, dis = s["discharge.vitals"], s["discharge.dissociation"]
        components = {
            "sbp": cur["sbp"] <= np.fmax(base["sbp"] + vit["sbp_margin"], vit["sbp_limit"]),
            "dbp": cur["dbp"] <= np.fmax(base["dbp"] + vit["dbp_margin"], vit["dbp_limit"]),
            "hr": cur["hr"] <= np.fmax(base["hr"] + vit["hr_margin"], vit["hr_limit"]),
            # at or above the minimum and not far below the patient's own pre-dose value
            "spo2": cur["spo2"] >= np.fmax(base["spo2"] - vit["spo2_margin"], vit["spo2_min"]),
            "moaas": cur["moaas"] >= s["discharge.sedation"]["moaas_at_or_above"],
            "cadss": cur["cadss"] <= np.fmax(base["cadss"], dis["cadss_at_or_below"]),
        }
    ok = np.ones(len(t), dtype=bool)
    for f in required:
        ok &= components[f]
    # Bad rows at or after each row, within its session: ready rows need none.
    bad = (~ok).astype(np.int64)
    csum = np.cumsum(bad)
    ends = np.append(starts[1:], len(t)) - 1
    group_end_csum = np.repeat(csum[ends], np.diff(np.append(starts, len(t))))
    bad_from_here = group_end_csum - csum + bad
    settled = post & (bad_from_here == 0)

    def first(rows: np.ndarray) -> np.ndarray:
        return (np.minimum.reduceat(np.where(rows, t, np.inf), starts) if len(t)
                else np.zeros(0))

    return _Core(pre, base, masks, components, first(settled & (t >= min_obs)),
                 first(settled), min_obs)


# ---------------------------------------------------------------------------
# One clinic session
# ---------------------------------------------------------------------------


def _num(field_name: str, value: Any, lo: float, hi: float, integer: bool = False
         ) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise InputError(field_name, f"{value!r} is not a number", f"{lo:g}-{hi:g}")
    if integer and value != int(value):
        raise InputError(field_name, f"{value!r} is not an integer", f"integer {lo:g}-{hi:g}")
    if not lo <= value <= hi:
        raise InputError(field_name, f"{value:g} is outside the allowed range", f"{lo:g}-{hi:g}")
    return float(value)


def _reading(i: int, raw: Reading | Mapping[str, Any], s: Settings) -> Reading:
    data = raw.__dict__ if isinstance(raw, Reading) else dict(raw)
    where = f"reading {i + 1}"
    unknown = set(data) - {"time_min", "label", "note", *FIELDS}
    if unknown:
        raise InputError(f"{where} {sorted(unknown)[0]}", "unknown field",
                         "time_min, label, " + ", ".join(FIELDS) + ", note")
    limits = s["input.limits"]
    if data.get("time_min") is None:
        raise InputError(f"{where} time_min", "missing", "minutes from dose, pre-dose <= 0")
    t = _num(f"{where} time_min", data["time_min"], *limits["time_min"])
    label = (data.get("label") or "").strip().lower().replace("-", "_")
    if label not in LABELS:
        raise InputError(f"{where} label", f"unknown label {label!r}",
                         "pre_dose, pre_discharge or empty")
    if label == "pre_dose" and t > 0:
        raise InputError(f"{where} time_min", f"pre_dose reading at {t:g} min",
                         "<= 0 for a pre-dose reading")
    values = {f: _num(f"{where} {f}", data.get(f), *limits[_RANGES[f]]) for f in _RANGES}
    values["cadss"] = _num(f"{where} cadss", data.get("cadss"), 0, 92, integer=True)
    values["moaas"] = _num(f"{where} moaas", data.get("moaas"), 0, 5, integer=True)
    if values["sbp"] is not None and values["dbp"] is not None and values["dbp"] >= values["sbp"]:
        raise InputError(f"{where} dbp", f"{values['dbp']:g} >= systolic {values['sbp']:g}",
                         "diastolic below systolic")
    return Reading(time_min=t, label=label, **values)


_MESSAGES = {
    "pre_dose_hold": "pre-dose BP {bp} >= {sbp_at_or_above}/{dbp_at_or_above}: hold dosing",
    "pre_dose_review": "pre-dose BP {bp} > {sbp_above}/{dbp_above}: review before dosing "
                       "(weigh benefit against risk)",
    "pause_stop": "BP {bp}, HR {hr} above {sbp_above}/{dbp_above} or HR {hr_above}: "
                  "pause/stop and reassess",
    "bp_rise": "BP {bp} rose {dsbp:+g}/{ddbp:+g} mmHg from pre-dose (>= "
               "{sbp_rise_at_or_above}/{dbp_rise_at_or_above})",
    "hypotension": "SBP {sbp} < {sbp_below}",
    "bradycardia": "HR {hr} < {hr_below}",
    "spo2_low": "SpO2 {spo2} % < {below} %: check airway and breathing",
    "loss_of_consciousness": "MOAA/S {moaas}: loss of consciousness, manage airway",
    "sedation": "MOAA/S {moaas} < {moaas_below}: sedation",
    "cadss_notable": "CADSS {cadss} > {above}: notable dissociation",
    "prolonged_dissociation": "CADSS {cadss} > {cadss_above} at or after {at_or_after_min} min: "
                              "prolonged dissociation, clinician review and longer observation",
}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _delta(value: float | None, baseline: float) -> float:
    return 0.0 if value is None or math.isnan(baseline) else value - float(baseline)


def monitor_session(
    readings: Sequence[Reading | Mapping[str, Any]],
    *,
    product: str,
    route: str | None = None,
    infusion_min: float | None = None,
    dose_mg: float | None = None,
    lot: str | None = None,
    start_clock: str | None = None,
    concomitant: Sequence[str] = (),
    respiratory_depression_reported: bool = False,
    events_reviewed: bool = False,
    settings: Any = None,
) -> SessionReport:
    """Check one session's readings against the monitoring rules; assess discharge.

    ``route`` defaults to intranasal (esketamine) or iv_infusion (racemic);
    ``infusion_min`` (racemic IV) sets the end of the infusion, from which the minimum
    observation is counted. ``start_clock`` ("HH:MM", time of the first device or the
    infusion start) turns minutes into clock times on the REMS form. ``concomitant``
    lists current medication classes (benzodiazepine, non_benzo_hypnotic,
    psychostimulant, maoi, opioid). ``events_reviewed`` records that the clinician's
    review of every stop-level alert is documented; until then discharge waits.
    """
    s = resolve(settings)
    if product not in PRODUCT_ROUTES:
        raise InputError("product", f"unknown product {product!r}", "esketamine or racemic")
    route = route or PRODUCT_ROUTES[product][0]
    if route not in PRODUCT_ROUTES[product]:
        raise InputError("route", f"{route!r} is not a route for {product}",
                         ", ".join(PRODUCT_ROUTES[product]))
    if infusion_min is not None:
        _num("infusion_min", infusion_min, *s["input.limits"]["infusion_minutes"])
    if start_clock is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", start_clock):
        raise InputError("start_clock", f"{start_clock!r} is not a time", "HH:MM, 24-hour")
    for i, med in enumerate(concomitant):
        if med not in CONCOMITANT:
            raise InputError(f"concomitant[{i}]", f"unknown medication class {med!r}",
                             ", ".join(CONCOMITANT))
    if not readings:
        raise InputError("readings", "no readings", "at least one reading")
    rows = sorted((_reading(i, r, s) for i, r in enumerate(readings)),
                  key=lambda r: r.time_min)
    t = np.array([r.time_min for r in rows])
    v = {f: np.array([np.nan if getattr(r, f) is None else getattr(r, f) for r in rows])
         for f in FIELDS}
    starts = np.array([0])
    min_obs = _min_observation(product, route, infusion_min, s)
    core = _evaluate(t, v, starts, s, min_obs, FIELDS)

    thresholds: dict[str, str] = {}
    alerts: list[Alert] = []
    for code in READING_RULES:
        rule = s[f"monitoring.{code}"]
        thresholds[rule.key] = rule.citation
        for i in np.flatnonzero(core.masks[code]):
            r = rows[i]
            ctx = {**{f: _fmt(getattr(r, f)) for f in FIELDS}, **rule.params,
                   "bp": f"{_fmt(r.sbp)}/{_fmt(r.dbp)}",
                   "dsbp": _delta(r.sbp, core.base["sbp"][i]),
                   "ddbp": _delta(r.dbp, core.base["dbp"][i])}
            alerts.append(Alert(r.time_min, code, rule["severity"],
                                _MESSAGES[code].format(**ctx), rule.source, rule.tag))
    alerts.extend(_session_alerts(rows, s, thresholds))
    alerts.sort(key=lambda a: (-math.inf if a.time_min is None else a.time_min,
                               SEVERITY_ORDER.index(a.severity)))

    for key in ("discharge.vitals", "discharge.dissociation", "discharge.sedation",
                "discharge.serious_events", f"discharge.{product}"):
        thresholds[key] = s[key].citation
    serious = tuple(f"{a.code} at {a.time_min:g} min" for a in alerts
                    if a.time_min is not None
                    and a.severity in s["discharge.serious_events"]["severities"])
    discharge = _discharge(rows, core, serious, events_reviewed)
    post = [r for r in rows if r.time_min > 0]
    peak = {f: max((getattr(r, f) for r in post if getattr(r, f) is not None), default=None)
            for f in ("sbp", "dbp", "hr", "cadss")}
    peak["spo2_min"] = min((r.spo2 for r in post if r.spo2 is not None), default=None)
    peak["moaas_min"] = min((r.moaas for r in post if r.moaas is not None), default=None)
    pre_dose = {f: (None if np.isnan(core.base[f][-1]) else float(core.base[f][-1]))
                for f in FIELDS}
    # CADSS is read as a change from the patient's own pre-dose state, not as a level.
    peak["cadss_change"] = (None if peak["cadss"] is None or pre_dose["cadss"] is None
                            else peak["cadss"] - pre_dose["cadss"])
    return SessionReport(
        product=product, route=route, readings=tuple(rows), alerts=tuple(alerts),
        discharge=discharge, peak=peak, pre_dose=pre_dose, dose_mg=dose_mg, lot=lot,
        start_clock=start_clock, concomitant=tuple(concomitant),
        respiratory_depression_reported=respiratory_depression_reported,
        thresholds=thresholds,
    )


def _session_alerts(rows: Sequence[Reading], s: Settings, thresholds: dict[str, str]
                    ) -> list[Alert]:
    out = []
    missing = s["monitoring.pre_dose_bp_missing"]
    thresholds[missing.key] = missing.citation
    if not any(r.time_min <= 0 and r.sbp is not None and r.dbp is not None for r in rows):
        out.append(Alert(None, "pre_dose_bp_missing", missing["severity"],
                         "no pre-dose blood pressure recorded", missing.source, missing.tag))
    rule = s["monitoring.bp_40min"]
    thresholds[rule.key] = rule.citation
    lo, hi = rule["target_min"] - rule["window_min"], rule["target_min"] + rule["window_min"]
    if not any(lo <= r.time_min <= hi and r.sbp is not None for r in rows):
        out.append(Alert(None, "bp_40min", rule["severity"],
                         f"no BP between {lo} and {hi} min (re-measure at ~40 min)",
                         rule.source, rule.tag))
    return out


_UNMET_TEXT = {
    "sbp": "systolic BP not back near pre-dose or below the limit",
    "dbp": "diastolic BP not back near pre-dose or below the limit",
    "hr": "heart rate not back near pre-dose or below the limit",
    "spo2": "SpO2 below the minimum or not measured",
    "moaas": "sedation not resolved (MOAA/S < 5) or not assessed",
    "cadss": "dissociation not resolved (CADSS) or not assessed",
}


def _discharge(rows: Sequence[Reading], core: _Core, serious: tuple[str, ...],
               reviewed: bool) -> Discharge:
    ready_time = float(core.ready_time[0])
    met = float(core.criteria_time[0])
    last = len(rows) - 1
    measured = math.isfinite(ready_time)
    unmet = [] if measured else [_UNMET_TEXT[f] for f in FIELDS if not core.components[f][last]]
    if not measured and rows[last].time_min < core.min_obs:
        unmet.insert(0, f"minimum observation until {core.min_obs:g} min not reached")
    if serious and not reviewed:
        unmet.append("clinician review of the serious event(s) documented: "
                     + ", ".join(serious))
    ready = measured and not unmet
    return Discharge(ready=ready, ready_time_min=ready_time if ready else None,
                     min_observation_until_min=core.min_obs, unmet=tuple(unmet),
                     criteria_met_min=met if math.isfinite(met) else None,
                     serious_events=serious, events_reviewed=reviewed)


# ---------------------------------------------------------------------------
# Many simulated sessions
# ---------------------------------------------------------------------------

_ALIASES = {"sbp_mmhg": "sbp", "dbp_mmhg": "dbp", "hr_bpm": "hr", "spo2_pct": "spo2"}
_NEEDS = {
    "pre_dose_hold": ("pre", ("sbp", "dbp")), "pre_dose_review": ("pre", ("sbp", "dbp")),
    "pause_stop": ("post", ("sbp", "dbp", "hr")), "bp_rise": ("rise", ("sbp", "dbp")),
    "hypotension": ("any", ("sbp",)), "bradycardia": ("any", ("hr",)),
    "spo2_low": ("any", ("spo2",)), "loss_of_consciousness": ("post", ("moaas",)),
    "sedation": ("post", ("moaas",)), "cadss_notable": ("post", ("cadss",)),
    "prolonged_dissociation": ("post", ("cadss",)),
}


@dataclass(frozen=True)
class RuleRate:
    """How often one rule fired: sessions with >= 1 firing / sessions it could be checked in."""

    fired: int
    evaluable: int
    rate: float | None
    severity: str
    citation: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"fired": self.fired, "evaluable": self.evaluable, "rate": self.rate,
                "severity": self.severity, "citation": self.citation}


@dataclass(frozen=True)
class AlertRates:
    """Per-rule firing rates over many sessions, plus discharge readiness."""

    n_sessions: int
    rules: Mapping[str, RuleRate]
    ready_at_min_observation: float | None
    never_ready: int
    median_ready_time_min: float | None
    discharge_fields: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"n_sessions": self.n_sessions,
                "rules": {k: r.to_dict() for k, r in self.rules.items()},
                "ready_at_min_observation": self.ready_at_min_observation,
                "never_ready": self.never_ready,
                "median_ready_time_min": self.median_ready_time_min,
                "discharge_fields": list(self.discharge_fields)}


def _columns(sessions: Any) -> dict[str, np.ndarray]:
    if hasattr(sessions, "columns"):  # a pandas DataFrame, without importing pandas
        names = list(sessions.columns)
        data = {str(c): sessions[c].to_numpy() for c in names}
    elif isinstance(sessions, Mapping):
        data = {str(k): np.asarray(val) for k, val in sessions.items()}
    else:
        raise InputError("sessions", f"{type(sessions).__name__} is not a table",
                         "a DataFrame or a mapping of column name -> array")
    return {_ALIASES.get(k, k): val for k, val in data.items()}


def alert_rates(
    sessions: Any,
    *,
    product: str = "esketamine",
    route: str | None = None,
    infusion_min: float | None = None,
    settings: Any = None,
) -> AlertRates:
    """Apply the monitoring rules to many sessions and report how often each fires.

    ``sessions`` is a long-format table (pandas DataFrame or mapping of arrays) with
    ``id``, ``time_min`` or ``time_h`` (hours from dose), and any of ``sbp``/``sbp_mmhg``,
    ``dbp``/``dbp_mmhg``, ``hr``/``hr_bpm``, ``spo2``/``spo2_pct``, ``cadss``, ``moaas``.
    A rule's rate is the share of sessions in which it fired at least once, among the
    sessions where its fields were measured in its phase (pre-dose, post-dose, or a
    post-dose value with a pre-dose baseline). Discharge readiness uses only the fields
    present; ``ready_at_min_observation`` is the share of sessions whose first reading at
    or after the minimum observation already satisfied the criteria for good.
    """
    s = resolve(settings)
    if product not in PRODUCT_ROUTES:
        raise InputError("product", f"unknown product {product!r}", "esketamine or racemic")
    route = route or PRODUCT_ROUTES[product][0]
    cols = _columns(sessions)
    if "id" not in cols or not ({"time_min", "time_h"} & set(cols)):
        raise InputError("sessions", "needs columns id and time_min (or time_h)",
                         "id, time_min|time_h, sbp, dbp, hr, spo2, cadss, moaas")
    t = (cols["time_min"] if "time_min" in cols else cols["time_h"] * 60.0).astype(float)
    ids = np.unique(cols["id"], return_inverse=True)[1]  # integer codes sort for any id type
    n = len(t)
    present = tuple(f for f in FIELDS if f in cols)
    v = {f: cols[f].astype(float) if f in cols else np.full(n, np.nan) for f in FIELDS}
    order = np.lexsort((t, ids))
    t, ids = t[order], ids[order]
    v = {f: a[order] for f, a in v.items()}
    starts = (np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if n
              else np.zeros(0, dtype=int))
    min_obs = _min_observation(product, route, infusion_min, s)
    core = _evaluate(t, v, starts, s, min_obs, present)

    post = ~core.pre
    phases = {"pre": core.pre, "post": post, "any": np.ones(n, dtype=bool)}
    rules = {}
    for code in READING_RULES:
        phase, needs = _NEEDS[code]
        measured = np.ones(n, dtype=bool)
        for f in needs:
            measured &= ~np.isnan(v[f])
        if phase == "rise":
            in_phase = post & ~np.isnan(core.base["sbp"]) & ~np.isnan(core.base["dbp"])
        else:
            in_phase = phases[phase]
        evaluable = int(_group_any(measured & in_phase, starts).sum())
        fired = int(_group_any(core.masks[code], starts).sum())
        rule = s[f"monitoring.{code}"]
        rules[code] = RuleRate(fired, evaluable, fired / evaluable if evaluable else None,
                               rule["severity"], rule.citation)
    n_sessions = len(starts)
    ready = np.isfinite(core.ready_time)
    first_after = np.where(post & (t >= min_obs), t, np.inf)
    first_after = (np.minimum.reduceat(first_after, starts) if n else np.zeros(0))
    on_time = ready & (core.ready_time == first_after)
    return AlertRates(
        n_sessions=n_sessions,
        rules=rules,
        ready_at_min_observation=float(on_time.mean()) if n_sessions else None,
        never_ready=int((~ready).sum()),
        median_ready_time_min=float(np.median(core.ready_time[ready])) if ready.any() else None,
        discharge_fields=present,
    )
