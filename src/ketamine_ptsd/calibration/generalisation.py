"""The simulated quantities of the generalisation set: independent trials in other populations,
doses, comparators and contexts (targets.toml, section "generalisation set").

Each scenario is simulated directly (``simulate`` on a named ``Population``), arm by arm on the
same virtual patients (common random numbers), with the instruments observed through their
default measurement error (``params/measurement.toml``) and monitored sessions recorded
through ``model.readings``. The definitions are in :data:`DEFINITIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dosing import HOURS_PER_DAY, Dose, Regimen, with_therapy
from ..model.readings import LABEL_READINGS_H, observe_session_readings
from ..params import ParameterTable, measurement_sd
from ..population import CovariateModel, Population, patient_normals
from ..simulation import simulate

#: Top of each instrument's range (observed scores are clipped into it).
SCORE_MAX = {"madrs": 60.0, "pcl5_total": 80.0, "caps5_total": 80.0, "iesr_total": 88.0}
#: Random stream of the measurement error of these scenarios (one per arm: + arm index).
STREAM_SCENARIO_MEASUREMENT = 400
#: MADRS minimal clinically important difference, about 2 points (Duru & Fantino 2008,
#: Curr Med Res Opin 24:1329: 1.6-1.9): the least help from therapy that counts.
MADRS_MCID = 2.0
#: Last day followed for relapse in the durability scenarios.
FOLLOW_DAYS = 140

TRD_DAYS_SIX = (0, 2, 4, 7, 9, 11)
TWICE_WEEKLY_4W = (0, 3, 7, 10, 14, 17, 21, 24)

DEFINITIONS = {
    "clinical.fava2018_dose_ranging": "population trd, stable oral antidepressant; one 40-min infusion per arm, the "
                                      "same virtual patients in every arm; MADRS observed with measurement error; "
                                      "Cohen's d = (mean change on midazolam - mean change on ketamine) / pooled SD "
                                      "of the change, at day 1 and day 3",
    "clinical.synapse_esketamine_dose": "population trd, baseline MADRS median 34, stable oral antidepressant; "
                                        "esketamine or placebo spray on days 0 and 3; MADRS observed with "
                                        "measurement error; change at 24 h and day 8; response = reduction >= 50 %; "
                                        "order = mean change 84 < 56 < 28 mg at day 8",
    "clinical.abdallah2022_veterans": "population veteran_ptsd_ad_failure; 8 infusions (days 0-24) of 0.2 or 0.5 "
                                      "mg/kg against saline; end of treatment = day 25; PCL-5 and MADRS observed "
                                      "with measurement error; the PCL-5 quantities are the dose farther from no "
                                      "effect; d as in fava2018, saline as control",
    "clinical.cochrane2021_24h_response": "population trd; one 0.5 mg/kg infusion, midazolam or saline; MADRS "
                                          "response (reduction >= 50 %, observed) at 24 h",
    "clinical.transform_day28": "population trd, baseline MADRS median 37, newly started oral antidepressant in both "
                                "arms; esketamine 56 mg on day 0 then 84 mg, or placebo spray, twice weekly for 4 "
                                "weeks; MADRS at day 28",
    "clinical.trd_six_infusions": "population trd, no antidepressant, open label; six 0.5 mg/kg infusions; response "
                                  "= observed MADRS reduction >= 50 % on day 12; relapse = first daily assessment "
                                  "after day 12 below a 50 % reduction, days from the last infusion (median among "
                                  "responders, censored at day 140); change 2 h after the end of the first infusion",
    "clinical.phillips2019_repeated": "population trd, open label; six infusions, then weekly infusions on days 18, "
                                      "25, 32, 39 in responders; infusions to response = infusions given before the "
                                      "first assessment (before each next infusion, and 24 h after the sixth; the "
                                      "timing of assessments is a judgement, chosen after a first run that assessed "
                                      "24 h after each infusion gave 1) with a reduction >= 50 %, median among "
                                      "those who respond by day 12; maintenance change = responders' mean MADRS on "
                                      "day 42 minus day 18 (before the first weekly infusion)",
    "clinical.wilkinson2017_cbt": "population trd, open label; infusions on days 0, 4, 7, 11 and 12 CBT sessions "
                                  "(days 1-70, every ~6 days); MADRS observed with measurement error on day 12 "
                                  "and weekly from the last infusion (the cadence of the CBT visits; a "
                                  "judgement); response on day 12; relapse = loss of the 50 % reduction at two "
                                  "consecutive weekly visits (one noisy reading is not a relapse; a judgement), "
                                  "weeks from the last infusion to the first of them (median among responders, "
                                  "censored at day 140); non-responders helped = their mean MADRS falls by >= 2 "
                                  "points (MADRS MCID, Duru & Fantino 2008) from day 12 to the end of CBT (day 70), "
                                  "what a single-arm trial can see",
    "acute.esketamine_bp_tail": "population trd; esketamine 56 mg on day 0 then 84 mg, twice weekly (8 sessions), "
                                "or placebo spray; readings before, 40 min and 1.5 h after each dose "
                                "(model.readings: session variability, procedure rise, cuff noise); share of "
                                "patients with a rise from the pre-dose reading >= 40 systolic (>= 25 diastolic) "
                                "at least once",
    "acute.esketamine_bp_mean": "as acute.esketamine_bp_tail; mean over patients and sessions of the session's "
                                "largest post-dose rise; peak time of the typical patient's true rise (84 mg)",
    "acute.esketamine_dissociation": "typical trd patient, 84 mg: CADSS time course on a 1-min grid; share of "
                                     "patients with a recorded CADSS > 4 and above the pre-dose reading at 40 min "
                                     "or 1.5 h in at least one of 8 sessions (model.readings); later session = "
                                     "eighth",
}


@dataclass(frozen=True)
class Arms:
    """Observed scores of several arms on the same virtual patients: ``scores[arm][name]``
    is patients x times."""

    population: Population
    times_h: np.ndarray
    scores: dict

    def change(self, arm: str, name: str, day: float) -> np.ndarray:
        v = self.scores[arm][name]
        return v[:, self.index(day)] - v[:, 0]

    def index(self, day: float) -> int:
        return int(np.argmin(np.abs(self.times_h - day * HOURS_PER_DAY)))

    def reduction(self, arm: str, name: str) -> np.ndarray:
        v = self.scores[arm][name]
        return 1.0 - v / np.maximum(v[:, :1], 1e-9)


def run_arms(regimens: dict[str, Regimen], population: Population, days, names=("madrs",),
             params: ParameterTable | None = None, extra_times_h=()) -> Arms:
    """Simulate every arm on ``population`` at ``days`` (and ``extra_times_h``), observed
    with the instruments' default measurement error (independent per arm)."""
    times = np.unique(np.concatenate([np.asarray(days, float) * HOURS_PER_DAY, np.asarray(extra_times_h, float)]))
    seed = population.seed or 0
    scores = {}
    for k, (arm, regimen) in enumerate(regimens.items()):
        traj = simulate(regimen, population, times=times, outputs=list(names), model_params=params)
        z = patient_normals(seed, population.ids, times.size * len(names), STREAM_SCENARIO_MEASUREMENT + k)
        z = z.reshape(len(population), times.size, len(names))
        z[:, 0] = patient_normals(seed, population.ids, len(names), STREAM_SCENARIO_MEASUREMENT)  # one baseline
        arm_scores = {}
        for j, name in enumerate(names):
            sd = measurement_sd(name)[0]
            arm_scores[name] = np.clip(traj[name] + sd * z[:, :, j], 0.0, SCORE_MAX[name])
        scores[arm] = arm_scores
    return Arms(population, times, scores)


def cohens_d(control: np.ndarray, active: np.ndarray) -> float:
    """(mean control change - mean active change) / pooled SD: positive when active improves more."""
    pooled = np.sqrt(0.5 * (control.var(ddof=1) + active.var(ddof=1)))
    return float((control.mean() - active.mean()) / pooled) if pooled > 0 else 0.0


def _iv(mg_per_kg: float, days=(0,)) -> Regimen:
    return Regimen(tuple(Dose(d * HOURS_PER_DAY, mg_per_kg, "iv_infusion", "racemic", True) for d in days))


def _midazolam(days=(0,)) -> Regimen:
    return Regimen(tuple(Dose(d * HOURS_PER_DAY, 0.045, "iv_infusion", "midazolam", True) for d in days))


def _saline(days=(0,), route="iv_infusion") -> Regimen:
    amount = 1.0
    return Regimen(tuple(Dose(d * HOURS_PER_DAY, amount, route, "saline", route == "iv_infusion")
                         for d in days))


def _esketamine(doses_mg, days) -> Regimen:
    """Esketamine nasal spray on ``days``; ``doses_mg`` one amount, or one per day."""
    amounts = [doses_mg] * len(days) if np.isscalar(doses_mg) else list(doses_mg)
    return Regimen(tuple(Dose(d * HOURS_PER_DAY, float(a), "intranasal", "esketamine") for d, a in zip(days, amounts)))


def _titrated(days) -> list[float]:
    """56 mg at the first session, 84 mg after (the label's flexible dosing, most patients on 84 mg)."""
    return [56.0] + [84.0] * (len(days) - 1)


def _population(name: str, n: int, seed: int, madrs: float | None = None) -> Population:
    dist = {"madrs": (madrs, 0.15)} if madrs is not None else {}
    ids = np.arange(1, n + 1)
    return Population.from_ids(ids, seed, CovariateModel(distributions=dist, population=name))


def days_to_relapse(reduction: np.ndarray, days: np.ndarray, from_day: float, responded: np.ndarray,
                    threshold: float = 0.5) -> np.ndarray:
    """Days from ``from_day`` to the first assessment after ``from_day`` whose reduction is
    below ``threshold``, for responders; inf when it never happens (censored)."""
    after = days > from_day
    below = reduction[:, after] < threshold
    first = np.where(below.any(axis=1), days[after][np.argmax(below, axis=1)] - from_day, np.inf)
    return first[responded]


def km_median(times: np.ndarray) -> float:
    """Median of event times with inf for censored at the end of follow-up (all censored at
    the same time, so the Kaplan-Meier median is the plain median while under half censored)."""
    if times.size == 0:
        return float("nan")
    return float(np.median(times))


# --------------------------------------------------------------------------- scenarios


def fava2018(params, n, seed) -> dict:
    pop = _population("trd", n, seed)
    regimens = {"midazolam": _midazolam().with_context(oral_ad="stable")}
    for dose in (0.1, 0.2, 0.5, 1.0):
        regimens[str(dose)] = _iv(dose).with_context(oral_ad="stable")
    arms = run_arms(regimens, pop, (0, 1, 3), params=params)
    d1 = {k: cohens_d(arms.change("midazolam", "madrs", 1), arms.change(k, "madrs", 1)) for k in regimens}
    d3 = cohens_d(arms.change("midazolam", "madrs", 3), arms.change("0.5", "madrs", 3))
    p = "clinical.fava2018_dose_ranging."
    return {p + "effect_size_day1_0_5": d1["0.5"], p + "effect_size_day1_1_0": d1["1.0"],
            p + "effect_size_day1_0_1_over_0_5": d1["0.1"] / d1["0.5"],
            p + "effect_size_day1_0_2_over_0_5": d1["0.2"] / d1["0.5"],
            p + "effect_size_day3_over_day1_0_5": d3 / d1["0.5"]}


def synapse(params, n, seed) -> dict:
    pop = _population("trd", n, seed, madrs=34.0)
    days = (0, 3)
    regimens = {"placebo": _saline(days, "intranasal").with_context(oral_ad="stable")}
    for mg in (28, 56, 84):
        regimens[f"mg{mg}"] = _esketamine(mg, days).with_context(oral_ad="stable")
    arms = run_arms(regimens, pop, (0, 1, 8), params=params)
    p = "clinical.synapse_esketamine_dose."
    q: dict = {}
    for arm in regimens:
        q[f"{p}madrs_change_24h.{arm}"] = float(arms.change(arm, "madrs", 1).mean())
        q[f"{p}madrs_change_day8.{arm}"] = float(arms.change(arm, "madrs", 8).mean())
        q[f"{p}responders_day8.{arm}"] = float((arms.reduction(arm, "madrs")[:, arms.index(8)] >= 0.5).mean())
        if arm != "placebo":
            q[f"{p}placebo_adjusted_day8.{arm}"] = q[f"{p}madrs_change_day8.{arm}"] - float(
                arms.change("placebo", "madrs", 8).mean())
    c = [q[f"{p}madrs_change_day8.mg{mg}"] for mg in (28, 56, 84)]
    q[p + "order_day8"] = bool(c[2] < c[1] < c[0])
    return q


def abdallah2022(params, n, seed) -> dict:
    pop = _population("veteran_ptsd_ad_failure", n, seed)
    regimens = {"saline": _saline(TWICE_WEEKLY_4W), "0.2": _iv(0.2, TWICE_WEEKLY_4W), "0.5": _iv(0.5, TWICE_WEEKLY_4W)}
    end = 25
    arms = run_arms(regimens, pop, (0, end), names=("pcl5_total", "madrs"), params=params)
    adjusted = {k: float(arms.change(k, "pcl5_total", end).mean() - arms.change("saline", "pcl5_total", end).mean())
                for k in ("0.2", "0.5")}
    d_pcl = {k: cohens_d(arms.change("saline", "pcl5_total", end), arms.change(k, "pcl5_total", end))
             for k in ("0.2", "0.5")}
    d_madrs = {k: cohens_d(arms.change("saline", "madrs", end), arms.change(k, "madrs", end)) for k in ("0.2", "0.5")}
    p = "clinical.abdallah2022_veterans."
    return {p + "pcl5_placebo_adjusted_end_of_treatment": max(adjusted.values(), key=abs),
            p + "pcl5_effect_size": max(d_pcl.values()),
            p + "madrs_0_5_separates": d_madrs["0.5"],
            p + "madrs_0_2_smaller_than_0_5": bool(d_madrs["0.2"] < d_madrs["0.5"])}


def cochrane2021(params, n, seed) -> dict:
    pop = _population("trd", n, seed)
    regimens = {"midazolam": _midazolam(), "saline": _saline(), "ketamine": _iv(0.5)}
    arms = run_arms(regimens, pop, (0, 1), params=params)
    p = "clinical.cochrane2021_24h_response."

    def response(arm):
        return float((arms.reduction(arm, "madrs")[:, arms.index(1)] >= 0.5).mean())

    return {p + "response_midazolam": response("midazolam"), p + "response_saline": response("saline"),
            p + "response_ketamine_vs_midazolam_trials": response("ketamine")}


def transform(params, n, seed) -> dict:
    pop = _population("trd", n, seed, madrs=37.0)
    regimens = {"placebo": _saline(TWICE_WEEKLY_4W, "intranasal").with_context(oral_ad="new"),
                "esketamine": _esketamine(_titrated(TWICE_WEEKLY_4W), TWICE_WEEKLY_4W).with_context(oral_ad="new")}
    arms = run_arms(regimens, pop, (0, 28), params=params)
    p = "clinical.transform_day28."
    placebo = float(arms.change("placebo", "madrs", 28).mean())
    esk = float(arms.change("esketamine", "madrs", 28).mean())
    return {p + "madrs_change_day28_placebo": placebo, p + "madrs_difference_day28": esk - placebo,
            p + "mean_madrs_day28_esketamine": float(arms.scores["esketamine"]["madrs"][:, arms.index(28)].mean())}


def _series_relapse(arms: Arms, arm: str, response_day: float, last_dose_day: float):
    red = arms.reduction(arm, "madrs")
    days = arms.times_h / HOURS_PER_DAY
    responded = red[:, arms.index(response_day)] >= 0.5
    relapse = days_to_relapse(red, days, response_day, responded) + (response_day - last_dose_day)
    return responded, relapse


def trd_six(params, n, seed) -> dict:
    pop = _population("trd", n, seed)
    regimen = _iv(0.5, TRD_DAYS_SIX).with_context(open_label=True)
    follow = np.arange(0, FOLLOW_DAYS + 1)
    arms = run_arms({"ketamine": regimen}, pop, follow, params=params, extra_times_h=(40 / 60 + 2.0,))
    responded, relapse = _series_relapse(arms, "ketamine", 12, 11)
    v = arms.scores["ketamine"]["madrs"]
    i2h = int(np.argmin(np.abs(arms.times_h - (40 / 60 + 2.0))))
    p = "clinical.trd_six_infusions."
    return {p + "response_after_series": float(responded.mean()), p + "median_days_to_relapse": km_median(relapse),
            p + "madrs_change_2h_first_infusion": float((v[:, i2h] - v[:, 0]).mean())}


def phillips2019(params, n, seed) -> dict:
    pop = _population("trd", n, seed)
    series = _iv(0.5, TRD_DAYS_SIX).with_context(open_label=True)
    maintained = (series + _iv(0.5, (18, 25, 32, 39))).with_context(open_label=True)
    days = (0, 2, 4, 7, 9, 11, 12, 18, 42)
    arms = run_arms({"series": series, "maintained": maintained}, pop, days, params=params)
    red = arms.reduction("series", "madrs")
    # Assessed before each next infusion (days 2-11) and 24 h after the sixth (day 12).
    after_each = [arms.index(d) for d in (2, 4, 7, 9, 11, 12)]
    met = red[:, after_each] >= 0.5
    ever = met.any(axis=1)
    first = np.argmax(met, axis=1) + 1
    responded = red[:, arms.index(12)] >= 0.5
    v = arms.scores["maintained"]["madrs"]
    change = v[responded, arms.index(42)] - v[responded, arms.index(18)]
    p = "clinical.phillips2019_repeated."
    return {p + "response_after_series": float(responded.mean()),
            p + "median_infusions_to_response": float(np.median(first[ever])) if ever.any() else float("nan"),
            p + "madrs_change_during_weekly_maintenance": float(change.mean()) if responded.any() else float("nan")}


def confirmed_relapse(reduction: np.ndarray, days: np.ndarray, from_day: float, responded: np.ndarray,
                      threshold: float = 0.5) -> np.ndarray:
    """Days from ``from_day`` to the first of two consecutive assessments after ``from_day``
    whose reduction is below ``threshold``, for responders; inf when it never happens."""
    after = days > from_day
    below = reduction[:, after] < threshold
    both = below[:, :-1] & below[:, 1:]
    first = np.where(both.any(axis=1), days[after][:-1][np.argmax(both, axis=1)] - from_day, np.inf)
    return first[responded]


def wilkinson2017(params, n, seed) -> dict:
    pop = _population("trd", n, seed)
    infusion_days = (0, 4, 7, 11)
    ketamine = _iv(0.5, infusion_days).with_context(open_label=True)
    therapy_days = np.round(np.linspace(1, 70, 12), 1)
    combined = with_therapy(ketamine, therapy_days)
    # Assessed on day 12 and then weekly from the last infusion (the cadence of the CBT
    # visits), and on day 70 for the non-responders.
    weekly = np.arange(infusion_days[-1] + 7, FOLLOW_DAYS + 1, 7)
    visits = np.unique(np.concatenate([[0, 12, 70], weekly]))
    arms = run_arms({"combined": combined, "ketamine": ketamine}, pop, visits, params=params)
    red = arms.reduction("combined", "madrs")
    days = arms.times_h / HOURS_PER_DAY
    responded = red[:, arms.index(12)] >= 0.5
    on_visit = np.isin(np.round(days), np.concatenate([[12], weekly]))
    relapse = confirmed_relapse(red[:, on_visit], days[on_visit], 12, responded) + (12 - infusion_days[-1])
    i70 = arms.index(70)
    non = ~responded
    v = arms.scores["combined"]["madrs"]
    helped = (v[non, arms.index(12)].mean() - v[non, i70].mean() >= MADRS_MCID) if non.any() else False
    p = "clinical.wilkinson2017_cbt."
    return {p + "response_after_infusions": float(responded.mean()),
            p + "relapse_by_8_weeks_after_last_infusion": float((relapse <= 56).mean()) if relapse.size else 0.0,
            p + "median_weeks_to_relapse": km_median(relapse) / 7.0,
            p + "nonresponders_helped_by_therapy": bool(helped)}


def esketamine_sessions(params, n, seed) -> dict:
    """BP tail, mean BP rise and dissociation of 8 esketamine or placebo-spray sessions."""
    pop = _population("trd", n, seed)
    days = TWICE_WEEKLY_4W
    reading = np.array(LABEL_READINGS_H)
    times = np.concatenate([d * HOURS_PER_DAY + reading for d in days])
    session = np.repeat(np.arange(len(days)), reading.size)
    post = np.tile(reading > 0, len(days))
    regimens = {"esketamine": _esketamine(_titrated(days), days), "placebo": _saline(days, "intranasal")}
    q: dict = {}
    tail, mean, disso = "acute.esketamine_bp_tail.", "acute.esketamine_bp_mean.", "acute.esketamine_dissociation."
    for k, (arm, regimen) in enumerate(regimens.items()):
        traj = simulate(regimen, pop, times=times, outputs=["sbp_mmhg", "dbp_mmhg", "cadss"], model_params=params)
        rec = observe_session_readings(pop.ids, pop.seed, session, post, sbp=traj["sbp_mmhg"], dbp=traj["dbp_mmhg"],
                                       sbp0=pop.covariates["sbp_mmhg"], dbp0=pop.covariates["dbp_mmhg"],
                                       cadss=traj["cadss"], table=params, stream_offset=10 * k)
        n_read = reading.size
        for name, limit in (("sbp", 40.0), ("dbp", 25.0)):
            v = getattr(rec, name).reshape(len(pop), len(days), n_read)
            rise = v[:, :, 1:] - v[:, :, :1]
            q[f"{tail}{name}_rise_{int(limit)}.{arm}"] = float((rise >= limit).any(axis=(1, 2)).mean())
            q[f"{mean}mean_max_{name}_rise.{arm}"] = float(rise.max(axis=2).mean())
        c = rec.cadss.reshape(len(pop), len(days), n_read)
        above = (c[:, :, 1:] > 4.0) & (c[:, :, 1:] > c[:, :, :1])
        q[f"{disso}share_cadss_above_4.{arm}"] = float(above.any(axis=(1, 2)).mean())
    typical = Population.typical(population="trd")
    fine = np.arange(0, 4 * 60 + 1) / 60.0
    one = simulate(_esketamine(84.0, (0,)), typical, times=fine, outputs=["sbp_mmhg", "cadss"], model_params=params)
    sbp = one["sbp_mmhg"][0]
    q[mean + "peak_time_h"] = float(fine[np.argmax(sbp - sbp[0])])
    cadss = one["cadss"][0]
    peak = cadss.max()
    q[disso + "peak_time_h"] = float(fine[cadss.argmax()])
    q[disso + "fraction_of_peak_at_90min"] = float(np.interp(1.5, fine, cadss) / peak)
    q[disso + "fraction_of_peak_at_60min"] = float(np.interp(1.0, fine, cadss) / peak)
    last = days[-1] * HOURS_PER_DAY
    eight = simulate(_esketamine(84.0, days), typical, times=np.concatenate([fine, last + fine]), outputs=["cadss"],
                     model_params=params)["cadss"][0]
    q[disso + "later_session_peak_below_first"] = bool(eight[fine.size:].max() < eight[:fine.size].max())
    return q


SCENARIOS = (fava2018, synapse, abdallah2022, cochrane2021, transform, trd_six, phillips2019, wilkinson2017,
             esketamine_sessions)


def generalisation_quantities(params: ParameterTable, n_per_arm: int, seed: int, bp_n: int | None = None) -> dict:
    """Every quantity of the generalisation set; ``bp_n`` patients per arm for the blood
    pressure tail (default: ``n_per_arm``)."""
    q: dict = {}
    for scenario in SCENARIOS:
        n = (bp_n or n_per_arm) if scenario is esketamine_sessions else n_per_arm
        q.update(scenario(params, n, seed))
    return q
