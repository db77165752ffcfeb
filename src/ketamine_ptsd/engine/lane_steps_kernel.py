# ruff: noqa: F821  (the names below are bound when the engine compiles this template)
# Lane kernel with own steps: the per-patient kernel's Dormand-Prince 5(4), LANES patients at a
# time in SIMD lanes, each lane with its own time, step size, events and output times. This
# file is a template, compiled in one module after ``dopri5_kernel.py`` (tableau, ``solve_one``),
# the generated lane functions (``LANES``, ``rhs_lanes``) and ``lockstep_kernel.py``.
#
# Lane arrays are laid out by variable and lane (variable i of lane l at ``a[i * LANES + l]``).
# The model's right-hand side, the stage updates and the error norm run for all lanes at once,
# each lane with its own step size; what differs between lanes (accepting a step, events,
# output times and their outputs, the next step size) is decided lane by lane. Each lane does
# the per-patient kernel's arithmetic in the same order (the generated right-hand side rounds as
# the model's, since neither is compiled with reassociation; the norm divides and sums state by
# state; the controller takes the same root; outputs come from the same ``observe``), so a
# patient's course is the per-patient kernel's to the last bit, whatever lane it runs in and
# whoever runs beside it (tests). When a lane's patient is done, the lane takes the next patient
# of its block; a lane with no patient left steps with a zero step size until the block is done.


#: Patients per block, the unit of work of one thread: the lanes of a block take its patients
#: one after another, so lanes idle only at the block's end (about half a course per lane).
LANE_BLOCK = 32 * LANES

#: A segment start or a flush in at most this many lanes is computed lane by lane, with the
#: per-patient kernel's own ``rhs`` and ``_initial_step`` on the lane's states, rather than for
#: all LANES lanes at once (two or one right-hand sides of every lane, kept for a few). Either
#: way each lane's numbers are the per-patient kernel's, so the choice moves only the cost.
FEW_LANES = 4


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _own_norms(v, y, y2, rtol, atol, acc, n):
    """Each lane's RMS norm of ``v`` scaled by the mixed tolerance, into ``acc``: the
    per-patient kernel's ``_rms`` for all lanes at once, with its division and its sum in state
    order (the inner loop over lanes vectorises, each lane's sum a fused multiply-add as the
    scalar one), so that each lane's norm is the per-patient kernel's to the last bit."""
    for l in range(LANES):
        acc[l] = 0.0
    for i in range(n):
        b = i * LANES
        for l in range(LANES):
            q = b + l
            sc = atol + rtol * max(abs(y[q]), abs(y2[q]))
            r = v[q] / sc
            acc[l] += r * r
    for l in range(LANES):
        acc[l] = _root_mean(acc[l], n)


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _take_columns(src, dst, lanes, n):
    """Copy the columns (lanes) marked in ``lanes`` of lane array ``src`` into ``dst``."""
    for i in range(n):
        b = i * LANES
        for l in range(LANES):
            if lanes[l]:
                dst[b + l] = src[b + l]


@njit(inline="always", error_model="numpy", fastmath=set(FASTMATH))
def _count(flags):
    """How many lanes ``flags`` marks."""
    c = 0
    for l in range(LANES):
        c += flags[l]
    return c


@njit(inline="always", error_model="numpy", fastmath=set(FASTMATH))
def _lane_derivative(l, y, u, prow, one, one_u, one_f, k0, n, n_inputs):
    """Lane ``l``'s derivative by the per-patient kernel's ``rhs``: its states copied into the
    contiguous ``one`` and its inputs into ``one_u``, its parameters the patient's row ``prow``
    of ``P``; the result in ``one_f`` and in lane ``l`` of ``k0``."""
    for i in range(n):
        one[i] = y[i * LANES + l]
    for i in range(n_inputs):
        one_u[i] = u[i * LANES + l]
    rhs(0.0, one, prow, one_u, one_f)
    for i in range(n):
        k0[i * LANES + l] = one_f[i]


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def _load_patient(l, r, Y0, P, weight_col, n, n_p, n_inputs, y, p, u, weight, t, t_start, e, j, steps, active,
                  starting):
    """Put patient ``r`` (row of ``Y0`` and ``P``) into lane ``l``, at the start of its course."""
    t[l] = t_start
    e[l] = 0
    j[l] = 0
    steps[l] = 0
    active[l] = True
    starting[l] = True
    for i in range(n):
        y[i * LANES + l] = Y0[r, i]
    for i in range(n_p):
        p[i * LANES + l] = P[r, i]
    for i in range(n_inputs):
        u[i * LANES + l] = 0.0
    weight[l] = P[r, weight_col]


@njit(inline="always", error_model="numpy", fastmath=set(FASTMATH))
def _write_lane(states, P, row, j, out_sel, record_states, obs, need, n, n_p, n_obs, out):
    """Output time ``j`` of patient ``row``, whose states (at least those the outputs read) are
    in ``states`` (one patient's, contiguous): the states themselves, or the model's outputs of
    them by the per-patient kernel's ``observe`` on the patient's row of ``P``, one patient at a
    time. Only the
    lanes with an output due pay for one: the lane ``observe`` computed all 16 lanes per output
    time, 2.3x the per-patient kernel's cost per course with 15-min outputs. Inlined, with
    pointers: a call would take an atomic reference count on each array, per lane and time."""
    if record_states:
        for m in range(out_sel.size):
            out[row, j, m] = states[out_sel[m]]
    else:
        _observe_at(_ptr(states), _ptr(_borrowed(P)[row]), _ptr(obs), _ptr(need), n, n_p, n_obs)
        for m in range(out_sel.size):
            out[row, j, m] = obs[out_sel[m]]


@njit(cache=True, error_model="numpy", fastmath=set(FASTMATH))
def solve_block(Y0, P, first, stop, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, weight_col, t_out, out_sel,
                dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out, steps_out):
    """Integrate the patients ``first`` to ``stop - 1`` (rows of ``Y0`` and ``P``), LANES at a
    time, each with its own steps: the per-patient kernel's algorithm lane by lane. Writes their outputs
    into ``out[row]`` and their accepted steps (or -1, as ``solve_one``) into ``steps_out[row]``."""
    n = Y0.shape[1]
    n_p = P.shape[1]
    size = n * LANES
    y = np.zeros(size)
    p = np.zeros(n_p * LANES)
    u = np.zeros(n_inputs * LANES)
    k0, k1, k2, k3, k4, k5, k6, c1, c2, c3, c4 = _stage_vectors(size)
    ynew = np.zeros(size)
    ytmp = np.zeros(size)
    scratch = np.zeros(size)
    one = np.zeros(n)  # one lane's states at an output time, contiguous
    one_u = np.zeros(n_inputs)  # and its inputs, derivative and the starting step's scratch
    one_f = np.zeros(n)
    one_f1 = np.zeros(n)
    one_tmp = np.zeros(n)
    obs = np.zeros(n_obs)
    H = np.zeros(size)  # each lane's step size, spread over the states
    M = np.zeros(size, np.int64)  # all bits set in the lanes whose step is accepted
    acc = np.zeros(LANES)
    root = np.zeros(LANES)  # acc ** -0.2
    counts = np.zeros(LANES)
    taking = np.zeros(LANES, np.int64)
    d0 = np.zeros(LANES)
    d1 = np.zeros(LANES)
    h0 = np.zeros(LANES)
    need = _needed(out_sel, n_obs, record_states)
    run_lo, run_hi = _lane_runs(dense_sel)
    weight = np.zeros(LANES)
    t = np.zeros(LANES)
    h = np.zeros(LANES)
    t_next = np.zeros(LANES)
    t_new = np.zeros(LANES)
    e = np.zeros(LANES, np.int64)
    j = np.zeros(LANES, np.int64)
    steps = np.zeros(LANES, np.int64)
    row = np.full(LANES, -1, np.int64)
    active = np.zeros(LANES, np.bool_)
    starting = np.zeros(LANES, np.bool_)  # at the start of a segment (events, outputs, first step)
    fresh = np.zeros(LANES, np.bool_)  # needs k0 and a starting step
    last = np.zeros(LANES, np.bool_)
    accepted = np.zeros(LANES, np.bool_)
    pending = np.zeros(LANES, np.bool_)  # an output time inside the accepted step
    flushed = np.zeros(LANES, np.bool_)
    n_ev = ev_time.size
    n_t = t_out.size
    t_start = _start_time(t_out, ev_time)
    t_end = t_out[n_t - 1]
    taken = first  # the next patient to take
    for l in range(LANES):
        if taken < stop:
            row[l] = taken
            taken += 1
            _load_patient(l, row[l], Y0, P, weight_col, n, n_p, n_inputs, y, p, u, weight, t, t_start, e, j, steps,
                          active, starting)
    while True:
        # Segment starts, lane by lane: events, outputs due, the end of a patient (and the next).
        any_fresh = False
        for l in range(LANES):
            fresh[l] = False
            while starting[l]:
                starting[l] = False
                changed = False
                while e[l] < n_ev and ev_time[e[l]] <= t[l]:
                    ev = e[l]
                    amount = ev_fixed[ev] + ev_perkg[ev] * weight[l]
                    if ev_kind[ev] == 0:
                        y[ev_index[ev] * LANES + l] += amount
                    else:
                        u[ev_index[ev] * LANES + l] += amount
                    changed = True
                    e[l] += 1
                if changed:
                    for i in range(n_inputs):
                        if abs(u[i * LANES + l]) < 1e-12:
                            u[i * LANES + l] = 0.0
                if j[l] < n_t and t_out[j[l]] <= t[l]:
                    for i in range(n):
                        one[i] = y[i * LANES + l]
                while j[l] < n_t and t_out[j[l]] <= t[l]:
                    _write_lane(one, P, row[l], j[l], out_sel, record_states, obs, need, n, n_p, n_obs, out)
                    j[l] += 1
                if j[l] >= n_t:
                    steps_out[row[l]] = steps[l]
                    active[l] = False
                    if taken < stop:
                        row[l] = taken
                        taken += 1
                        _load_patient(l, row[l], Y0, P, weight_col, n, n_p, n_inputs, y, p, u, weight, t, t_start,
                                      e, j, steps, active, starting)
                    else:
                        h[l] = 0.0
                    continue
                t_next[l] = t_end
                if e[l] < n_ev and ev_time[e[l]] < t_next[l]:
                    t_next[l] = ev_time[e[l]]
                fresh[l] = True
                any_fresh = True
        any_active = False
        for l in range(LANES):
            any_active = any_active or active[l]
        if not any_active:
            return
        if 0 < _count(fresh) <= FEW_LANES:
            # k0 and the starting step of the few lanes that start a segment, one lane at a
            # time: the per-patient kernel's own calls on the lane's states.
            for l in range(LANES):
                if fresh[l]:
                    prow = _borrowed(P)[row[l]]
                    _lane_derivative(l, y, u, prow, one, one_u, one_f, k0, n, n_inputs)
                    h[l] = _initial_step(0.0, one, one_f, prow, one_u, rtol, atol, t_next[l] - t[l], one_tmp,
                                         one_f1)
        elif any_fresh:
            # k0 and the starting step (Hairer, Norsett & Wanner II.4, the per-patient kernel's
            # ``_initial_step``) of the lanes that start a segment; computed for every lane,
            # kept for those.
            rhs_lanes(0.0, y, p, u, scratch, LANES)
            _take_columns(scratch, k0, fresh, n)
            _own_norms(y, y, y, rtol, atol, d0, n)
            _own_norms(k0, y, y, rtol, atol, d1, n)
            for l in range(LANES):
                h0[l] = 1e-6 if (d0[l] < 1e-5 or d1[l] < 1e-5) else 0.01 * d0[l] / d1[l]
                h0[l] = min(h0[l], t_next[l] - t[l]) if fresh[l] else 0.0
            _lane_spread(h0, H, n)
            for q in range(size):
                ytmp[q] = y[q] + H[q] * k0[q]
            rhs_lanes(0.0, ytmp, p, u, scratch, LANES)
            for q in range(size):
                scratch[q] = scratch[q] - k0[q]
            _own_norms(scratch, y, y, rtol, atol, acc, n)
            for l in range(LANES):
                if fresh[l]:
                    d2 = acc[l] / h0[l]
                    big = max(d1[l], d2)
                    h1 = max(1e-6, h0[l] * 1e-3) if big <= 1e-15 else (0.01 / big) ** 0.2
                    h[l] = min(100.0 * h0[l], h1, t_next[l] - t[l])
        # One step of every active lane, each with its own step size (zero in idle lanes),
        # spread over a lane array so that the stage updates are flat loops.
        for l in range(LANES):
            last[l] = False
            if active[l] and t[l] + h[l] >= t_next[l] - 1e-12 * max(1.0, abs(t_next[l])):
                h[l] = t_next[l] - t[l]
                last[l] = True
        _lane_spread(h, H, n)
        for q in range(size):
            ytmp[q] = y[q] + H[q] * A21 * k0[q]
        rhs_lanes(0.0, ytmp, p, u, k1, LANES)
        for q in range(size):
            ytmp[q] = y[q] + H[q] * (A31 * k0[q] + A32 * k1[q])
        rhs_lanes(0.0, ytmp, p, u, k2, LANES)
        for q in range(size):
            ytmp[q] = y[q] + H[q] * (A41 * k0[q] + A42 * k1[q] + A43 * k2[q])
        rhs_lanes(0.0, ytmp, p, u, k3, LANES)
        for q in range(size):
            ytmp[q] = y[q] + H[q] * (A51 * k0[q] + A52 * k1[q] + A53 * k2[q] + A54 * k3[q])
        rhs_lanes(0.0, ytmp, p, u, k4, LANES)
        for q in range(size):
            ytmp[q] = y[q] + H[q] * (A61 * k0[q] + A62 * k1[q] + A63 * k2[q] + A64 * k3[q] + A65 * k4[q])
        rhs_lanes(0.0, ytmp, p, u, k5, LANES)
        for q in range(size):
            ynew[q] = y[q] + H[q] * (B1 * k0[q] + B3 * k2[q] + B4 * k3[q] + B5 * k4[q] + B6 * k5[q])
        rhs_lanes(0.0, ynew, p, u, k6, LANES)
        for q in range(size):  # the error estimate
            scratch[q] = H[q] * (E1 * k0[q] + E3 * k2[q] + E4 * k3[q] + E5 * k4[q] + E6 * k5[q] + E7 * k6[q])
        _own_norms(scratch, y, ynew, rtol, atol, acc, n)
        any_pending = False
        for l in range(LANES):
            accepted[l] = active[l] and acc[l] <= 1.0
            pending[l] = False
            if accepted[l]:
                t_new[l] = t_next[l] if last[l] else t[l] + h[l]
                pending[l] = j[l] < n_t and t_out[j[l]] < t_new[l]
                any_pending = any_pending or pending[l]
        if any_pending:
            # The dense output's coefficients of every lane (kept for the lanes with output
            # times inside their step), over the lane-array ranges of the states needed
            # (``_lane_runs``).
            for r in range(run_lo.size):
                lo = np.uint64(run_lo[r])
                for qq in range(run_hi[r] - run_lo[r]):
                    q = lo + np.uint64(qq)
                    c1[q] = H[q] * (DENSE[0, 0] * k0[q] + DENSE[2, 0] * k2[q] + DENSE[3, 0] * k3[q]
                                    + DENSE[4, 0] * k4[q] + DENSE[5, 0] * k5[q] + DENSE[6, 0] * k6[q])
                    c2[q] = H[q] * (DENSE[0, 1] * k0[q] + DENSE[2, 1] * k2[q] + DENSE[3, 1] * k3[q]
                                    + DENSE[4, 1] * k4[q] + DENSE[5, 1] * k5[q] + DENSE[6, 1] * k6[q])
                    c3[q] = H[q] * (DENSE[0, 2] * k0[q] + DENSE[2, 2] * k2[q] + DENSE[3, 2] * k3[q]
                                    + DENSE[4, 2] * k4[q] + DENSE[5, 2] * k5[q] + DENSE[6, 2] * k6[q])
                    c4[q] = H[q] * (DENSE[0, 3] * k0[q] + DENSE[2, 3] * k2[q] + DENSE[3, 3] * k3[q]
                                    + DENSE[4, 3] * k4[q] + DENSE[5, 3] * k5[q] + DENSE[6, 3] * k6[q])
            # Then each such lane's output times, one lane at a time: its states needed
            # interpolated (``dense_sel``) and its outputs computed and written.
            for l in range(LANES):
                if not pending[l]:
                    continue
                while j[l] < n_t and t_out[j[l]] < t_new[l]:
                    xl = _fraction(t_out[j[l]] - t[l], h[l])
                    for m in range(dense_sel.size):
                        i = np.uint64(dense_sel[m])
                        q = i * np.uint64(LANES) + np.uint64(l)
                        one[i] = y[q] + xl * (c1[q] + xl * (c2[q] + xl * (c3[q] + xl * c4[q])))
                    _write_lane(one, P, row[l], j[l], out_sel, record_states, obs, need, n, n_p, n_obs, out)
                    j[l] += 1
        # The accepted lanes move on: their new states flushed (a state decayed below
        # flush_below is zero, as in the per-patient kernel; written as a select and a count so
        # that the loop vectorises), then taken as the current ones with their derivatives.
        for q in range(size):
            v = ynew[q]
            small = (v != 0.0) & (abs(v) < flush_below)
            ynew[q] = 0.0 if small else v
            scratch[q] = 1.0 if small else 0.0
        _lane_sums(scratch, counts, n)
        any_flushed = False
        for l in range(LANES):
            flushed[l] = accepted[l] and counts[l] > 0.0
            any_flushed = any_flushed or flushed[l]
            taking[l] = -1 if accepted[l] else 0
            if accepted[l]:
                t[l] = t_new[l]
        # The accepted lanes' new state and derivative become the current ones, merged by bit
        # masks (all ones in the accepted lanes): written as a select, LLVM chose between the
        # two arrays' addresses and loaded from one, a scalar loop.
        _lane_spread(taking, M, n)
        for q in range(size):
            m = M[q]
            y[q] = _double((_bits(ynew[q]) & m) | (_bits(y[q]) & ~m))
            k0[q] = _double((_bits(k6[q]) & m) | (_bits(k0[q]) & ~m))
        if 0 < _count(flushed) <= FEW_LANES:
            for l in range(LANES):
                if flushed[l]:
                    _lane_derivative(l, y, u, _borrowed(P)[row[l]], one, one_u, one_f, k0, n, n_inputs)
        elif any_flushed:
            rhs_lanes(0.0, y, p, u, scratch, LANES)
            _take_columns(scratch, k0, flushed, n)
        # The per-patient kernel's controller, its root of the error norm taken for all lanes
        # at once (a branch-free loop, so that it vectorises).
        for l in range(LANES):
            root[l] = _inverse_fifth_root(acc[l])
        for l in range(LANES):
            if not active[l]:
                continue
            err_norm = acc[l]
            if accepted[l]:
                steps[l] += 1
                factor = MAX_FACTOR if err_norm == 0.0 else min(MAX_FACTOR, SAFETY * root[l])
                h[l] *= factor
                if last[l]:
                    starting[l] = True
            else:
                h[l] *= max(MIN_FACTOR, SAFETY * root[l])
            if steps[l] > max_steps or not (h[l] > 0.0):
                for jj in range(j[l], n_t):
                    for m in range(out_sel.size):
                        out[row[l], jj, m] = np.nan
                # Marked done: the segment start takes the lane's next patient.
                j[l] = n_t
                steps[l] = -1
                starting[l] = True


@njit(cache=True, parallel=True, error_model="numpy", fastmath=set(FASTMATH))
def solve_population_own(Y0, P, threads, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, weight_col, t_out, out_sel,
                         dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out):
    """Integrate every patient (row of ``P``) in SIMD lanes with its own steps, blocks of at
    most LANE_BLOCK patients on ``threads`` threads in parallel, writing outputs into ``out``
    (N x T x K); returns the accepted steps per patient (negative where ``max_steps`` was
    exceeded)."""
    n_pat = P.shape[0]
    steps = np.empty(n_pat, np.int64)
    # Blocks of LANE_BLOCK patients, or smaller (whole lanes) so that every thread has one.
    per_thread = (n_pat + threads - 1) // threads
    block = max(LANES, min(LANE_BLOCK, (per_thread + LANES - 1) // LANES * LANES))
    n_blocks = (n_pat + block - 1) // block
    for g in prange(n_blocks):
        start = g * block
        stop = min(start + block, n_pat)
        solve_block(Y0, P, start, stop, ev_time, ev_kind, ev_index, ev_fixed, ev_perkg, weight_col, t_out,
                    out_sel, dense_sel, record_states, n_inputs, n_obs, rtol, atol, flush_below, max_steps, out,
                    steps)
    return steps
