"""Acute effects of a session: dissociation (CADSS) with tolerance, blood pressure and heart
rate (S-ketamine raising them, S-norketamine opposing), midazolam sedation."""

from __future__ import annotations

from ._jit import njit, power
from .layout import (
    D_INV_CADSS_ACUTE_TAU,
    D_INV_CADSS_EC50,
    D_INV_TOL_TAU,
    P_BP_EC50,
    P_CADSS_ACUTE_TOL,
    P_CADSS_HILL,
    P_CADSS_MAX,
    P_DBP0,
    P_DBP_EMAX,
    P_EC50_SED,
    P_HR0,
    P_HR_EMAX,
    P_NK_OPP,
    P_R_POTENCY,
    P_SBP0,
    P_SBP_EMAX,
    P_SED_MAX,
    P_TOL_MAX,
    P_TOL_RATE,
    X_CADSS_ADAPT,
    X_CER,
    X_CES,
    X_TOL,
)


@njit(inline="always")
def s_equivalent_ng_ml(y, p):
    """Effect-site concentration in S-ketamine equivalents (R weighted by its potency)."""
    return max(y[X_CES], 0.0) + p[P_R_POTENCY] * max(y[X_CER], 0.0)


@njit(inline="always")
def acute_rhs(y, p, dy):
    """Tolerance of dissociation: across sessions it builds with exposure toward a plateau
    and fades slowly; within a session, the adaptation follows the concentration with a lag
    of ``cadss_acute_tau`` (acute tolerance)."""
    c = s_equivalent_ng_ml(y, p)
    exposure = c * 0.01
    tol = y[X_TOL]
    dy[X_TOL] = p[P_TOL_RATE] * exposure * (p[P_TOL_MAX] - tol) - tol * p[D_INV_TOL_TAU]
    dy[X_CADSS_ADAPT] = (c - y[X_CADSS_ADAPT]) * p[D_INV_CADSS_ACUTE_TAU]


@njit(inline="always")
def cadss(y, p):
    """CADSS total (0-92): sigmoid Emax on the S-equivalent effect-site concentration less
    the acute adaptation (dissociation resolves while ketamine is still in plasma: by 1.5 h
    after esketamine, SPRAVATO label), less tolerance across sessions."""
    c = max(s_equivalent_ng_ml(y, p) - p[P_CADSS_ACUTE_TOL] * max(y[X_CADSS_ADAPT], 0.0), 0.0) * p[D_INV_CADSS_EC50]
    cg = power(c, p[P_CADSS_HILL])
    tol = min(max(y[X_TOL], 0.0), 1.0)
    return p[P_CADSS_MAX] * (1.0 - tol) * cg / (1.0 + cg)


@njit(inline="always")
def pressor_drive(y, p, s_nk_ng_ml):
    """Net sympathomimetic drive: Emax on S-ketamine effect site, minus S-norketamine."""
    ce = max(y[X_CES], 0.0)
    ec50 = p[P_BP_EC50]
    return ce / (ce + ec50) - p[P_NK_OPP] * s_nk_ng_ml / (s_nk_ng_ml + ec50)


@njit(inline="always")
def vitals(y, p, s_nk_ng_ml):
    """Systolic and diastolic pressure (mmHg) and heart rate (bpm)."""
    drive = pressor_drive(y, p, s_nk_ng_ml)
    return (p[P_SBP0] + p[P_SBP_EMAX] * drive,
            p[P_DBP0] + p[P_DBP_EMAX] * drive,
            p[P_HR0] + p[P_HR_EMAX] * drive)


@njit(inline="always")
def sedation(midazolam_ng_ml, p):
    """Sedation from midazolam, 0-1."""
    return p[P_SED_MAX] * midazolam_ng_ml / (midazolam_ng_ml + p[P_EC50_SED])
