"""Static figures (matplotlib): the whole chain from dose to symptoms."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..trajectory import Trajectory  # noqa: E402

PANELS = (
    ("Plasma and effect site", "ng/mL", ("ketamine_ng_ml", "norketamine_ng_ml", "effect_site_ng_ml")),
    ("Cascade", "relative", ("nmda_occupancy", "glutamate", "mtor", "bdnf", "synaptic_density", "plasticity")),
    ("Symptoms", "score", ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "pcl5_total", "caps5_total", "madrs")),
    ("Vitals and dissociation", "mmHg / bpm / CADSS", ("sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss")),
)


def column_percentiles(values: np.ndarray, q) -> np.ndarray:
    """``np.nanpercentile(values, q, axis=0)`` (linear interpolation, NaN ignored, all-NaN
    columns NaN) for a patients x times array, in a few whole-array passes: numpy's version
    calls a one-column function per time (thousands of calls per variable)."""
    q = np.asarray(q, dtype=float) / 100.0
    if not np.isnan(values).any():
        return np.percentile(values, 100.0 * q, axis=0)
    ordered = np.sort(values, axis=0)  # NaN sorts last
    count = np.sum(~np.isnan(values), axis=0)
    pos = q[:, None] * np.maximum(count - 1, 0)[None, :]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0)[None, :])
    frac = pos - lo
    low = np.take_along_axis(ordered, lo, axis=0)
    high = np.take_along_axis(ordered, hi, axis=0)
    out = low + (high - low) * frac
    out[:, count == 0] = np.nan
    return out


def band_variables(names) -> list[str]:
    """The outputs among ``names`` that the figure draws."""
    drawn = {v for _, _, variables in PANELS for v in variables}
    return [n for n in names if n in drawn]


def _band(ax, t, values, label):
    if values.shape[0] == 1:
        ax.plot(t, values[0], label=label, lw=1.2)
        return
    lo, mid, hi = column_percentiles(values, [10, 50, 90])
    line = ax.plot(t, mid, label=f"{label} (median)", lw=1.2)[0]
    ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.15, lw=0)


def chain_figure(traj: Trajectory, title: str = "") -> bytes:
    """Four panels: concentrations, cascade, symptoms by cluster and depression, vitals and
    dissociation. Returns PNG bytes. Populations are drawn as median and 10-90 % band (of the
    patients of ``traj``: pass a sample for a large population)."""
    fig, axes = plt.subplots(4, 1, figsize=(10, 13), sharex=True)
    days = traj.times_h / 24.0
    for ax, (name, unit, variables) in zip(axes, PANELS):
        present = [v for v in variables if v in traj.names]
        if name == "Cascade" and present:
            # The cascade signals differ in scale; show them relative to their own maxima.
            for v in present:
                values = traj[v]
                if v == "glutamate":
                    values = values - 1.0
                if v == "synaptic_density":
                    values = values - values[:, :1]
                scale = np.nanmax(np.abs(values)) or 1.0
                _band(ax, days, values / scale, v)
            unit = "fraction of own peak"
        else:
            for v in present:
                _band(ax, days, traj[v], v)
        ax.set_title(name, loc="left", fontsize=10)
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        if present:
            ax.legend(fontsize=7, ncol=3, loc="upper right")
    axes[-1].set_xlabel("days from first dose")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
