"""The neurobiological cascade: NMDA occupancy -> transient glutamate surge -> mTOR ->
BDNF -> delayed spine formation -> labile and stabilised synapses -> plasticity window.

All cascade states are dimensionless; 0 is the patient's untreated baseline.
"""

from __future__ import annotations

from ._jit import njit, power
from .layout import (
    D_INV_ADAPT_TAU,
    D_INV_BDNF_TAU,
    D_INV_DELAY_TAU,
    D_INV_LABILE_TAU,
    D_INV_MTOR_TAU,
    D_INV_OCC_BLOCK,
    D_INV_OCC_HALF,
    D_INV_STABLE_TAU,
    D_OCC_NKR,
    D_OCC_NKS,
    D_OCC_R,
    D_OCC_S,
    P_BLOCK_HILL,
    P_DRIVE_HILL,
    P_FORM_RATE,
    P_GLU_GAIN,
    P_PLAST_HALF,
    P_SET_POINT,
    P_STAB_RATE,
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

#: Disinhibition below this (a fraction of its maximum) is no drive at all: the glutamate
#: surge, mTOR and BDNF then decay to exactly zero (the solver's flush) and stay there, where a
#: drug nearly eliminated, whose occupancy falls for days, would keep refilling them with values
#: near 1e-12 that the solver flushed again after every second step, each time at the cost of a
#: further right-hand side (with it, 193 instead of 586 extra right-hand sides per induction
#: course). A numerical setting, not a parameter: it is subtracted, so the drive stays
#: continuous, and it moves a course's outputs by at most 1.6e-6 of their maximum (plasticity;
#: 2e-7 for the PTSD scores), the size of the solver's rtol, through the steps it takes.
#: The SBML export sets it to 0, as it leaves out the flush: the kink at 1e-10 holds CVODE at
#: its tightest tolerances (atol 1e-12) to its smallest step, and a general tool's integrator
#: needs neither.
DRIVE_FLOOR = 1e-10


@njit(inline="always")
def nmda_occupancy(y, p, s_nk_ng_ml, r_nk_ng_ml):
    """Competitive occupancy by all four species: O = x / (1 + x), x = sum(Cu_i / Ki_i),
    with unbound effect-site ketamine and unbound brain norketamine in µM."""
    x = (p[D_OCC_S] * max(y[X_CES], 0.0) + p[D_OCC_R] * max(y[X_CER], 0.0)
         + p[D_OCC_NKS] * s_nk_ng_ml + p[D_OCC_NKR] * r_nk_ng_ml)
    return x / (1.0 + x)


@njit(inline="always")
def disinhibition(occupancy, p):
    """The two parts of the glutamate-release drive of occupancy, each 0-1: the
    disinhibition of pyramidal cells, a steep rise once enough interneuron NMDA receptors
    are blocked (half-maximal at ``drive_occupancy_half``, Hill ``drive_hill``), and the
    share of release left when pyramidal receptors are blocked too at anaesthetic occupancy
    (half at ``drive_occupancy_block``; Moghaddam 1997). The rise is set by the human
    dose-ranging trials (0.1 and 0.2 mg/kg IV and 28 mg esketamine weak, 0.5 and 1.0 mg/kg
    and 84 mg strong), the fall lies above them."""
    a = power(occupancy * p[D_INV_OCC_HALF], p[P_DRIVE_HILL])
    if DRIVE_FLOOR > 0.0:  # a constant: compiled code keeps only the branch taken
        a = max(a - DRIVE_FLOOR, 0.0)
    b = power(occupancy * p[D_INV_OCC_BLOCK], p[P_BLOCK_HILL])
    inv = 1.0 / ((1.0 + a) * (1.0 + b))
    return a * (1.0 + b) * inv, (1.0 + a) * inv


@njit(inline="always")
def glutamate_rise(y, p, occupancy):
    """Glutamate above baseline (fraction): the disinhibition, less its adaptation, times
    the release left under pyramidal block. Adaptation follows the disinhibition itself, so
    a long anaesthetic block adapts the circuit and its washout brings no second surge."""
    rise, left = disinhibition(occupancy, p)
    return p[P_GLU_GAIN] * max(rise * left - y[X_ADAPT], 0.0)


@njit(inline="always")
def spine_formation(y, p):
    """New-synapse formation flux (fraction of healthy density per hour)."""
    room = max(1.0 - p[P_SET_POINT] - y[X_LABILE] - y[X_STABLE], 0.0)
    return p[P_FORM_RATE] * max(y[X_D2], 0.0) * room


@njit(inline="always")
def plasticity(y, p):
    """Plasticity window, 0-1: how open the circuit is to reorganisation now."""
    return plasticity_of_flux(spine_formation(y, p), p)


@njit(inline="always")
def plasticity_of_flux(flux, p):
    """The plasticity window of a spine-formation flux."""
    return flux / (flux + p[P_PLAST_HALF])


@njit(inline="always")
def synaptic_density(y, p):
    """Synaptic density as a fraction of the healthy level."""
    return p[P_SET_POINT] + max(y[X_LABILE], 0.0) + max(y[X_STABLE], 0.0)


@njit(inline="always")
def cascade_rhs(y, p, occupancy, dy):
    """Right-hand side of the cascade states; returns the spine-formation flux (the
    plasticity window's input), so the caller need not compute it again."""
    rise, left = disinhibition(occupancy, p)
    glu = p[P_GLU_GAIN] * max(rise * left - y[X_ADAPT], 0.0)
    dy[X_ADAPT] = (rise - y[X_ADAPT]) * p[D_INV_ADAPT_TAU]
    dy[X_MTOR] = (glu - y[X_MTOR]) * p[D_INV_MTOR_TAU]
    dy[X_BDNF] = (y[X_MTOR] - y[X_BDNF]) * p[D_INV_BDNF_TAU]
    rate_d = p[D_INV_DELAY_TAU]
    dy[X_D1] = (y[X_BDNF] - y[X_D1]) * rate_d
    dy[X_D2] = (y[X_D1] - y[X_D2]) * rate_d
    formation = spine_formation(y, p)
    stabilisation = p[P_STAB_RATE] * max(y[X_BDNF], 0.0) * y[X_LABILE]
    dy[X_LABILE] = formation - y[X_LABILE] * p[D_INV_LABILE_TAU] - stabilisation
    dy[X_STABLE] = stabilisation - y[X_STABLE] * p[D_INV_STABLE_TAU]
    return formation
