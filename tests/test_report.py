"""The simulation report's content: its summary is a real HTML table (not escaped markup)
with one row per summary measure, and the numbers in it are those of the trajectory written
beside it (recomputed here from the CSV, not by the report's own code)."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

from ketamine_ptsd.cli import main

SHORT = ["--horizon-days", "2", "--dt-min", "60"]


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, with the <h2> heading before it."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.heading = ""
        self._in_h2 = False
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in_h2, self.heading = True, ""
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[self.heading] = self._rows
            self._rows = None

    def handle_data(self, data):
        if self._in_h2:
            self.heading += data
        if self._cell is not None:
            self._cell.append(data)


def report_tables(path) -> tuple[str, dict]:
    text = path.read_text(encoding="utf-8")
    parser = Tables()
    parser.feed(text)
    return text, parser.tables


def test_single_patient_summary_is_a_table_of_the_trajectory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", "--out", str(out), *SHORT]) == 0
    capsys.readouterr()
    text, tables = report_tables(out / "report.html")
    assert "&lt;table" not in text and "&lt;tr" not in text
    summary = tables["Summary"]
    assert summary[0] == ["measure", "value"]
    rows = {name: value for name, value in summary[1:]}
    assert set(rows) == {"peak_ketamine_ng_ml", "time_of_peak_h", "peak_cadss", "peak_sbp_rise_mmhg",
                         "pcl5_baseline", "pcl5_nadir", "pcl5_nadir_day", "pcl5_improvement_lost_day",
                         "madrs_baseline", "madrs_nadir"}
    traj = pd.read_csv(out / "trajectory.csv")
    c = traj["ketamine_ng_ml"]
    assert float(rows["peak_ketamine_ng_ml"]) == pytest.approx(c.max(), rel=5e-3)
    assert float(rows["time_of_peak_h"]) == traj["time_h"][c.idxmax()]
    assert float(rows["peak_cadss"]) == pytest.approx(traj["cadss"].max(), rel=5e-3)
    assert float(rows["peak_sbp_rise_mmhg"]) == pytest.approx(traj["sbp_mmhg"].max() - traj["sbp_mmhg"][0], rel=5e-3)
    assert float(rows["pcl5_baseline"]) == pytest.approx(traj["pcl5_total"][0], rel=5e-3)
    assert float(rows["pcl5_nadir"]) == pytest.approx(traj["pcl5_total"].min(), rel=5e-3)
    assert float(rows["madrs_nadir"]) == pytest.approx(traj["madrs"].min(), rel=5e-3)
    # Within two days the PCL-5 improvement is not lost: shown as missing, not as a number.
    assert rows["pcl5_improvement_lost_day"] == "-"
    # The regimen table lists the six induction doses.
    assert len(tables["Regimen"]) == 1 + 6 and tables["Regimen"][0][0] == "time (h)"


def test_population_summary_has_percentile_columns(tmp_path, capsys):
    out = tmp_path / "pop"
    assert main(["simulate", "--out", str(out), "--n", "20", "--seed", "4", *SHORT]) == 0
    capsys.readouterr()
    _, tables = report_tables(out / "report.html")
    summary = tables["Summary"]
    assert summary[0] == ["measure", "p5", "median", "p95", "missing"]
    rows = {r[0]: r[1:] for r in summary[1:]}
    assert "peak_ketamine_ng_ml" in rows and "madrs_nadir" in rows
    traj = pd.read_csv(out / "trajectory.csv")
    peaks = traj.groupby("id")["ketamine_ng_ml"].max()
    p5, median, p95, missing = rows["peak_ketamine_ng_ml"]
    assert float(median) == pytest.approx(peaks.median(), rel=5e-3)
    assert float(p5) == pytest.approx(peaks.quantile(0.05), rel=5e-3)
    assert float(p95) == pytest.approx(peaks.quantile(0.95), rel=5e-3)
    assert float(p5) < float(median) < float(p95) and missing == "0"
