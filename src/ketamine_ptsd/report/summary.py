"""Per-patient summary measures of a trajectory: what a clinician or pharmacologist reads
first (peak concentration, peak dissociation, peak blood-pressure rise, PCL-5 nadir and the
day the improvement is lost)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def summarise(traj: Trajectory, reliable_change: float = PCL5_RELIABLE_CHANGE) -> pd.DataFrame:
    """One row per patient with the summary measures whose variables are present."""
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
    return pd.DataFrame(rows)


def describe(summary: pd.DataFrame) -> pd.DataFrame:
    """Median and 5th-95th percentiles of each summary measure across patients."""
    cols = [c for c in summary.columns if c != "id"]
    q = summary[cols].quantile([0.05, 0.5, 0.95]).T
    q.columns = ["p5", "median", "p95"]
    q["missing"] = summary[cols].isna().sum()
    return q
