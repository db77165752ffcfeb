# ruff: noqa: F821  (the names below are bound when the engine compiles this template)
# Lockstep population kernel: the Dormand-Prince 5(4) of ``dopri5_kernel.py`` with LANES
# patients stepped together, so that the model's arithmetic runs in SIMD lanes. This file is
# a template: the engine compiles it in one module after ``dopri5_kernel.py`` (its tableau,
# ``solve_one`` and ``_borrowed``), the lane functions that ``lanes.py`` generates from the
# model's source (``LANES``, ``rhs_lanes``, ``observe_block_lanes``) and two constants of
# ``numba_engine``: ``SINGLE_RECIPROCAL``, chosen for the CPU, and ``WORK_COUNTS``, how many
# counts of its work ``solve_lanes`` reports (``numba_engine.WORK_COUNTS`` names them).
#
# Every lane array is laid out by variable and lane: variable i of lane l is ``a[i * LANES + l]``,
# so each update below is one flat loop that LLVM vectorises, and the generated functions'
# loops over lanes have a trip count (``nl``, always LANES) that LLVM does not unroll away.
# The lanes share time, step size, events and output times; a step is accepted when every
# lane's own error norm (the per-patient kernel's) is within tolerance, so each patient is
# integrated at least as accurately as alone, at the price of the steps its group's hardest
# patient needs. A group that fails (step limit, or a step size of zero) is integrated again
# one patient at a time by ``solve_one``, so a failure is the patient's own.


@njit(inline="always", error_model="numpy", fastmath=set(FASTMATH))
def _inv_scale(a, b, rtol, atol):
    """1 / (atol + rtol max(|a|, |b|)). Where ``SINGLE_RECIPROCAL`` (``numba_engine.
    single_precision_reciprocal`` for this CPU), the reciprocal is taken in single precision,
    where a vector division costs a third on an Intel Xeon, and refined by one Newton step to
    about 1e-14 (the norm only decides steps); on a Zen 3 AMD EPYC a double division is
    cheaper than the conversions and the single-precision division."""
    scale = atol + rtol * max(abs(a), abs(b))
    if SINGLE_RECIPROCAL:
        inv = np.float64(np.float32(1.0) / np.float32(scale))
        return inv * (2.0 - scale * inv)
    return 1.0 / scale


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _lane_norms(v, y, y2, rtol, atol, acc, n, tmp):
    """Each lane's RMS norm of ``v`` scaled by the mixed tolerance, into ``acc`` (``tmp``:
    scratch of the lane arrays' size): the scaled squares in one flat loop that vectorises,
    then summed by lane."""
    for q in range(n * LANES):
        r = v[q] * _inv_scale(y[q], y2[q], rtol, atol)
        tmp[q] = r * r
    _lane_rms(tmp, acc, n)


@njit(inline="always", error_model="numpy", fastmath=set(FASTMATH))
def _lane_rms(squares, acc, n):
    _lane_sums(squares, acc, n)
    for l in range(LANES):
        acc[l] = math.sqrt(acc[l] / n)


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _worst(acc):
    """The largest lane norm (NaN if any lane's is NaN)."""
    worst = 0.0
    for l in range(LANES):
        a = acc[l]
        if a != a:
            return a
        if a > worst:
            worst = a
    return worst


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _initial_step_lanes(t, y, f0, p, u, rtol, atol, span, ytmp, f1, acc, n, tmp, lanes):
    """The per-patient kernel's starting step (Hairer, Norsett & Wanner II.4) for each lane,
    the smallest of them shared (``lanes``: LANES, as in ``solve_lanes``)."""
    size = n * LANES
    d0 = np.empty(LANES)
    d1 = np.empty(LANES)
    _lane_norms(y, y, y, rtol, atol, acc, n, tmp)
    d0[:] = acc
    _lane_norms(f0, y, y, rtol, atol, acc, n, tmp)
    d1[:] = acc
    h0 = span
    for l in range(LANES):
        h_l = 1e-6 if (d0[l] < 1e-5 or d1[l] < 1e-5) else 0.01 * d0[l] / d1[l]
        h0 = min(h0, h_l)
    for q in range(size):
        ytmp[q] = y[q] + h0 * f0[q]
    rhs_lanes(t + h0, ytmp, p, u, f1, lanes)
    for q in range(size):
        f1[q] = f1[q] - f0[q]
    _lane_norms(f1, y, y, rtol, atol, acc, n, tmp)
    h = min(100.0 * h0, span)
    for l in range(LANES):
        big = max(d1[l], acc[l] / h0)
        h1 = max(1e-6, h0 * 1e-3) if big <= 1e-15 else (0.01 / big) ** 0.2
        h = min(h, h1)
    return h


#: Output times held per group before their outputs are computed and written out: the states
#: of up to OUT_BLOCK times are held (only those the outputs read), the model's outputs of all
#: of them computed in one call (``observe_block_lanes``), and each lane's values of one output
#: then go out as a run of consecutive times, rather than LANES x outputs scattered stores per
#: time into as many distant rows (in the streaming writer's outputs x patients x times layout,
#: one page each). 16 times of float64 fill two cache lines (float32 one); 32 were no cheaper
#: (0.3065 against 0.3027 ms per course on a Zen 4 AMD EPYC, docs/benchmarks.md).
OUT_BLOCK = 16


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _flush_outputs(held, count, p, obs, need, record_states, out_sel, out, j0, rows, nl):
    """The outputs of the first ``count`` held output times (``held``: their states, a row of
    states x LANES each) written to ``out[rows[l], j0 + jj, m]``, in the order of ``out``'s
    memory: the states themselves, or the model's outputs of them (``obs``: scratch, a row of
    outputs x LANES per time)."""
    src = held
    row = held.size // OUT_BLOCK
    if not record_states:
        # Owner-less views (``_borrowed``): as in the per-patient kernel, each array handed to a
        # compiled call otherwise costs an atomic reference count in and out (measured 1-4 % of
        # a course, outputs identical). The lane count as a run-time value (rows has LANES
        # entries), for the reason given in ``solve_lanes``.
        observe_block_lanes(_borrowed(held), _borrowed(p), _borrowed(obs), _borrowed(need), rows.size, count)
        src = obs
        row = obs.size // OUT_BLOCK
    n_out = out_sel.size
    times_inner = out.strides[1] <= out.strides[2]
    for l in range(nl):
        r = rows[l]
        if times_inner:
            for m in range(n_out):
                at = out_sel[m] * LANES + l
                for jj in range(count):
                    out[r, j0 + jj, m] = src[jj * row + at]
        else:
            for jj in range(count):
                at = jj * row + l
                for m in range(n_out):
                    out[r, j0 + jj, m] = src[at + out_sel[m] * LANES]


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _hold_state(y, held, jj, run_lo, run_hi):
    """The states the outputs read, of ``y``, held as output time ``jj`` of the block."""
    at = jj * y.size
    for r in range(run_lo.size):
        for q in range(run_lo[r], run_hi[r]):
            held[at + q] = y[q]


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _lane_runs(sel):
    """The lane-array ranges ``[lo, hi)`` that hold the states ``sel``, one per run of consecutive
    states. The dense output's loops go over these ranges flat with unsigned indices: numba
    wraps a negative signed index around (a compare and a select per access, since LLVM cannot
    tell that an index read from memory is not negative), and that, with a constant LANES trip
    count that LLVM unrolls, kept them scalar. Ketamine and PCL-5 every 15 min: 0.49 to 0.37 ms
    of CPU per course on the AMD EPYC kind, the same results to the last bit."""
    lo = np.empty(sel.size, np.int64)
    hi = np.empty(sel.size, np.int64)
    n = 0
    for m in range(sel.size):
        if n > 0 and sel[m] * LANES == hi[n - 1]:
            hi[n - 1] += LANES
        else:
            lo[n] = sel[m] * LANES
            hi[n] = lo[n] + LANES
            n += 1
    return lo[:n].copy(), hi[:n].copy()


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _stage_vectors(size):
    """A step's seven stage vectors (k0 to k6) and the dense output's four coefficient vectors
    (c1 to c4), zeroed lane arrays of ``size``: for both lane kernels."""
    return (np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size),
            np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size))


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def solve_lanes(y0, p, weight, nl, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, t_out, out_sel, dense_sel,
                record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out, rows, work):
    """Integrate LANES patients in lockstep (lane arrays ``y0``, ``p``, ``weight``); write the
    outputs of the first ``nl`` lanes into ``out[rows[l]]``. Returns the accepted steps, or -1
    if ``max_steps`` was exceeded or the step size fell to zero (``out`` is then incomplete).
    ``work`` (WORK_COUNTS integers) receives the arithmetic done, for the benchmarks' flop
    count: accepted and rejected steps, right-hand side evaluations and dense-output passes."""
    n = y0.size // LANES
    size = n * LANES
    # The lane count handed to the generated functions: LANES, read from an argument's size so
    # that it is a run-time value. Given the constant at every call, LLVM specialised the lane
    # loops of its copies of those functions to it, and with LANES = 8 kept them scalar (0.91
    # against 0.51 to 0.55 ms per course on a Zen 3; with 16 no difference, 16 the cheaper).
    lanes = rows.size
    y = y0.copy()
    u = np.zeros(n_inputs * LANES)
    k0, k1, k2, k3, k4, k5, k6, c1, c2, c3, c4 = _stage_vectors(size)
    ynew = np.empty(size)
    ytmp = np.zeros(size)
    f1 = np.empty(size)  # the starting step's second derivative evaluation
    acc = np.zeros(LANES)
    scratch = np.empty(size)
    obs = np.zeros(OUT_BLOCK * n_obs * LANES)
    held = np.zeros(OUT_BLOCK * size)
    j0 = 0
    need = _needed(out_sel, n_obs, record_states)
    run_lo, run_hi = _lane_runs(dense_sel)
    n_ev = ev_time.size
    n_t = t_out.size
    t = _start_time(t_out, ev_time)
    t_end = t_out[n_t - 1]
    e = 0
    j = 0
    steps = 0
    rejected = 0
    rhs_calls = 0
    dense_passes = 0
    h = 0.0
    while True:
        changed = False
        while e < n_ev and ev_time[e] <= t:
            base = ev_index[e] * LANES
            for l in range(LANES):
                amount = ev_fixed[e] + ev_perkg[e] * weight[l]
                if ev_kind[e] == 0:
                    y[base + l] += amount
                else:
                    u[base + l] += amount
            changed = True
            e += 1
        if changed:
            for q in range(n_inputs * LANES):
                if abs(u[q]) < 1e-12:
                    u[q] = 0.0
        while j < n_t and t_out[j] <= t:
            _hold_state(y, held, j - j0, run_lo, run_hi)
            j += 1
            if j - j0 == OUT_BLOCK:
                _flush_outputs(_borrowed(held), OUT_BLOCK, _borrowed(p), _borrowed(obs), _borrowed(need), record_states,
                               _borrowed(out_sel), _borrowed(out), j0, _borrowed(rows), nl)
                j0 = j
        if j >= n_t:
            _flush_outputs(_borrowed(held), j - j0, _borrowed(p), _borrowed(obs), _borrowed(need), record_states,
                           _borrowed(out_sel), _borrowed(out), j0, _borrowed(rows), nl)
            work[0], work[1], work[2], work[3] = steps, rejected, rhs_calls, dense_passes
            return steps
        t_next = t_end
        if e < n_ev and ev_time[e] < t_next:
            t_next = ev_time[e]
        rhs_lanes(t, y, p, u, k0, lanes)
        span = t_next - t
        h = _initial_step_lanes(t, y, k0, p, u, rtol, atol, span, ytmp, f1, acc, n, scratch, lanes)
        rhs_calls += 2
        while t < t_next:
            last = False
            if t + h >= t_next - 1e-12 * max(1.0, abs(t_next)):
                h = t_next - t
                last = True
            # The tableau's weights times the step, as run-time values: LLVM keeps them in
            # registers through the loops below, where its constants were loaded from memory
            # again in every iteration (on AVX2, 11 of 18 loads of the 5th-order solution's loop).
            a21 = h * A21
            a31, a32 = h * A31, h * A32
            a41, a42, a43 = h * A41, h * A42, h * A43
            a51, a52, a53, a54 = h * A51, h * A52, h * A53, h * A54
            a61, a62, a63, a64, a65 = h * A61, h * A62, h * A63, h * A64, h * A65
            b1, b3, b4, b5, b6 = h * B1, h * B3, h * B4, h * B5, h * B6
            e1, e3, e4, e5, e6, e7 = h * E1, h * E3, h * E4, h * E5, h * E6, h * E7
            for q in range(size):
                ytmp[q] = y[q] + a21 * k0[q]
            rhs_lanes(t + C2 * h, ytmp, p, u, k1, lanes)
            for q in range(size):
                ytmp[q] = y[q] + (a31 * k0[q] + a32 * k1[q])
            rhs_lanes(t + C3 * h, ytmp, p, u, k2, lanes)
            for q in range(size):
                ytmp[q] = y[q] + (a41 * k0[q] + a42 * k1[q] + a43 * k2[q])
            rhs_lanes(t + C4 * h, ytmp, p, u, k3, lanes)
            for q in range(size):
                ytmp[q] = y[q] + (a51 * k0[q] + a52 * k1[q] + a53 * k2[q] + a54 * k3[q])
            rhs_lanes(t + C5 * h, ytmp, p, u, k4, lanes)
            for q in range(size):
                ytmp[q] = y[q] + (a61 * k0[q] + a62 * k1[q] + a63 * k2[q] + a64 * k3[q] + a65 * k4[q])
            rhs_lanes(t + h, ytmp, p, u, k5, lanes)
            for q in range(size):
                ynew[q] = y[q] + (b1 * k0[q] + b3 * k2[q] + b4 * k3[q] + b5 * k4[q] + b6 * k5[q])
                # the error estimate's terms but the last, while k0 to k5 are at hand
                scratch[q] = e1 * k0[q] + e3 * k2[q] + e4 * k3[q] + e5 * k4[q] + e6 * k5[q]
            rhs_lanes(t + h, ynew, p, u, k6, lanes)
            # The error estimate, scaled, squared and summed by lane in one pass, the lane loop
            # inside, so that the sums are vector additions (each lane's in the order of its
            # states). The squares were stored, then summed one lane at a time in scalar
            # additions: 2 to 5 % more per course on a Zen 4 AMD EPYC (docs/benchmarks.md).
            for l in range(LANES):
                acc[l] = 0.0
            for i in range(n):
                base = i * LANES
                for l in range(lanes):
                    q = base + l
                    r = (scratch[q] + e7 * k6[q]) * _inv_scale(y[q], ynew[q], rtol, atol)
                    acc[l] += r * r
            for l in range(LANES):
                acc[l] = math.sqrt(acc[l] / n)
            err_norm = _worst(acc)
            rhs_calls += 6
            if err_norm <= 1.0:
                t_new = t_next if last else t + h
                if j < n_t and t_out[j] < t_new:
                    dense_passes += 1
                    for r in range(run_lo.size):
                        lo = np.uint64(run_lo[r])
                        for qq in range(run_hi[r] - run_lo[r]):
                            q = lo + np.uint64(qq)
                            c1[q] = h * (DENSE[0, 0] * k0[q] + DENSE[2, 0] * k2[q] + DENSE[3, 0] * k3[q]
                                         + DENSE[4, 0] * k4[q] + DENSE[5, 0] * k5[q] + DENSE[6, 0] * k6[q])
                            c2[q] = h * (DENSE[0, 1] * k0[q] + DENSE[2, 1] * k2[q] + DENSE[3, 1] * k3[q]
                                         + DENSE[4, 1] * k4[q] + DENSE[5, 1] * k5[q] + DENSE[6, 1] * k6[q])
                            c3[q] = h * (DENSE[0, 2] * k0[q] + DENSE[2, 2] * k2[q] + DENSE[3, 2] * k3[q]
                                         + DENSE[4, 2] * k4[q] + DENSE[5, 2] * k5[q] + DENSE[6, 2] * k6[q])
                            c4[q] = h * (DENSE[0, 3] * k0[q] + DENSE[2, 3] * k2[q] + DENSE[3, 3] * k3[q]
                                         + DENSE[4, 3] * k4[q] + DENSE[5, 3] * k5[q] + DENSE[6, 3] * k6[q])
                while j < n_t and t_out[j] < t_new:
                    x = (t_out[j] - t) / h
                    at = np.uint64((j - j0) * size)
                    for r in range(run_lo.size):
                        lo = np.uint64(run_lo[r])
                        for qq in range(run_hi[r] - run_lo[r]):
                            q = lo + np.uint64(qq)
                            held[at + q] = y[q] + x * (c1[q] + x * (c2[q] + x * (c3[q] + x * c4[q])))
                    j += 1
                    if j - j0 == OUT_BLOCK:
                        _flush_outputs(_borrowed(held), OUT_BLOCK, _borrowed(p), _borrowed(obs), _borrowed(need),
                                       record_states, _borrowed(out_sel), _borrowed(out), j0, _borrowed(rows), nl)
                        j0 = j
                t = t_new
                n_flushed = 0
                for q in range(size):
                    # As in the per-patient kernel: a state decayed below flush_below is zero.
                    # Written as a select and a count, so that the loop vectorises, into the old
                    # state's array (no longer needed): written back into ``ynew``, the select
                    # became a store of zero where a state is flushed, a masked store, which AMD
                    # cores execute slowly (9 % of the step loop's time on a Zen 3).
                    v = ynew[q]
                    small = (v != 0.0) & (abs(v) < flush_below)
                    y[q] = 0.0 if small else v
                    n_flushed += small
                flushed = n_flushed > 0
                # The new derivative becomes the current one by exchanging arrays.
                k0, k6 = k6, k0
                if flushed:
                    rhs_lanes(t, y, p, u, k0, lanes)
                    rhs_calls += 1
                steps += 1
                factor = MAX_FACTOR if err_norm == 0.0 else min(MAX_FACTOR, SAFETY * _inverse_fifth_root(err_norm))
                h *= factor
            else:
                rejected += 1
                h *= max(MIN_FACTOR, SAFETY * _inverse_fifth_root(err_norm))
            if steps > max_steps or not (h > 0.0):
                return -1


@njit(cache=True, parallel=True, error_model="numpy", fastmath=set(FASTMATH))
def solve_population_lanes(Y0, P, order, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, weight_col, t_out,
                           out_sel, dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps,
                           out, work):
    """Integrate every patient (row of ``P``) in groups of LANES taken in the given ``order``,
    the groups in parallel, writing outputs into ``out`` (N x T x K); returns the accepted
    steps per patient (its group's, or its own where the group was integrated again one
    patient at a time; negative where that failed too). A last group short of LANES patients
    repeats its first patient in the spare lanes, whose outputs are not written. ``work``
    (patients x WORK_COUNTS) receives each patient's group's counts (``solve_lanes``), -1 for a
    patient integrated again alone."""
    n_pat = P.shape[0]
    n = Y0.shape[1]
    n_p = P.shape[1]
    n_groups = (n_pat + LANES - 1) // LANES
    steps = np.empty(n_pat, np.int64)
    for gi in prange(n_groups):
        # Groups are in stiffness order, so their cost rises along the range; taken from both
        # ends alternately, each thread's contiguous share of the range gets a like mix.
        g = gi // 2 if gi % 2 == 0 else n_groups - 1 - gi // 2
        start = g * LANES
        nl = min(LANES, n_pat - start)
        rows = np.empty(LANES, np.int64)
        y0 = np.empty(n * LANES)
        p = np.empty(n_p * LANES)
        weight = np.empty(LANES)
        counts = np.zeros(WORK_COUNTS, np.int64)
        for l in range(LANES):
            r = order[start + (l if l < nl else 0)]
            rows[l] = r
            for i in range(n):
                y0[i * LANES + l] = Y0[r, i]
            for i in range(n_p):
                p[i * LANES + l] = P[r, i]
            weight[l] = P[r, weight_col]
        s = solve_lanes(y0, p, weight, nl, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, t_out, out_sel,
                        dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out, rows,
                        counts)
        for l in range(nl):
            r = rows[l]
            if s >= 0:
                steps[r] = s
                work[r, :] = counts
            else:
                work[r, :] = -1
                steps[r] = solve_one(Y0[r], P[r], ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, P[r, weight_col],
                                     t_out, out_sel, dense_sel, record_states, n_inputs, n_obs, rtol, atol,
                                     flush_below, max_steps, out[r])
    return steps
