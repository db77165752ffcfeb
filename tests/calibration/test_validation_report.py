"""docs/validation.md as calibration/report.py writes it, from hand-made results with the
figures left out (they simulate; the figures are checked by running ``validate``): the count
line, one table row per target, what fails and why, one source line per target, and the
file written whole."""

from __future__ import annotations

import pytest

from ketamine_ptsd.calibration import report
from ketamine_ptsd.calibration.validation import PREDICTED, TargetResult


@pytest.fixture(autouse=True)
def no_figures(monkeypatch):
    for name in ("generalisation_figures", "pk_figures"):
        monkeypatch.setattr(report, name, lambda *a, **k: [])
    monkeypatch.setattr(report, "response_figures", lambda *a, **k: [("a curve", "validation/curve.png")])


RESULTS = [
    TargetResult("a_peak", "pass", 123.456789, 100.0, 150.0, 120.0, "ng/mL", target="trial_a", what="Trial A",
                 source="Author 2020", definition="peak", role=PREDICTED),
    TargetResult("a_trough", "fail", 2.5, 3.0, 4.0, None, "ng/mL", target="trial_a", what="Trial A",
                 source="Author 2020", definition="trough", role="fitted"),
    TargetResult("b_rate", "not_modelled", None, 0.1, 0.2, 0.15, "", target="trial_b", what="Trial B",
                 source="Other 2021", definition="rate", role="fitted"),
]


def test_the_report_counts_and_lists_every_target():
    text = report.validation_markdown(RESULTS, "docs")
    lines = text.splitlines()
    assert "**1 pass, 1 fail, 1 not modelled.**" in lines
    # One row per target, values to 4 significant digits, a missing value left empty.
    assert "| `a_peak` | pass | predicted (not fitted) | 123.5 | 100 | 150 | 120 | peak |" in lines
    assert "| `b_rate` | not_modelled | fitted |  | 0.1 | 0.2 | 0.15 | rate |" in lines
    assert sum(line.startswith("| `") and line.count("|") == 9 for line in lines) == len(RESULTS)
    # A failing target without a note says so.
    assert "- `a_trough`: not yet explained." in lines
    # Each source once, however many of its quantities there are.
    assert [line for line in lines if line.startswith("- `trial_")] == [
        "- `trial_a`: Trial A. Author 2020", "- `trial_b`: Trial B. Other 2021"]
    assert "![a curve](validation/curve.png)" in lines


def test_the_report_is_written_whole_into_a_new_folder(tmp_path):
    path = tmp_path / "new" / "validation.md"
    assert report.write_validation_report(RESULTS, path) == path
    assert path.read_text(encoding="utf-8") == report.validation_markdown(RESULTS, path.parent)
    assert sorted(p.name for p in path.parent.iterdir()) == ["validation.md"]  # no temporary file left
