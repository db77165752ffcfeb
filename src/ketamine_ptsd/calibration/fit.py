"""Calibration: fit the calibrated parameters to the literature targets, reproducibly.

The optimiser is ``scipy.optimize.least_squares`` (trust-region reflective, bounds in log
space) on residuals that are zero at the published value and one at the edge of its band;
one-sided bands only penalise the wrong side. The virtual trials use a fixed seed, so the
objective is deterministic (common random numbers across evaluations).

Only the training targets (``role = "train"`` in targets.toml) enter the objective; the
test targets are held out and check the fit. Each calibrated quantity gets an uncertainty
from the Jacobian J of the residuals at the solution (in log parameter space): covariance
``s^2 (J^T J)^-1`` with ``s^2`` the residual sum of squares over its degrees of freedom, and
the targets that identify it are those with the largest ``|J|`` in its column.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from ..params import ParameterTable, model_table
from .scenarios import Settings, compute_quantities
from .validation import TRAIN, Band, bands, target_roles


@dataclass(frozen=True)
class Calibrated:
    """One calibrated quantity: a parameter's typical value, or its IIV (``iiv=True``)."""

    name: str
    low: float
    high: float
    targets: tuple[str, ...]
    iiv: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}.iiv_cv" if self.iiv else self.name


#: What ``calibrate`` fits, within which bounds, and to which targets (recorded in the table).
CALIBRATED = (
    Calibrated("cadss_ec50", 100.0, 5000.0, ("acute.dissociation_timecourse",)),
    Calibrated("cadss_hill", 1.0, 4.0, ("acute.dissociation_timecourse",)),
    # Bounded so that the acute functional part cannot carry the peak of relief before 12 h
    # (MODEL.md §4: improvement within hours, peak near 24 h from the structural part).
    Calibrated("functional_gain", 0.1, 8.0, ("clinical.single_dose_timecourse", "clinical.depression_single_infusion")),
    Calibrated("structural_gain", 0.1, 30.0,
               ("clinical.feder2021_six_infusions", "clinical.feder2014_single_infusion")),
    Calibrated("stabilisation_rate", 0.1, 200.0, ("clinical.feder2021_six_infusions",)),
    Calibrated("labile_tau", 120.0, 336.0, ("cascade.spine_timing", "clinical.feder2014_single_infusion")),
    Calibrated("resistant_fraction", 0.02, 0.6, ("clinical.feder2021_six_infusions",)),
    Calibrated("expectancy_gain", 0.05, 3.0, ("clinical.depression_single_infusion",
                                              "clinical.cochrane2021_24h_response")),
    Calibrated("placebo_responder_factor", 1.0, 20.0, ("clinical.cochrane2021_24h_response",
                                                      "clinical.depression_single_infusion")),
    Calibrated("expectancy_tau", 72.0, 672.0, ("clinical.depression_single_infusion",
                                               "clinical.feder2014_single_infusion")),
    Calibrated("expectancy_ptsd_weight", 0.05, 2.0, ("clinical.feder2021_six_infusions",)),
    Calibrated("sensitivity_depression", 0.3, 5.0, ("clinical.depression_single_infusion",)),
    Calibrated("sensitivity_depression", 0.05, 3.0, ("clinical.depression_single_infusion",), iiv=True),
    Calibrated("response_sensitivity", 0.1, 1.5, ("clinical.feder2021_six_infusions",
                                                  "clinical.depression_single_infusion"), iiv=True),
)


def residual(band: Band, simulated) -> float | None:
    """0 at the published value, +-1 at the band's edge; one-sided bands are hinges."""
    if isinstance(band.value, (str, bool)) or simulated is None or isinstance(simulated, (str, bool)):
        return None
    if not math.isfinite(simulated):
        return 10.0
    lo, hi = band.low, band.high
    if lo is not None and hi is not None:
        if hi == lo:
            return None
        centre = band.value if isinstance(band.value, (int, float)) else 0.5 * (lo + hi)
        half = (hi - centre) if simulated >= centre else (centre - lo)
        return (simulated - centre) / half
    if hi is not None:
        scale = abs(hi) or 1.0
        return max(0.0, simulated - hi) / scale * 4.0
    if lo is not None:
        scale = abs(lo) or 1.0
        return max(0.0, lo - simulated) / scale * 4.0
    return None


def apply(x: np.ndarray, base: ParameterTable, items=CALIBRATED) -> ParameterTable:
    """The table with the calibrated quantities set from ``x`` (log values)."""
    values = {c.name: float(np.exp(v)) for c, v in zip(items, x) if not c.iiv}
    iiv = {c.name: float(np.exp(v)) for c, v in zip(items, x) if c.iiv}
    return base.replace(iiv=iiv, **values)


def _start(base: ParameterTable, items) -> np.ndarray:
    return np.log([base[c.name].iiv_cv if c.iiv else base.value(c.name) for c in items])


def training_bands() -> list[Band]:
    """The quantities ``calibrate`` fits: those of the training targets."""
    roles = target_roles()
    return [b for b in bands() if roles[b.target] == TRAIN]


def objective(base: ParameterTable, settings: Settings, items=CALIBRATED,
              progress: Callable[[int, float], None] | None = None):
    """The residual function of log parameter values over the training quantities, and a
    function giving the quantity id of each residual at ``x``."""
    fitted = training_bands()
    calls = [0]

    def pairs(x):
        params = apply(x, base, items)
        q = compute_quantities(params, settings, groups=("acute", "single", "trial1", "trial6", "general"))
        out = [(b.id, residual(b, q.get(b.id))) for b in fitted]
        return [(i, v) for i, v in out if v is not None]

    def residuals(x):
        r = np.array([v for _, v in pairs(x)])
        calls[0] += 1
        if progress is not None:
            progress(calls[0], float(np.sum(r**2)))
        return r

    def ids(x):
        return [i for i, _ in pairs(x)]

    return residuals, ids, calls


def calibrate(
    base: ParameterTable | None = None,
    settings: Settings = Settings(n_per_arm=400, bp_n_per_arm=400),
    max_nfev: int = 60,
    progress: Callable[[int, float], None] | None = None,
    items=CALIBRATED,
) -> tuple[ParameterTable, dict]:
    """Fit ``items`` to the training targets. Returns the calibrated table (each fitted entry
    marked "calibrated to <target ids>") and a summary of the fit with each quantity's
    uncertainty (:func:`uncertainty`)."""
    base = base or model_table()
    residuals, ids, calls = objective(base, settings, items, progress)
    x0 = _start(base, items)
    lower = np.log([c.low for c in items])
    upper = np.log([c.high for c in items])
    x0 = np.clip(x0, lower + 1e-9, upper - 1e-9)
    result = least_squares(residuals, x0, bounds=(lower, upper), diff_step=0.05, max_nfev=max_nfev,
                           x_scale=1.0, method="trf")
    marks = {c.name: "calibrated to " + ", ".join(c.targets) for c in items}
    table = apply(result.x, base, items).replace(calibrated_to=marks)
    summary = {
        "cost": float(result.cost),
        "evaluations": calls[0],
        "status": int(result.status),
        "message": str(result.message),
        "n_per_arm": settings.n_per_arm,
        "seed": settings.seed,
        "values": {c.label: float(np.exp(v)) for c, v in zip(items, result.x)},
        "uncertainty": uncertainty(np.asarray(result.jac), np.asarray(result.fun), ids(result.x), result.x, items),
    }
    return table, summary


def jacobian_at(base: ParameterTable | None = None, settings: Settings = Settings(n_per_arm=200, bp_n_per_arm=200),
                items=CALIBRATED, step: float = 0.05,
                progress: Callable[[int, float], None] | None = None) -> dict:
    """The uncertainty of ``items`` from a forward-difference Jacobian (``step`` in log
    parameter space) at the table's current values, without refitting."""
    base = base or model_table()
    residuals, ids, _ = objective(base, settings, items, progress)
    x0 = _start(base, items)
    r0 = residuals(x0)
    jac = np.empty((r0.size, len(items)))
    for j in range(len(items)):
        x = x0.copy()
        x[j] += step
        jac[:, j] = (residuals(x) - r0) / step
    return uncertainty(jac, r0, ids(x0), x0, items)


def uncertainty(jac: np.ndarray, res: np.ndarray, ids: list[str], x: np.ndarray, items=CALIBRATED,
                top: int = 3) -> dict:
    """Per calibrated quantity: its value, the SD of its logarithm from ``s^2 (J^T J)^-1``,
    the 95 % interval, and the quantities with the largest ``|J|`` (those that identify it).
    A column of zeros (no training residual moves with it at this point) is not identified:
    its SD is infinite."""
    m, n = jac.shape
    s2 = float(res @ res) / max(m - n, 1)
    moves = np.abs(jac).max(axis=0) > 1e-9
    cov = np.full((n, n), np.inf)
    sub = jac[:, moves]
    if sub.size:
        cov_sub = s2 * np.linalg.pinv(sub.T @ sub)
        idx = np.flatnonzero(moves)
        cov[np.ix_(idx, idx)] = cov_sub
    out = {}
    for j, c in enumerate(items):
        sd = float(np.sqrt(max(cov[j, j], 0.0)))
        order = np.argsort(-np.abs(jac[:, j]))[:top]
        out[c.label] = {
            "value": float(np.exp(x[j])),
            "log_sd": sd,
            "low_95": float(np.exp(x[j] - 1.96 * sd)),
            "high_95": float(np.exp(x[j] + 1.96 * sd)) if math.isfinite(sd) else math.inf,
            "identified_by": [ids[i] for i in order if abs(jac[i, j]) > 1e-9],
        }
    return out


def write_uncertainty(result: dict, path: str | Path, note: str) -> Path:
    """Write :func:`uncertainty`'s result as TOML (``note`` says how it was computed)."""
    lines = [f"# {line}" for line in note.splitlines()] + [""]
    for label, u in result.items():
        lines.append(f'["{label}"]')
        for key in ("value", "log_sd", "low_95", "high_95"):
            v = u[key]
            lines.append(f"{key} = {v!r}" if math.isfinite(v) else f"{key} = inf")
        lines.append("identified_by = [" + ", ".join(f'"{i}"' for i in u["identified_by"]) + "]")
        lines.append("")
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


def write_table(table: ParameterTable, path: str | Path) -> Path:
    """Write the model table in the layout of ``params/model.toml``."""
    groups = {"acute": [], "cascade": [], "symptoms": []}
    packaged = model_table()
    from ..params import model_groups

    sections = model_groups()
    for p in packaged:
        groups[sections[p.name]].append(table[p.name])
    header = ("# Parameters of the acute-effect, cascade and symptom layers, written by\n"
              "# `ketamine-ptsd calibrate`. Entries with `calibrated_to` were fitted to those targets.\n\n")
    body = "\n".join(ParameterTable(tuple(v)).to_toml(g) for g, v in groups.items())
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)
    return path
