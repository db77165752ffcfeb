"""Reference engine: ``scipy.integrate.solve_ivp`` one patient at a time, piecewise between
events. Slow; used as the accuracy reference in tests and as a peer in benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from .numba_engine import kernel


@dataclass(frozen=True)
class ScipyEngine:
    """``solve_ivp`` with ``method`` (LSODA, DOP853, RK45, BDF ...) at ``rtol``/``atol``."""

    method: str = "LSODA"
    rtol: float = 1e-6
    atol: float = 1e-9
    name: str = "scipy"

    def solve(self, model, params, events, times, out_sel, record_states=False, y0=None):
        """Same contract as :meth:`NumbaEngine.solve`; steps are counted as RHS calls."""
        kernel(model)  # the model functions are numba-compiled; make sure they are cached
        rhs, observe = model.rhs, model.observe
        n_pat = params.shape[0]
        times = np.asarray(times, dtype=float)
        out = np.empty((n_pat, times.size, len(out_sel)))
        steps = np.zeros(n_pat, np.int64)
        y0_all = model.initial_state(n_pat) if y0 is None else y0
        weight_col = model.param_names.index("weight_kg")
        n_obs = len(model.output_names)
        for i in range(n_pat):
            p = np.ascontiguousarray(params[i])
            y = np.array(y0_all[i], dtype=float)
            u = np.zeros(len(model.input_names))
            calls = [0]

            def f(t, yy, p=p, u=u):
                calls[0] += 1
                dy = np.empty_like(yy)
                rhs(t, yy, p, u, dy)
                return dy

            def record(j, state):
                if record_states:
                    out[i, j] = state[out_sel]
                else:
                    obs = np.empty(n_obs)
                    observe(np.ascontiguousarray(state), p, obs)
                    out[i, j] = obs[out_sel]

            breaks = sorted(set(events.time_h.tolist()) | {times[-1]})
            t = min(times[0], breaks[0])
            e = 0
            j = 0
            weight = p[weight_col]
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
                    break
                t_next = times[-1] if e >= len(events) else min(events.time_h[e], times[-1])
                inside = times[(times > t) & (times < t_next)]
                sol = solve_ivp(f, (t, t_next), y, method=self.method, rtol=self.rtol,
                                atol=self.atol, t_eval=np.append(inside, t_next))
                if not sol.success:
                    raise RuntimeError(f"solve_ivp failed for patient {i}: {sol.message}")
                for col in range(inside.size):
                    record(j, sol.y[:, col])
                    j += 1
                y = sol.y[:, -1].copy()
                t = t_next
            steps[i] = calls[0]
        return out, steps

