"""Per-patient summary measures of a trajectory: what a clinician or pharmacologist reads
first (peak concentration, peak dissociation, peak blood-pressure rise, PCL-5 nadir and the
day the improvement is lost)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..trajectory import Trajectory

#: A PCL-5 improvement smaller than this is no longer a reliable change (NCPTSD "Using the
#: PCL-5": minimum reliable change 5 points). Configurable per call.
PCL5_RELIABLE_CHANGE = 5.0


def _first_after(mask: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Index of the first True at or after ``start`` in each row, or -1."""
    n, t = mask.shape
    cols = np.arange(t)[None, :]
    valid = mask & (cols >= start[:, None])
    first = np.where(valid.any(axis=1), valid.argmax(axis=1), -1)
    return first


def summarise(traj: Trajectory, reliable_change: float = PCL5_RELIABLE_CHANGE) -> dict[str, np.ndarray]:
    """The summary measures whose variables are present, one value per patient: columns by
    name, ``id`` first (``pandas.DataFrame(summarise(traj))`` for a frame)."""
    times = traj.times_h
    rows = {"id": traj.ids}
    names = set(traj.names)
    if "ketamine_ng_ml" in names:
        c = traj["ketamine_ng_ml"]
        rows["peak_ketamine_ng_ml"] = c.max(axis=1)
        rows["time_of_peak_h"] = times[c.argmax(axis=1)]
    if "cadss" in names:
        rows["peak_cadss"] = traj["cadss"].max(axis=1)
    if "sbp_mmhg" in names:
        sbp = traj["sbp_mmhg"]
        rows["peak_sbp_rise_mmhg"] = sbp.max(axis=1) - sbp[:, 0]
    if "pcl5_total" in names:
        pcl = traj["pcl5_total"]
        baseline = pcl[:, 0]
        nadir_idx = pcl.argmin(axis=1)
        rows["pcl5_baseline"] = baseline
        rows["pcl5_nadir"] = pcl.min(axis=1)
        rows["pcl5_nadir_day"] = times[nadir_idx] / 24.0
        improved = (baseline[:, None] - pcl) >= reliable_change
        ever = improved.any(axis=1)
        lost_idx = _first_after(~improved, nadir_idx)
        lost_day = np.where(lost_idx >= 0, times[np.maximum(lost_idx, 0)] / 24.0, np.nan)
        rows["pcl5_improvement_lost_day"] = np.where(ever, lost_day, np.nan)
    if "madrs" in names:
        madrs = traj["madrs"]
        rows["madrs_baseline"] = madrs[:, 0]
        rows["madrs_nadir"] = madrs.min(axis=1)
    return rows


@dataclass(frozen=True)
class SummaryTable:
    """The summary as shown: one row of values per measure, under ``columns``."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float, ...]], ...]

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` indexed by measure."""
        import pandas as pd

        return pd.DataFrame([v for _, v in self.rows], index=[m for m, _ in self.rows], columns=list(self.columns))


def single(summary: dict[str, np.ndarray]) -> SummaryTable:
    """The measures of a one-patient summary."""
    return SummaryTable(("value",), tuple((k, (float(v[0]),)) for k, v in summary.items() if k != "id"))


def describe(summary: dict[str, np.ndarray]) -> SummaryTable:
    """Median and 5th-95th percentiles (linear interpolation, missing values left out) of each
    summary measure across patients, and the count of patients for whom it is missing."""
    rows = []
    for k, v in summary.items():
        if k == "id":
            continue
        v = np.asarray(v, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all missing: NaN, as wanted
            p5, median, p95 = np.nanpercentile(v, [5, 50, 95])
        rows.append((k, (float(p5), float(median), float(p95), int(np.isnan(v).sum()))))
    return SummaryTable(("p5", "median", "p95", "missing"), tuple(rows))
