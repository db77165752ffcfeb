"""Simulation results: arrays indexed by (patient, time, variable), with long-format,
xarray and file views."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """``values[i, j, k]`` is variable ``names[k]`` of patient ``ids[i]`` at ``times_h[j]``.

    ``metadata`` carries what produced it (model, engine, seed, regimen, warnings such as
    inputs outside the validated range).
    """

    ids: np.ndarray
    times_h: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    metadata: dict = field(default_factory=dict)
    steps: np.ndarray | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        """Values of one variable, shape (patients, times)."""
        try:
            return self.values[:, :, self.names.index(name)]
        except ValueError:
            raise KeyError(f"{name!r} is not an output of this trajectory; have {', '.join(self.names)}") from None

    @property
    def warnings(self) -> list[str]:
        return list(self.metadata.get("warnings", []))

    def to_pandas(self):
        """Long format, one row per patient and time: ``id``, ``time_h``, then one column per
        variable (as rxode2 and mrgsolve return results)."""
        import pandas as pd

        n, t, _ = self.values.shape
        frame = {"id": np.repeat(self.ids, t), "time_h": np.tile(self.times_h, n)}
        for k, name in enumerate(self.names):
            frame[name] = self.values[:, :, k].reshape(-1)
        return pd.DataFrame(frame)

    def to_xarray(self):
        """An ``xarray.Dataset`` with dimensions ``id`` and ``time_h``."""
        import xarray as xr

        data = {name: (("id", "time_h"), self.values[:, :, k]) for k, name in enumerate(self.names)}
        attrs = {k: json.dumps(v) if not isinstance(v, (str, int, float)) else v for k, v in self.metadata.items()}
        return xr.Dataset(data, coords={"id": self.ids, "time_h": self.times_h}, attrs=attrs)

    def write(self, folder: str | Path, fmt: str = "csv", precision: str = "float64") -> Path:
        """Write ``trajectory.<fmt>`` (csv, parquet or json; values in ``precision``, float64 or
        float32) and the metadata beside it into ``folder``.

        The file is written under a temporary name and renamed, so a failed write leaves
        nothing half-written.
        """
        from .writers import write_trajectory

        return write_trajectory(self, folder, fmt, precision)
