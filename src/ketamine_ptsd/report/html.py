"""The HTML report of a simulation."""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from ..trajectory import Trajectory
from .figures import chain_figure
from .summary import SummaryTable, describe, single, summarise

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ketamine_ptsd.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)


def summary_table(traj: Trajectory | None = None, summary: dict | None = None) -> SummaryTable:
    """The summary shown on screen and in the report: one row per measure (a single
    patient's values, or median and 5-95 % across a population), from ``traj`` or from its
    per-patient ``summary`` (:func:`~.summary.summarise`, computed chunk by chunk for a large run)."""
    if summary is None:
        summary = summarise(traj)
    if len(summary["id"]) == 1:
        return single(summary)
    return describe(summary)


def _cell(value) -> str:
    """A summary value as shown: 3 significant digits, "-" when missing."""
    if value != value:  # NaN
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _table_rows(table: SummaryTable) -> dict:
    """The summary as a header and rows of text, rendered (and escaped) by the template."""
    return {"columns": list(table.columns), "rows": [(name, [_cell(v) for v in row]) for name, row in table.rows]}


def write_report(traj: Trajectory, path: str | Path, title: str = "ketamine-ptsd simulation",
                 table: SummaryTable | None = None, bands_from: str | None = None) -> Path:
    """Write the HTML report (summary, four-panel figure as inline SVG, regimen, run metadata).

    The figure's bands are drawn from the patients of ``traj``; for a large run pass a sample,
    the summary ``table`` of all patients (:func:`summary_table`) and ``bands_from``, which
    says what the sample is."""
    path = Path(path)
    md = traj.metadata
    run = {k: md.get(k) for k in ("ketamine_ptsd_version", "model", "engine", "rtol", "atol",
                                   "product", "n_patients", "seed")}
    if bands_from:
        run["figure bands from"] = bands_from
    if table is None:
        table = summary_table(traj)
    html = _ENV.get_template("report.html.j2").render(
        title=title,
        notice=md.get("notice", ""),
        warnings=md.get("warnings", []),
        doses=md.get("doses", []),
        therapy=md.get("therapy_sessions_h", []),
        summary=_table_rows(table),
        figure=Markup(chain_figure(traj, title)),
        run=run,
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
