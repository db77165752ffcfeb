"""Golden dosing cases: the engine against exact solutions of the linear PK system.

The S-ketamine chain of the model (absorption depots, central and two peripheral
compartments, norketamine, effect site) is linear with piecewise-constant inputs, so its
exact solution is known. The reference here is built from the pharmacology alone, not
from the model's code:

* the system matrix is written down from the compartment diagram (mammillary disposition,
  first-order absorption, first-pass formation of norketamine from swallowed drug);
* the doses are turned into jumps and zero-order inputs by hand from the route rules
  (bioavailability, lag, device timing, swallowed fractions);
* between events the state is propagated with the matrix exponential of the augmented
  system ``d/dt [x; 1] = [[A, b], [0, 0]] [x; 1]``, which is exact for a constant input;
* the matrix-exponential reference is itself checked against textbook closed forms
  (one-compartment bolus, infusion and Bateman function; two-compartment biexponential).

Esketamine is used so that the whole dose is S-ketamine (``s_fraction`` = 1); the number
of compartments is set by zeroing Q2 and Q3.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from scipy.linalg import expm

import ketamine_ptsd.dosing as dosing_module
from ketamine_ptsd import Dose, Population, Regimen
from ketamine_ptsd.engine import NumbaEngine
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model import layout as L
from ketamine_ptsd.params import route_rules
from ketamine_ptsd.units import KETAMINE_G_PER_MOL, NORKETAMINE_G_PER_MOL

RTOL = 1e-6


def tight_engine() -> NumbaEngine:
    """Tight tolerances, so the comparison measures the method and the event handling; no
    flushing of tiny states to zero (an approximation of its own)."""
    options = {"flush_below": 0.0} if "flush_below" in {f.name for f in dataclasses.fields(NumbaEngine)} else {}
    return NumbaEngine(rtol=1e-10, atol=1e-12, **options)


TIGHT = tight_engine()
WEIGHT = 70.0

# Reference state order.
IM, NASAL, SL, GUT, C1, P1, P2, NK, CE = range(9)
REF_STATES = ("depot_im_mg", "depot_nasal_mg", "depot_sl_mg", "depot_gut_mg", "s_central_mg",
              "s_periph1_mg", "s_periph2_mg", "s_norketamine_mg", "s_effect_site_ng_ml")

# Deliberately not the packaged typical values, so a column mix-up cannot pass by accident.
BASE = dict(cl=50.0, v1=100.0, q2=30.0, v2=200.0, q3=10.0, v3=400.0, fm=0.6, cl_nk=20.0, v_nk=150.0,
            ke0=4.0, ka_im=3.0, ka_nasal=2.5, ka_sl=1.8, ka_gut=1.2, f_gut=0.25)


def pk_values(n_comp: int) -> dict:
    values = dict(BASE)
    if n_comp < 3:
        values["q3"] = 0.0
    if n_comp < 2:
        values["q2"] = 0.0
    return values


def param_matrix(v: dict) -> np.ndarray:
    """The engine's parameter row for one esketamine patient with the values ``v``."""
    p = Population.typical(weight_kg=WEIGHT).parameters("esketamine")
    columns = {
        L.P_S_FRACTION: 1.0, L.P_CL_S: v["cl"], L.P_V1_S: v["v1"], L.P_Q2_S: v["q2"], L.P_V2_S: v["v2"],
        L.P_Q3_S: v["q3"], L.P_V3_S: v["v3"], L.P_FM_NK: v["fm"], L.P_CL_NK: v["cl_nk"], L.P_V_NK: v["v_nk"],
        L.P_KE0: v["ke0"], L.P_KA_IM: v["ka_im"], L.P_KA_NASAL: v["ka_nasal"], L.P_KA_SL: v["ka_sl"],
        L.P_KA_GUT: v["ka_gut"], L.P_F_GUT: v["f_gut"],
    }
    for col, value in columns.items():
        p[:, col] = value
    return p


def system_matrix(v: dict) -> np.ndarray:
    """dx/dt = A x + b(t) for the reference states (amounts in mg, effect site in ng/mL)."""
    A = np.zeros((9, 9))
    A[IM, IM] = -v["ka_im"]
    A[NASAL, NASAL] = -v["ka_nasal"]
    A[SL, SL] = -v["ka_sl"]
    A[GUT, GUT] = -v["ka_gut"]
    # Central: absorption in (only f_gut of the gut flux escapes first pass), elimination, distribution.
    A[C1, IM] = v["ka_im"]
    A[C1, NASAL] = v["ka_nasal"]
    A[C1, SL] = v["ka_sl"]
    A[C1, GUT] = v["f_gut"] * v["ka_gut"]
    A[C1, C1] = -(v["cl"] + v["q2"] + v["q3"]) / v["v1"]
    A[C1, P1] = v["q2"] / v["v2"]
    A[C1, P2] = v["q3"] / v["v3"]
    A[P1, C1] = v["q2"] / v["v1"]
    A[P1, P1] = -v["q2"] / v["v2"]
    A[P2, C1] = v["q3"] / v["v1"]
    A[P2, P2] = -v["q3"] / v["v3"]
    # Norketamine: fraction fm of systemic clearance and of the first-pass loss.
    A[NK, C1] = v["fm"] * v["cl"] / v["v1"]
    A[NK, GUT] = v["fm"] * (1.0 - v["f_gut"]) * v["ka_gut"]
    A[NK, NK] = -v["cl_nk"] / v["v_nk"]
    # Effect site (ng/mL) follows plasma (mg/L -> ng/mL is x1000) with rate ke0.
    A[CE, C1] = v["ke0"] * 1000.0 / v["v1"]
    A[CE, CE] = -v["ke0"]
    return A


def exact_solution(A: np.ndarray, jumps, rates, times) -> np.ndarray:
    """Exact state at ``times`` for jumps ``(t, state, mg)`` and zero-order inputs
    ``(t_start, t_end, state, mg_per_h)``; an event at an output time counts as done."""
    n = A.shape[0]
    events = [(t, 0, i, a) for t, i, a in jumps]
    for t0, t1, i, r in rates:
        events += [(t0, 1, i, r), (t1, 1, i, -r)]
    events.sort(key=lambda e: e[0])
    M = np.zeros((n + 1, n + 1))
    M[:n, :n] = A

    def propagate(x, u, dt):
        M[:n, n] = u
        return (expm(M * dt) @ np.append(x, 1.0))[:n]

    x = np.zeros(n)
    u = np.zeros(n)
    t_now = min(times[0], events[0][0]) if events else times[0]
    out = np.empty((len(times), n))
    e = 0
    for j, t in enumerate(times):
        while e < len(events) and events[e][0] <= t:
            te, kind, i, amount = events[e]
            x = propagate(x, u, te - t_now)
            t_now = te
            if kind == 0:
                x[i] += amount
            else:
                u[i] += amount
            e += 1
        out[j] = propagate(x, u, t - t_now)
    return out


def output_grid(horizon: float, event_times) -> np.ndarray:
    """A regular grid plus points just before, at and right after every event."""
    pts = [np.linspace(0.0, horizon, 121)]
    for t in event_times:
        pts.append(t + np.array([-1e-6, 0.0, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.2]))
    grid = np.unique(np.concatenate(pts))
    return grid[(grid >= 0.0) & (grid <= horizon)]


def run_engine(regimen, params, times, names, record_states, engine=TIGHT):
    names_all = MODEL.state_names if record_states else MODEL.output_names
    sel = np.array([names_all.index(n) for n in names], dtype=np.int64)
    out, steps = engine.solve(MODEL, params, MODEL.events(regimen), np.asarray(times, float), sel, record_states)
    assert np.all(steps > 0)
    return out[0]


def assert_rel_close(actual, expected, names, rtol=RTOL):
    """Pointwise ``|a - e| <= rtol * |e|``, with a floor of 1e-9 of the variable's peak so
    that the far tail of a decay (below a billionth of the peak) is not judged relatively."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    peak = np.max(np.abs(expected), axis=0)
    bound = rtol * np.abs(expected) + 1e-9 * peak + 1e-300
    bad = np.abs(actual - expected) > bound
    if np.any(bad):
        j, k = np.argwhere(bad)[0]
        worst = np.max(np.abs(actual - expected) / bound, axis=0)
        raise AssertionError(f"{names[k]} at row {j}: engine {actual[j, k]!r} vs exact {expected[j, k]!r}; "
                             f"worst error / bound per variable: {dict(zip(names, worst.round(3), strict=True))}")


# --------------------------------------------------------------------------- dosing cases
# Each case: a regimen, the jumps and zero-order inputs it means (derived by hand), a horizon.

F_IM = 0.93  # Clements, Nimmo & Grant 1982 (routes.toml)
MIN = 1.0 / 60.0


def case_iv_bolus():
    return Regimen((Dose(0.0, 35.0, "iv_bolus", "esketamine"),)), [(0.0, C1, 35.0)], [], 24.0


def case_iv_bolus_repeated():
    times = [0.0, 8.0, 16.0, 30.0]
    reg = Regimen(tuple(Dose(t, 20.0, "iv_bolus", "esketamine") for t in times))
    return reg, [(t, C1, 20.0) for t in times], [], 48.0


def case_infusion_per_kg():
    # 0.5 mg/kg over 40 min at 70 kg: 35 mg at 52.5 mg/h for 2/3 h.
    reg = Regimen((Dose(0.0, 0.5, "iv_infusion", "esketamine", per_kg=True, duration_h=40 * MIN),))
    return reg, [], [(0.0, 40 * MIN, C1, 35.0 / (40 * MIN))], 24.0


def case_overlapping_infusions():
    doses = [(1.0, 30.0, 2.0), (2.0, 20.0, 1.5), (2.5, 10.0, 0.5), (30.0, 40.0, 1.0)]
    reg = Regimen(tuple(Dose(t, a, "iv_infusion", "esketamine", duration_h=d) for t, a, d in doses))
    return reg, [], [(t, t + d, C1, a / d) for t, a, d in doses], 48.0


def case_im_repeated():
    # Packaged IM bioavailability, no lag; second dose before the first is absorbed.
    times = [0.0, 0.5, 12.0]
    reg = Regimen(tuple(Dose(t, 40.0, "im", "esketamine") for t in times))
    return reg, [(t, IM, F_IM * 40.0) for t in times], [], 36.0


def case_oral():
    # Esketamine oral solution: all of it swallowed, zero-order over 0.32 h (Perez-Ruixo 2021).
    reg = Regimen((Dose(1.0, 100.0, "oral", "esketamine"),))
    return reg, [], [(1.0, 1.32, GUT, 100.0 / 0.32)], 36.0


def case_intranasal_56mg():
    # Two 28-mg devices 5 min apart; nasal fractions 0.54 and 0.54 * 0.62; the rest swallowed
    # zero-order over 0.53 h.
    jumps, rates = [], []
    for k, frac in enumerate((0.54, 0.54 * 0.62)):
        t = k * 5 * MIN
        jumps.append((t, NASAL, 28.0 * frac))
        rates.append((t, t + 0.53, GUT, 28.0 * (1.0 - frac) / 0.53))
    return Regimen((Dose(0.0, 56.0, "intranasal", "esketamine"),)), jumps, rates, 36.0


def case_sublingual():
    # Mucosal fraction 0.125 to the sublingual depot, the rest swallowed at once.
    reg = Regimen((Dose(0.0, 50.0, "sublingual", "esketamine"),))
    return reg, [(0.0, SL, 50.0 * 0.125), (0.0, GUT, 50.0 * 0.875)], [], 36.0


CASES = {f.__name__[5:]: f for f in (case_iv_bolus, case_iv_bolus_repeated, case_infusion_per_kg,
                                    case_overlapping_infusions, case_im_repeated, case_oral,
                                    case_intranasal_56mg, case_sublingual)}


def event_times(jumps, rates):
    return sorted({t for t, _, _ in jumps} | {t for r in rates for t in r[:2]})


@pytest.mark.parametrize("n_comp", [1, 2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_states_match_exact_solution(case, n_comp):
    regimen, jumps, rates, horizon = CASES[case]()
    v = pk_values(n_comp)
    times = output_grid(horizon, event_times(jumps, rates))
    exact = exact_solution(system_matrix(v), jumps, rates, times)
    got = run_engine(regimen, param_matrix(v), times, REF_STATES, record_states=True)
    assert_rel_close(got, exact, REF_STATES)
    # No R-ketamine in esketamine, and unused compartments stay empty.
    r_states = run_engine(regimen, param_matrix(v), times, ("r_central_mg", "r_periph1_mg", "r_norketamine_mg"),
                          record_states=True)
    assert np.all(r_states == 0.0)
    if n_comp < 3:
        assert np.all(got[:, P2] == 0.0)
    if n_comp < 2:
        assert np.all(got[:, P1] == 0.0)


@pytest.mark.parametrize("n_comp", [1, 2, 3])
@pytest.mark.parametrize("case", ["iv_bolus_repeated", "overlapping_infusions", "intranasal_56mg"])
def test_concentrations_match_exact_solution(case, n_comp):
    regimen, jumps, rates, horizon = CASES[case]()
    v = pk_values(n_comp)
    times = output_grid(horizon, event_times(jumps, rates))
    x = exact_solution(system_matrix(v), jumps, rates, times)
    plasma = 1000.0 * x[:, C1] / v["v1"]  # mg/L -> ng/mL
    nk = 1000.0 * x[:, NK] / KETAMINE_G_PER_MOL * NORKETAMINE_G_PER_MOL / v["v_nk"]  # ketamine-eq mg -> ng/mL
    names = ("ketamine_ng_ml", "s_ketamine_ng_ml", "effect_site_ng_ml", "norketamine_ng_ml")
    expected = np.column_stack([plasma, plasma, x[:, CE], nk])
    got = run_engine(regimen, param_matrix(v), times, names + ("r_ketamine_ng_ml",), record_states=False)
    assert_rel_close(got[:, :4], expected, names)
    assert np.all(got[:, 4] == 0.0)


def test_molar_masses_are_those_of_the_free_bases():
    # PubChem: ketamine C13H16ClNO 237.72 g/mol, norketamine C12H14ClNO 223.70 g/mol.
    assert KETAMINE_G_PER_MOL == pytest.approx(237.72, abs=0.01)
    assert NORKETAMINE_G_PER_MOL == pytest.approx(223.70, abs=0.01)


# --------------------------------------------------------------------------- lag and bioavailability


@pytest.fixture
def im_rules_with_lag(monkeypatch):
    """Route rules where IM esketamine has bioavailability 0.8 and a 0.25 h lag (the
    packaged lags are all 0, so the lag path is otherwise never exercised)."""
    rules = copy.deepcopy(route_rules())
    rules["esketamine"]["im"].update(bioavailability=0.8, lag_h=0.25)
    monkeypatch.setattr(dosing_module, "route_rules", lambda: rules)
    return rules


@pytest.mark.parametrize("n_comp", [1, 2, 3])
def test_first_order_absorption_with_lag_and_bioavailability(im_rules_with_lag, n_comp):
    doses = [1.0, 6.0, 6.1]  # the third dose arrives before the second has been absorbed
    regimen = Regimen(tuple(Dose(t, 50.0, "im", "esketamine") for t in doses))
    jumps = [(t + 0.25, IM, 0.8 * 50.0) for t in doses]
    v = pk_values(n_comp)
    times = output_grid(30.0, [t for t in doses] + [t for t, _, _ in jumps])
    exact = exact_solution(system_matrix(v), jumps, [], times)
    got = run_engine(regimen, param_matrix(v), times, REF_STATES, record_states=True)
    assert_rel_close(got, exact, REF_STATES)
    # Nothing reaches the body before dose time + lag; the depot then holds F * dose.
    before = times < 1.25
    assert np.all(got[before] == 0.0)
    at = np.searchsorted(times, 1.25)
    assert got[at, IM] == pytest.approx(40.0, rel=1e-12)
    assert got[at, C1] == 0.0


def test_lag_shifts_the_whole_profile(im_rules_with_lag, monkeypatch):
    """With a lag, the profile equals the lag-free profile of a dose given lag later."""
    v = pk_values(2)
    times = np.linspace(0.0, 12.0, 241)
    lagged = run_engine(Regimen((Dose(1.0, 50.0, "im", "esketamine"),)), param_matrix(v), times,
                        REF_STATES, record_states=True)
    rules = copy.deepcopy(im_rules_with_lag)
    rules["esketamine"]["im"]["lag_h"] = 0.0
    monkeypatch.setattr(dosing_module, "route_rules", lambda: rules)
    shifted = run_engine(Regimen((Dose(1.25, 50.0, "im", "esketamine"),)), param_matrix(v), times,
                         REF_STATES, record_states=True)
    np.testing.assert_allclose(lagged, shifted, rtol=1e-9, atol=1e-11)


# --------------------------------------------------------------------------- the reference itself


def textbook_one_compartment(v, t, kind, dose=35.0, t_inf=40 * MIN, lag=0.0, f=1.0):
    """Plasma concentration (mg/L) of a one-compartment model from the textbook formulas."""
    k = v["cl"] / v["v1"]
    t = np.asarray(t)
    if kind == "bolus":
        return dose / v["v1"] * np.exp(-k * t)
    if kind == "infusion":
        r = dose / t_inf
        during = r / v["cl"] * (1 - np.exp(-k * np.minimum(t, t_inf)))
        return during * np.exp(-k * np.maximum(t - t_inf, 0.0))
    ka = v["ka_im"]
    s = np.maximum(t - lag, 0.0)
    return f * dose * ka / (v["v1"] * (ka - k)) * (np.exp(-k * s) - np.exp(-ka * s))  # Bateman


def textbook_two_compartment_bolus(v, t, dose=35.0):
    k10, k12, k21 = v["cl"] / v["v1"], v["q2"] / v["v1"], v["q2"] / v["v2"]
    total = k10 + k12 + k21
    root = np.sqrt(total**2 - 4 * k10 * k21)
    alpha, beta = (total + root) / 2, (total - root) / 2
    a = dose / v["v1"] * (alpha - k21) / (alpha - beta)
    b = dose / v["v1"] * (k21 - beta) / (alpha - beta)
    return a * np.exp(-alpha * t) + b * np.exp(-beta * t)


def test_reference_agrees_with_textbook_formulas():
    t = np.linspace(0.0, 24.0, 97)
    v1 = pk_values(1)
    A1 = system_matrix(v1)
    np.testing.assert_allclose(exact_solution(A1, [(0.0, C1, 35.0)], [], t)[:, C1] / v1["v1"],
                               textbook_one_compartment(v1, t, "bolus"), rtol=1e-10)
    np.testing.assert_allclose(
        exact_solution(A1, [], [(0.0, 40 * MIN, C1, 35.0 / (40 * MIN))], t)[:, C1] / v1["v1"],
        textbook_one_compartment(v1, t, "infusion"), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(exact_solution(A1, [(0.5, IM, 0.8 * 35.0)], [], t)[:, C1] / v1["v1"],
                               textbook_one_compartment(v1, t, "oral", lag=0.5, f=0.8), rtol=1e-10, atol=1e-15)
    v2 = pk_values(2)
    np.testing.assert_allclose(exact_solution(system_matrix(v2), [(0.0, C1, 35.0)], [], t)[:, C1] / v2["v1"],
                               textbook_two_compartment_bolus(v2, t), rtol=1e-10)


def test_engine_matches_textbook_bolus_and_bateman_directly(im_rules_with_lag):
    t = np.unique(np.concatenate([np.linspace(0.0, 24.0, 97), [1e-6, 0.25, 0.25 + 1e-6, 2 / 3]]))
    v1 = pk_values(1)
    got = run_engine(Regimen((Dose(0.0, 35.0, "iv_bolus", "esketamine"),)), param_matrix(v1), t,
                     ("s_ketamine_ng_ml",), record_states=False)[:, 0]
    assert_rel_close(got[:, None], 1000 * textbook_one_compartment(v1, t, "bolus")[:, None], ("bolus",))
    got = run_engine(Regimen((Dose(0.0, 35.0, "im", "esketamine"),)), param_matrix(v1), t,
                     ("s_ketamine_ng_ml",), record_states=False)[:, 0]
    expected = 1000 * textbook_one_compartment(v1, t, "oral", lag=0.25, f=0.8)
    assert_rel_close(got[:, None], expected[:, None], ("im",))
    v2 = pk_values(2)
    got = run_engine(Regimen((Dose(0.0, 35.0, "iv_bolus", "esketamine"),)), param_matrix(v2), t,
                     ("s_ketamine_ng_ml",), record_states=False)[:, 0]
    assert_rel_close(got[:, None], 1000 * textbook_two_compartment_bolus(v2, t)[:, None], ("2-cmt bolus",))


def test_racemic_bolus_splits_evenly_between_enantiomers():
    """Racemic ketamine is half S, half R; each enantiomer follows its own disposition."""
    p = Population.typical(weight_kg=WEIGHT).parameters("racemic")
    v_s = dict(BASE, q3=0.0)
    v_r = dict(BASE, cl=70.0, v1=80.0, q2=40.0, v2=150.0, q3=0.0)
    for cols, v in (((L.P_CL_S, L.P_V1_S, L.P_Q2_S, L.P_V2_S, L.P_Q3_S), v_s),
                    ((L.P_CL_R, L.P_V1_R, L.P_Q2_R, L.P_V2_R, L.P_Q3_R), v_r)):
        for col, key in zip(cols, ("cl", "v1", "q2", "v2", "q3"), strict=True):
            p[:, col] = v[key]
    regimen = Regimen((Dose(0.0, 40.0, "iv_bolus", "racemic"), Dose(5.0, 20.0, "iv_infusion", "racemic",
                                                                       duration_h=1.0)))
    times = output_grid(24.0, [0.0, 5.0, 6.0])
    got = run_engine(regimen, p, times, ("s_ketamine_ng_ml", "r_ketamine_ng_ml", "ketamine_ng_ml"), False)
    for k, v in enumerate((v_s, v_r)):
        x = exact_solution(system_matrix(v), [(0.0, C1, 20.0)], [(5.0, 6.0, C1, 10.0)], times)
        assert_rel_close(got[:, k:k + 1], 1000 * x[:, C1:C1 + 1] / v["v1"], (("S", "R")[k],))
    np.testing.assert_allclose(got[:, 2], got[:, 0] + got[:, 1], rtol=1e-14)


# --------------------------------------------------------------------------- both enantiomers, midazolam
# The cases above give esketamine only (one enantiomer). Racemic ketamine splits everything that
# reaches the circulation between S and R by the S fraction; each enantiomer has its own three
# compartments, norketamine and effect site, and every mg eliminated other than as norketamine,
# and all norketamine eliminated, goes to the eliminated accumulator.

RAC_STATES = ("depot_im_mg", "depot_nasal_mg", "depot_sl_mg", "depot_gut_mg",
              "s_central_mg", "s_periph1_mg", "s_periph2_mg", "r_central_mg", "r_periph1_mg", "r_periph2_mg",
              "s_norketamine_mg", "r_norketamine_mg", "s_effect_site_ng_ml", "r_effect_site_ng_ml", "eliminated_mg")
S1, S2, S3, R1, R2, R3, NKS, NKR, CES, CER, ELIM = range(4, 15)
# An S fraction other than one half, so that the S and R shares cannot be swapped unnoticed; R
# disposition values unlike the S ones, so that an S/R parameter mix-up cannot pass either.
S_SHARE = 0.4
V_S = dict(BASE)
V_R = dict(BASE, cl=70.0, v1=80.0, q2=40.0, v2=150.0, q3=15.0, v3=300.0)


def racemic_params(v_s=V_S, v_r=V_R, s_share=S_SHARE) -> np.ndarray:
    p = param_matrix(v_s)
    p[:, L.P_S_FRACTION] = s_share
    for col, key in ((L.P_CL_R, "cl"), (L.P_V1_R, "v1"), (L.P_Q2_R, "q2"), (L.P_V2_R, "v2"), (L.P_Q3_R, "q3"),
                     (L.P_V3_R, "v3")):
        p[:, col] = v_r[key]
    return p


def racemic_matrix(v_s=V_S, v_r=V_R, s_share=S_SHARE) -> np.ndarray:
    """dx/dt = A x for the states of ``RAC_STATES``, from the compartment diagram."""
    b = v_s  # the shared values (absorption, norketamine, effect site) are those of BASE in both
    A = np.zeros((15, 15))
    for depot, ka in ((IM, b["ka_im"]), (NASAL, b["ka_nasal"]), (SL, b["ka_sl"]), (GUT, b["ka_gut"])):
        A[depot, depot] = -ka
    to_blood = {IM: b["ka_im"], NASAL: b["ka_nasal"], SL: b["ka_sl"], GUT: b["f_gut"] * b["ka_gut"]}
    first_pass = (1.0 - b["f_gut"]) * b["ka_gut"]
    k_nk = b["cl_nk"] / b["v_nk"]
    for share, v, (c1, p1, p2, nk, ce) in ((s_share, v_s, (S1, S2, S3, NKS, CES)),
                                           (1.0 - s_share, v_r, (R1, R2, R3, NKR, CER))):
        for depot, rate in to_blood.items():
            A[c1, depot] = share * rate
        A[c1, c1] = -(v["cl"] + v["q2"] + v["q3"]) / v["v1"]
        A[c1, p1], A[p1, c1], A[p1, p1] = v["q2"] / v["v2"], v["q2"] / v["v1"], -v["q2"] / v["v2"]
        A[c1, p2], A[p2, c1], A[p2, p2] = v["q3"] / v["v3"], v["q3"] / v["v1"], -v["q3"] / v["v3"]
        A[nk, c1] = b["fm"] * v["cl"] / v["v1"]
        A[nk, GUT] = b["fm"] * share * first_pass
        A[nk, nk] = -k_nk
        A[ce, c1] = b["ke0"] * 1000.0 / v["v1"]
        A[ce, ce] = -b["ke0"]
        A[ELIM, c1] = (1.0 - b["fm"]) * v["cl"] / v["v1"]
        A[ELIM, GUT] += (1.0 - b["fm"]) * share * first_pass
        A[ELIM, nk] = k_nk
    return A


def racemic_case():
    """Every route of racemic ketamine in one course, with its jumps and inputs by hand from
    the racemic route rules (IM F 0.93; intranasal 0.3125 nasal, the rest swallowed over
    0.53 h; oral all swallowed at once; sublingual 0.125 mucosal, the rest swallowed; an IV
    infusion enters the circulation and is split like absorbed drug)."""
    regimen = Regimen((Dose(0.0, 40.0, "im"), Dose(2.0, 50.0, "intranasal"), Dose(4.0, 60.0, "oral"),
                       Dose(6.0, 30.0, "sublingual"), Dose(8.0, 30.0, "iv_infusion", duration_h=1.0)))
    jumps = [(0.0, IM, F_IM * 40.0), (2.0, NASAL, 0.3125 * 50.0), (4.0, GUT, 60.0), (6.0, SL, 0.125 * 30.0),
             (6.0, GUT, 0.875 * 30.0)]
    rates = [(2.0, 2.53, GUT, 0.6875 * 50.0 / 0.53), (8.0, 9.0, S1, S_SHARE * 30.0),
             (8.0, 9.0, R1, (1.0 - S_SHARE) * 30.0)]
    return regimen, jumps, rates, 36.0


def test_racemic_states_match_exact_solution_for_both_enantiomers():
    """Guards the split of absorbed and infused drug by the S fraction, the R enantiomer's
    own three compartments, norketamine (including first pass) and effect site, and the
    eliminated accumulator, on every route."""
    regimen, jumps, rates, horizon = racemic_case()
    times = output_grid(horizon, event_times(jumps, rates))
    exact = exact_solution(racemic_matrix(), jumps, rates, times)
    got = run_engine(regimen, racemic_params(), times, RAC_STATES, record_states=True)
    assert_rel_close(got, exact, RAC_STATES)
    # The same course swallowed and absorbed is all accounted for at the end (mass balance of
    # the reference: F_IM of the IM dose, everything else).
    assert exact[-1].sum() - exact[-1, CES] - exact[-1, CER] == pytest.approx(F_IM * 40.0 + 170.0, rel=1e-9)


def test_racemic_concentrations_match_exact_solution():
    """Guards the concentration outputs of each enantiomer and of norketamine (S and R summed,
    converted to norketamine's molar mass) and the effect site summed over both."""
    regimen, jumps, rates, horizon = racemic_case()
    times = output_grid(horizon, event_times(jumps, rates))
    x = exact_solution(racemic_matrix(), jumps, rates, times)
    s_plasma = 1000.0 * x[:, S1] / V_S["v1"]
    r_plasma = 1000.0 * x[:, R1] / V_R["v1"]
    nk = 1000.0 * (x[:, NKS] + x[:, NKR]) / KETAMINE_G_PER_MOL * NORKETAMINE_G_PER_MOL / BASE["v_nk"]
    names = ("s_ketamine_ng_ml", "r_ketamine_ng_ml", "ketamine_ng_ml", "norketamine_ng_ml", "effect_site_ng_ml")
    expected = np.column_stack([s_plasma, r_plasma, s_plasma + r_plasma, nk, x[:, CES] + x[:, CER]])
    got = run_engine(regimen, racemic_params(), times, names, record_states=False)
    assert_rel_close(got, expected, names)


def test_midazolam_follows_one_compartment_infusion():
    """Guards midazolam's own one-compartment disposition and its plasma concentration
    (the active placebo: 0.045 mg/kg over 40 min), with clearance and volume set here."""
    cl, v = 30.0, 90.0
    regimen = Regimen((Dose(1.0, 0.045, "iv_infusion", "midazolam", per_kg=True),))
    p = Population.typical(weight_kg=WEIGHT).parameters(regimen.pk_product)
    p[:, L.P_CL_MDZ], p[:, L.P_V_MDZ] = cl, v
    rate, t0, t1 = 0.045 * WEIGHT / (40 * MIN), 1.0, 1.0 + 40 * MIN
    times = output_grid(12.0, [t0, t1])
    k = cl / v
    during = rate / k * (1.0 - np.exp(-k * np.clip(times - t0, 0.0, t1 - t0)))
    amount = during * np.exp(-k * np.maximum(times - t1, 0.0))
    got_mg = run_engine(regimen, p, times, ("midazolam_mg",), record_states=True)
    got = run_engine(regimen, p, times, ("midazolam_ng_ml", "ketamine_ng_ml"), record_states=False)
    assert_rel_close(got_mg, amount[:, None], ("midazolam_mg",))
    assert_rel_close(got[:, :1], 1000.0 * amount[:, None] / v, ("midazolam_ng_ml",))
    assert np.all(got[:, 1] == 0.0)


# --------------------------------------------------------------------------- the equations themselves
# The exact solutions above judge the PK through the solver. These check the right-hand side and
# the concentrations directly at arbitrary states, against the same compartment diagram, so that a
# wrong term shows at once and whatever its effect on a course.

CL_MDZ, V_MDZ = 30.0, 90.0


def pk_working_vector() -> np.ndarray:
    """One patient's working vector (parameters and derived constants) with the values above."""
    p = racemic_params()
    p[:, L.P_CL_MDZ], p[:, L.P_V_MDZ] = CL_MDZ, V_MDZ
    return MODEL.prepare(p)[0]


def test_pk_right_hand_side_is_the_compartment_diagram():
    """Guards every term of the PK equations (absorption from each depot, the S/R split of what
    reaches the circulation, distribution, elimination, norketamine formation including first
    pass, effect sites, the eliminated accumulator, midazolam) and that each PK rate is written
    afresh rather than added to what was there."""
    from ketamine_ptsd.model.pk import pk_rhs

    p = pk_working_vector()
    A = racemic_matrix()
    index = [L.STATE_NAMES.index(name) for name in RAC_STATES]
    rng = np.random.default_rng(19)
    for _ in range(5):
        y = rng.uniform(0.5, 50.0, L.N_STATES)
        u = np.zeros(L.N_INPUTS)
        u[[L.U_IV, L.U_GUT, L.U_MDZ]] = rng.uniform(1.0, 40.0, 3)
        dy = np.full(L.N_STATES, 1e6)  # stale values must not leak into the rates
        pk_rhs(y, p, u, dy)
        b = np.zeros(len(RAC_STATES))
        b[GUT] = u[L.U_GUT]
        b[S1], b[R1] = S_SHARE * u[L.U_IV], (1.0 - S_SHARE) * u[L.U_IV]
        x = y[index]
        scale = np.abs(A) @ np.abs(x) + np.abs(b)
        bad = np.abs(dy[index] - (A @ x + b)) > 1e-12 * scale
        assert not bad.any(), [RAC_STATES[k] for k in np.flatnonzero(bad)]
        assert dy[L.X_MDZ] == pytest.approx(u[L.U_MDZ] - CL_MDZ / V_MDZ * y[L.X_MDZ], rel=1e-12)


def test_concentrations_are_the_amounts_over_their_volumes_and_never_negative():
    """Guards each plasma concentration (S and R ketamine, S and R norketamine in ng/mL of
    norketamine, midazolam) and that an amount the solver has undershot below zero reads as
    no drug."""
    from ketamine_ptsd.model import pk

    p = pk_working_vector()
    y = np.zeros(L.N_STATES)
    amounts = {L.X_S1: 12.0, L.X_R1: 7.0, L.X_NKS: 3.0, L.X_NKR: 5.0, L.X_MDZ: 2.0}
    for i, a in amounts.items():
        y[i] = a
    nk_per_mg = 1000.0 / KETAMINE_G_PER_MOL * NORKETAMINE_G_PER_MOL / BASE["v_nk"]
    expected = {pk.s_ketamine_ng_ml: 1000.0 * 12.0 / V_S["v1"], pk.r_ketamine_ng_ml: 1000.0 * 7.0 / V_R["v1"],
                pk.s_norketamine_ng_ml: 3.0 * nk_per_mg, pk.r_norketamine_ng_ml: 5.0 * nk_per_mg,
                pk.midazolam_ng_ml: 1000.0 * 2.0 / V_MDZ}
    for func, value in expected.items():
        assert func(y, p) == pytest.approx(value, rel=1e-12), func.__name__
        assert func(-y, p) == 0.0, func.__name__
