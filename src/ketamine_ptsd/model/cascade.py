"""The neurobiological cascade: NMDA occupancy -> transient glutamate surge -> mTOR ->
BDNF -> delayed spine formation -> labile and stabilised synapses -> plasticity window.

All cascade states are dimensionless; 0 is the patient's untreated baseline.
"""

from __future__ import annotations

from numba import njit

from ..units import KETAMINE_G_PER_MOL, NORKETAMINE_G_PER_MOL
from .layout import (
    P_ADAPT_TAU,
    P_BDNF_TAU,
    P_DELAY_TAU,
    P_DISINH_EXP,
    P_FORM_RATE,
    P_FU,
    P_GLU_GAIN,
    P_KI_NKR,
    P_KI_NKS,
    P_KI_R,
    P_KI_S,
    P_LABILE_TAU,
    P_MTOR_TAU,
    P_NK_BRAIN,
    P_PLAST_HALF,
    P_SET_POINT,
    P_STAB_RATE,
    P_STABLE_TAU,
    X_ADAPT,
    X_BDNF,
    X_CER,
    X_CES,
    X_D1,
    X_D2,
    X_LABILE,
    X_MTOR,
    X_STABLE,
)


@njit(inline="always")
def nmda_occupancy(y, p, s_nk_ng_ml, r_nk_ng_ml):
    """Competitive occupancy by all four species: O = x / (1 + x), x = sum(Cu_i / Ki_i),
    with unbound effect-site ketamine and unbound brain norketamine in µM."""
    fu = p[P_FU]
    nk_brain = fu * p[P_NK_BRAIN] / NORKETAMINE_G_PER_MOL
    x = (fu * max(y[X_CES], 0.0) / KETAMINE_G_PER_MOL / p[P_KI_S]
         + fu * max(y[X_CER], 0.0) / KETAMINE_G_PER_MOL / p[P_KI_R]
         + nk_brain * s_nk_ng_ml / p[P_KI_NKS]
         + nk_brain * r_nk_ng_ml / p[P_KI_NKR])
    return x / (1.0 + x)


@njit(inline="always")
def disinhibition(occupancy, p):
    """Inverted U of glutamate release with occupancy, scaled to a maximum of 1:
    interneuron block disinhibits pyramidal cells, pyramidal block at high occupancy
    shuts release down (Moghaddam 1997)."""
    h = p[P_DISINH_EXP]
    o_best = 1.0 / (1.0 + h)
    return occupancy * (1.0 - occupancy) ** h / (o_best * (1.0 - o_best) ** h)


@njit(inline="always")
def glutamate_rise(y, p, occupancy):
    """Glutamate above baseline (fraction): the disinhibition drive less its adaptation."""
    return p[P_GLU_GAIN] * max(disinhibition(occupancy, p) - y[X_ADAPT], 0.0)


@njit(inline="always")
def spine_formation(y, p):
    """New-synapse formation flux (fraction of healthy density per hour)."""
    room = max(1.0 - p[P_SET_POINT] - y[X_LABILE] - y[X_STABLE], 0.0)
    return p[P_FORM_RATE] * max(y[X_D2], 0.0) * room


@njit(inline="always")
def plasticity(y, p):
    """Plasticity window, 0-1: how open the circuit is to reorganisation now."""
    flux = spine_formation(y, p)
    return flux / (flux + p[P_PLAST_HALF])


@njit(inline="always")
def synaptic_density(y, p):
    """Synaptic density as a fraction of the healthy level."""
    return p[P_SET_POINT] + max(y[X_LABILE], 0.0) + max(y[X_STABLE], 0.0)


@njit
def cascade_rhs(y, p, occupancy, dy):
    """Right-hand side of the cascade states."""
    drive = disinhibition(occupancy, p)
    glu = p[P_GLU_GAIN] * max(drive - y[X_ADAPT], 0.0)
    dy[X_ADAPT] = (drive - y[X_ADAPT]) / p[P_ADAPT_TAU]
    dy[X_MTOR] = (glu - y[X_MTOR]) / p[P_MTOR_TAU]
    dy[X_BDNF] = (y[X_MTOR] - y[X_BDNF]) / p[P_BDNF_TAU]
    tau_d = p[P_DELAY_TAU]
    dy[X_D1] = (y[X_BDNF] - y[X_D1]) / tau_d
    dy[X_D2] = (y[X_D1] - y[X_D2]) / tau_d
    formation = spine_formation(y, p)
    stabilisation = p[P_STAB_RATE] * max(y[X_BDNF], 0.0) * y[X_LABILE]
    dy[X_LABILE] = formation - y[X_LABILE] / p[P_LABILE_TAU] - stabilisation
    dy[X_STABLE] = stabilisation - y[X_STABLE] / p[P_STABLE_TAU]
