"""numba's ``njit`` with the floating-point licence the model and its solver are compiled
under.

LLVM may turn a division into a multiplication by a reciprocal (``arcp``), fuse a multiply
and an add (``contract``) and ignore the sign of zero (``nsz``). These change results in the
last bits only (measured: at most 2e-6 of an output's maximum over a course, against the
solver's rtol of 1e-6) and make a course ~25 % cheaper. Never ``nnan`` or ``ninf``: the solver
tests for NaN and infinite steps.

Never ``reassoc`` either. With it, LLVM reorders sums and products as it sees fit, and sees fit
differently in scalar code and in SIMD lanes: the model's ``rhs`` and the lane code generated
from it (``engine.lanes``) then differed in the last bits in a quarter of evaluations. Without
it, the same expressions round the same way in both, so the lane kernel integrates each patient
bit for bit as the per-patient kernel does (a test). The per-patient kernel pays 7-12 % with
daily outputs and about 1 % with outputs every 15 min (AMD EPYC, Zen 5); the lane kernel, the
default, is 1.6x to 2.5x faster than the per-patient kernel where outputs are sparse.
"""

from __future__ import annotations

import numba
from numba.extending import overload

FASTMATH = frozenset({"arcp", "contract", "nsz"})


def njit(func=None, **options):
    """``numba.njit`` with ``fastmath=FASTMATH`` unless the caller sets it."""
    options.setdefault("fastmath", set(FASTMATH))
    if func is None:
        return numba.njit(**options)
    return numba.njit(**options)(func)


def power(x, h):
    """``x ** h``. Compiled code takes the exact shortcuts for h = 12, 4, 2, 1, 0, x = 1 and
    x = 0 before the general power, which costs as much as the rest of a right-hand side
    (occupancy is exactly zero once the drug is eliminated, and the Hill exponents of the
    glutamate drive are 4 and 12);
    the JAX backend and the SBML export read this plain version."""
    return x ** h


@overload(power, inline="always", fastmath=set(FASTMATH))
def _power_compiled(x, h):
    def implementation(x, h):
        if h == 4.0:
            x2 = x * x
            return x2 * x2
        if h == 12.0:
            x2 = x * x
            x4 = x2 * x2
            return x4 * x4 * x4
        if h == 2.0:
            return x * x
        if h == 1.0:
            return x
        if x == 1.0 or h == 0.0:
            return 1.0
        if x == 0.0 and h > 0.0:
            return 0.0
        return x ** h
    return implementation
