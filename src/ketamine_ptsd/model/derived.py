"""Per-patient constants computed once from the parameters.

The equations read a working vector ``q``: the parameters (``layout.PARAM_NAMES``), then
the constants of ``layout.DERIVED_NAMES`` that :func:`derive` writes from them. Every
division by a parameter and every power of parameters alone happens here, once per patient,
instead of in each of the ~8,000 right-hand-side calls of a course. It is numpy over
all patients at once, not compiled code: nothing to compile when a command starts.
"""

from __future__ import annotations

import numpy as np

from ..units import KETAMINE_G_PER_MOL, NORKETAMINE_G_PER_MOL
from .layout import (
    D_INV_AD_TAU,
    D_INV_ADAPT_TAU,
    D_INV_BDNF_TAU,
    D_INV_CADSS_ACUTE_TAU,
    D_INV_CADSS_EC50,
    D_INV_DELAY_TAU,
    D_INV_EXP_ONSET,
    D_INV_EXP_TAU,
    D_INV_FUNC_DECAY_TAU,
    D_INV_FUNC_TAU,
    D_INV_LABILE_TAU,
    D_INV_MTOR_TAU,
    D_INV_OCC_BLOCK,
    D_INV_OCC_HALF,
    D_INV_ROOM,
    D_INV_STABLE_TAU,
    D_INV_THER_TAU,
    D_INV_TOL_TAU,
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
    D_OCC_NKR,
    D_OCC_NKS,
    D_OCC_R,
    D_OCC_S,
    N_PARAMS,
    N_WORK,
    P_AD_TAU,
    P_ADAPT_TAU,
    P_BDNF_TAU,
    P_CADSS_ACUTE_TAU,
    P_CADSS_EC50,
    P_CL_MDZ,
    P_CL_NK,
    P_DELAY_TAU,
    P_EXP_ONSET,
    P_EXP_TAU,
    P_FU,
    P_FUNC_DECAY_TAU,
    P_FUNC_TAU,
    P_KI_NKR,
    P_KI_NKS,
    P_KI_R,
    P_KI_S,
    P_LABILE_TAU,
    P_MTOR_TAU,
    P_NK_BRAIN,
    P_OCC_BLOCK,
    P_OCC_HALF,
    P_SET_POINT,
    P_STABLE_TAU,
    P_THER_TAU,
    P_TOL_TAU,
    P_V1_R,
    P_V1_S,
    P_V2_R,
    P_V2_S,
    P_V3_R,
    P_V3_S,
    P_V_MDZ,
    P_V_NK,
)

MG_L_TO_NG_ML = 1000.0
#: Norketamine is stored in ketamine-equivalent mg; this turns it into mg of norketamine.
NK_MASS_RATIO = NORKETAMINE_G_PER_MOL / KETAMINE_G_PER_MOL


#: (derived, parameter) pairs where the derived constant is the parameter's reciprocal.
RECIPROCALS = (
    (D_INV_V1_S, P_V1_S), (D_INV_V2_S, P_V2_S), (D_INV_V3_S, P_V3_S),
    (D_INV_V1_R, P_V1_R), (D_INV_V2_R, P_V2_R), (D_INV_V3_R, P_V3_R), (D_INV_V_MDZ, P_V_MDZ),
    (D_INV_TOL_TAU, P_TOL_TAU), (D_INV_CADSS_EC50, P_CADSS_EC50),
    (D_INV_ADAPT_TAU, P_ADAPT_TAU), (D_INV_MTOR_TAU, P_MTOR_TAU), (D_INV_BDNF_TAU, P_BDNF_TAU),
    (D_INV_DELAY_TAU, P_DELAY_TAU), (D_INV_LABILE_TAU, P_LABILE_TAU), (D_INV_STABLE_TAU, P_STABLE_TAU),
    (D_INV_FUNC_TAU, P_FUNC_TAU), (D_INV_THER_TAU, P_THER_TAU), (D_INV_EXP_ONSET, P_EXP_ONSET),
    (D_INV_EXP_TAU, P_EXP_TAU), (D_INV_AD_TAU, P_AD_TAU),
    (D_INV_CADSS_ACUTE_TAU, P_CADSS_ACUTE_TAU), (D_INV_FUNC_DECAY_TAU, P_FUNC_DECAY_TAU),
    (D_INV_OCC_HALF, P_OCC_HALF), (D_INV_OCC_BLOCK, P_OCC_BLOCK),
)


def derive(q):
    """Write the derived constants of working vector ``q`` from its parameters ``q[:N_PARAMS]``.

    Plain Python on purpose: ``q`` may be one patient's vector, a matrix with one column per
    patient (``prepare_all``) or a list of symbols (the SBML export writes each constant as
    its formula)."""
    for derived, parameter in RECIPROCALS:
        q[derived] = 1.0 / q[parameter]
    q[D_K_NK] = q[P_CL_NK] / q[P_V_NK]
    q[D_K_MDZ] = q[P_CL_MDZ] / q[P_V_MDZ]
    # ng/mL of norketamine per ketamine-equivalent mg in the body
    q[D_NK_NG_ML] = MG_L_TO_NG_ML * NK_MASS_RATIO / q[P_V_NK]
    # NMDA occupancy: µM of unbound drug per ng/mL, over each species' Ki (µM)
    fu = q[P_FU]
    q[D_OCC_S] = fu / KETAMINE_G_PER_MOL / q[P_KI_S]
    q[D_OCC_R] = fu / KETAMINE_G_PER_MOL / q[P_KI_R]
    nk_brain = fu * q[P_NK_BRAIN] / NORKETAMINE_G_PER_MOL
    q[D_OCC_NKS] = nk_brain / q[P_KI_NKS]
    q[D_OCC_NKR] = nk_brain / q[P_KI_NKR]
    q[D_INV_ROOM] = 1.0 / (1.0 - q[P_SET_POINT])


def prepare_all(params: np.ndarray) -> np.ndarray:
    """Working vectors (N x N_WORK, C-contiguous) of patients ``params`` (N x N_PARAMS)."""
    columns = np.empty((N_WORK, params.shape[0]))
    columns[:N_PARAMS] = params.T
    derive(columns)
    return np.ascontiguousarray(columns.T)
