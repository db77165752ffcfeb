"""Mass balance: every mg of ketamine that enters the body (after bioavailability) is in
exactly one ketamine state (depots, enantiomer compartments, norketamine in ketamine
equivalents, or the eliminated accumulator) at every time.

The administered amount is derived here by hand from the route rules; the sum of the mass
states is a linear invariant of the model, which Runge-Kutta methods conserve to
round-off, so without flushing the balance holds to ~1e-12. The default engine sets states
below ``flush_below`` to zero, which may drop at most that much per state and flush; the
tolerance allows for exactly that.
"""

from __future__ import annotations

import numpy as np
import pytest

from ketamine_ptsd import Dose, Population, Regimen, induction_series, simulate, with_maintenance
from ketamine_ptsd.engine import NumbaEngine
from ketamine_ptsd.model import layout as L

MASS_NAMES = [L.STATE_NAMES[i] for i in L.KETAMINE_MASS_STATES]
WEIGHT = 80.0


def step(t, t0):
    return (t >= t0).astype(float)


def ramp(t, t0, duration):
    return np.clip((t - t0) / duration, 0.0, 1.0)


def intranasal_esketamine(t, t0, n_devices):
    """28-mg devices 5 min apart: nasal part at once (0.54, then x0.62 per further device),
    the swallowed rest zero-order over 0.53 h; all of it enters the body."""
    total = np.zeros_like(t)
    for k in range(n_devices):
        tk = t0 + k * 5.0 / 60.0
        nasal = 0.54 * 0.62**k
        total += 28.0 * nasal * step(t, tk) + 28.0 * (1.0 - nasal) * ramp(t, tk, 0.53)
    return total


# Each case: regimen, cumulative amount entering the body (mg) as a function of time (h).
CASES = {
    "iv_infusion": (Regimen((Dose(1.0, 0.5, "iv_infusion", per_kg=True),)),
                    lambda t: 0.5 * WEIGHT * ramp(t, 1.0, 40.0 / 60.0)),
    "iv_infusion_long": (Regimen((Dose(0.0, 60.0, "iv_infusion", duration_h=5.0),)),
                         lambda t: 60.0 * ramp(t, 0.0, 5.0)),
    "iv_bolus": (Regimen((Dose(0.0, 0.2, "iv_bolus", per_kg=True),)), lambda t: 0.2 * WEIGHT * step(t, 0.0)),
    "im": (Regimen((Dose(0.0, 0.5, "im", per_kg=True),)), lambda t: 0.93 * 0.5 * WEIGHT * step(t, 0.0)),
    "im_esketamine": (Regimen((Dose(0.0, 30.0, "im", "esketamine"),)), lambda t: 0.93 * 30.0 * step(t, 0.0)),
    "intranasal_esketamine_56": (Regimen((Dose(0.5, 56.0, "intranasal", "esketamine"),)),
                                 lambda t: intranasal_esketamine(t, 0.5, 2)),
    "intranasal_esketamine_84": (Regimen((Dose(0.5, 84.0, "intranasal", "esketamine"),)),
                                 lambda t: intranasal_esketamine(t, 0.5, 3)),
    "intranasal_racemic": (Regimen((Dose(0.0, 50.0, "intranasal"),)),
                           lambda t: 50.0 * 0.3125 * step(t, 0.0) + 50.0 * 0.6875 * ramp(t, 0.0, 0.53)),
    "oral_racemic": (Regimen((Dose(0.0, 150.0, "oral"),)), lambda t: 150.0 * step(t, 0.0)),
    "oral_esketamine": (Regimen((Dose(0.0, 100.0, "oral", "esketamine"),)), lambda t: 100.0 * ramp(t, 0.0, 0.32)),
    "sublingual": (Regimen((Dose(0.0, 50.0, "sublingual"),)), lambda t: 50.0 * step(t, 0.0)),
    "sublingual_esketamine": (Regimen((Dose(0.0, 50.0, "sublingual", "esketamine"),)),
                              lambda t: 50.0 * step(t, 0.0)),
    "induction_series": (induction_series(),
                         lambda t: sum(0.5 * WEIGHT * ramp(t, 24.0 * d, 40.0 / 60.0) for d in (0, 2, 4, 7, 9, 11))),
    "induction_and_maintenance": (
        with_maintenance(induction_series(), every_days=7, from_day=18, until_day=32),
        lambda t: sum(0.5 * WEIGHT * ramp(t, 24.0 * d, 40.0 / 60.0) for d in (0, 2, 4, 7, 9, 11, 18, 25, 32))),
    "repeated_mixed_esketamine": (
        Regimen((Dose(0.0, 56.0, "intranasal", "esketamine"), Dose(72.0, 84.0, "intranasal", "esketamine"),
                 Dose(100.0, 20.0, "iv_bolus", "esketamine"), Dose(100.5, 25.0, "im", "esketamine"))),
        lambda t: (intranasal_esketamine(t, 0.0, 2) + intranasal_esketamine(t, 72.0, 3)
                   + 20.0 * step(t, 100.0) + 0.93 * 25.0 * step(t, 100.5))),
}


def times_for(regimen: Regimen) -> np.ndarray:
    end = regimen.end_h + 48.0
    grid = np.arange(0.0, end, 0.25)
    near = [d.time_h + np.array([1e-3, 0.1, 0.3, 0.5, 0.6]) for d in regimen.doses]
    return np.unique(np.concatenate([grid, *near]))


def mass_in_body(regimen, times, engine):
    traj = simulate(regimen, Population.typical(weight_kg=WEIGHT), engine=engine, times=times,
                    outputs=MASS_NAMES, record_states=True)
    return traj.values[0]


@pytest.mark.parametrize("case", list(CASES))
def test_mass_balance_exact_without_flushing(case):
    regimen, administered = CASES[case]
    engine = NumbaEngine(flush_below=0.0) if "flush_below" in NumbaEngine.__dataclass_fields__ else NumbaEngine()
    times = times_for(regimen)
    expected = administered(times)
    states = mass_in_body(regimen, times, engine)
    assert expected[-1] > 0
    np.testing.assert_allclose(states.sum(axis=1), expected, rtol=1e-10, atol=1e-10 * expected[-1])


@pytest.mark.parametrize("case", ["iv_infusion", "im", "intranasal_esketamine_56", "oral_esketamine", "sublingual",
                                  "induction_series", "repeated_mixed_esketamine"])
def test_mass_balance_with_default_engine(case):
    regimen, administered = CASES[case]
    engine = NumbaEngine()
    times = times_for(regimen)
    expected = administered(times)
    states = mass_in_body(regimen, times, engine)
    flush = getattr(engine, "flush_below", 0.0)
    # Each mass state can be flushed at most once per dose (it decays below the threshold
    # once after each refill); the invariant is otherwise conserved to round-off.
    allowed = 1e-10 * expected[-1] + flush * len(MASS_NAMES) * (2 * len(regimen.doses) + 1)
    np.testing.assert_allclose(states.sum(axis=1), expected, rtol=0, atol=allowed)
    # And no mass state is meaningfully negative.
    assert states.min() >= -max(flush, 1e-9)


def test_controls_carry_no_ketamine():
    regimen = Regimen((Dose(0.0, 0.045, "iv_infusion", "midazolam", per_kg=True),
                       Dose(48.0, 1.0, "iv_infusion", "saline")))
    states = mass_in_body(regimen, np.arange(0.0, 72.0, 0.5), NumbaEngine())
    assert np.all(states == 0.0)
