"""The charts, as plotly figure specifications (plain JSON) drawn in the browser by the
locally served plotly.js.

:func:`course_chart` shows a patient's PCL-5 (total and the DSM-5 clusters B-E) and MADRS
over time, the personal forecast's median and 80 % band, the dosing sessions and the
recommended maintenance date. :func:`whatif_chart` overlays the protocols of a what-if
comparison. Times are calendar dates (course chart) or days from the first dose (what-if).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from ketamine_ptsd.clinic.instruments import MADRS, PCL5

CLUSTER_COLOURS = {"B": "#8c6bb1", "C": "#41ab5d", "D": "#ef6548", "E": "#4292c6"}
PCL5_COLOUR, MADRS_COLOUR, BAND_FILL = "#1b3a5c", "#7a3b00", "rgba(27, 58, 92, 0.15)"
MADRS_FILL = "rgba(122, 59, 0, 0.15)"
PROTOCOL_COLOURS = ("#1b3a5c", "#b2182b", "#1a9850", "#7b3294")


def _forecast_series(forecast: Mapping[str, Any], key: str, first_dose: dt.datetime) -> dict[str, list]:
    """Dates and median/low/high of one forecast curve (``{day: value}`` as stored)."""
    days = sorted(forecast["median"][key], key=float)
    return {"x": [(first_dose + dt.timedelta(days=float(d))).isoformat() for d in days],
            **{part: [forecast[part][key][d] for d in days] for part in ("median", "band_low", "band_high")}}


def _band(series: Mapping[str, list], name: str, colour: str, fill: str, axis: str, group: str) -> list[dict]:
    return [
        {"type": "scatter", "mode": "lines", "x": series["x"], "y": series["band_high"], "line": {"width": 0},
         "hoverinfo": "skip", "showlegend": False, "legendgroup": group, "yaxis": axis},
        {"type": "scatter", "mode": "lines", "x": series["x"], "y": series["band_low"], "line": {"width": 0},
         "fill": "tonexty", "fillcolor": fill, "name": f"{name} forecast 80 % band", "legendgroup": group,
         "yaxis": axis},
        {"type": "scatter", "mode": "lines", "x": series["x"], "y": series["median"], "name": f"{name} forecast median",
         "line": {"color": colour, "dash": "dash"}, "legendgroup": group, "yaxis": axis},
    ]


def course_chart(assessments: Sequence[Mapping[str, Any]], session_times: Sequence[str],
                 forecast: Mapping[str, Any] | None) -> dict[str, Any]:
    """Figure of the patient's course.

    ``assessments`` are dicts with ``instrument``, ``administered_at`` (ISO), ``total`` and
    ``clusters``; ``session_times`` ISO times of the dosing sessions; ``forecast`` the stored
    result of :func:`ketamine_ptsd.care.forecast.forecast_patient` (or None).
    """
    pcl5 = [a for a in assessments if a["instrument"] == "pcl5" and a["total"] is not None]
    madrs = [a for a in assessments if a["instrument"] == "madrs" and a["total"] is not None]
    traces: list[dict] = []
    shapes: list[dict] = []
    annotations: list[dict] = []
    if forecast is not None:
        first_dose = dt.datetime.fromisoformat(forecast["first_dose_at"])
        traces += _band(_forecast_series(forecast, "pcl5", first_dose), "PCL-5", PCL5_COLOUR, BAND_FILL, "y", "fc")
        traces += _band(_forecast_series(forecast, "madrs", first_dose), "MADRS", MADRS_COLOUR, MADRS_FILL, "y2",
                        "fm")
        for cluster, colour in CLUSTER_COLOURS.items():
            series = _forecast_series(forecast, f"pcl5_{cluster.lower()}", first_dose)
            traces.append({"type": "scatter", "mode": "lines", "x": series["x"], "y": series["median"],
                           "name": f"cluster {cluster} forecast", "line": {"color": colour, "dash": "dot"},
                           "visible": "legendonly", "yaxis": "y"})
        due = forecast.get("recommended_maintenance_date")
        if due:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": due, "x1": due, "y0": 0, "y1": 1,
                           "line": {"color": "#b2182b", "width": 2, "dash": "dashdot"}})
            annotations.append({"x": due, "y": 1, "xref": "x", "yref": "paper", "yanchor": "bottom",
                                "text": f"recommended maintenance {due}", "showarrow": False,
                                "font": {"color": "#b2182b"}})
    traces.append({"type": "scatter", "mode": "lines+markers", "name": "PCL-5 total", "yaxis": "y",
                   "x": [a["administered_at"] for a in pcl5], "y": [a["total"] for a in pcl5],
                   "line": {"color": PCL5_COLOUR, "width": 3}})
    for cluster, colour in CLUSTER_COLOURS.items():
        points = [a for a in pcl5 if (a.get("clusters") or {}).get(cluster) is not None]
        traces.append({"type": "scatter", "mode": "lines+markers", "name": f"PCL-5 cluster {cluster}",
                       "x": [a["administered_at"] for a in points], "y": [a["clusters"][cluster] for a in points],
                       "line": {"color": colour, "width": 1}, "marker": {"size": 5}, "yaxis": "y"})
    traces.append({"type": "scatter", "mode": "lines+markers", "name": "MADRS", "yaxis": "y2",
                   "x": [a["administered_at"] for a in madrs], "y": [a["total"] for a in madrs],
                   "line": {"color": MADRS_COLOUR, "width": 3}})
    for when in session_times:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": when, "x1": when, "y0": 0, "y1": 1,
                       "line": {"color": "rgba(0,0,0,0.18)", "width": 1}})
    layout = {
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40}, "height": 520, "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.12},
        "xaxis": {"type": "date", "anchor": "y2"},
        "yaxis": {"title": {"text": f"PCL-5 (0-{PCL5.max_total})"}, "domain": [0.42, 1.0],
                  "range": [0, PCL5.max_total]},
        "yaxis2": {"title": {"text": f"MADRS (0-{MADRS.max_total})"}, "domain": [0.0, 0.32],
                   "range": [0, MADRS.max_total]},
        "shapes": shapes, "annotations": annotations,
    }
    return {"data": traces, "layout": layout}


def whatif_chart(result: Mapping[str, Any]) -> dict[str, Any]:
    """Figure of a what-if comparison: each protocol's PCL-5 median and 10-90 % band."""
    traces = []
    for i, p in enumerate(result["protocols"]):
        colour = PROTOCOL_COLOURS[i % len(PROTOCOL_COLOURS)]
        band = {"x": p["days"], "median": p["pcl5_median"], "band_low": p["pcl5_low"], "band_high": p["pcl5_high"]}
        fill = "rgba({}, {}, {}, 0.12)".format(*(int(colour[k:k + 2], 16) for k in (1, 3, 5)))
        for trace in _band(band, p["name"], colour, fill, "y", f"p{i}"):
            trace["name"] = trace.get("name", "").replace("forecast ", "")
            traces.append(trace)
    layout = {"margin": {"l": 60, "r": 20, "t": 20, "b": 50}, "height": 420, "hovermode": "x unified",
              "xaxis": {"title": {"text": "days from the first dose"}},
              "yaxis": {"title": {"text": f"PCL-5 (0-{PCL5.max_total})"}, "range": [0, PCL5.max_total]},
              "legend": {"orientation": "h", "y": -0.2}}
    return {"data": traces, "layout": layout}
