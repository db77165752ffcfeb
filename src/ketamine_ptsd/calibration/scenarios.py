"""The simulated quantities behind each literature target.

``compute_quantities`` runs every scenario of ``targets.toml`` once and returns a mapping
``"<target id>.<quantity>" -> simulated value``. Validation compares them with the bands;
calibration uses the same numbers as residuals, so both always see the same definitions.
Each definition is stated in :data:`DEFINITIONS` and printed in the validation report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dosing import Dose, Regimen, single_dose
from ..params import ParameterTable, model_table
from ..population import Population
from ..simulation import simulate
from ..trials import (
    TrialResult,
    builtin_spec,
    change_from_baseline,
    loss_of_response,
    mean_score,
    responder_rate,
    run_trial,
)
from ..units import parse_dose
from .generalisation import DEFINITIONS as GENERALISATION_DEFINITIONS
from .generalisation import generalisation_quantities

H_PER_DAY = 24.0
#: Session days of Feder 2021 (the built-in ``feder2021`` trial), for the validation figure.
FEDER2021_DAYS = (0, 2, 4, 7, 9, 11)

DEFINITIONS = {
    "pk.iv_cmax": "maximum of plasma ketamine (S + R) on a 1-min grid, typical 70-kg patient",
    "pk.iv_clearance": "dose / AUC(0-96 h) of plasma ketamine after a 35-mg IV bolus",
    "pk.iv_vss": "CL x MRT (AUMC/AUC, 0-96 h) after a 35-mg IV bolus",
    "pk.esketamine_in56_cmax": "maximum plasma esketamine, 2 devices 5 min apart",
    "pk.esketamine_in84_cmax": "maximum plasma esketamine, 3 devices 5 min apart",
    "pk.esketamine_in_tmax": "time of maximum after the first device",
    "pk.bioavailability": "AUC(route) / AUC(IV) of parent ketamine, dose-normalised, 0-96 h",
    "pd.nmda_ki": "Ki used by the occupancy equation (parameter table)",
    "acute.dissociation_timecourse": "CADSS of the typical patient on a 1-min grid",
    "acute.bp_iv": "systolic pressure minus baseline, typical patient",
    "cascade.glutamate_surge": "glutamate relative to baseline minus 1",
    "cascade.spine_timing": "synaptic density minus set-point; decay tau from a log-linear fit 2-10 days "
                            "after the peak",
    "clinical.single_dose_timecourse": "drug effect on PCL-5 total = PCL-5 after a midazolam session (the active "
                                       "placebo, same expectancy) minus PCL-5 "
                                       "after ketamine, typical patient",
    "clinical.feder2014_single_infusion": "built-in trial feder2014 (crossover: the same virtual patients in both "
                                          "arms); mean IES-R, midazolam minus ketamine",
    "clinical.feder2021_six_infusions": "built-in trial feder2021: parallel arms randomised in permuted blocks; "
                                        "CAPS-5 observed with measurement error (SD 4.7 points, Marx 2022); week 2 = "
                                        "day 14 (3 days after the sixth infusion); response = observed CAPS-5 "
                                        "reduction >= 30 %; loss of response = first weekly follow-up assessment "
                                        "with a reduction below 30 % (Kaplan-Meier median among week-2 responders, "
                                        "days after week 2); a cluster is improved when its mean between-arm "
                                        "difference is >= 10 % of its baseline mean",
    "clinical.depression_single_infusion": "built-in trial feder2014, ketamine arm: response = MADRS reduction "
                                           ">= 50 %; change = mean MADRS minus baseline",
}


DEFINITIONS.update(GENERALISATION_DEFINITIONS)


@dataclass(frozen=True)
class Settings:
    """Sizes of the virtual trials (validation uses the targets' n; calibration less);
    ``bp_n_per_arm`` for the blood-pressure tail (its target asks for 5,000 per arm)."""

    n_per_arm: int = 2000
    seed: int = 20240607
    bp_n_per_arm: int = 5000


def _typical(regimen: Regimen, times, outputs, params: ParameterTable, **covariates):
    traj = simulate(regimen, Population.typical(**covariates), times=times, outputs=outputs,
                    model_params=params)
    return {name: traj[name][0] for name in outputs}


def _auc(t, c):
    return float(np.trapezoid(c, t)), float(np.trapezoid(c * t, t))


def _regimen(route: str, product: str, dose: str, duration_min: float | None = None) -> Regimen:
    amount, per_kg = parse_dose(dose)
    return single_dose(amount, per_kg, route, product, 0.0, duration_min)


def pk_quantities(params: ParameterTable) -> dict[str, float]:
    """PK targets: IV Cmax, clearance, Vss, esketamine nasal Cmax/Tmax, bioavailability."""
    q: dict[str, float] = {}
    fine = np.arange(0, 3 * 60 + 1) / 60.0
    iv = _typical(single_dose(), fine, ["ketamine_ng_ml"], params)["ketamine_ng_ml"]
    q["pk.iv_cmax.value"] = float(iv.max())

    long = np.concatenate([np.arange(0, 6, 1 / 60), np.arange(6, 96 + 0.05, 0.1)])
    bolus_mg = 35.0
    bolus = _typical(_regimen("iv_bolus", "racemic", f"{bolus_mg}mg"), long, ["ketamine_ng_ml"],
                     params)["ketamine_ng_ml"]
    auc, aumc = _auc(long, bolus)
    cl = bolus_mg * 1000.0 / auc
    q["pk.iv_clearance.value"] = cl
    q["pk.iv_vss.value"] = cl * aumc / auc

    for dose, key in ((56, "pk.esketamine_in56_cmax.value"), (84, "pk.esketamine_in84_cmax.value")):
        c = _typical(_regimen("intranasal", "esketamine", f"{dose}mg"), fine, ["ketamine_ng_ml"],
                     params)["ketamine_ng_ml"]
        q[key] = float(c.max())
        if dose == 56:
            q["pk.esketamine_in_tmax.value"] = float(fine[c.argmax()])

    def auc_per_mg(route, product, dose_mg):
        c = _typical(_regimen(route, product, f"{dose_mg}mg"), long, ["ketamine_ng_ml"], params)["ketamine_ng_ml"]
        return _auc(long, c)[0] / dose_mg

    ref_racemic = auc_per_mg("iv_bolus", "racemic", 35)
    ref_esk = auc_per_mg("iv_bolus", "esketamine", 56)
    q["pk.bioavailability.iv"] = auc_per_mg("iv_infusion", "racemic", 35) / ref_racemic
    q["pk.bioavailability.im"] = auc_per_mg("im", "racemic", 35) / ref_racemic
    q["pk.bioavailability.oral"] = auc_per_mg("oral", "racemic", 100) / ref_racemic
    q["pk.bioavailability.sublingual"] = auc_per_mg("sublingual", "racemic", 100) / ref_racemic
    q["pk.bioavailability.intranasal_esketamine"] = auc_per_mg("intranasal", "esketamine", 56) / ref_esk
    for species, name in (("s_ketamine", "ki_s_ketamine"), ("r_ketamine", "ki_r_ketamine"),
                          ("s_norketamine", "ki_s_norketamine"), ("r_norketamine", "ki_r_norketamine")):
        q[f"pd.nmda_ki.{species}"] = params.value(name)
    return q


def acute_cascade_quantities(params: ParameterTable) -> dict[str, float]:
    """Dissociation, blood pressure, glutamate and spine timing of one 0.5 mg/kg infusion."""
    q: dict[str, float] = {}
    grid = np.concatenate([np.arange(0, 6, 1 / 60), np.arange(6, 24 * 30 + 0.5, 0.5)])
    names = ["cadss", "sbp_mmhg", "glutamate", "synaptic_density"]
    v = _typical(single_dose(), grid, names, params)
    end = 40 / 60
    cadss = v["cadss"]
    peak = cadss.max()
    q["acute.dissociation_timecourse.peak_time_h"] = float(grid[cadss.argmax()])
    q["acute.dissociation_timecourse.fraction_of_peak_at_2h_after_end"] = float(
        np.interp(end + 2.0, grid, cadss) / peak)
    q["acute.dissociation_timecourse.peak_cadss"] = float(peak)
    rise = v["sbp_mmhg"] - v["sbp_mmhg"][0]
    q["acute.bp_iv.peak_sbp_rise_mmhg"] = float(rise.max())
    q["acute.bp_iv.peak_time_h"] = float(grid[rise.argmax()])
    glu = v["glutamate"] - 1.0
    q["cascade.glutamate_surge.peak_rise_fraction"] = float(glu.max())
    q["cascade.glutamate_surge.peak_time_h"] = float(grid[glu.argmax()])
    q["cascade.glutamate_surge.rise_fraction_at_3h"] = float(np.interp(3.0, grid, glu))
    excess = v["synaptic_density"] - v["synaptic_density"][0]
    i_peak = int(excess.argmax())
    q["cascade.spine_timing.onset_h"] = float(grid[np.argmax(excess >= 0.2 * excess[i_peak])])
    t_peak = grid[i_peak]
    window = (grid >= t_peak + 48) & (grid <= t_peak + 240) & (excess > 0)
    slope = np.polyfit(grid[window], np.log(excess[window]), 1)[0] if window.sum() > 3 else 0.0
    q["cascade.spine_timing.decay_tau_days"] = float(-1.0 / slope / H_PER_DAY) if slope < 0 else float("inf")
    return q


def single_dose_quantities(params: ParameterTable) -> dict[str, float]:
    """Time course of the drug effect on PCL-5 after one infusion (placebo-subtracted)."""
    grid = np.arange(0, 24 * 21 + 0.25, 0.25)
    ket = _typical(single_dose(), grid, ["pcl5_total"], params)["pcl5_total"]
    control = _typical(midazolam_regimen(), grid, ["pcl5_total"], params)["pcl5_total"]
    effect = control - ket
    peak = effect.max()
    q = {
        "clinical.single_dose_timecourse.improvement_at_4h": float(np.interp(4.0, grid, effect) / peak),
        "clinical.single_dose_timecourse.peak_time_h": float(grid[effect.argmax()]),
        "clinical.single_dose_timecourse.fraction_of_peak_remaining_at_14d": float(
            np.interp(14 * H_PER_DAY, grid, effect) / peak),
    }
    return q


def midazolam_regimen(days=(0,)) -> Regimen:
    """The active placebo: midazolam 0.045 mg/kg over 40 min on each day."""
    return Regimen(tuple(Dose(d * H_PER_DAY, 0.045, "iv_infusion", "midazolam", True) for d in days))


def _builtin_trial(name: str, params: ParameterTable, settings: Settings) -> TrialResult:
    spec = builtin_spec(name).with_overrides(n_per_arm=settings.n_per_arm, seed=settings.seed)
    return run_trial(spec, model_params=params)


def single_infusion_trial_quantities(params: ParameterTable, settings: Settings) -> dict[str, float]:
    """Feder 2014 (IES-R) and the depression anchors (Han 2016; Murrough 2013): the built-in
    ``feder2014`` crossover, one 0.5 mg/kg infusion against midazolam in the same patients."""
    result = _builtin_trial("feder2014", params, settings)

    def difference(day):
        return mean_score(result, "midazolam", "iesr_total", day) - mean_score(result, "ketamine", "iesr_total", day)

    diff24, diff7 = difference(1), difference(7)
    q = {
        "clinical.feder2014_single_infusion.ies_r_difference_24h": diff24,
        "clinical.feder2014_single_infusion.difference_at_7d_fraction_of_24h": diff7 / diff24 if diff24 else np.inf,
    }
    for arm in ("ketamine", "midazolam"):
        change = float(np.mean(change_from_baseline(result, arm, "madrs", 1)))
        q[f"clinical.depression_single_infusion.madrs_change_24h_{arm}"] = change
    q["clinical.depression_single_infusion.response_24h"] = responder_rate(result, "ketamine", "madrs", 1)
    q["clinical.depression_single_infusion.response_7d"] = responder_rate(result, "ketamine", "madrs", 7)
    return q


def feder2021_quantities(params: ParameterTable, settings: Settings) -> dict:
    """The built-in ``feder2021`` trial: six infusions against six midazolam sessions over
    two weeks, parallel randomised arms."""
    result = _builtin_trial("feder2021", params, settings)
    week2 = result.spec.analysis.day

    def difference(name, day=week2):
        return mean_score(result, "midazolam", name, day) - mean_score(result, "ketamine", name, day)

    q: dict = {
        "clinical.feder2021_six_infusions.caps5_difference_week2": difference("caps5_total"),
        "clinical.feder2021_six_infusions.responders_ketamine": responder_rate(result, "ketamine"),
        "clinical.feder2021_six_infusions.responders_midazolam": responder_rate(result, "midazolam"),
        "clinical.feder2021_six_infusions.median_days_to_loss_of_response": loss_of_response(result, "ketamine").median,
    }
    improved = []
    for cluster in "bcde":
        name = f"pcl5_{cluster}"
        if difference(name) >= 0.10 * mean_score(result, "ketamine", name, 0):
            improved.append(cluster.upper())
    q["clinical.feder2021_six_infusions.clusters_improved"] = ",".join(improved)
    return q


def compute_quantities(params: ParameterTable | None = None, settings: Settings = Settings(),
                       groups=("pk", "acute", "single", "trial1", "trial6", "general")) -> dict:
    """Every simulated quantity of the targets (``groups`` selects scenario groups)."""
    params = params or model_table()
    q: dict = {}
    if "pk" in groups:
        q.update(pk_quantities(params))
    if "acute" in groups:
        q.update(acute_cascade_quantities(params))
    if "single" in groups:
        q.update(single_dose_quantities(params))
    if "trial1" in groups:
        q.update(single_infusion_trial_quantities(params, settings))
    if "trial6" in groups:
        q.update(feder2021_quantities(params, settings))
    if "general" in groups:
        q.update(generalisation_quantities(params, settings.n_per_arm, settings.seed, settings.bp_n_per_arm))
    return q
