"""The report's SVG figure: read back as XML, its curves land where the data say (checked
through the figure's own tick labels, not its code's transform), thinning keeps narrow peaks,
bands span the 10th to 90th percentile, and the simulate report holds it inline."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ketamine_ptsd.cli import main
from ketamine_ptsd.report.figures import PANELS, chain_figure, nice_ticks, thin
from ketamine_ptsd.trajectory import Trajectory

SVG = "{http://www.w3.org/2000/svg}"


def trajectory(values: dict[str, np.ndarray], times_h: np.ndarray) -> Trajectory:
    names = tuple(values)
    stacked = np.stack([np.atleast_2d(values[n]) for n in names], axis=-1)
    return Trajectory(np.arange(stacked.shape[0]), times_h, names, stacked)


def panel(svg: str, title: str):
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG}g"):
        if g.get("data-title") == title:
            return g
    raise AssertionError(f"no panel {title!r}")


def axis_map(g, cls: str, coordinate: str):
    """Pixel -> data along one axis, fitted to the tick labels' positions and values."""
    ticks = [t for t in g.iter(f"{SVG}text") if t.get("class") == cls]
    assert len(ticks) >= 2
    pixel = np.array([float(t.get(coordinate)) for t in ticks])
    value = np.array([float(t.text) for t in ticks])
    slope, intercept = np.polyfit(pixel, value, 1)
    return lambda p: slope * np.asarray(p) + intercept


def points(element) -> np.ndarray:
    return np.array([[float(v) for v in p.split(",")] for p in element.get("points").split()])


def series(g, tag: str, label: str):
    found = [e for e in g.iter(f"{SVG}{tag}") if e.get("data-series") == label]
    assert found, f"no {tag} for {label!r}"
    return found


def test_a_one_hour_peak_in_eight_weeks_keeps_its_height_and_time():
    times = np.arange(0.0, 56 * 24 + 1e-9, 0.25)  # 5,377 times, 15 min apart
    conc = 5.0 + 150.0 * np.exp(-(((times - 250.0) / 0.5) ** 2))  # one narrow peak at 250 h
    svg = chain_figure(trajectory({"ketamine_ng_ml": conc}, times))
    g = panel(svg, "Plasma and effect site")
    (line,) = series(g, "polyline", "ketamine_ng_ml")
    xy = points(line)
    assert len(xy) < 1000 < times.size  # thinned to the plot's pixels
    to_value = axis_map(g, "ytick", "y")
    # A tick label sits 4 px below the grid line it labels: a point at pixel p reads f(p + 4).
    peak = xy[np.argmin(xy[:, 1])]
    assert to_value(peak[1] + 4) == pytest.approx(conc.max(), abs=0.2)
    last = [t for t in ET.fromstring(svg).iter(f"{SVG}g")][-1]
    to_day = axis_map(last, "xtick", "x")
    assert to_day(peak[0]) == pytest.approx(250.0 / 24, abs=0.1)
    # Every kept point lies on the data: its value is one of the curve's values.
    values = to_value(xy[:, 1] + 4)
    assert np.min(np.abs(values[:, None] - conc[None, :]), axis=1).max() < 0.3


def test_population_band_spans_the_10th_to_90th_percentile():
    times = np.arange(0.0, 48.0 + 1e-9, 1.0)
    rng = np.random.default_rng(3)
    pcl = 40.0 + rng.normal(0.0, 8.0, size=(200, 1)) + 0.0 * times  # flat per patient
    svg = chain_figure(trajectory({"pcl5_total": pcl}, times))
    g = panel(svg, "Symptoms")
    (band,) = series(g, "polygon", "pcl5_total (median)")
    to_value = axis_map(g, "ytick", "y")
    ys = to_value(points(band)[:, 1] + 4)
    lo, hi = np.percentile(pcl[:, 0], [10, 90])
    assert ys.min() == pytest.approx(lo, abs=0.1) and ys.max() == pytest.approx(hi, abs=0.1)
    (line,) = series(g, "polyline", "pcl5_total (median)")
    assert to_value(points(line)[:, 1] + 4) == pytest.approx(np.median(pcl[:, 0]), abs=0.1)


def test_missing_values_break_the_line_instead_of_bridging_it():
    times = np.arange(0.0, 24.0 + 1e-9, 1.0)
    madrs = 30.0 - times / 2
    madrs[10:14] = np.nan
    g = panel(chain_figure(trajectory({"madrs": madrs}, times)), "Symptoms")
    parts = series(g, "polyline", "madrs")
    assert [len(points(p)) for p in parts] == [10, 11]


def test_four_panels_with_escaped_title_and_valid_xml():
    times = np.arange(0.0, 24.0 + 1e-9, 1.0)
    svg = chain_figure(trajectory({"cadss": np.zeros_like(times)}, times), title="a < b & c")
    root = ET.fromstring(svg)  # well-formed despite the title's markup characters
    titles = [g.get("data-title") for g in root.iter(f"{SVG}g")]
    assert titles == [name for name, _, _ in PANELS]
    assert "a &lt; b &amp; c" in svg


def test_thin_keeps_each_bins_extremes_in_order():
    x = np.linspace(0.0, 10.0, 101)  # 10 points per 1-px column: 5 bins of 2 px, the last point alone
    y = np.sin(np.arange(101.0))
    kept = thin(x, y)
    assert np.all(np.diff(kept) > 0)
    bins = np.floor(x / 2.0).astype(int)
    for b in range(bins.max() + 1):
        inside = np.flatnonzero(bins == b)
        assert set(kept[np.isin(kept, inside)]) == {inside[np.argmin(y[inside])], inside[np.argmax(y[inside])]}


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0.0, 56.0, [0, 10, 20, 30, 40, 50]),
    (-0.05, 1.05, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.3, 0.7, [0.3, 0.4, 0.5, 0.6, 0.7]),
])
def test_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi).tolist() == expected


def test_simulate_report_holds_the_figure_inline(tmp_path):
    assert main(["simulate", "--n", "3", "--horizon-days", "2", "--dt-min", "60", "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    start = html.index("<svg")
    root = ET.fromstring(html[start:html.index("</svg>", start) + len("</svg>")])
    assert len([g for g in root.iter(f"{SVG}g") if g.get("data-title")]) == 4
    assert any(p.get("data-series") == "ketamine_ng_ml (median)" for p in root.iter(f"{SVG}polyline"))
