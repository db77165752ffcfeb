"""The cascade and symptom equations checked against solutions derived by hand, computed here
without the model's code.

* Cascade: the chain of docs/model.md §3 (glutamate-release drive R(O)·L(O) with the
  disinhibition R = a/(1+a), a = (O/O½)^n, and the release left under pyramidal block
  L = 1/(1+(O/O_b)^m); glutamate = gain x (R·L - A)+ with the adaptation A following R;
  first-order mTOR, BDNF and two delay stages, spine formation into the room left above the
  set-point, stabilisation by BDNF, first-order loss) is integrated here with SciPy from the
  simulated NMDA occupancy; the model's glutamate, mTOR, BDNF and synaptic density must follow
  it. A step of constant occupancy is also solved in closed form and checked against this
  test's own integrator, so the reference is itself checked.
* Symptoms (docs/model.md §4): each PTSD cluster is its baseline times r + (1-r) exp(-improvement),
  improvement = the cluster's sensitivity x the PTSD drug drive D_p (no therapy, no
  expectancy, no oral antidepressant here), so log((score/baseline - r)/(1 - r)) of two
  clusters stay in the ratio of their sensitivities at every time. With the depression weights
  set to 1 (functional 1, structural 1, stable 1) the depression drive is D_p / ρ, so MADRS
  follows in the ratio s_d / (ρ s_B). CAPS-5 and IES-R are sums of their own cluster baselines
  times the same cluster factors, with IES-R intrusion on B, avoidance on C and hyperarousal
  on E (Weiss & Marmar 1997 subscales).
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


def release_drive(o, q):
    """R(O) and L(O) of docs/model.md §3."""
    a = (o / q["drive_occupancy_half"]) ** q["drive_hill"]
    b = (o / q["drive_occupancy_block"]) ** q["drive_block_hill"]
    return a / (1 + a), 1 / (1 + b)


def cascade_reference(t_eval, occupancy_at, q):
    """The cascade of docs/model.md from an occupancy time course, integrated by SciPy."""

    def rhs(t, y):
        a, m, b, d1, d2, lab, stab = y
        rise, left = release_drive(occupancy_at(t), q)
        glu = q["glutamate_gain"] * max(rise * left - a, 0.0)
        room = max(1 - q["set_point"] - lab - stab, 0.0)
        formation = q["spine_formation_rate"] * max(d2, 0.0) * room
        stabilised = q["stabilisation_rate"] * max(b, 0.0) * lab
        return [(rise - a) / q["adaptation_tau"], (glu - m) / q["mtor_tau"], (m - b) / q["bdnf_tau"],
                (b - d1) / q["spine_delay_tau"], (d1 - d2) / q["spine_delay_tau"],
                formation - lab / q["labile_tau"] - stabilised, stabilised - stab / q["stable_tau"]]

    sol = solve_ivp(rhs, (t_eval[0], t_eval[-1]), np.zeros(7), t_eval=t_eval, rtol=1e-9, atol=1e-12,
                    max_step=1 / 60)
    a, m, b, d1, d2, lab, stab = sol.y
    rise, left = zip(*(release_drive(occupancy_at(t), q) for t in t_eval))
    glu = q["glutamate_gain"] * np.maximum(np.array(rise) * np.array(left) - a, 0.0)
    return {"glutamate": 1 + glu, "mtor": m, "bdnf": b, "synaptic_density": q["set_point"] + lab + stab}


NAMES = ("drive_occupancy_half", "drive_hill", "drive_occupancy_block", "drive_block_hill", "glutamate_gain",
         "adaptation_tau", "mtor_tau", "bdnf_tau", "spine_delay_tau", "spine_formation_rate", "set_point",
         "stabilisation_rate", "labile_tau", "stable_tau")

STEP_Q = {"drive_occupancy_half": 0.5, "drive_hill": 4.0, "drive_occupancy_block": 0.5, "drive_block_hill": 12.0,
          "glutamate_gain": 2.0, "adaptation_tau": 0.3, "mtor_tau": 0.5, "bdnf_tau": 1.0, "spine_delay_tau": 6.0,
          "spine_formation_rate": 0.6, "set_point": 0.7, "stabilisation_rate": 2.5, "labile_tau": 135.0,
          "stable_tau": 2160.0}


def test_reference_integrator_matches_the_closed_form_step():
    """Constant occupancy from t = 0: adaptation A = R (1 - e^(-t/ta)), so the glutamate rise is
    G R max(e^(-t/ta) - (1 - L), 0). Without block (L = 1) mTOR is
    G R ta / (ta - tm) (e^(-t/ta) - e^(-t/tm)); at steady state the adaptation cancels the
    disinhibition and every signal returns to 0."""
    ta, tm = STEP_Q["adaptation_tau"], STEP_Q["mtor_tau"]
    t = np.linspace(0, 10, 201)
    # O = O½ = O_b: R = 1/2 and L = 1/2, so the rise is G/2 max(e^(-t/ta) - 1/2, 0).
    ref = cascade_reference(t, lambda _: 0.5, STEP_Q)
    np.testing.assert_allclose(ref["glutamate"] - 1, 1.0 * np.maximum(np.exp(-t / ta) - 0.5, 0.0), atol=1e-7)
    # No block (O_b far above O: L = 1 to double precision), R = 1/2 at O = O½.
    q = dict(STEP_Q, drive_occupancy_block=1e6)
    ref = cascade_reference(t, lambda _: 0.5, q)
    np.testing.assert_allclose(ref["glutamate"] - 1, 1.0 * np.exp(-t / ta), atol=1e-7)
    np.testing.assert_allclose(ref["mtor"], 1.0 * ta / (ta - tm) * (np.exp(-t / ta) - np.exp(-t / tm)), atol=1e-7)
    late = cascade_reference(np.array([0.0, 200.0]), lambda _: 0.5, STEP_Q)
    assert late["glutamate"][-1] - 1 == pytest.approx(0.0, abs=1e-9)
    assert late["mtor"][-1] == pytest.approx(0.0, abs=1e-6)


def test_release_drive_is_the_documented_inverted_u():
    """R·L by hand at the documented values (O½ 0.33, n 4, O_b 0.74, m 12): half of the rise at
    O½; L about 0.9 at the 1.0 mg/kg peak occupancy 0.61 and halved at O_b."""
    q = {n: model_table().value(n) for n in NAMES}
    rise, left = release_drive(q["drive_occupancy_half"], q)
    assert rise == pytest.approx(0.5) and left > 0.99
    rise, left = release_drive(q["drive_occupancy_block"], q)
    assert left == pytest.approx(0.5)
    assert 0.85 < release_drive(0.61, q)[1] < 0.95


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


R_PTSD, R_DEP, RHO = 0.2, 0.1, 0.8


@pytest.fixture(scope="module")
def drug_only():
    """The typical patient with distinct cluster sensitivities, no expectancy response and no
    oral antidepressant: the drug drive is the only thing that moves the scores (no
    psychotherapy in the regimen). The depression weights are set to 1 so that the depression
    drive is the PTSD drive over ρ; the irreducible fractions are set to known values."""
    table = model_table().replace(sensitivity_b=0.5, sensitivity_c=0.8, sensitivity_d=1.1, sensitivity_e=1.7,
                                  sensitivity_depression=1.3, expectancy_gain=0.0, oral_ad_gain=0.0,
                                  residual_ptsd=R_PTSD, residual_depression=R_DEP, ptsd_response=RHO,
                                  functional_weight_depression=1.0, structural_weight_depression=1.0,
                                  stable_weight_ptsd=1.0, stable_weight_depression=1.0)
    outputs = ["pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "pcl5_total", "caps5_total", "iesr_total", "madrs"]
    return clusters(table, outputs)


def test_each_cluster_improves_in_proportion_to_its_sensitivity(drug_only):
    c = drug_only

    def log_f(score, r):
        """-improvement: log of the part of score/baseline above the irreducible fraction."""
        return np.log((score / score[0] - r) / (1 - r))

    lf = {k: log_f(c[f"pcl5_{k}"], R_PTSD) for k in "bcde"}
    moving = lf["b"] < -1e-3
    assert moving.sum() > 10
    for k, s in (("c", 0.8), ("d", 1.1), ("e", 1.7)):
        np.testing.assert_allclose(lf[k][moving] / lf["b"][moving], s / 0.5, rtol=1e-6, err_msg=k)
    log_madrs = log_f(c["madrs"], R_DEP)
    np.testing.assert_allclose(log_madrs[moving] / lf["b"][moving], 1.3 / (RHO * 0.5), rtol=1e-6)
    np.testing.assert_allclose(c["pcl5_total"], sum(c[f"pcl5_{k}"] for k in "bcde"), rtol=1e-9)
    # A cluster never rises above its baseline nor falls to its irreducible part.
    for k in "bcde":
        base = c[f"pcl5_{k}"][0]
        assert np.all(c[f"pcl5_{k}"] <= base + 1e-9) and np.all(c[f"pcl5_{k}"] > R_PTSD * base)


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
