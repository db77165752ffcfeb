"""Symptoms: latent severity of the DSM-5 clusters (B intrusions, C avoidance, D negative
cognition and mood, E arousal) and of comorbid depression, and their instrument scores.

Each cluster's severity is its baseline times exp(-improvement), so a score never leaves
[0, baseline] and baselines are inside each instrument's range. Improvement adds an acute
functional part (BDNF/mTOR signalling), a structural part (recovered synapses), durable
psychotherapy gains and the expectancy response, each cluster with its own sensitivity.
"""

from __future__ import annotations

import math

from ._jit import njit
from .layout import (
    D_INV_EXP_ONSET,
    D_INV_EXP_TAU,
    D_INV_FUNC_TAU,
    D_INV_ROOM,
    D_INV_THER_TAU,
    P_CAPS5_B,
    P_CAPS5_C,
    P_CAPS5_D,
    P_CAPS5_E,
    P_EXP_GAIN,
    P_EXP_PTSD,
    P_FUNC_GAIN,
    P_IESR_AVO,
    P_IESR_HYP,
    P_IESR_INT,
    P_MADRS,
    P_PCL5_B,
    P_PCL5_C,
    P_PCL5_D,
    P_PCL5_E,
    P_RESP_SENS,
    P_SENS_B,
    P_SENS_C,
    P_SENS_D,
    P_SENS_DEP,
    P_SENS_E,
    P_STRUCT_GAIN,
    P_THER_BASE,
    P_THER_GAIN,
    P_THW_B,
    P_THW_C,
    P_THW_D,
    P_THW_DEP,
    P_THW_E,
    U_THERAPY,
    X_BDNF,
    X_EXPECT,
    X_EXPECT_PENDING,
    X_FUNC,
    X_LABILE,
    X_STABLE,
    X_THERAPY,
)


@njit
def symptom_rhs(y, p, u, plasticity_now, dy):
    """Right-hand side of the symptom states."""
    dy[X_FUNC] = (y[X_BDNF] - y[X_FUNC]) * p[D_INV_FUNC_TAU]
    therapy_in = u[U_THERAPY] * (p[P_THER_BASE] + p[P_THER_GAIN] * plasticity_now)
    dy[X_THERAPY] = therapy_in - y[X_THERAPY] * p[D_INV_THER_TAU]
    # A session adds to the pending expectancy, which builds the response over hours.
    onset = y[X_EXPECT_PENDING] * p[D_INV_EXP_ONSET]
    dy[X_EXPECT_PENDING] = -onset
    dy[X_EXPECT] = onset - y[X_EXPECT] * p[D_INV_EXP_TAU]


@njit(inline="always")
def treatment_drives(y, p):
    """What moves every cluster and depression: the drug's drive (acute functional part and
    recovered synapses, times the patient's response sensitivity), the durable gains of
    psychotherapy and the expectancy response."""
    structural = (max(y[X_LABILE], 0.0) + max(y[X_STABLE], 0.0)) * p[D_INV_ROOM]
    drive = p[P_RESP_SENS] * (p[P_FUNC_GAIN] * max(y[X_FUNC], 0.0) + p[P_STRUCT_GAIN] * structural)
    e = max(y[X_EXPECT], 0.0)
    expectancy = p[P_EXP_GAIN] * e / (1.0 + e)
    therapy = max(y[X_THERAPY], 0.0)
    return drive, therapy, expectancy


@njit(inline="always")
def ptsd_scores(p, drive, therapy, expectancy, out, i_pcl5, i_b, i_c, i_d, i_e, i_caps5, i_iesr):
    """Write PCL-5 (total and clusters), CAPS-5 and IES-R into ``out`` from the
    :func:`treatment_drives`: each cluster's severity is its baseline times exp(-improvement)."""
    ptsd_expectancy = p[P_EXP_PTSD] * expectancy
    fb = math.exp(-(p[P_SENS_B] * drive + p[P_THW_B] * therapy + ptsd_expectancy))
    fc = math.exp(-(p[P_SENS_C] * drive + p[P_THW_C] * therapy + ptsd_expectancy))
    fd = math.exp(-(p[P_SENS_D] * drive + p[P_THW_D] * therapy + ptsd_expectancy))
    fe = math.exp(-(p[P_SENS_E] * drive + p[P_THW_E] * therapy + ptsd_expectancy))
    out[i_b] = p[P_PCL5_B] * fb
    out[i_c] = p[P_PCL5_C] * fc
    out[i_d] = p[P_PCL5_D] * fd
    out[i_e] = p[P_PCL5_E] * fe
    out[i_pcl5] = out[i_b] + out[i_c] + out[i_d] + out[i_e]
    out[i_caps5] = p[P_CAPS5_B] * fb + p[P_CAPS5_C] * fc + p[P_CAPS5_D] * fd + p[P_CAPS5_E] * fe
    out[i_iesr] = p[P_IESR_INT] * fb + p[P_IESR_AVO] * fc + p[P_IESR_HYP] * fe


@njit(inline="always")
def madrs_score(p, drive, therapy, expectancy):
    """MADRS from the :func:`treatment_drives`: the patient's baseline times
    exp(-improvement of depression)."""
    return p[P_MADRS] * math.exp(-(p[P_SENS_DEP] * drive + p[P_THW_DEP] * therapy + expectancy))
