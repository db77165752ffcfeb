"""Reference engine: ``scipy.integrate.solve_ivp`` one patient at a time, piecewise between
events. Slow; used as the accuracy reference in tests and as a peer in benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numba_engine import kernel, output_array


@dataclass(frozen=True)
class ScipyEngine:
    """``solve_ivp`` with ``method`` (LSODA, DOP853, RK45, BDF ...) at ``rtol``/``atol``."""

    method: str = "LSODA"
    rtol: float = 1e-6
    atol: float = 1e-9
    name: str = "scipy"

    def solve(self, model, params, events, times, out_sel, record_states=False, y0=None, out=None):
        """Same contract as :meth:`NumbaEngine.solve`; steps are counted as RHS calls."""
        kernel(model)  # the model functions are numba-compiled; make sure they are cached
        n_pat = params.shape[0]
        times = np.asarray(times, dtype=float)
        out = output_array(out, n_pat, times.size, len(out_sel))
        steps = np.zeros(n_pat, np.int64)
        y0_all = model.initial_state(n_pat) if y0 is None else y0
        work = model.prepare(params)
        for i in range(n_pat):
            steps[i] = self._solve_patient(model, work[i], np.array(y0_all[i], dtype=float),
                                           events, times, out_sel, record_states, out[i])
        return out, steps

    def _solve_patient(self, model, p, y, events, times, out_sel, record_states, out_rows) -> int:
        """One patient, piecewise between events; fills ``out_rows`` (T x K), returns RHS calls."""
        from scipy.integrate import solve_ivp  # imported here: the reference is not on the CLI's start-up path

        rhs, observe = model.rhs, model.observe
        u = np.zeros(len(model.input_names))
        obs = np.zeros(len(model.output_names))
        need = model.all_outputs()
        calls = 0

        def f(t, yy):
            nonlocal calls
            calls += 1
            dy = np.empty_like(yy)
            rhs(t, yy, p, u, dy)
            return dy

        def record(j, state):
            if record_states:
                out_rows[j] = state[out_sel]
            else:
                observe(np.ascontiguousarray(state), p, obs, need)
                out_rows[j] = obs[out_sel]

        t = min(times[0], events.time_h[0]) if len(events) else times[0]
        e = j = 0
        weight = p[model.param_names.index("weight_kg")]
        while True:
            while e < len(events) and events.time_h[e] <= t:
                amount = events.fixed[e] + events.per_kg[e] * weight
                if events.kind[e] == 0:
                    y[events.index[e]] += amount
                else:
                    u[events.index[e]] += amount
                e += 1
            u[np.abs(u) < 1e-12] = 0.0
            while j < times.size and times[j] <= t:
                record(j, y)
                j += 1
            if j >= times.size:
                return calls
            t_next = times[-1] if e >= len(events) else min(events.time_h[e], times[-1])
            inside = times[(times > t) & (times < t_next)]
            sol = solve_ivp(f, (t, t_next), y, method=self.method, rtol=self.rtol, atol=self.atol,
                            t_eval=np.append(inside, t_next))
            if not sol.success:
                raise RuntimeError(f"solve_ivp failed: {sol.message}")
            for col in range(inside.size):
                record(j, sol.y[:, col])
                j += 1
            y = sol.y[:, -1].copy()
            t = t_next
