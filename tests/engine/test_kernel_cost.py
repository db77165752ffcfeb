"""The solver's hot path stays free of reference counting.

numba takes an atomic reference count on every array view it makes and on every array a
compiled function passes on to a further (not inlined) compiled call. In the right-hand side,
called 7-8 times per step, those counts were a third of a course's time; the model's parts are
therefore inlined into ``rhs``. This test fails when a part of ``rhs`` is no longer inlined
(or ``rhs`` otherwise starts counting references), before a benchmark would show it.
"""

from __future__ import annotations

import re

import numpy as np
from numba import njit

from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model.system import FASTMATH, rhs

# A dispatcher of its own, as the solver makes (``engine/dopri5_kernel.py``): the model's
# ``rhs`` may have been called from Python by another test, and an entry-point compile keeps
# its reference counts in the copy linked into later callers.
_rhs = njit(fastmath=set(FASTMATH))(rhs.py_func)

FUNCTION = re.compile(r"^(_ZN[\w$]*|cfunc\.[\w$]+|NRT_\w+):$")


def reference_counts_by_function(asm: str) -> dict[str, int]:
    """Calls to numba's reference counting named in each function of ``asm``."""
    counts, current = {}, None
    for line in asm.splitlines():
        match = FUNCTION.match(line)
        if match:
            current = match.group(1)
            counts[current] = 0
        elif line.startswith(".Lfunc_end"):
            current = None
        elif current is not None and ("NRT_incref" in line or "NRT_decref" in line):
            counts[current] += 1
    return counts


@njit(error_model="numpy", fastmath=set(FASTMATH))
def _stages(y, p, u, dy):
    """Calls ``rhs`` as the solver does: from a compiled caller, on its own vectors."""
    _rhs(0.0, y, p, u, dy)
    _rhs(0.1, dy, p, u, y)


def test_rhs_takes_no_reference_counts():
    n = len(MODEL.state_names)
    y, dy = np.zeros(n), np.zeros(n)
    p = np.ones(len(MODEL.param_names) + 40)
    u = np.zeros(len(MODEL.input_names))
    _stages(y, p, u, dy)
    counts = reference_counts_by_function(_stages.inspect_asm(_stages.signatures[0]))
    rhs_counts = {name: c for name, c in counts.items() if "6system3rhs" in name}
    assert rhs_counts, f"no compiled rhs among {sorted(counts)}"
    assert not any(rhs_counts.values()), \
        "rhs takes reference counts: inline (inline='always') the model function it now calls"


def test_borrowed_view_reads_and_writes_the_same_data():
    from ketamine_ptsd.engine.numba_engine import kernel

    borrowed = kernel(MODEL)._borrowed

    @njit
    def write_through(a):
        view = borrowed(a)
        view[1] = 5.0
        return view.shape[0], view.strides[0], view[2]

    a = np.arange(4.0)
    assert write_through(a) == (4, 8, 2.0)
    assert a.tolist() == [0.0, 5.0, 2.0, 3.0]


def test_data_pointer_views_the_same_data():
    """``carray(data_pointer(a), n)`` is ``a``'s first n elements, written through."""
    from numba import carray

    from ketamine_ptsd.numba_views import data_pointer

    @njit
    def write_through(a, n):
        view = carray(data_pointer(a), n)
        view[1] = 5.0
        return view.shape[0], view[2]

    a = np.arange(5.0)
    assert write_through(a, 3) == (3, 2.0)
    assert a.tolist() == [0.0, 5.0, 2.0, 3.0, 4.0]


def _states_during_infusion(n_patients: int):
    """Model states, parameters and inputs of real patients while ketamine is infused (every
    part of the right-hand side active), from a short simulation."""
    from ketamine_ptsd import Population, simulate, single_dose

    regimen = single_dose()
    population = Population.virtual(n_patients, seed=11)
    traj = simulate(regimen, population, times=np.array([0.0, 0.3, 0.7, 3.0]), record_states=True)
    states = np.asarray(traj.values).reshape(-1, len(MODEL.state_names))
    params = MODEL.prepare(population.parameters(regimen.pk_product))
    return states, np.repeat(params, 4, axis=0)


def test_pointer_call_of_rhs_is_bit_for_bit_rhs():
    """The step loop's ``_rhs_at`` (pointers in registers) computes exactly ``rhs``."""
    from ketamine_ptsd.engine.numba_engine import kernel

    mod = kernel(MODEL)
    states, params = _states_during_infusion(6)
    n, n_u = states.shape[1], len(MODEL.input_names)

    @njit(error_model="numpy", fastmath=set(FASTMATH))
    def both(y, p, u, a, b):
        _rhs(0.0, y, p, u, a)
        mod_rhs_at(0.0, ptr(y), ptr(p), ptr(u), ptr(b), y.size, p.size, u.size)

    mod_rhs_at, ptr = mod._rhs_at, mod._ptr
    for u_iv in (0.0, 35.0):
        u = np.zeros(n_u)
        u[0] = u_iv
        for y, p in zip(states, params):
            a, b = np.full(n, np.nan), np.full(n, np.nan)
            both(np.ascontiguousarray(y), np.ascontiguousarray(p), u, a, b)
            assert not np.isnan(a).any()
            assert a.tobytes() == b.tobytes()


def test_pointer_call_of_observe_is_bit_for_bit_observe():
    """The dense output's ``_observe_at`` computes exactly the solver's ``observe``."""
    from ketamine_ptsd.engine.numba_engine import kernel

    mod = kernel(MODEL)
    states, params = _states_during_infusion(6)
    n_obs = len(MODEL.output_names)
    mod_observe, mod_observe_at, ptr = mod.observe, mod._observe_at, mod._ptr

    @njit(error_model="numpy", fastmath=set(FASTMATH))
    def both(y, p, need, a, b):
        mod_observe(y, p, a, need)
        mod_observe_at(ptr(y), ptr(p), ptr(b), ptr(need), y.size, p.size, need.size)

    need = MODEL.all_outputs()
    for y, p in zip(states, params):
        a, b = np.full(n_obs, np.nan), np.full(n_obs, np.nan)
        both(np.ascontiguousarray(y), np.ascontiguousarray(p), need, a, b)
        assert not np.isnan(a).any()
        assert a.tobytes() == b.tobytes()
