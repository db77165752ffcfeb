"""``simulate`` on the command line as a whole run: only the asked-for outputs, files streamed
chunk by chunk (equal to the in-memory result), float32 or float64, the cost estimated and
over-limit runs refused before any work, an unwritable folder found before simulating, and
nothing left behind by an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ketamine_ptsd import Population, induction_series, simulate
from ketamine_ptsd.cli import main
from ketamine_ptsd.cost import estimate
from ketamine_ptsd.files import staged_folder
from ketamine_ptsd.model.layout import OUTPUT_NAMES
from ketamine_ptsd.report.figures import band_variables, column_percentiles
from ketamine_ptsd.report.summary import summarise
from ketamine_ptsd.simulation import ChunkedRun, output_times

SHORT = ["--horizon-days", "3", "--dt-min", "60"]
SUBSET = ["pcl5_total", "madrs", "ketamine_ng_ml"]


def run(args, capsys):
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_outputs_subset_equals_the_same_columns_of_a_full_run(tmp_path, capsys):
    common = ["simulate", *SHORT, "--n", "5", "--format", "parquet", "--precision", "float64"]
    assert run([*common, "--out", str(tmp_path / "all")], capsys)[0] == 0
    rc, _, err = run([*common, "--out", str(tmp_path / "some"), "--outputs", ",".join(SUBSET)], capsys)
    assert rc == 0, err
    full = pd.read_parquet(tmp_path / "all" / "trajectory.parquet")
    some = pd.read_parquet(tmp_path / "some" / "trajectory.parquet")
    assert list(some.columns) == ["id", "time_h", *SUBSET]
    pd.testing.assert_frame_equal(some, full[["id", "time_h", *SUBSET]], check_exact=True)
    meta = json.loads((tmp_path / "some" / "metadata.json").read_text())
    assert list(meta["units"]) == SUBSET
    assert (tmp_path / "some" / "report.html").is_file()


def test_unknown_output_exits_2_naming_the_flag(tmp_path, capsys):
    rc, _, err = run(["simulate", *SHORT, "--out", str(tmp_path / "o"), "--outputs", "pcl5_total,bogus"], capsys)
    assert rc == 2 and "--outputs" in err and "bogus" in err
    assert not (tmp_path / "o").exists() and list(tmp_path.iterdir()) == []


def test_float32_by_default_and_float64_on_request(tmp_path, capsys):
    for precision in ("float32", "float64"):
        extra = [] if precision == "float32" else ["--precision", "float64"]
        rc, _, err = run(["simulate", *SHORT, "--n", "3", "--format", "parquet", "--out", str(tmp_path / precision),
                          *extra], capsys)
        assert rc == 0, err
    single = pd.read_parquet(tmp_path / "float32" / "trajectory.parquet")
    double = pd.read_parquet(tmp_path / "float64" / "trajectory.parquet")
    assert all(single[n].dtype == np.float32 for n in OUTPUT_NAMES)
    assert all(double[n].dtype == np.float64 for n in OUTPUT_NAMES)
    assert single["id"].dtype == np.int64 and single["time_h"].dtype == np.float64
    # float32 holds the same run rounded to single precision
    np.testing.assert_array_equal(single[list(OUTPUT_NAMES)].to_numpy(),
                                  double[list(OUTPUT_NAMES)].to_numpy().astype(np.float32))
    assert json.loads((tmp_path / "float32" / "metadata.json").read_text())["precision"] == "float32"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_streamed_file_equals_the_in_memory_long_format(fmt, tmp_path):
    """Chunks of 2 patients streamed to disk read back as the long frame of ``simulate``'s
    whole result (``Trajectory.to_pandas``, the format the files have always had)."""
    times = np.arange(0.0, 80.0, 0.5)
    population = Population.virtual(5, seed=3)
    run_ = ChunkedRun(induction_series([0, 2]), population, times=times, chunk_bytes=2 * times.size * 26 * 8)
    assert run_.chunk == 2
    files = run_.write(tmp_path, fmt, "float64")
    expected = simulate(induction_series([0, 2]), population, times=times).to_pandas()
    if fmt == "parquet":
        back = pd.read_parquet(files.path)
        assert json.loads(pq.read_schema(files.path).metadata[b"ketamine_ptsd"])["n_patients"] == 5
    elif fmt == "csv":
        back = pd.read_csv(files.path)
    else:
        payload = json.loads(files.path.read_text())
        assert payload["metadata"]["n_patients"] == 5
        back = pd.DataFrame(payload["data"], columns=payload["columns"])
    back.columns = list(back.columns)
    # Text formats write 0.0 as 0, which reads back as an integer column when all are zero.
    pd.testing.assert_frame_equal(back, expected, check_dtype=fmt == "parquet", check_exact=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", f"trajectory.{fmt}"]


@pytest.mark.parametrize("chunk", [3, 4, 1])
def test_summary_of_all_patients_and_bands_from_a_stated_sample(tmp_path, chunk):
    """The sample is every 3rd patient whatever the chunks: chunks of 4 start between sampled
    patients and hold one or two of them, chunks of 1 hold none or one."""
    population = Population.virtual(10, seed=1)
    times = output_times(3, 60)
    files = ChunkedRun(induction_series(), population, times=times, chunk_bytes=chunk * times.size * 26 * 8).write(
        tmp_path, "parquet", sample=4, summarise=summarise, band_names=band_variables(OUTPUT_NAMES))
    assert files.summary["id"].tolist() == list(range(1, 11))
    assert files.sample.ids.tolist() == [1, 4, 7, 10]
    assert "4 of 10 patients" in files.sample_note
    whole = simulate(induction_series(), population, times=times)
    np.testing.assert_array_equal(files.sample["cadss"], whole["cadss"][[0, 3, 6, 9]].astype(np.float32))
    np.testing.assert_allclose(files.summary["peak_cadss"], whole["cadss"].max(axis=1))


def test_column_percentiles_match_numpy_with_missing_values():
    rng = np.random.default_rng(7)
    values = rng.normal(size=(40, 300))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 3] = np.nan
    values[1:, 8] = np.nan
    with pytest.warns(RuntimeWarning):
        expected = np.nanpercentile(values, [10, 50, 90], axis=0)
    np.testing.assert_allclose(column_percentiles(values, [10, 50, 90]), expected, rtol=0, atol=1e-12)
    full = rng.normal(size=(9, 50))
    np.testing.assert_allclose(column_percentiles(full, [25, 75]), np.percentile(full, [25, 75], axis=0))
    # float32 input (the report's band sample): the float32 values' percentiles, in float64
    single = values.astype(np.float32)
    with pytest.warns(RuntimeWarning):
        expected = np.nanpercentile(single.astype(float), [10, 50, 90], axis=0)
    np.testing.assert_allclose(column_percentiles(single, [10, 50, 90]), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("args", [["--n", "100000000"], ["--dt-min", "0.001"]])
def test_over_the_limits_refuses_with_the_estimate(args, tmp_path, capsys):
    out = tmp_path / "big"
    rc, stdout, stderr = run(["simulate", "--out", str(out), *args], capsys)
    assert rc == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "refused" in lines[0] and "rows" in lines[0] and "--yes" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_limits_are_configurable(tmp_path, capsys):
    rc, _, err = run(["simulate", *SHORT, "--n", "20", "--out", str(tmp_path / "o"), "--max-gib", "0.0001"], capsys)
    assert rc == 2 and "0.0001 GiB" in err
    rc, _, err = run(["simulate", *SHORT, "--n", "20", "--out", str(tmp_path / "o"), "--max-gib", "0.0001",
                      "--yes"], capsys)
    assert rc == 0, err
    assert len(pd.read_csv(tmp_path / "o" / "trajectory.csv")) == 20 * 73


def test_estimate_of_rows_and_bytes_is_near_the_files(tmp_path, capsys):
    for fmt in ("csv", "parquet"):
        rc, _, _ = run(["simulate", *SHORT, "--n", "40", "--format", fmt, "--out", str(tmp_path / fmt)], capsys)
        assert rc == 0
        est = estimate(40, 3.0, 73, len(OUTPUT_NAMES), fmt, "float32")
        assert est.rows == 40 * 73
        size = (tmp_path / fmt / f"trajectory.{fmt}").stat().st_size
        # Parquet's estimate is its uncompressed size, an upper bound; text is a typical length.
        assert (size <= est.bytes) if fmt == "parquet" else (0.5 < size / est.bytes < 2.0), (fmt, size, est.bytes)


def test_unwritable_out_exits_2_before_simulating(tmp_path):
    """With --yes, a run of 10^8 patients: if the folder were checked after simulating (or after
    generating the patients), this would not come back within the timeout."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from ketamine_ptsd.cli import main; sys.exit(main())",
                           "simulate", "--n", "100000000", "--yes", "--out", "/proc/nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--out" in lines[0] and "/proc/nope" in lines[0]


def test_out_that_is_a_file_exits_2(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("mine")
    rc, _, err = run(["simulate", *SHORT, "--out", str(target)], capsys)
    assert rc == 2 and "--out" in err
    assert target.read_text() == "mine"


def test_keyboard_interrupt_in_a_chunk_leaves_nothing(tmp_path):
    out = tmp_path / "nested" / "run"
    calls = []

    def progress(k):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt

    times = output_times(3, 60)
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out) as folder:
            ChunkedRun(induction_series(), Population.virtual(6, 0), times=times,
                       chunk_bytes=2 * times.size * 26 * 8).write(folder, "csv", progress=progress)
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_interrupt_keeps_an_existing_folder_as_it_was(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out) as folder:
            (folder / "trajectory.csv").write_text("half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_process_stopped_mid_run_leaves_no_files(sig, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from ketamine_ptsd.cli import main; sys.exit(main())",
                             "simulate", "--n", "200000", "--dt-min", "60", "--format", "csv", "--yes",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 90
        # Wait until the run is writing: a trajectory file in the temporary folder.
        while not list(tmp_path.glob(".run.partial-*/trajectory.csv")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run did not start writing"
            time.sleep(0.1)
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_gets_the_new_files_and_keeps_others(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc, _, err = run(["simulate", *SHORT, "--out", str(out)], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "metadata.json", "report.html", "trajectory.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_report_states_the_band_sample(tmp_path, capsys):
    rc, _, _ = run(["simulate", *SHORT, "--n", "3", "--out", str(tmp_path)], capsys)
    assert rc == 0
    html = (tmp_path / "report.html").read_text()
    assert "figure bands from" in html and "all 3 patients" in html


def test_written_folder_has_the_usual_permissions(tmp_path, capsys):
    rc, _, _ = run(["simulate", *SHORT, "--out", str(tmp_path / "o")], capsys)
    assert rc == 0
    mask = os.umask(0)
    os.umask(mask)
    assert Path(tmp_path / "o").stat().st_mode & 0o777 == 0o777 & ~mask


def test_kernels_on_the_command_line(tmp_path, capsys):
    """The default kernel (lanes) writes the per-patient kernel's file to the last bit;
    ``--kernel lockstep`` the same patients within the solver's tolerance of it (two full lane
    groups and a partial one); each says so in the metadata, and an unknown kernel exits 2
    naming the flag."""
    common = ["simulate", "--horizon-days", "14", "--dt-min", "60", "--n", "37", "--format", "parquet",
              "--precision", "float64", "--outputs", "ketamine_ng_ml,pcl5_total,madrs"]
    frames = {}
    for kernel in ("lanes", "patient", "lockstep"):
        chosen = [] if kernel == "lanes" else ["--kernel", kernel]
        rc, _, err = run([*common, "--out", str(tmp_path / kernel), *chosen], capsys)
        assert rc == 0, err
        frames[kernel] = pd.read_parquet(tmp_path / kernel / "trajectory.parquet")
        meta = json.loads((tmp_path / kernel / "metadata.json").read_text())
        assert meta["kernel"] == kernel
    pd.testing.assert_frame_equal(frames["lanes"], frames["patient"], check_exact=True)
    one, lock = frames["patient"], frames["lockstep"]
    assert one.shape == lock.shape and list(one.columns) == list(lock.columns)
    for name in ("ketamine_ng_ml", "pcl5_total", "madrs"):
        scale = one.groupby("id")[name].transform(lambda c: c.abs().max())
        assert float(((lock[name] - one[name]).abs() / scale).max()) < 2e-4, name
    rc, _, err = run([*common, "--out", str(tmp_path / "x"), "--kernel", "simd"], capsys)
    assert rc == 2 and "--kernel" in err and not (tmp_path / "x").exists()


def test_parquet_keeps_statistics_for_ids_and_times_only(tmp_path):
    """Readers filter on patients and times; the outputs' ranges span every row group alike."""
    from ketamine_ptsd.writers import TrajectoryWriter

    rng = np.random.default_rng(5)
    writer = TrajectoryWriter(tmp_path / "t.parquet", "parquet", ("a", "b"), "float32")
    writer.write(np.arange(10, 20), np.arange(0.0, 6.0), rng.normal(size=(10, 6, 2)).astype(np.float32))
    writer.close({})
    group = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    stats = {group.column(c).path_in_schema: group.column(c).statistics for c in range(group.num_columns)}
    assert stats["id"].has_min_max and (stats["id"].min, stats["id"].max) == (10, 19)
    assert stats["time_h"].has_min_max and (stats["time_h"].min, stats["time_h"].max) == (0.0, 5.0)
    assert stats["a"] is None or not stats["a"].has_min_max


def test_parquet_columns_are_non_null_and_a_failed_value_stays_nan(tmp_path):
    """Every column is declared non-null, so the file carries no definition levels; a value the
    engine could not compute is written as NaN and read back as NaN, not as a missing value."""
    from ketamine_ptsd.writers import TrajectoryWriter

    values = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    values[1, 2, 0] = np.nan
    writer = TrajectoryWriter(tmp_path / "t.parquet", "parquet", ("a", "b"), "float32")
    writer.write(np.arange(4), np.array([0.0, 1.0, 2.0]), values)
    writer.close({})
    table = pq.read_table(tmp_path / "t.parquet")
    assert not any(field.nullable for field in table.schema)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert meta.schema.column(2).max_definition_level == 0
    a = table.column("a").to_numpy()
    assert table.column("a").null_count == 0 and np.isnan(a[5]) and np.isnan(a).sum() == 1
    assert np.array_equal(np.delete(a, 5), np.delete(values[:, :, 0].reshape(-1), 5))
