"""Pharmacokinetics: absorption depots, enantiomer-resolved mammillary disposition,
norketamine formation (systemic and first-pass), effect site, midazolam.

Amounts in mg, volumes in L, clearances in L/h, so A/V is in mg/L = µg/mL; the factor
1000 gives ng/mL.
"""

from __future__ import annotations

from ._jit import njit
from .derived import MG_L_TO_NG_ML
from .layout import (
    D_INV_V1_R,
    D_INV_V1_S,
    D_INV_V2_R,
    D_INV_V2_S,
    D_INV_V3_R,
    D_INV_V3_S,
    D_INV_V_MDZ,
    D_K_MDZ,
    D_K_NK,
    D_NK_NG_ML,
    P_CL_R,
    P_CL_S,
    P_F_GUT,
    P_FM_NK,
    P_KA_GUT,
    P_KA_IM,
    P_KA_NASAL,
    P_KA_SL,
    P_KE0,
    P_Q2_R,
    P_Q2_S,
    P_Q3_R,
    P_Q3_S,
    P_S_FRACTION,
    U_GUT,
    U_IV,
    U_MDZ,
    X_CER,
    X_CES,
    X_DEP_GUT,
    X_DEP_IM,
    X_DEP_NASAL,
    X_DEP_SL,
    X_ELIM,
    X_MDZ,
    X_NKR,
    X_NKS,
    X_R1,
    X_R2,
    X_R3,
    X_S1,
    X_S2,
    X_S3,
)


def _enantiomer(y, dy, share, systemic_in, first_pass_loss, fm, cl, inv_v1, q2, inv_v2, q3, inv_v3,
                i1, i2, i3, i_nk):
    """One enantiomer's three compartments (volumes given as reciprocals); returns the amount
    eliminated per hour that does not become norketamine."""
    c1 = y[i1] * inv_v1
    elimination = cl * c1
    to_p1 = q2 * (c1 - y[i2] * inv_v2)
    to_p2 = q3 * (c1 - y[i3] * inv_v3)
    dy[i1] = share * systemic_in - elimination - to_p1 - to_p2
    dy[i2] = to_p1
    dy[i3] = to_p2
    metabolised = elimination + share * first_pass_loss
    dy[i_nk] += fm * metabolised
    return (1.0 - fm) * metabolised


def pk_rhs(y, p, u, dy):
    """Right-hand side of the PK states (writes the PK entries of ``dy``)."""
    ka_im = p[P_KA_IM]
    ka_n = p[P_KA_NASAL]
    ka_sl = p[P_KA_SL]
    ka_gut = p[P_KA_GUT]
    f_gut = p[P_F_GUT]
    abs_im = ka_im * y[X_DEP_IM]
    abs_n = ka_n * y[X_DEP_NASAL]
    abs_sl = ka_sl * y[X_DEP_SL]
    abs_gut = ka_gut * y[X_DEP_GUT]
    dy[X_DEP_IM] = -abs_im
    dy[X_DEP_NASAL] = -abs_n
    dy[X_DEP_SL] = -abs_sl
    dy[X_DEP_GUT] = u[U_GUT] - abs_gut
    systemic_in = u[U_IV] + abs_im + abs_n + abs_sl + f_gut * abs_gut
    first_pass_loss = (1.0 - f_gut) * abs_gut
    fm = p[P_FM_NK]
    sf = p[P_S_FRACTION]
    k_nk = p[D_K_NK]
    dy[X_NKS] = -k_nk * y[X_NKS]
    dy[X_NKR] = -k_nk * y[X_NKR]
    lost = _enantiomer(y, dy, sf, systemic_in, first_pass_loss, fm, p[P_CL_S], p[D_INV_V1_S], p[P_Q2_S],
                       p[D_INV_V2_S], p[P_Q3_S], p[D_INV_V3_S], X_S1, X_S2, X_S3, X_NKS)
    lost += _enantiomer(y, dy, 1.0 - sf, systemic_in, first_pass_loss, fm, p[P_CL_R], p[D_INV_V1_R],
                        p[P_Q2_R], p[D_INV_V2_R], p[P_Q3_R], p[D_INV_V3_R], X_R1, X_R2, X_R3, X_NKR)
    dy[X_ELIM] = lost + k_nk * (y[X_NKS] + y[X_NKR])
    ke0 = p[P_KE0]
    dy[X_CES] = ke0 * (MG_L_TO_NG_ML * y[X_S1] * p[D_INV_V1_S] - y[X_CES])
    dy[X_CER] = ke0 * (MG_L_TO_NG_ML * y[X_R1] * p[D_INV_V1_R] - y[X_CER])
    dy[X_MDZ] = u[U_MDZ] - p[D_K_MDZ] * y[X_MDZ]


def s_ketamine_ng_ml(y, p):
    """Plasma S-ketamine, ng/mL."""
    return MG_L_TO_NG_ML * max(y[X_S1], 0.0) * p[D_INV_V1_S]


def r_ketamine_ng_ml(y, p):
    """Plasma R-ketamine, ng/mL."""
    return MG_L_TO_NG_ML * max(y[X_R1], 0.0) * p[D_INV_V1_R]


def s_norketamine_ng_ml(y, p):
    """Plasma S-norketamine, ng/mL of norketamine."""
    return max(y[X_NKS], 0.0) * p[D_NK_NG_ML]


def r_norketamine_ng_ml(y, p):
    """Plasma R-norketamine, ng/mL of norketamine."""
    return max(y[X_NKR], 0.0) * p[D_NK_NG_ML]


def midazolam_ng_ml(y, p):
    """Plasma midazolam, ng/mL."""
    return MG_L_TO_NG_ML * max(y[X_MDZ], 0.0) * p[D_INV_V_MDZ]


# Compiled here rather than with decorators, so that each function is also a plain Python
# function a mutation-testing tool can rewrite (docs/testing.md); numba compiles the same code.
_enantiomer = njit(_enantiomer, inline="always")
pk_rhs = njit(pk_rhs, inline="always")
s_ketamine_ng_ml = njit(s_ketamine_ng_ml, inline="always")
r_ketamine_ng_ml = njit(r_ketamine_ng_ml, inline="always")
s_norketamine_ng_ml = njit(s_norketamine_ng_ml, inline="always")
r_norketamine_ng_ml = njit(r_norketamine_ng_ml, inline="always")
midazolam_ng_ml = njit(midazolam_ng_ml, inline="always")
