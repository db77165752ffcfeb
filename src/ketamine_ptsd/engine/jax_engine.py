"""Optional JAX backend (``engine="jax"``, extra ``jax``): the numba kernel's adaptive
Dormand-Prince 5(4), run as one integrator per lane of a vectorised loop on any JAX device.

Why this shape rather than ``vmap`` over an ODE solver: a vmapped solver steps every
patient in lockstep until the slowest one is finished (max steps are about twice the mean
here, 3.3x in the design's benchmark), so most lanes idle. Here each lane keeps its own
time, step size, event position and output position, does one thing per pass (one step
attempt, or the start of a segment between events, or writing outputs), and a lane whose
patient is finished takes the next patient from the queue, so lanes idle only at the tail.

The equations are not rewritten for JAX: :func:`jax_model` runs the model's own functions
as plain Python with ``max``, ``min`` and ``math`` bound to ``jax.numpy``
(:func:`ketamine_ptsd.engine.plain.plain_functions`, shared with the SBML export), so this
backend integrates the same functions the numba kernel compiles.
The integrator is the kernel's own (tableau, error norm, starting step, step-size control,
flushing, dense output), so the two engines differ only by rounding (XLA's ``exp``, ``pow``
and fused multiply-adds). Rounding moves the accept/reject decision of an occasional step,
which moves a trajectory by about the solver's tolerance: at the default rtol the engines
agree within 5e-7 of each output's maximum without flushing and within 2e-6 with it, the
same amounts by which the numba engine moves when its rtol changes by one part in 10^15.

Compiled solvers are kept in JAX's persistent cache under the engine cache folder (unless
the caller configured one), so a new process does not compile again.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache, reduce

import numpy as np

from ..errors import InputError
from ..model.system import JUMP
from . import dopri5_kernel as K
from .numba_engine import cache_dir, output_array
from .plain import plain_functions

#: Lane status: integrating, finished, stopped at the step limit, empty (no patient left).
RUNNING, DONE, FAILED, IDLE = 0, 1, 2, 3

#: Dormand-Prince stages as a matrix: stage i is evaluated at t + STAGE_NODES[i] h and
#: y + h * sum_k STAGE_WEIGHTS[i, k] k_k (row 6: the 5th-order solution, stage 7's input).
STAGE_WEIGHTS = np.array([
    [0.0] * 7,
    [K.A21] + [0.0] * 6,
    [K.A31, K.A32] + [0.0] * 5,
    [K.A41, K.A42, K.A43] + [0.0] * 4,
    [K.A51, K.A52, K.A53, K.A54] + [0.0] * 3,
    [K.A61, K.A62, K.A63, K.A64, K.A65, 0.0, 0.0],
    [K.B1, 0.0, K.B3, K.B4, K.B5, K.B6, 0.0],
])
STAGE_NODES = np.array([0.0, K.C2, K.C3, K.C4, K.C5, 1.0, 1.0])

INSTALL_HINT = "pip install 'ketamine-ptsd[jax]'"


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:  # the backend is an optional extra
        raise InputError("engine", f"the JAX backend needs jax ({INSTALL_HINT})", "numba, scipy") from exc
    return jax, jnp


def double_precision():
    """A context in which JAX computes in float64 (the engine's precision), whatever the
    process-wide setting: ``jax.enable_x64`` where this JAX has it, else the older
    ``jax.experimental.enable_x64``."""
    jax = _jax()[0]
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


# -- the model's functions, run again on JAX ----------------------------------------------------


class _JaxMath:
    """Stands in for the ``math`` module inside model code: ``math.exp`` becomes ``jnp.exp``."""

    def __getattr__(self, name):
        return getattr(_jax()[1], name)


def _maximum(*values):
    return reduce(_jax()[1].maximum, values)


def _minimum(*values):
    return reduce(_jax()[1].minimum, values)


@cache
def _translated_module(module_name: str) -> types.SimpleNamespace:
    """The functions of model module ``module_name`` as plain Python on ``jax.numpy``."""
    return plain_functions(module_name, max=_maximum, min=_minimum, math=_JaxMath())


@dataclass(frozen=True)
class JaxModel:
    """The model's right-hand side and outputs as JAX functions of one patient.

    ``rhs(t, y, p, u)`` returns dy/dt (n,) and ``observe(y, p)`` all outputs, for state
    ``y`` (n,), working vector ``p`` (parameters and derived constants: ``Model.prepare``)
    and inputs ``u`` (1-D arrays, units as in ``layout``).
    """

    module: types.SimpleNamespace
    state_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def rhs(self, t, y, p, u):
        jnp = _jax()[1]
        dy = [None] * len(self.state_names)
        self.module.rhs(t, list(y), list(p), list(u), dy)
        unset = [self.state_names[i] for i, v in enumerate(dy) if v is None]
        if unset:
            raise InputError("model", f"rhs left the derivative of {unset[0]!r} unset", "every state written")
        return jnp.stack([jnp.asarray(v, dtype=y.dtype) for v in dy])

    def observe(self, y, p):
        jnp = _jax()[1]
        out = [None] * len(self.output_names)
        self.module.observe(list(y), list(p), out, [True] * len(self.output_names))
        return jnp.stack([jnp.asarray(v, dtype=y.dtype) for v in out])


def jax_model(model) -> JaxModel:
    """The JAX version of ``model`` (its ``rhs``/``observe`` from the same source)."""
    return JaxModel(_translated_module(model.module), tuple(model.state_names), tuple(model.output_names))


# -- events: grouped by time, one jump and one input vector per group ---------------------------


def event_groups(events, n_states: int, n_inputs: int, pad_to: int = 8):
    """Events with the same time merged into one group: per group its time (h), the state
    jump ``Jf + W * Jk`` (state units) and the input change ``Uf + W * Uk`` for a patient of
    weight W (kg). A never-reached group at +inf ends the table, which is padded to a
    multiple of ``pad_to`` rows so that regimens of similar length share compiled code."""
    times = np.unique(events.time_h)
    m = int(np.ceil((times.size + 1) / pad_to) * pad_to)
    tau = np.full(m, np.inf)
    tau[: times.size] = times
    jf, jk = np.zeros((m, n_states)), np.zeros((m, n_states))
    uf, uk = np.zeros((m, n_inputs)), np.zeros((m, n_inputs))
    for i in range(len(events)):
        g = int(np.searchsorted(times, events.time_h[i]))
        fixed, per_kg = (jf, jk) if events.kind[i] == JUMP else (uf, uk)
        fixed[g, events.index[i]] += events.fixed[i]
        per_kg[g, events.index[i]] += events.per_kg[i]
    return tau, jf, jk, uf, uk


# -- the lane machine ---------------------------------------------------------------------------


def _rms(jnp, v, y, y2, rtol, atol):
    """The kernel's error norm, summed in state order as the kernel does."""
    r = v / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y2)))
    total = r[0] * r[0]
    for i in range(1, r.shape[0]):
        total = total + r[i] * r[i]
    return jnp.sqrt(total / r.shape[0])


@cache
def _population_solver(model_module: str, state_names: tuple, output_names: tuple, n_inputs: int,
                       weight_col: int, out_sel: tuple, record_states: bool, n_record: int, n_lanes: int):
    """The jitted population solver for one model, output selection and lane count.

    Its arguments: parameters P (N x P) and initial states Y0 (N x n), output times (h), the
    event groups of :func:`event_groups`, the number of real patients (rows beyond it are
    padding), rtol, atol, the flush threshold and the step limit. It returns outputs
    (N x T x K, NaN where a patient failed) and accepted steps per patient (-1: failed).
    """
    jax, jnp = _jax()
    where = jnp.where
    TABLEAU, NODES = jnp.asarray(STAGE_WEIGHTS), jnp.asarray(STAGE_NODES)
    jm = JaxModel(_translated_module(model_module), state_names, output_names)
    n = len(state_names)
    sel = np.asarray(out_sel, dtype=np.int64)
    dense = [(s, K.DENSE[s]) for s in range(7) if np.any(K.DENSE[s] != 0.0)]

    def rms(v, y, y2, rtol, atol):
        return _rms(jnp, v, y, y2, rtol, atol)

    def output_row(x, wy, wk, wh, p):
        """One output row at fraction ``x`` of the recorded step (the kernel's dense output)."""
        x2 = x * x
        x3 = x2 * x
        x4 = x3 * x
        acc = jnp.zeros_like(wy)
        for s, d in dense:
            acc = acc + wk[s] * (d[0] * x + d[1] * x2 + d[2] * x3 + d[3] * x4)
        y = where(x == 0.0, wy, wy + wh * acc)
        return y[sel] if record_states else jm.observe(y, p)[sel]

    def new_lane(pid, take, P, Y0, t0):
        zero = jnp.zeros(())
        return dict(
            pid=pid, status=where(take, RUNNING, IDLE), p=P[pid], y=Y0[pid], u=jnp.zeros(n_inputs),
            t=t0, h=zero, seg_end=t0, e=jnp.zeros((), jnp.int32), j=jnp.zeros((), jnp.int32),
            f0=jnp.zeros(n), fresh=jnp.ones((), bool), need_k0=jnp.zeros((), bool),
            failing=jnp.zeros((), bool), steps=jnp.zeros((), jnp.int64),
            # The record window: outputs in [wa, wb) (or [wa, wb] if incl) come from the
            # step that started at wa with state wy, stages wk and size wh.
            wa=t0, wb=jnp.full((), -jnp.inf), incl=jnp.zeros((), bool), wy=jnp.zeros(n),
            wk=jnp.zeros((7, n)), wh=zero,
        )

    def in_window(t_out, idx, wb, incl):
        n_t = t_out.shape[0]
        tj = t_out[jnp.minimum(idx, n_t - 1)]
        return (idx < n_t) & where(incl, tj <= wb, tj < wb), tj

    def lane_pass(lane, tables):
        """One pass of one lane: write pending outputs, or start a segment (events at t,
        derivative, starting step), or recompute the derivative after a flush, or attempt
        one step; then write up to ``n_record`` outputs of the new window."""
        t_out, tau, jf, jk, uf, uk, rtol, atol, flush_below, max_steps = tables
        n_t = t_out.shape[0]
        t_end = t_out[n_t - 1]
        running = lane["status"] == RUNNING
        t, h, y, u, f0, p, e = lane["t"], lane["h"], lane["y"], lane["u"], lane["f0"], lane["p"], lane["e"]
        weight = p[weight_col]
        pending = running & in_window(t_out, lane["j"], lane["wb"], lane["incl"])[0]
        act = running & ~pending & ~lane["failing"]
        start = act & lane["fresh"]
        k0_only = act & ~lane["fresh"] & lane["need_k0"]
        step = act & ~lane["fresh"] & ~lane["need_k0"]
        at_t = start | k0_only

        # Segment start: the event group at t (at most one: t lands on each group's time).
        apply = start & (tau[e] <= t)
        u_ev = u + (uf[e] + weight * uk[e])
        u = where(apply, where(jnp.abs(u_ev) < 1e-12, 0.0, u_ev), u)
        y = where(apply, y + (jf[e] + weight * jk[e]), y)
        e = e + apply.astype(e.dtype)
        seg_end = where(start, jnp.minimum(tau[e], t_end), lane["seg_end"])
        last = t + h >= seg_end - 1e-12 * jnp.maximum(1.0, jnp.abs(seg_end))
        h = where(step & last, seg_end - t, h)

        # Six evaluations of the right-hand side per pass, whatever the lane does (one traced
        # copy, so compiling stays quick); a starting lane uses the first for f(t, y) and the
        # second for the starting-step probe of Hairer, Norsett & Wanner.
        d0 = rms(y, y, y, rtol, atol)
        span = seg_end - t

        def starting_step(stages):
            d1 = rms(stages[1], y, y, rtol, atol)
            small = (d0 < 1e-5) | (d1 < 1e-5)
            return d1, jnp.minimum(where(small, 1e-6, 0.01 * d0 / where(small, 1.0, d1)), span)

        def stage(stages, s):
            row = TABLEAU[s + 1]
            acc = row[0] * stages[0]
            for i in range(1, 7):
                acc = acc + row[i] * stages[i]
            h0 = starting_step(stages)[1]
            first, probe = at_t & (s == 0), start & (s == 1)
            t_in = where(first, t, where(probe, t + h0, t + NODES[s + 1] * h))
            y_in = where(first, y, where(probe, y + h0 * stages[1], y + h * acc))
            return stages.at[s + 1].set(jm.rhs(t_in, y_in, p, u)), None

        stages = jnp.zeros((7, n)).at[0].set(f0)
        stages = jax.lax.scan(stage, stages, jnp.arange(6))[0]
        f0_start = stages[1]
        d1, h0 = starting_step(stages)
        d2 = rms(stages[2] - stages[1], y, y, rtol, atol) / h0
        big = jnp.maximum(d1, d2)
        flat = big <= 1e-15
        h1 = where(flat, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / where(flat, 1.0, big)) ** 0.2)
        h_start = jnp.minimum(jnp.minimum(100.0 * h0, h1), span)

        k3, k4, k5, k6, k7 = (stages[i] for i in range(2, 7))
        y_new = y + h * (K.B1 * f0 + K.B3 * k3 + K.B4 * k4 + K.B5 * k5 + K.B6 * k6)
        err = h * (K.E1 * f0 + K.E3 * k3 + K.E4 * k4 + K.E5 * k5 + K.E6 * k6 + K.E7 * k7)
        err_norm = rms(err, y, y_new, rtol, atol)
        accept = step & (err_norm <= 1.0)
        t_new = where(last, seg_end, t + h)
        # States decayed below flush_below become exactly zero, as in the numba kernel.
        flush = (y_new != 0.0) & (jnp.abs(y_new) < flush_below)
        grow = where(err_norm == 0.0, K.MAX_FACTOR, jnp.minimum(K.MAX_FACTOR, K.SAFETY * err_norm ** -0.2))
        shrink = jnp.maximum(K.MIN_FACTOR, K.SAFETY * err_norm ** -0.2)
        h_next = h * where(accept, grow, shrink)
        steps = lane["steps"] + accept.astype(lane["steps"].dtype)
        fail = step & ((steps > max_steps) | ~(h_next > 0.0))

        new = dict(lane)
        new.update(
            t=where(accept, t_new, t), y=where(accept, where(flush, 0.0, y_new), y), u=u, e=e,
            seg_end=seg_end, h=where(start, h_start, where(step, h_next, h)),
            f0=where(at_t, f0_start, where(accept, k7, f0)),
            need_k0=where(accept, jnp.any(flush), lane["need_k0"] & ~k0_only),
            fresh=where(start, False, where(accept & last, True, lane["fresh"])),
            steps=steps, failing=lane["failing"] | fail,
            wa=where(start | accept, t, lane["wa"]),
            wb=where(start, t, where(accept, t_new, lane["wb"])),
            incl=where(start, True, where(accept, False, lane["incl"])),
            wy=where(start | accept, y, lane["wy"]), wh=where(start, 0.0, where(accept, h, lane["wh"])),
            wk=where(accept, stages, lane["wk"]),
        )

        idx = lane["j"] + jnp.arange(n_record, dtype=jnp.int32)
        valid, tj = in_window(t_out, idx, new["wb"], new["incl"])
        valid = running & valid
        x = where(new["wh"] > 0.0, (tj - new["wa"]) / where(new["wh"] > 0.0, new["wh"], 1.0), 0.0)
        rows = jax.vmap(output_row, in_axes=(0, None, None, None, None))(x, new["wy"], new["wk"], new["wh"], p)
        new["j"] = lane["j"] + jnp.sum(valid).astype(jnp.int32)
        still_pending = in_window(t_out, new["j"], new["wb"], new["incl"])[0]
        new["status"] = where(~running, lane["status"],
                              where(new["j"] >= n_t, DONE,
                                    where(new["failing"] & ~still_pending, FAILED, RUNNING)))
        return new, where(valid, idx, n_t), rows

    @jax.jit
    def solve(P, Y0, t_out, tau, jf, jk, uf, uk, n_real, rtol, atol, flush_below, max_steps):
        n_pat = P.shape[0]
        tables = (t_out, tau, jf, jk, uf, uk, rtol, atol, flush_below, max_steps)
        t0 = jnp.minimum(t_out[0], tau[0])
        spawn = jax.vmap(new_lane, in_axes=(0, 0, None, None, None))
        ids = jnp.arange(n_lanes, dtype=jnp.int32)
        lanes = spawn(ids, ids < n_real, P, Y0, t0)
        out = jnp.full((n_pat, t_out.shape[0], sel.size), jnp.nan)
        steps_out = jnp.full(n_pat, -1, jnp.int64)

        def running(carry):
            return jnp.any(carry[0]["status"] == RUNNING)

        def one_pass(carry):
            lanes, out, steps_out, next_pid = carry
            was_running = lanes["status"] == RUNNING
            lanes, idx, rows = jax.vmap(lane_pass, in_axes=(0, None))(lanes, tables)
            pid = lanes["pid"]
            out = out.at[pid[:, None], idx].set(rows, mode="drop")
            finished = was_running & (lanes["status"] != RUNNING)
            steps_out = steps_out.at[where(finished, pid, n_pat)].set(
                where(lanes["status"] == DONE, lanes["steps"], -1), mode="drop")
            # Lanes whose patient is finished take the next patients of the queue.
            free = lanes["status"] != RUNNING
            queue_pid = next_pid + jnp.cumsum(free, dtype=jnp.int32) - 1
            take = free & (queue_pid < n_real)
            fresh = spawn(where(take, queue_pid, 0), take, P, Y0, t0)
            lanes = jax.tree_util.tree_map(
                lambda old, new: where(take.reshape((-1,) + (1,) * (old.ndim - 1)), new, old), lanes, fresh)
            return lanes, out, steps_out, next_pid + jnp.sum(take, dtype=jnp.int32)

        carry = (lanes, out, steps_out, jnp.asarray(n_lanes, jnp.int32))
        _, out, steps_out, _ = jax.lax.while_loop(running, one_pass, carry)
        return out, steps_out

    return solve


@dataclass(frozen=True)
class JaxEngine:
    """The numba engine's DP5(4) on JAX (CPU, GPU or TPU: whichever device JAX uses).

    ``rtol``, ``atol``, ``flush_below`` and ``max_steps`` mean what they mean for
    :class:`~ketamine_ptsd.engine.NumbaEngine`. ``lanes`` is how many patients are
    integrated side by side (a few thousand on a CPU, 10^5 or more on a GPU);
    ``outputs_per_pass`` how many output times a lane writes per pass (more costs every
    pass, fewer costs extra passes on long steps); ``chunk_size`` bounds the patients per
    call. Patient counts are padded to a power of two of at least ``bucket`` rows, so that
    compiled code is reused (padding rows are never integrated).
    """

    rtol: float = 1e-6
    atol: float = 1e-9
    lanes: int = 4096
    outputs_per_pass: int = 4
    chunk_size: int = 65536
    bucket: int = 8
    max_steps: int = 200_000
    flush_below: float = 1e-8
    name: str = "jax-dopri5"

    def __post_init__(self):
        for field_name in ("rtol", "atol"):
            value = getattr(self, field_name)
            if not (value > 0 and np.isfinite(value)):
                raise InputError(field_name, f"must be a positive number, got {value}", "> 0")
        for field_name in ("lanes", "outputs_per_pass", "chunk_size", "bucket", "max_steps"):
            value = getattr(self, field_name)
            if int(value) != value or value < 1:
                raise InputError(field_name, f"must be a whole number of at least 1, got {value}", ">= 1")
        if not (self.flush_below >= 0):
            raise InputError("flush_below", f"must be zero or positive, got {self.flush_below}", ">= 0")
        _jax()

    def solve(self, model, params, events, times, out_sel, record_states=False, y0=None, out=None):
        """Same contract as :meth:`NumbaEngine.solve`: outputs (N x T x K) and accepted
        steps per patient (-1 where the step limit was exceeded; outputs NaN from there)."""
        jax, _ = _jax()
        if getattr(jax.config, "jax_compilation_cache_dir", "") is None:
            jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
        n_pat = params.shape[0]
        padded = max(int(self.bucket), 1 << (n_pat - 1).bit_length())
        y0 = model.initial_state(n_pat) if y0 is None else np.asarray(y0, dtype=np.float64)
        work = model.prepare(params)
        P = np.concatenate([work, np.repeat(work[:1], padded - n_pat, axis=0)])
        Y0 = np.concatenate([y0, np.repeat(y0[:1], padded - n_pat, axis=0)]).astype(np.float64)
        groups = event_groups(events, len(model.state_names), len(model.input_names))
        solve = _population_solver(
            model.module, tuple(model.state_names), tuple(model.output_names), len(model.input_names),
            model.param_names.index("weight_kg"), tuple(int(i) for i in out_sel), bool(record_states),
            int(self.outputs_per_pass), int(min(self.lanes, padded)))
        with double_precision():
            result, steps = solve(P, Y0, np.asarray(times, dtype=np.float64), *groups, np.int32(n_pat),
                               np.float64(self.rtol), np.float64(self.atol), np.float64(self.flush_below),
                               np.int64(self.max_steps))
            values = output_array(out, n_pat, len(times), len(out_sel))
            values[...] = np.asarray(result)[:n_pat]
            return values, np.asarray(steps)[:n_pat]
