"""The ``ketamine-ptsd`` command: bad input exits 2 with one line naming the field and writes
nothing; a valid run writes the trajectory, metadata and report; inputs outside the
validated range run but say so on screen and in the metadata."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ketamine_ptsd.cli import main
from ketamine_ptsd.model.layout import OUTPUT_NAMES

SHORT = ["--horizon-days", "2", "--dt-min", "60"]  # 49 hourly rows: fast
COLUMNS = ["id", "time_h", *OUTPUT_NAMES]

BAD_INPUT = [
    (["--weight-kg", "-1"], "--weight-kg"),
    (["--weight-kg", "0"], "--weight-kg"),
    (["--weight-kg", "nan"], "--weight-kg"),
    (["--weight-kg", "inf"], "--weight-kg"),
    (["--dose", "-1mg"], "--dose"),
    (["--dose", "abc"], "--dose"),
    (["--dose", "NaN"], "--dose"),
    (["--dose", "nanmg/kg"], "--dose"),
    (["--dose", "0mg"], "--dose"),
    (["--dose", "0.5"], "--dose"),
    (["--infusion-min", "0"], "--infusion-min"),
    (["--infusion-min", "-40"], "--infusion-min"),
    (["--days", "3,1"], "days"),
    (["--days", "0,2,2"], "days"),
    (["--days", "a,b"], "--days"),
    (["--therapy-days", "5,2"], "therapy"),
    (["--horizon-days", "0"], "--horizon-days"),
    (["--dt-min", "-15"], "--dt-min"),
    (["--n", "0"], "--n"),
    (["--route", "intranasal", "--drug", "esketamine", "--dose", "50mg"], "dose"),
    (["--route", "oral"], "--dose"),
    (["--route", "rectal"], "--route"),
    (["--drug", "arketamine"], "--drug"),
]


def run(args, capsys):
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize("args,field", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, field, tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, stderr = run(["simulate", "--out", str(out), *SHORT, *args], capsys)
    assert rc == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert field in lines[0]
    assert "Traceback" not in stderr
    assert not out.exists()
    assert "wrote" not in stdout


def test_bad_input_leaves_an_existing_folder_untouched(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc, _, _ = run(["simulate", "--out", str(out), "--weight-kg", "-70"], capsys)
    assert rc == 2
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def read_trajectory(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    payload = json.loads(path.read_text())
    assert payload["columns"] == COLUMNS
    return pd.DataFrame(payload["data"], columns=payload["columns"])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_valid_run_writes_trajectory_metadata_and_report(fmt, tmp_path, capsys):
    out = tmp_path / "run"
    rc, stdout, stderr = run(["simulate", "--out", str(out), "--format", fmt, *SHORT], capsys)
    assert rc == 0, stderr
    assert (out / f"trajectory.{fmt}").is_file()
    assert (out / "metadata.json").is_file() and (out / "report.html").is_file()
    assert not list(out.glob(".*tmp"))  # no half-written temporaries left behind
    frame = read_trajectory(out / f"trajectory.{fmt}", fmt)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 49
    assert frame["id"].unique().tolist() == [1]
    assert frame["time_h"].tolist() == pytest.approx(list(range(49)))
    assert frame["ketamine_ng_ml"].iloc[0] == 0.0 and frame["ketamine_ng_ml"].max() > 0.0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["outside_validated_range"] is False and meta["warnings"] == []
    assert [d["time_h"] for d in meta["doses"]] == [0.0, 48.0, 96.0, 168.0, 216.0, 264.0]
    assert "warning" not in stderr
    assert "not a medical device" in stdout


def test_csv_header_is_exact(tmp_path, capsys):
    rc, _, _ = run(["simulate", "--out", str(tmp_path), *SHORT], capsys)
    assert rc == 0
    header = (tmp_path / "trajectory.csv").read_text().splitlines()[0]
    assert header.startswith("id,time_h,ketamine_ng_ml,")
    assert header.split(",") == COLUMNS


@pytest.mark.parametrize("args,needle", [
    (["--weight-kg", "200"], "weight_kg"),
    (["--weight-kg", "35"], "weight_kg"),
    (["--dose", "3mg/kg"], "mg/kg"),
    (["--route", "intranasal", "--drug", "esketamine", "--dose", "112mg"], "intranasal"),
])
def test_outside_validated_range_runs_but_warns(args, needle, tmp_path, capsys):
    rc, stdout, stderr = run(["simulate", "--out", str(tmp_path), *SHORT, *args], capsys)
    assert rc == 0, stderr
    assert "warning" in stderr and needle in stderr
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["outside_validated_range"] is True
    assert any(needle in w for w in meta["warnings"])
    assert (tmp_path / "trajectory.csv").is_file()


def test_virtual_population_run(tmp_path, capsys):
    rc, _, stderr = run(["simulate", "--out", str(tmp_path), *SHORT, "--n", "3", "--seed", "5",
                         "--format", "parquet", "--therapy-days", "1"], capsys)
    assert rc == 0, stderr
    frame = pd.read_parquet(tmp_path / "trajectory.parquet")
    assert frame["id"].unique().tolist() == [1, 2, 3]
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["seed"] == 5 and meta["n_patients"] == 3
    assert meta["therapy_sessions_h"] == [24.0]


def test_other_routes_run(tmp_path, capsys):
    for k, args in enumerate((["--route", "im"], ["--route", "iv_bolus"], ["--route", "sublingual", "--dose", "50mg"],
                              ["--route", "intranasal", "--drug", "esketamine"])):
        rc, _, stderr = run(["simulate", "--out", str(tmp_path / str(k)), *SHORT, *args], capsys)
        assert rc == 0, (args, stderr)
        meta = json.loads((tmp_path / str(k) / "metadata.json").read_text())
        assert meta["doses"][0]["route"] == args[1]


def test_demo_without_arguments(tmp_path, capsys, monkeypatch):
    """``ketamine-ptsd`` with no command runs the default simulation (8 weeks, 15 min)."""
    monkeypatch.chdir(tmp_path)
    rc, stdout, stderr = run([], capsys)
    assert rc == 0, stderr
    frame = pd.read_csv(tmp_path / "ketamine-ptsd-output" / "trajectory.csv")
    assert len(frame) == 56 * 24 * 4 + 1
    assert list(frame.columns) == COLUMNS


def test_installed_command_reports_bad_input(tmp_path):
    """The console script itself (not just ``main``) exits 2 with one line."""
    script = Path(sys.executable).with_name("ketamine-ptsd")
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    proc = subprocess.run([str(script), "simulate", "--out", str(tmp_path / "o"), "--dose", "-1mg"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--dose" in lines[0]
    assert not (tmp_path / "o").exists()
