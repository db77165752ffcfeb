"""Trajectory views and files: long format, xarray, csv/parquet/json round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ketamine_ptsd import Population, Trajectory, induction_series, simulate
from ketamine_ptsd.errors import InputError

IDS = np.array([3, 7])
TIMES = np.array([0.0, 0.5, 2.0])
NAMES = ("ketamine_ng_ml", "pcl5_total")
META = {"model": "test", "seed": 9, "warnings": ["w1"], "units": {"ketamine_ng_ml": "ng/mL"}}


@pytest.fixture
def traj() -> Trajectory:
    # values[i, j, k] = 100 * i + 10 * j + k + a fraction that needs all digits of a double
    i, j, k = np.meshgrid(np.arange(2), np.arange(3), np.arange(2), indexing="ij")
    values = 100.0 * i + 10.0 * j + k + 1.0 / 3.0
    return Trajectory(IDS, TIMES, NAMES, values, dict(META), steps=np.array([10, 12]))


def test_item_access_is_patients_by_times(traj):
    assert traj["pcl5_total"].shape == (2, 3)
    assert traj["pcl5_total"][1, 2] == 100 + 20 + 1 + 1 / 3
    with pytest.raises(KeyError, match="no_such_output"):
        traj["no_such_output"]
    assert traj.warnings == ["w1"]


def test_to_pandas_long_format(traj):
    frame = traj.to_pandas()
    assert frame.shape == (len(IDS) * len(TIMES), 2 + len(NAMES))
    assert list(frame.columns) == ["id", "time_h", *NAMES]
    assert frame["id"].tolist() == [3, 3, 3, 7, 7, 7]
    assert frame["time_h"].tolist() == [0.0, 0.5, 2.0] * 2
    row = frame[(frame["id"] == 7) & (frame["time_h"] == 0.5)].iloc[0]
    assert row["ketamine_ng_ml"] == 100 + 10 + 0 + 1 / 3
    assert row["pcl5_total"] == 100 + 10 + 1 + 1 / 3


def test_to_xarray_dims_and_values(traj):
    ds = traj.to_xarray()
    assert dict(ds.sizes) == {"id": 2, "time_h": 3}
    assert set(ds.data_vars) == set(NAMES)
    assert ds["pcl5_total"].dims == ("id", "time_h")
    assert ds["id"].values.tolist() == [3, 7]
    assert np.array_equal(ds["time_h"].values, TIMES)
    assert np.array_equal(ds["ketamine_ng_ml"].values, traj.values[:, :, 0])
    assert float(ds["pcl5_total"].sel(id=7, time_h=2.0)) == traj.values[1, 2, 1]
    assert ds.attrs["model"] == "test" and ds.attrs["seed"] == 9
    assert json.loads(ds.attrs["units"]) == META["units"]


def test_parquet_round_trip_is_exact(traj, tmp_path):
    path = traj.write(tmp_path, "parquet")
    assert path == tmp_path / "trajectory.parquet"
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, traj.to_pandas())
    meta = json.loads(pq.read_schema(path).metadata[b"ketamine_ptsd"])
    assert meta == META
    assert json.loads((tmp_path / "metadata.json").read_text()) == META


def test_json_round_trip_is_exact(traj, tmp_path):
    path = traj.write(tmp_path, "json")
    payload = json.loads(path.read_text())
    assert payload["metadata"] == META
    assert payload["columns"] == ["id", "time_h", *NAMES]
    back = pd.DataFrame(payload["data"], columns=payload["columns"])
    pd.testing.assert_frame_equal(back, traj.to_pandas())


def test_csv_round_trip_to_eight_digits(traj, tmp_path):
    path = traj.write(tmp_path / "nested" / "folder", "csv")
    back = pd.read_csv(path)
    assert list(back.columns) == ["id", "time_h", *NAMES]
    expected = traj.to_pandas()
    assert back["id"].tolist() == expected["id"].tolist()
    np.testing.assert_allclose(back[list(NAMES)].to_numpy(), expected[list(NAMES)].to_numpy(), rtol=1e-7)


def test_unknown_format_writes_nothing(traj, tmp_path):
    with pytest.raises(InputError) as err:
        traj.write(tmp_path / "out", "xlsx")
    assert err.value.field == "format"
    assert not (tmp_path / "out").exists()


def test_no_temporary_file_is_left(traj, tmp_path):
    for fmt in ("csv", "parquet", "json"):
        traj.write(tmp_path, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "trajectory.csv", "trajectory.json",
                                                         "trajectory.parquet"]


def test_simulated_trajectory_round_trips(tmp_path):
    sim = simulate(induction_series([0, 2]), Population.virtual(3, seed=4), times=np.arange(0.0, 72.0, 0.5),
                   outputs=["ketamine_ng_ml", "cadss", "pcl5_total"])
    back = pd.read_parquet(sim.write(tmp_path, "parquet"))
    values = back[list(sim.names)].to_numpy().reshape(3, 144, 3)
    assert np.array_equal(values, sim.values)
    assert back["id"].unique().tolist() == [1, 2, 3]
    ds = sim.to_xarray()
    assert np.array_equal(ds["cadss"].values, sim["cadss"])
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["n_patients"] == 3 and meta["seed"] == 4
