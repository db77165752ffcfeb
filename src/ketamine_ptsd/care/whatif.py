"""What if: compare protocols for one patient on the model before deciding.

Each protocol (induction schedule, maintenance interval, therapy timing) becomes a
:class:`~ketamine_ptsd.dosing.Regimen` built with the dosing builders, and is simulated
with :func:`ketamine_ptsd.simulate` on the same virtual population: patients who share
this patient's covariates (weight, age, and the PCL-5 clusters, CAPS-5 clusters and MADRS
before the first dose, which the clinician may change)
and differ in the model's between-patient variability. The band is therefore what the
model expects for patients like this one, not a fit to this patient's own course (that is
the personal forecast). Research and decision-support software, not a medical device.

The request is any object with the fields of the web app's ``WhatIfRequest`` (``protocols``,
``horizon_days``, ``baseline``); each protocol has the fields of its ``Protocol``. The
baseline covariates come from :mod:`.inputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.settings import resolve
from ketamine_ptsd.dosing import Protocol
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.population import Population
from ketamine_ptsd.simulation import simulate
from ketamine_ptsd.store import Records
from ketamine_ptsd.units import parse_dose

from .inputs import model_covariates, pretreatment_baseline

#: Virtual patients per comparison: the 10th-90th percentile band is stable to about a
#: point of PCL-5 with 100 (design choice; the comparison must answer within seconds).
N_PATIENTS = 100
#: Fixed seed: the same question gives the same answer, and every protocol sees the same patients.
SEED = 20240607
#: Output every 6 hours: fine enough for the daily curves shown.
STEP_H = 6.0
BAND = (10, 90)


#: What the clinician may set on the what-if form as the baseline, with the instrument's
#: own range (PCL-5 clusters: items x 0-4, Weathers et al. 2013; MADRS 0-60, Montgomery &
#: Asberg 1979); the model then clips each into its covariate range.
BASELINE_FIELDS = {"pcl5_b": ("PCL-5 cluster B", 0, 20), "pcl5_c": ("PCL-5 cluster C", 0, 8),
                   "pcl5_d": ("PCL-5 cluster D", 0, 28), "pcl5_e": ("PCL-5 cluster E", 0, 24),
                   "madrs": ("MADRS total", 0, 60)}


def protocol_dose(protocol: Any, settings: Any, field: str = "dose") -> tuple[float, bool]:
    """The protocol's dose, inside the clinic's plausible dose range (``input.limits``:
    mg/kg for a weight-based dose, else mg)."""
    amount, per_kg = parse_dose(protocol.dose, field)
    key, unit = ("dose_mg_per_kg", "mg/kg") if per_kg else ("dose_mg", "mg")
    lo, hi = settings["input.limits"][key]
    if not lo <= amount <= hi:
        raise InputError(field, f"{amount:g} {unit} is outside the plausible range", f"{lo:g}-{hi:g} {unit}")
    return amount, per_kg


def protocol_regimen(protocol: Any, horizon_days: float, settings: Any = None):
    """The protocol as a regimen in hours from the first dose (day 0 at midnight)."""
    amount, per_kg = protocol_dose(protocol, resolve(settings))
    return Protocol(protocol.induction_days, amount, per_kg, protocol.route, protocol.product, protocol.infusion_min,
                    therapy_after_each_dose=protocol.therapy_hours_after_dose is not None,
                    therapy_hours_after_dose=protocol.therapy_hours_after_dose or 0.0,
                    maintenance_every_days=protocol.maintenance_every_days).regimen(horizon_days)


def compare(records: Records, patient_id: Any, request: Any) -> dict[str, Any]:
    """Simulate every protocol on the same virtual patients; medians, bands and a summary.

    Summary per protocol: median PCL-5 at baseline, a week after the last induction dose
    and at the horizon, and the share of virtual patients whose PCL-5 fell by at least the
    clinic's clinically-meaningful change (``pcl5.clinically_meaningful_change``) at the horizon.
    """
    baseline = pretreatment_baseline(records, patient_id)
    given = {k: v for k, v in (request.baseline.model_dump() if request.baseline else {}).items() if v is not None}
    # Only what differs from the recorded baseline counts as changed (the form sends it back).
    baseline["changed_by_clinician"] = sorted(k for k, v in given.items() if baseline["covariates"].get(k) != v)
    baseline["covariates"].update(given)
    covariates = model_covariates(baseline["covariates"])
    population = Population.virtual(N_PATIENTS, SEED, **covariates)
    times = np.arange(0.0, request.horizon_days * 24.0 + 1e-9, STEP_H)
    daily = slice(0, None, int(round(24.0 / STEP_H)))
    rule = records.settings["pcl5.clinically_meaningful_change"]
    meaningful = float(rule["absolute_reduction"])
    regimens = []
    for i, protocol in enumerate(request.protocols):
        try:
            regimens.append(protocol_regimen(protocol, request.horizon_days, records.settings))
        except InputError as exc:
            raise InputError(f"protocol {i + 1} {exc.field}", exc.message, exc.allowed) from None
    outcomes = []
    for protocol, regimen in zip(request.protocols, regimens):
        traj = simulate(regimen, population, times=times, outputs=["pcl5_total", "madrs"])
        pcl5, madrs = traj["pcl5_total"], traj["madrs"]
        after_induction = min(times.size - 1, int(round((protocol.induction_days[-1] + 7) * 24.0 / STEP_H)))
        change = pcl5[:, 0] - pcl5[:, -1]
        bands = {}
        for name, values in (("pcl5", pcl5), ("madrs", madrs)):
            low, median, high = np.nanpercentile(values, [BAND[0], 50, BAND[1]], axis=0)
            bands.update({f"{name}_median": median[daily], f"{name}_low": low[daily], f"{name}_high": high[daily]})
        outcomes.append({
            "name": protocol.name, "n_doses": len(regimen.doses), "n_therapy_sessions": len(regimen.therapy),
            "days": (times[daily] / 24.0).tolist(),
            **{k: np.round(v, 2).tolist() for k, v in bands.items()},
            "summary": {
                "pcl5_baseline": round(float(np.nanmedian(pcl5[:, 0])), 1),
                "pcl5_week_after_induction": round(float(np.nanmedian(pcl5[:, after_induction])), 1),
                "pcl5_at_horizon": round(float(np.nanmedian(pcl5[:, -1])), 1),
                "share_meaningful_change_at_horizon": round(float(np.mean(change >= meaningful)), 3),
            },
            "warnings": list(traj.warnings),
        })
    return {"notice": NOT_A_MEDICAL_DEVICE, "n_patients": N_PATIENTS, "seed": SEED, "covariates": covariates,
            "baseline": baseline,
            "response_rule": f">= {meaningful:g}-point PCL-5 reduction ({rule.citation})", "protocols": outcomes}
