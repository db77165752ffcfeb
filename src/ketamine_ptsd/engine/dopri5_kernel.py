# ruff: noqa: F821  (rhs, observe and FASTMATH are bound when the engine compiles this template)
# Population solver kernel: adaptive Dormand-Prince 5(4), one integrator per patient, events
# as hard breakpoints, dense output at the requested times. This file is a template: the
# engine prepends an import of the model's ``rhs``, ``observe`` and ``FASTMATH`` (the
# floating-point licence the model is compiled under, which the solver shares) and compiles the
# result as its own module, so numba caches one compiled solver per model source.
import math

import numpy as np
from numba import carray, njit, prange

from ketamine_ptsd.numba_views import borrowed as _borrowed  # noqa: F401 (the lockstep part of the compiled module uses it)
from ketamine_ptsd.numba_views import data_pointer as _ptr

# Imported as a plain module (the JAX backend reads the tableau from it), there is no model.
FASTMATH = globals().get("FASTMATH", frozenset())
# The outputs are compiled without reassociation, as the generated ``observe_lanes`` is: with
# it, LLVM reordered observe's sums one way in the process that compiled the solver and
# another in the machine code cached for later processes.
OBSERVE_FASTMATH = set(FASTMATH) - {"reassoc"}
# The stage vectors are padded to whole groups of this many states: four 4-wide vectors, how
# far LLVM unrolls the stage loops, which then run without a scalar remainder.
STAGE_GROUP = 16
if "rhs" in globals():
    # The solver's own dispatchers of the model's functions: compiled only as callees of the
    # solver, never as entry points. numba keeps the reference counting of an entry-point
    # compile in the copy linked into a later caller, so an ``rhs`` already called from Python
    # in this process would bring its atomic counts into every stage.
    rhs = njit(fastmath=set(FASTMATH))(rhs.py_func)
    observe = njit(fastmath=OBSERVE_FASTMATH)(observe.py_func)
    # The model's rhs compiled into the body of the call the step loop makes (below).
    _rhs_body = njit(fastmath=set(FASTMATH), inline="always")(rhs.py_func)

    @njit(error_model="numpy", fastmath=set(FASTMATH))
    def _rhs_at(t, y, p, u, dy, n, n_p, n_u):
        """``rhs`` on the arrays at pointers ``y``, ``p``, ``u`` and ``dy``. The step loop
        calls this rather than ``rhs``: an array argument is passed as seven values, so each
        call of ``rhs`` pushed 25 of them on the stack, 6 ns of a 34 ns call on the Intel
        Xeon kind. The arithmetic is ``rhs``'s own, so results are bit for bit the same."""
        _rhs_body(t, carray(y, n), carray(p, n_p), carray(u, n_u), carray(dy, n))

    _observe_body = njit(fastmath=OBSERVE_FASTMATH, inline="always")(observe.py_func)

    @njit(error_model="numpy", fastmath=OBSERVE_FASTMATH)
    def _observe_at(y, p, out, need, n, n_p, n_obs):
        """``observe`` on the arrays at pointers, for the same reason as ``_rhs_at``."""
        _observe_body(carray(y, n), carray(p, n_p), carray(out, n_obs), carray(need, n_obs))


# Dormand & Prince 1980 tableau; dense output of Shampine 1986 (the coefficients scipy's RK45 uses).
A21 = 1.0 / 5.0
A31, A32 = 3.0 / 40.0, 9.0 / 40.0
A41, A42, A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
A51, A52, A53, A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
A61, A62, A63, A64, A65 = 9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0
B1, B3, B4, B5, B6 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
C2, C3, C4, C5 = 0.2, 0.3, 0.8, 8.0 / 9.0
E1, E3, E4, E5, E6, E7 = (-71.0 / 57600.0, 71.0 / 16695.0, -71.0 / 1920.0, 17253.0 / 339200.0,
                          -22.0 / 525.0, 1.0 / 40.0)
DENSE = np.array([
    [1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0],
    [0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0],
    [0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0],
    [0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0],
    [0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0],
])
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH) - {"arcp"})
def _root_mean(s, n):
    """sqrt(s / n), the division a division: with ``arcp``, LLVM turned the lane kernel's 16
    divisions by n into multiplications by 1 / n, which round differently. Not inlined by numba,
    so that its instructions keep their own flags where LLVM inlines it."""
    return math.sqrt(s / n)


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH) - {"arcp"})
def _fraction(a, h):
    """a / h, the division a division (an output time's fraction of its step): with ``arcp``,
    LLVM may take 1 / h once for a loop's divisions by h, in one kernel and not the other."""
    return a / h


#: 2 ** (-r / 5) for r = 0 to 4: the part of x ** -0.2 that x's binary exponent leaves over.
_FIFTH_ROOTS_OF_HALF = (1.0, 0.8705505632961241, 0.757858283255199, 0.6597539553864471, 0.5743491774985174)


@njit(inline="always", error_model="numpy", fastmath=set(FASTMATH))
def _inverse_fifth_root(x):
    """x ** -0.2, for the step-size controller, in arithmetic that rounds the same in scalar
    code and in SIMD lanes: the library ``pow`` it replaces is a call per lane, 5.7 % of the
    lane kernel's time. x = 2^e m (m in [1, 2)) and e = 5q + r, so x ** -0.2 is 2^-q times
    2^(-r/5) times m ** -0.2; the last from a degree-4 Chebyshev fit (within 4e-5) and two
    Newton steps of y^-5 = m (within 1e-16). Infinity gives 0 and NaN NaN, as ``pow``;
    a subnormal x gives a large number, where the controller takes its largest factor anyway.
    ``_bits``, ``_double`` and ``_pow2`` are the lane code's (``lanes.py``)."""
    bits = _bits(x)
    e = _double(((bits >> 52) & 2047) | 4841369599423283200) - 4503599627371519.0
    m = _double((bits & 4503599627370495) | 4607182418800017408)
    q = math.floor(e * 0.2)
    r = e - 5.0 * q
    s = m - 1.0
    y = 0.9999607405985583 + s * (-0.19872720602733474 + s * (0.10994707398658496 + s * (
        -0.05498809739191604 + s * 0.01438635307631133)))
    for _ in range(2):
        y2 = y * y
        y = y + 0.2 * y * (1.0 - m * (y2 * y2 * y))
    roots = _FIFTH_ROOTS_OF_HALF
    t = roots[0] if r == 0.0 else (roots[1] if r == 1.0 else (roots[2] if r == 2.0 else (
        roots[3] if r == 3.0 else roots[4])))
    y = y * t * _pow2(-q)
    y = 0.0 if x == math.inf else y
    return x if x != x else y


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _rms(v, y, y2, rtol, atol):
    s = 0.0
    for i in range(v.size):
        sc = atol + rtol * max(abs(y[i]), abs(y2[i]))
        r = v[i] / sc
        s += r * r
    return _root_mean(s, v.size)


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _initial_step(t, y, f0, p, u, rtol, atol, span, ytmp, f1):
    """Hairer, Norsett & Wanner (1993) II.4 starting step."""
    d0 = _rms(y, y, y, rtol, atol)
    d1 = _rms(f0, y, y, rtol, atol)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, span)
    for i in range(y.size):
        ytmp[i] = y[i] + h0 * f0[i]
    rhs(t + h0, ytmp, p, u, f1)
    for i in range(y.size):
        f1[i] = f1[i] - f0[i]
    d2 = _rms(f1, y, y, rtol, atol) / h0
    big = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if big <= 1e-15 else (0.01 / big) ** 0.2
    return min(100.0 * h0, h1, span)


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _dense_coefficients(h, k0, k2, k3, k4, k5, k6, sel, c1, c2, c3, c4):
    """The dense output of the current step as a polynomial in its fraction x, for the states
    ``sel`` only: ``y(x) = y_old + x (c1 + x (c2 + x (c3 + x c4)))``. Computed once per step and
    evaluated at each output time inside it (a step holds many output times once the drug is
    gone), for the states the requested outputs read (8 of 28 for ketamine and PCL-5)."""
    for m in range(sel.size):
        # Unsigned: numba wraps a signed index read from memory around if negative, a compare
        # and a select per access (ketamine + PCL-5 every 15 min: 0.78 to 0.72-0.74 ms of CPU
        # per course on the AMD EPYC kind, the same results).
        i = np.uint64(sel[m])
        # Stage 2 has no weight in the dense output (row 1 of DENSE is zero).
        c1[i] = h * (DENSE[0, 0] * k0[i] + DENSE[2, 0] * k2[i] + DENSE[3, 0] * k3[i] + DENSE[4, 0] * k4[i]
                     + DENSE[5, 0] * k5[i] + DENSE[6, 0] * k6[i])
        c2[i] = h * (DENSE[0, 1] * k0[i] + DENSE[2, 1] * k2[i] + DENSE[3, 1] * k3[i] + DENSE[4, 1] * k4[i]
                     + DENSE[5, 1] * k5[i] + DENSE[6, 1] * k6[i])
        c3[i] = h * (DENSE[0, 2] * k0[i] + DENSE[2, 2] * k2[i] + DENSE[3, 2] * k3[i] + DENSE[4, 2] * k4[i]
                     + DENSE[5, 2] * k5[i] + DENSE[6, 2] * k6[i])
        c4[i] = h * (DENSE[0, 3] * k0[i] + DENSE[2, 3] * k2[i] + DENSE[3, 3] * k3[i] + DENSE[4, 3] * k4[i]
                     + DENSE[5, 3] * k5[i] + DENSE[6, 3] * k6[i])


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _needed(out_sel, n_obs, record_states):
    """``observe``'s ``need`` flags for the outputs ``out_sel`` (none when states are recorded)."""
    need = np.zeros(n_obs, np.bool_)
    if not record_states:
        for m in range(out_sel.size):
            need[out_sel[m]] = True
    return need


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _start_time(t_out, ev_time):
    """Where integration starts: the first output time, or the first event if earlier."""
    t = t_out[0]
    if ev_time.size > 0 and ev_time[0] < t:
        t = ev_time[0]
    return t


@njit(cache=True)
def _alive(*arrays):
    """Nothing: called where a function returns, it keeps the arrays it is given alive to
    there (numba frees an array after its last use), for views of them made by pointer."""


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def solve_one(y0, p, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, weight, t_out, out_sel,
              dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out):
    """Integrate one patient; fill ``out`` (T x K). Returns the number of accepted steps,
    or -1 if ``max_steps`` was exceeded (``out`` is then NaN from that point).

    The stages are seven separate vectors and every helper called per step is a leaf (the
    model's parts are inlined into ``rhs`` and ``observe``): a view of a larger array, or an
    array passed on to a further call, costs an atomic reference-count increment and
    decrement, which were a third of a course's time. The step loop hands the right-hand side
    pointers (``_rhs_at``), and runs its stage loops over vectors padded to whole SIMD groups;
    neither changes a result's bits, only what the arithmetic costs around them."""
    n = y0.size
    # The stage vectors are padded with zeros to whole groups of STAGE_GROUP states (without,
    # 14 of 30 states ran as scalar code). The padding stays zero (no right-hand side writes
    # it), and the error norm and the starting step see the n states only.
    n_pad = (n + STAGE_GROUP - 1) // STAGE_GROUP * STAGE_GROUP
    # y and ynew, k0 and k6 are owner-less views of two buffers each, which an accepted step
    # exchanges (pointers and views, no reference counts) rather than copying the new state
    # and derivative into the current ones.
    y_buf, ynew_buf, k0_buf, k6_buf = np.zeros(n_pad), np.zeros(n_pad), np.zeros(n_pad), np.zeros(n_pad)
    at_y, at_ynew, at_k0, at_k6 = _ptr(y_buf), _ptr(ynew_buf), _ptr(k0_buf), _ptr(k6_buf)
    y, ynew, k0, k6 = carray(at_y, n_pad), carray(at_ynew, n_pad), carray(at_k0, n_pad), carray(at_k6, n_pad)
    y[:n] = y0
    u = np.zeros(n_inputs)
    k1 = np.zeros(n_pad)
    k2 = np.zeros(n_pad)
    k3 = np.zeros(n_pad)
    k4 = np.zeros(n_pad)
    k5 = np.zeros(n_pad)
    ytmp = np.zeros(n_pad)
    err = np.zeros(n_pad)
    c1 = np.zeros(n)
    c2 = np.zeros(n)
    c3 = np.zeros(n)
    c4 = np.zeros(n)
    obs = np.zeros(n_obs)
    need = _needed(out_sel, n_obs, record_states)
    # The arrays the step loop's right-hand sides read and write, as pointers (``_rhs_at``);
    # the arrays themselves live to the end of this function.
    n_p = p.size
    at_p, at_u, at_ytmp = _ptr(p), _ptr(u), _ptr(ytmp)
    at_obs, at_need = _ptr(obs), _ptr(need)
    at_k1, at_k2, at_k3, at_k4, at_k5 = _ptr(k1), _ptr(k2), _ptr(k3), _ptr(k4), _ptr(k5)
    # The n states of the padded vectors, for the error norm and the starting step.
    y_n, ynew_n, ytmp_n = carray(at_y, n), carray(at_ynew, n), carray(at_ytmp, n)
    k0_n, err_n = carray(at_k0, n), carray(_ptr(err), n)
    n_ev = ev_time.size
    n_t = t_out.size
    t = _start_time(t_out, ev_time)
    t_end = t_out[n_t - 1]
    e = 0
    j = 0
    steps = 0
    h = 0.0
    while True:
        changed = False
        while e < n_ev and ev_time[e] <= t:
            amount = ev_fixed[e] + ev_perkg[e] * weight
            if ev_kind[e] == 0:
                y[ev_index[e]] += amount
            else:
                u[ev_index[e]] += amount
            changed = True
            e += 1
        if changed:
            for i in range(n_inputs):
                if abs(u[i]) < 1e-12:
                    u[i] = 0.0
        while j < n_t and t_out[j] <= t:
            if record_states:
                for m in range(out_sel.size):
                    out[j, m] = y[out_sel[m]]
            else:
                observe(y, p, obs, need)
                for m in range(out_sel.size):
                    out[j, m] = obs[out_sel[m]]
            j += 1
        if j >= n_t:
            _alive(y_buf, ynew_buf, k0_buf, k6_buf)
            return steps
        t_next = t_end
        if e < n_ev and ev_time[e] < t_next:
            t_next = ev_time[e]
        rhs(t, y, p, u, k0)
        span = t_next - t
        h = _initial_step(t, y_n, k0_n, p, u, rtol, atol, span, ytmp_n, err_n)
        while t < t_next:
            last = False
            if t + h >= t_next - 1e-12 * max(1.0, abs(t_next)):
                h = t_next - t
                last = True
            for i in range(n_pad):
                ytmp[i] = y[i] + h * A21 * k0[i]
            _rhs_at(t + C2 * h, at_ytmp, at_p, at_u, at_k1, n, n_p, n_inputs)
            for i in range(n_pad):
                ytmp[i] = y[i] + h * (A31 * k0[i] + A32 * k1[i])
            _rhs_at(t + C3 * h, at_ytmp, at_p, at_u, at_k2, n, n_p, n_inputs)
            for i in range(n_pad):
                ytmp[i] = y[i] + h * (A41 * k0[i] + A42 * k1[i] + A43 * k2[i])
            _rhs_at(t + C4 * h, at_ytmp, at_p, at_u, at_k3, n, n_p, n_inputs)
            for i in range(n_pad):
                ytmp[i] = y[i] + h * (A51 * k0[i] + A52 * k1[i] + A53 * k2[i] + A54 * k3[i])
            _rhs_at(t + C5 * h, at_ytmp, at_p, at_u, at_k4, n, n_p, n_inputs)
            for i in range(n_pad):
                ytmp[i] = y[i] + h * (A61 * k0[i] + A62 * k1[i] + A63 * k2[i] + A64 * k3[i] + A65 * k4[i])
            _rhs_at(t + h, at_ytmp, at_p, at_u, at_k5, n, n_p, n_inputs)
            for i in range(n_pad):
                ynew[i] = y[i] + h * (B1 * k0[i] + B3 * k2[i] + B4 * k3[i] + B5 * k4[i] + B6 * k5[i])
            _rhs_at(t + h, at_ynew, at_p, at_u, at_k6, n, n_p, n_inputs)
            for i in range(n_pad):
                err[i] = h * (E1 * k0[i] + E3 * k2[i] + E4 * k3[i] + E5 * k4[i] + E6 * k5[i] + E7 * k6[i])
            err_norm = _rms(err_n, y_n, ynew_n, rtol, atol)
            if err_norm <= 1.0:
                t_new = t_next if last else t + h
                if j < n_t and t_out[j] < t_new:
                    _dense_coefficients(h, k0, k2, k3, k4, k5, k6, dense_sel, c1, c2, c3, c4)
                while j < n_t and t_out[j] < t_new:
                    x = _fraction(t_out[j] - t, h)
                    for m in range(dense_sel.size):
                        i = np.uint64(dense_sel[m])  # unsigned, as in _dense_coefficients
                        ytmp[i] = y[i] + x * (c1[i] + x * (c2[i] + x * (c3[i] + x * c4[i])))
                    # The same recording as at the top of the segment, written out on purpose:
                    # one shared helper (inlined, no array views) made a course 13-18 % slower.
                    if record_states:
                        for m in range(out_sel.size):
                            out[j, m] = ytmp[out_sel[m]]
                    else:
                        # Pointers, as for the right-hand side: passed as arrays, the four
                        # were 28 values on the stack per output time (and, with an owner, 8
                        # atomic reference counts, 7 % of a course). observe is compiled without
                        # reassociation, so its outputs round the same in every process,
                        # whether it compiled the solver or loaded it from the cache.
                        _observe_at(at_ytmp, at_p, at_obs, at_need, n, n_p, n_obs)
                        for m in range(out_sel.size):
                            out[j, m] = obs[out_sel[m]]
                    j += 1
                t = t_new
                flushed = False
                for i in range(n):
                    # A state decayed below flush_below is set to exactly zero: an eliminated
                    # drug then no longer holds explicit steps to the fast PK eigenvalues.
                    if ynew[i] != 0.0 and abs(ynew[i]) < flush_below:
                        ynew[i] = 0.0
                        flushed = True
                at_y, at_ynew = at_ynew, at_y
                at_k0, at_k6 = at_k6, at_k0
                y, ynew = carray(at_y, n_pad), carray(at_ynew, n_pad)
                k0, k6 = carray(at_k0, n_pad), carray(at_k6, n_pad)
                y_n, ynew_n, k0_n = carray(at_y, n), carray(at_ynew, n), carray(at_k0, n)
                if flushed:
                    rhs(t, y, p, u, k0)
                steps += 1
                factor = MAX_FACTOR if err_norm == 0.0 else min(MAX_FACTOR, SAFETY * _inverse_fifth_root(err_norm))
                h *= factor
            else:
                h *= max(MIN_FACTOR, SAFETY * _inverse_fifth_root(err_norm))
            if steps > max_steps or not (h > 0.0):
                for jj in range(j, n_t):
                    for m in range(out_sel.size):
                        out[jj, m] = np.nan
                _alive(y_buf, ynew_buf, k0_buf, k6_buf)
                return -1


@njit(cache=True, parallel=True, error_model="numpy", fastmath=set(FASTMATH))
def solve_population(Y0, P, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, weight_col, t_out,
                     out_sel, dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out):
    """Integrate every patient (row of ``P``) in parallel, writing outputs into ``out``
    (N x T x K: each thread touches its patients' rows first, so even fresh memory is filled in
    parallel); returns the accepted steps per patient."""
    n_pat = P.shape[0]
    steps = np.empty(n_pat, np.int64)
    for i in prange(n_pat):
        steps[i] = solve_one(Y0[i], P[i], ev_time, ev_kind, ev_index, ev_fixed, ev_perkg,
                             P[i, weight_col], t_out, out_sel, dense_sel, record_states, n_inputs, n_obs,
                             rtol, atol, flush_below, max_steps, out[i])
    return steps
