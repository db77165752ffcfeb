"""The cascade and symptom equations checked against solutions derived by hand, computed here
without the model's code.

* Cascade: the chain of MODEL.md (disinhibition O(1-O)^h scaled to a maximum of 1, glutamate
  = gain x (drive - adaptation)+, first-order mTOR, BDNF and two delay stages, spine
  formation into the room left above the set-point, stabilisation by BDNF, first-order loss)
  is integrated here with SciPy from the simulated NMDA occupancy; the model's glutamate,
  mTOR, BDNF and synaptic density must follow it. A step of constant drive is also solved in
  closed form and checked against this test's own integrator, so the reference is itself
  checked.
* Symptoms: each cluster is its baseline times exp(-improvement), improvement = the cluster's
  sensitivity x the drug drive (no therapy, no expectancy here), so log(score/baseline) of
  two clusters (or of MADRS) stay in the ratio of their sensitivities at every time; CAPS-5
  and IES-R are sums of their own cluster baselines times the same cluster factors, with IES-R
  intrusion on B, avoidance on C and hyperarousal on E (Weiss & Marmar 1997 subscales).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from ketamine_ptsd.dosing import single_dose
from ketamine_ptsd.params import model_table
from ketamine_ptsd.population import Population
from ketamine_ptsd.simulation import simulate

GRID = np.concatenate([np.arange(0, 6, 1 / 120), np.arange(6, 96 + 1e-9, 0.05)])


def cascade_reference(t_eval, occupancy_at, q):
    """The cascade of MODEL.md from an occupancy time course, integrated by SciPy."""
    h = q["disinhibition_exponent"]
    o_best = 1 / (1 + h)
    norm = 1 / (o_best * (1 - o_best) ** h)

    def drive(t):
        o = occupancy_at(t)
        return o * (1 - o) ** h * norm

    def rhs(t, y):
        a, m, b, d1, d2, lab, stab = y
        glu = q["glutamate_gain"] * max(drive(t) - a, 0.0)
        room = max(1 - q["set_point"] - lab - stab, 0.0)
        formation = q["spine_formation_rate"] * max(d2, 0.0) * room
        stabilised = q["stabilisation_rate"] * max(b, 0.0) * lab
        return [(drive(t) - a) / q["adaptation_tau"], (glu - m) / q["mtor_tau"], (m - b) / q["bdnf_tau"],
                (b - d1) / q["spine_delay_tau"], (d1 - d2) / q["spine_delay_tau"],
                formation - lab / q["labile_tau"] - stabilised, stabilised - stab / q["stable_tau"]]

    sol = solve_ivp(rhs, (t_eval[0], t_eval[-1]), np.zeros(7), t_eval=t_eval, rtol=1e-9, atol=1e-12,
                    max_step=1 / 60)
    a, m, b, d1, d2, lab, stab = sol.y
    glu = q["glutamate_gain"] * np.maximum(np.array([drive(t) for t in t_eval]) - a, 0.0)
    return {"glutamate": 1 + glu, "mtor": m, "bdnf": b, "synaptic_density": q["set_point"] + lab + stab}


NAMES = ("disinhibition_exponent", "glutamate_gain", "adaptation_tau", "mtor_tau", "bdnf_tau", "spine_delay_tau",
         "spine_formation_rate", "set_point", "stabilisation_rate", "labile_tau", "stable_tau")


def test_reference_integrator_matches_the_closed_form_step():
    """Constant occupancy from t = 0: adaptation a = D (1 - e^(-t/ta)), glutamate rise
    G D e^(-t/ta), mTOR G D ta / (ta - tm) (e^(-t/ta) - e^(-t/tm)); at steady state the
    adaptation cancels the drive and every signal returns to 0."""
    q = {"disinhibition_exponent": 2.0, "glutamate_gain": 0.5, "adaptation_tau": 0.3, "mtor_tau": 0.5,
         "bdnf_tau": 1.0, "spine_delay_tau": 6.0, "spine_formation_rate": 0.6, "set_point": 0.7,
         "stabilisation_rate": 2.5, "labile_tau": 135.0, "stable_tau": 2160.0}
    o = 1 / 3                                   # the best occupancy for h = 2: drive exactly 1
    t = np.linspace(0, 10, 201)
    ref = cascade_reference(t, lambda _: o, q)
    ta, tm = q["adaptation_tau"], q["mtor_tau"]
    np.testing.assert_allclose(ref["glutamate"] - 1, 0.5 * np.exp(-t / ta), atol=1e-7)
    np.testing.assert_allclose(ref["mtor"], 0.5 * ta / (ta - tm) * (np.exp(-t / ta) - np.exp(-t / tm)), atol=1e-7)
    late = cascade_reference(np.array([0.0, 200.0]), lambda _: o, q)
    assert late["glutamate"][-1] - 1 == pytest.approx(0.0, abs=1e-9)
    assert late["mtor"][-1] == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def typical_course():
    table = model_table()
    names = ["nmda_occupancy", "glutamate", "mtor", "bdnf", "synaptic_density"]
    traj = simulate(single_dose(), Population.typical(), times=GRID, outputs=names, model_params=table)
    return {n: traj[n][0] for n in names}, {n: table.value(n) for n in NAMES}


def test_cascade_follows_the_hand_written_chain_from_the_occupancy(typical_course):
    course, q = typical_course
    occ = course["nmda_occupancy"]
    ref = cascade_reference(GRID, lambda t: float(np.interp(t, GRID, occ)), q)
    for name in ("glutamate", "mtor", "bdnf"):
        scale = np.max(np.abs(ref[name] - (1 if name == "glutamate" else 0)))
        assert scale > 0, name
        np.testing.assert_allclose(course[name], ref[name], atol=0.02 * scale, err_msg=name)
    excess, ref_excess = course["synaptic_density"] - q["set_point"], ref["synaptic_density"] - q["set_point"]
    assert ref_excess.max() > 0
    np.testing.assert_allclose(excess, ref_excess, atol=0.02 * ref_excess.max())


def clusters(table, outputs):
    traj = simulate(single_dose(), Population.typical(), times=np.arange(0, 14 * 24 + 1, 2.0),
                    outputs=outputs, model_params=table)
    return {n: traj[n][0] for n in outputs}


@pytest.fixture(scope="module")
def drug_only():
    """The typical patient with distinct cluster sensitivities and no expectancy response:
    the drug drive is the only thing that moves the scores (no psychotherapy in the regimen)."""
    table = model_table().replace(sensitivity_b=0.5, sensitivity_c=0.8, sensitivity_d=1.1, sensitivity_e=1.7,
                                  sensitivity_depression=1.3, expectancy_gain=0.0)
    outputs = ["pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "pcl5_total", "caps5_total", "iesr_total", "madrs"]
    return clusters(table, outputs)


def test_each_cluster_improves_in_proportion_to_its_sensitivity(drug_only):
    c = drug_only
    log_f = {k: np.log(c[f"pcl5_{k}"] / c[f"pcl5_{k}"][0]) for k in "bcde"}
    moving = log_f["b"] < -1e-3
    assert moving.sum() > 10
    for k, s in (("c", 0.8), ("d", 1.1), ("e", 1.7)):
        np.testing.assert_allclose(log_f[k][moving] / log_f["b"][moving], s / 0.5, rtol=1e-6, err_msg=k)
    log_madrs = np.log(c["madrs"] / c["madrs"][0])
    np.testing.assert_allclose(log_madrs[moving] / log_f["b"][moving], 1.3 / 0.5, rtol=1e-6)
    np.testing.assert_allclose(c["pcl5_total"], sum(c[f"pcl5_{k}"] for k in "bcde"), rtol=1e-9)
    # A cluster never rises above its baseline nor falls below 0.
    for k in "bcde":
        assert np.all(c[f"pcl5_{k}"] <= c[f"pcl5_{k}"][0] + 1e-9) and np.all(c[f"pcl5_{k}"] > 0)


def test_caps5_and_iesr_are_their_cluster_baselines_times_the_cluster_factors(drug_only):
    c = drug_only
    patient = Population.typical().covariates
    f = {k: c[f"pcl5_{k}"] / c[f"pcl5_{k}"][0] for k in "bcde"}
    caps = sum(float(patient[f"caps5_{k}"][0]) * f[k] for k in "bcde")
    np.testing.assert_allclose(c["caps5_total"], caps, rtol=1e-9)
    iesr = (float(patient["iesr_intrusion"][0]) * f["b"] + float(patient["iesr_avoidance"][0]) * f["c"]
            + float(patient["iesr_hyperarousal"][0]) * f["e"])
    np.testing.assert_allclose(c["iesr_total"], iesr, rtol=1e-9)
    # Hyperarousal on cluster D instead of E would give a visibly different course.
    wrong = iesr - float(patient["iesr_hyperarousal"][0]) * (f["e"] - f["d"])
    assert np.max(np.abs(wrong - iesr)) > 0.05 * (iesr[0] - iesr.min())


def test_untreated_scores_stay_at_baseline():
    """Steady state: with saline (no drug, no expectancy) every score stays at the patient's baseline."""
    table = model_table().replace(expectancy_gain=0.0)
    traj = simulate(single_dose(product="saline"), Population.typical(), times=np.arange(0, 7 * 24 + 1, 6.0),
                    outputs=["pcl5_total", "madrs", "iesr_total"], model_params=table)
    patient = Population.typical().covariates
    pcl5 = sum(float(patient[f"pcl5_{k}"][0]) for k in "bcde")
    iesr = sum(float(patient[k][0]) for k in ("iesr_intrusion", "iesr_avoidance", "iesr_hyperarousal"))
    np.testing.assert_allclose(traj["pcl5_total"][0], pcl5, rtol=1e-9)
    np.testing.assert_allclose(traj["madrs"][0], float(patient["madrs"][0]), rtol=1e-9)
    np.testing.assert_allclose(traj["iesr_total"][0], iesr, rtol=1e-9)
    assert math.isfinite(pcl5)
