"""The simulation report's figure: the whole chain from dose to symptoms, as inline SVG.

Written directly (no plotting library): the report of ``simulate`` draws four panels of at
most a few dozen curves, and importing and rendering with matplotlib cost about as much CPU as
the simulation of 2,000 patients. SVG is vector (it prints and zooms sharply) and its text is
searchable. Each curve is thinned to what the plot's pixels can show: per two pixel columns
the lowest and the highest point (:func:`thin`), so a one-hour concentration peak in a 56-day
course is drawn at its full height.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

from ..trajectory import Trajectory

PANELS = (
    ("Plasma and effect site", "ng/mL", ("ketamine_ng_ml", "norketamine_ng_ml", "effect_site_ng_ml")),
    ("Cascade", "relative", ("nmda_occupancy", "glutamate", "mtor", "bdnf", "synaptic_density", "plasticity")),
    ("Symptoms", "score", ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "pcl5_total", "caps5_total", "madrs")),
    ("Vitals and dissociation", "mmHg / bpm / CADSS", ("sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss")),
)

#: Line colours, in order (the "tab10" palette of matplotlib and Vega).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")

#: Geometry of the figure, in pixels: width, panel height, margins of a panel's plot area.
WIDTH, PANEL_HEIGHT = 1000, 250
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 62, 24
#: Width of the pixel bins a curve is thinned to (see :func:`thin`).
BIN_PX = 2.0


def column_percentiles(values: np.ndarray, q) -> np.ndarray:
    """``np.nanpercentile(values, q, axis=0)`` (linear interpolation, NaN ignored, all-NaN
    columns NaN) for a patients x times array, as float64 in any input precision. Each time's
    values are sorted as one contiguous row (numpy's vectorised sort; NaN sorts last), about 3x
    cheaper than ``np.percentile`` along the patient axis and 100x than ``np.nanpercentile``,
    which calls a one-column function per time."""
    q = np.asarray(q, dtype=float) / 100.0
    rows = np.sort(np.ascontiguousarray(np.asarray(values).T), axis=1)  # times x patients
    count = rows.shape[1] - np.count_nonzero(np.isnan(rows), axis=1)
    last = np.maximum(count - 1, 0)[:, None]
    pos = q[None, :] * last
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, last)
    low = np.take_along_axis(rows, lo, axis=1).astype(float)
    high = np.take_along_axis(rows, hi, axis=1).astype(float)
    out = low + (high - low) * (pos - lo)
    out[count == 0] = np.nan
    return out.T


def band_variables(names) -> list[str]:
    """The outputs among ``names`` that the figure draws."""
    drawn = {v for _, _, variables in PANELS for v in variables}
    return [n for n in names if n in drawn]


def nice_ticks(lo: float, hi: float, target: int = 5) -> np.ndarray:
    """Round tick values covering [lo, hi]: 1, 2, 2.5 or 5 times a power of ten apart, the
    step that gives the number of intervals nearest ``target``."""
    raw = (hi - lo) / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0)), key=lambda s: abs(math.log(s / raw)))
    ticks = np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step
    return np.round(ticks, max(0, 2 - math.floor(math.log10(step))))  # 0.3, not 0.30000000000000004


def thin(x: np.ndarray, y: np.ndarray, keep=("min", "max"), bin_px: float = BIN_PX) -> np.ndarray:
    """Indices of the points of the curve (``x`` in pixels, increasing; ``y`` finite) that a
    plot shows: per bin of ``bin_px`` pixel columns, the first point that reaches the bin's
    lowest ``y`` and the first that reaches its highest (``keep`` says which), in order."""
    column = np.floor(x / bin_px).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    if len(keep) * starts.size >= x.size:
        return np.arange(x.size)
    segment = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, x.size]))
    chosen = np.zeros(x.size, dtype=bool)
    for extreme in (np.minimum if k == "min" else np.maximum for k in keep):
        hit = np.flatnonzero(y == extreme.reduceat(y, starts)[segment])
        chosen[hit[np.r_[True, segment[hit][1:] != segment[hit][:-1]]]] = True
    return np.flatnonzero(chosen)


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``finite``."""
    edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2]))


def _points(px: np.ndarray, py: np.ndarray) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))


class _Panel:
    """One panel's plot area: the map from data to pixels and the SVG elements drawn in it."""

    def __init__(self, top: float, x_range: tuple[float, float], y_range: tuple[float, float]):
        self.x0, self.x1 = LEFT, WIDTH - RIGHT
        self.y0, self.y1 = top + PANEL_HEIGHT - BOTTOM, top + TOP  # bottom and top of the plot area
        self.xr, self.yr = x_range, y_range
        self.parts: list[str] = []

    def px(self, x):
        return self.x0 + (np.asarray(x, float) - self.xr[0]) * (self.x1 - self.x0) / (self.xr[1] - self.xr[0])

    def py(self, y):
        return self.y0 - (np.asarray(y, float) - self.yr[0]) * (self.y0 - self.y1) / (self.yr[1] - self.yr[0])

    def line(self, x, y, colour: str, label: str) -> None:
        px, py = self.px(x), self.py(y)
        for a, b in _runs(np.isfinite(py)):
            k = thin(px[a:b], py[a:b]) + a
            self.parts.append(f'<polyline class="line" data-series="{escape(label)}" fill="none" stroke="{colour}" '
                              f'stroke-width="1.3" points="{_points(px[k], py[k])}"/>')

    def band(self, x, lo, hi, colour: str, label: str) -> None:
        px, plo, phi = self.px(x), self.py(lo), self.py(hi)
        for a, b in _runs(np.isfinite(plo) & np.isfinite(phi)):
            up = thin(px[a:b], phi[a:b], keep=("min",)) + a  # pixel y grows downwards
            down = (thin(px[a:b], plo[a:b], keep=("max",)) + a)[::-1]
            self.parts.append(f'<polygon class="band" data-series="{escape(label)}" fill="{colour}" '
                              f'fill-opacity="0.15" stroke="none" points="{_points(px[up], phi[up])} '
                              f'{_points(px[down], plo[down])}"/>')


def _range(arrays) -> tuple[float, float]:
    """The y range of the curves, padded by 5 %; (0, 1) if nothing is finite."""
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _curves(traj: Trajectory, name: str, variables) -> list:
    """The panel's curves: (label, median or single line, low, high) each."""
    present = [v for v in variables if v in traj.names]
    curves = []
    for v in present:
        values = traj[v]
        if name == "Cascade":
            # The cascade signals differ in scale; show them relative to their own maxima.
            if v == "glutamate":
                values = values - 1.0
            if v == "synaptic_density":
                values = values - values[:, :1]
            scale = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
            values = values / (scale or 1.0)
        if values.shape[0] == 1:
            curves.append((v, values[0], None, None))
        else:
            lo, mid, hi = column_percentiles(values, [10, 50, 90])
            curves.append((f"{v} (median)", mid, lo, hi))
    return curves


def chain_figure(traj: Trajectory, title: str = "") -> str:
    """Four panels: concentrations, cascade, symptoms by cluster and depression, vitals and
    dissociation, as an SVG document (text). Populations are drawn as median and 10-90 % band
    (of the patients of ``traj``: pass a sample for a large population)."""
    days = np.asarray(traj.times_h, float) / 24.0
    x_range = (float(days[0]), float(days[-1])) if days[-1] > days[0] else (float(days[0]), float(days[0]) + 1.0)
    x_ticks = nice_ticks(*x_range, target=10)
    head = 30 if title else 0
    height = head + len(PANELS) * PANEL_HEIGHT + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chain-figure" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="system-ui, sans-serif" font-size="11" role="img" '
           f'aria-label="{escape(title or "from dose to symptoms")}">']
    if title:
        out.append(f'<text x="{WIDTH / 2:.0f}" y="20" text-anchor="middle" font-size="15">{escape(title)}</text>')
    for i, (name, unit, variables) in enumerate(PANELS):
        curves = _curves(traj, name, variables)
        if name == "Cascade" and curves:
            unit = "fraction of own peak"
        y_range = _range([a for _, mid, lo, hi in curves for a in (mid, lo, hi) if a is not None])
        panel = _Panel(head + i * PANEL_HEIGHT, x_range, y_range)
        out.append(f'<g class="panel" data-title="{escape(name)}">')
        out.append(f'<text x="{LEFT}" y="{panel.y1 - 40:.1f}" font-size="13">{escape(name)}</text>')
        for t in nice_ticks(*y_range):
            y = float(panel.py(t))
            out.append(f'<line class="grid" x1="{panel.x0}" x2="{panel.x1}" y1="{y:.1f}" y2="{y:.1f}" '
                       'stroke="#ddd" stroke-width="0.8"/>')
            out.append(f'<text class="ytick" data-value="{t:.10g}" x="{panel.x0 - 5}" y="{y + 4:.1f}" '
                       f'text-anchor="end">{t:g}</text>')
        for t in x_ticks:
            x = float(panel.px(t))
            out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{panel.y1:.1f}" y2="{panel.y0:.1f}" '
                       'stroke="#eee" stroke-width="0.8"/>')
            if i == len(PANELS) - 1:
                out.append(f'<text class="xtick" data-value="{t:.10g}" x="{x:.1f}" y="{panel.y0 + 15:.1f}" '
                           f'text-anchor="middle">{t:g}</text>')
        for k, (label, mid, lo, hi) in enumerate(curves):
            colour = COLOURS[k % len(COLOURS)]
            if lo is not None:
                panel.band(days, lo, hi, colour, label)
            panel.line(days, mid, colour, label)
        out.extend(panel.parts)
        out.append(f'<rect x="{panel.x0}" y="{panel.y1:.1f}" width="{panel.x1 - panel.x0}" '
                   f'height="{panel.y0 - panel.y1:.1f}" fill="none" stroke="#888"/>')
        mid_y = (panel.y0 + panel.y1) / 2
        out.append(f'<text x="16" y="{mid_y:.1f}" text-anchor="middle" transform="rotate(-90 16 {mid_y:.1f})">'
                   f'{escape(unit)}</text>')
        x, row = float(panel.x0), 0
        for k, (label, *_) in enumerate(curves):  # legend: up to two rows above the plot area
            width = 34 + 7.0 * len(label)  # a generous width per character of the 11 px font
            if x + width > panel.x1 and x > panel.x0:
                x, row = float(panel.x0), row + 1
            y = panel.y1 - 22 + 15 * min(row, 1)
            colour = COLOURS[k % len(COLOURS)]
            out.append(f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="{y - 4:.1f}" y2="{y - 4:.1f}" '
                       f'stroke="{colour}" stroke-width="2"/>')
            out.append(f'<text class="legend" x="{x + 20:.0f}" y="{y:.1f}">{escape(label)}</text>')
            x += width
        out.append("</g>")
    bottom = head + len(PANELS) * PANEL_HEIGHT
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{bottom + 18}" text-anchor="middle">'
               "days from first dose</text>")
    out.append("</svg>")
    return "\n".join(out)
