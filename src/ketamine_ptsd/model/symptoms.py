"""Symptoms: latent severity of the DSM-5 clusters (B intrusions, C avoidance, D negative
cognition and mood, E arousal) and of comorbid depression, and their instrument scores.

Each cluster's severity is its baseline times ``r + (1 - r) exp(-improvement)``, with an
irreducible part ``r`` per patient (residual symptoms that no treatment of the model
removes), so a score never leaves [r x baseline, baseline] and baselines are inside each
instrument's range. Improvement adds an acute functional part (BDNF/mTOR signalling), a
structural part (labile and stabilised synapses, weighted per domain: depression leans on
the fast functional part and the labile pool, PTSD on the stabilised pool), durable
psychotherapy gains, the expectancy response of the session's context and the slow effect
of a newly started oral antidepressant, each cluster with its own sensitivity.
"""

from __future__ import annotations

import math

from ._jit import njit
from .layout import (
    D_INV_AD_TAU,
    D_INV_EXP_ONSET,
    D_INV_EXP_TAU,
    D_INV_FUNC_DECAY_TAU,
    D_INV_FUNC_TAU,
    D_INV_ROOM,
    D_INV_THER_TAU,
    P_AD_GAIN,
    P_AD_PTSD,
    P_CAPS5_B,
    P_CAPS5_C,
    P_CAPS5_D,
    P_CAPS5_E,
    P_EXP_GAIN,
    P_EXP_PTSD,
    P_FUNC_GAIN,
    P_FUNC_SWITCH,
    P_FUNC_W_DEP,
    P_IESR_AVO,
    P_IESR_HYP,
    P_IESR_INT,
    P_MADRS,
    P_PCL5_B,
    P_PCL5_C,
    P_PCL5_D,
    P_PCL5_E,
    P_PTSD_RESP,
    P_RESID_DEP,
    P_RESID_PTSD,
    P_RESP_SENS,
    P_SENS_B,
    P_SENS_C,
    P_SENS_D,
    P_SENS_DEP,
    P_SENS_E,
    P_STAB_W_DEP,
    P_STAB_W_PTSD,
    P_STRUCT_GAIN,
    P_STRUCT_W_DEP,
    P_THER_BASE,
    P_THER_GAIN,
    P_THW_B,
    P_THW_C,
    P_THW_D,
    P_THW_DEP,
    P_THW_E,
    U_ORAL_AD,
    U_THERAPY,
    X_BDNF,
    X_EXPECT,
    X_EXPECT_PENDING,
    X_FUNC,
    X_LABILE,
    X_ORAL_AD,
    X_STABLE,
    X_THERAPY,
)


@njit(inline="always")
def symptom_rhs(y, p, u, plasticity_now, dy):
    """Right-hand side of the symptom states."""
    # The functional response builds within hours and outlasts the BDNF pulse by about a day:
    # onset rate while BDNF is above it, decay rate below, switched smoothly (no kink).
    gap = y[X_BDNF] - y[X_FUNC]
    w = p[P_FUNC_SWITCH]
    rising = 0.5 + 0.5 * gap / (max(gap, -gap) + w)
    dy[X_FUNC] = gap * (p[D_INV_FUNC_DECAY_TAU] + (p[D_INV_FUNC_TAU] - p[D_INV_FUNC_DECAY_TAU]) * rising)
    therapy_in = u[U_THERAPY] * (p[P_THER_BASE] + p[P_THER_GAIN] * plasticity_now)
    dy[X_THERAPY] = therapy_in - y[X_THERAPY] * p[D_INV_THER_TAU]
    # A session adds to the pending expectancy, which builds the response over hours.
    onset = y[X_EXPECT_PENDING] * p[D_INV_EXP_ONSET]
    dy[X_EXPECT_PENDING] = -onset
    dy[X_EXPECT] = onset - y[X_EXPECT] * p[D_INV_EXP_TAU]
    # A newly started oral antidepressant works over weeks (first order toward 1).
    dy[X_ORAL_AD] = (u[U_ORAL_AD] - y[X_ORAL_AD]) * p[D_INV_AD_TAU]


@njit(inline="always")
def treatment_drives(y, p):
    """What moves the PTSD clusters and depression: the drug's drive on PTSD and on
    depression (acute functional part and recovered synapses, times the patient's response
    sensitivities), the durable gains of psychotherapy, the expectancy response and the
    effect of a newly started oral antidepressant (0-1)."""
    labile = max(y[X_LABILE], 0.0) * p[D_INV_ROOM]
    stable = max(y[X_STABLE], 0.0) * p[D_INV_ROOM]
    func = p[P_FUNC_GAIN] * max(y[X_FUNC], 0.0)
    gain = p[P_STRUCT_GAIN]
    sens = p[P_RESP_SENS]
    drive_ptsd = sens * p[P_PTSD_RESP] * (func + gain * (labile + p[P_STAB_W_PTSD] * stable))
    drive_dep = sens * (p[P_FUNC_W_DEP] * func + p[P_STRUCT_W_DEP] * gain * (labile + p[P_STAB_W_DEP] * stable))
    e = max(y[X_EXPECT], 0.0)
    expectancy = p[P_EXP_GAIN] * e / (1.0 + e)
    therapy = max(y[X_THERAPY], 0.0)
    oral_ad = p[P_AD_GAIN] * max(y[X_ORAL_AD], 0.0)
    return drive_ptsd, drive_dep, therapy, expectancy, oral_ad, sens


@njit(inline="always")
def ptsd_scores(p, drive, therapy, expectancy, oral_ad, out, i_pcl5, i_b, i_c, i_d, i_e, i_caps5, i_iesr):
    """Write PCL-5 (total and clusters), CAPS-5 and IES-R into ``out`` from the
    :func:`treatment_drives`: each cluster's severity is its baseline times
    ``r + (1 - r) exp(-improvement)`` with the patient's irreducible fraction ``r``."""
    common = p[P_EXP_PTSD] * expectancy + p[P_AD_PTSD] * oral_ad
    r = p[P_RESID_PTSD]
    q = 1.0 - r
    fb = r + q * math.exp(-(p[P_SENS_B] * drive + p[P_THW_B] * therapy + common))
    fc = r + q * math.exp(-(p[P_SENS_C] * drive + p[P_THW_C] * therapy + common))
    fd = r + q * math.exp(-(p[P_SENS_D] * drive + p[P_THW_D] * therapy + common))
    fe = r + q * math.exp(-(p[P_SENS_E] * drive + p[P_THW_E] * therapy + common))
    out[i_b] = p[P_PCL5_B] * fb
    out[i_c] = p[P_PCL5_C] * fc
    out[i_d] = p[P_PCL5_D] * fd
    out[i_e] = p[P_PCL5_E] * fe
    out[i_pcl5] = out[i_b] + out[i_c] + out[i_d] + out[i_e]
    out[i_caps5] = p[P_CAPS5_B] * fb + p[P_CAPS5_C] * fc + p[P_CAPS5_D] * fd + p[P_CAPS5_E] * fe
    out[i_iesr] = p[P_IESR_INT] * fb + p[P_IESR_AVO] * fc + p[P_IESR_HYP] * fe


@njit(inline="always")
def madrs_score(p, drive, therapy, expectancy, oral_ad, sens):
    """MADRS from the :func:`treatment_drives`: the patient's baseline times
    ``r + (1 - r) exp(-improvement of depression)``. Therapy's gains on depression show
    through the same patient sensitivity as the drug's (Wilkinson et al. 2017: CBT after
    ketamine sustained the response of ketamine responders and did not help non-responders)."""
    r = p[P_RESID_DEP]
    x = p[P_SENS_DEP] * drive + p[P_THW_DEP] * sens * therapy + expectancy + oral_ad
    return p[P_MADRS] * (r + (1.0 - r) * math.exp(-x))
