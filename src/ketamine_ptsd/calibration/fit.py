"""Calibration: fit the calibrated parameters to the literature targets, reproducibly.

The optimiser is ``scipy.optimize.least_squares`` (trust-region reflective, bounds in log
space) on residuals that are zero at the published value and one at the edge of its band;
one-sided bands only penalise the wrong side. The virtual trials use a fixed seed, so the
objective is deterministic (common random numbers across evaluations).
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
from .validation import Band, bands


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
    Calibrated("expectancy_gain", 0.05, 3.0, ("clinical.depression_single_infusion",)),
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


def calibrate(
    base: ParameterTable | None = None,
    settings: Settings = Settings(n_per_arm=400),
    max_nfev: int = 60,
    progress: Callable[[int, float], None] | None = None,
    items=CALIBRATED,
) -> tuple[ParameterTable, dict]:
    """Fit ``items`` to the targets. Returns the calibrated table (each fitted entry
    marked "calibrated to <target ids>") and a summary of the fit."""
    base = base or model_table()
    fitted = [b for b in bands() if not b.id.startswith(("pk.", "pd."))]
    calls = [0]

    def residuals(x):
        params = apply(x, base, items)
        q = compute_quantities(params, settings, groups=("acute", "single", "trial1", "trial6"))
        r = [residual(b, q.get(b.id)) for b in fitted]
        r = np.array([v for v in r if v is not None])
        calls[0] += 1
        if progress is not None:
            progress(calls[0], float(np.sum(r**2)))
        return r

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
    }
    return table, summary


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
