"""Accuracy of the personal forecast on virtual patients whose true parameters are known.

Virtual patients (``Population.virtual``: between-patient variability on every parameter,
covariates, the treatment-resistant phenotype) receive the Feder 2021 induction series
(0.5 mg/kg racemic ketamine over 40 min on days 0, 2, 4, 7, 9, 11). Each is scored with the
PCL-5 before the first dose and 24 h after each of the first 3 (then 6) sessions: the true
cluster scores plus normal residual error with the SDs of ``calibration/individual.toml``,
rounded to whole points and kept on each cluster's scale. The forecast knows the regimen,
the scores, weight and age, not the baselines. It is compared with the patient's true,
error-free course:

* loss of response, by two rules: the forecast's default (the PCL-5 improvement from
  baseline falls below the 5-point minimum reliable change after its largest improvement
  since the last infusion) and response lost (PCL-5 reduction below 30 %, the Feder 2021
  CAPS-5 response criterion applied to the PCL-5). The day is predicted as the posterior
  median; reported are the median absolute error over patients whose true and predicted
  loss both fall within the horizon, and how often the forecast puts the patient in the
  right class (lost within the horizon / not lost / no response);
* coverage of the 80 % band: the share of (patient, day) pairs, from the day after the last
  score to the horizon, whose true PCL-5 total lies inside the band (near 80 % if the
  band is calibrated); also for the 80 % band of the loss day.

Usage::

    python benchmarks/forecast_accuracy.py [--n 150] [--seed 11] [--horizon-days 84] [--draws 512]

Results are printed and written to ``benchmarks/results/forecast_accuracy.json``. This is
a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ketamine_ptsd import Population, simulate
from ketamine_ptsd.calibration.individual import (
    CLUSTERS,
    Observation,
    forecast,
    forecast_table,
    loss_rule,
    loss_times,
)
from ketamine_ptsd.clinic.instruments import PCL5
from ketamine_ptsd.dosing import HOURS_PER_DAY, induction_series

RESULTS = Path(__file__).resolve().parent / "results" / "forecast_accuracy.json"
SESSIONS_SCORED = (3, 6)
RULES = {"reliable_change": None, "response_30_percent": {"percent_reduction": 30}}
GRID_H = 6.0


def observed_scores(true_clusters: np.ndarray, times_h: np.ndarray, rng: np.random.Generator) -> list[Observation]:
    """PCL-5 observations: true cluster scores (times x 4) plus residual error, whole points."""
    sd = forecast_table()["residual_sd"]["pcl5_clusters"]
    caps = [PCL5.scale[1] * len(PCL5.clusters[c]) for c in CLUSTERS]
    out = []
    for t, true in zip(times_h, true_clusters):
        noisy = {c: float(np.clip(np.rint(v + rng.normal(0.0, sd[c])), 0, cap))
                 for c, v, cap in zip(CLUSTERS, true, caps)}
        out.append(Observation(float(t), "pcl5", sum(noisy.values()), noisy))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--horizon-days", type=float, default=84.0)
    parser.add_argument("--draws", type=int, default=512)
    args = parser.parse_args()

    regimen = induction_series()
    session_h = np.array([d.time_h for d in regimen.doses])
    last_dose_h = max(d.time_h + d.duration_h for d in regimen.doses)
    patients = Population.virtual(args.n, seed=args.seed)
    grid = np.arange(0.0, args.horizon_days * HOURS_PER_DAY + 1e-9, GRID_H)
    names = ["pcl5_total"] + [f"pcl5_{c.lower()}" for c in CLUSTERS]
    truth = simulate(regimen, patients, times=grid, outputs=names)
    true_total = truth["pcl5_total"]
    rules = {name: loss_rule(threshold) for name, threshold in RULES.items()}
    true_loss = {name: loss_times(true_total, true_total[:, 0], grid, last_dose_h, rule) / HOURS_PER_DAY
                 for name, rule in rules.items()}
    rng = np.random.default_rng(args.seed)

    records = {(k, name): [] for k in SESSIONS_SCORED for name in RULES}
    coverage = {k: [0, 0] for k in SESSIONS_SCORED}
    seconds = []
    with Progress() as bar:
        task = bar.add_task("forecasts", total=args.n * len(SESSIONS_SCORED) * len(RULES))
        for i in range(args.n):
            score_h = np.concatenate([[-1.0], session_h[: max(SESSIONS_SCORED)] + HOURS_PER_DAY])
            index = np.searchsorted(grid, np.maximum(score_h, 0.0))
            clusters = np.stack([truth[n][i, index] for n in names[1:]], axis=1)
            all_scores = observed_scores(clusters, score_h, rng)
            covariates = {"weight_kg": float(patients.covariates["weight_kg"][i]),
                          "age_years": float(patients.covariates["age_years"][i])}
            for k in SESSIONS_SCORED:
                for name, threshold in RULES.items():
                    start = time.perf_counter()
                    result = forecast(regimen, all_scores[: k + 1], covariates, args.horizon_days, threshold,
                                      seed=args.seed + i, n_draws=args.draws)
                    seconds.append(time.perf_counter() - start)
                    records[k, name].append((result.loss_of_response_day, result.loss_status,
                                             result.loss_of_response_band, result.fit["effective_sample_size"]))
                    bar.advance(task)
                # The curves do not depend on the rule: the band of the last forecast serves.
                days = np.arange(int(np.ceil(score_h[k] / HOURS_PER_DAY)) + 1, int(args.horizon_days) + 1)
                true_days = true_total[i, np.searchsorted(grid, days * HOURS_PER_DAY)]
                low = np.array([result.band_low["pcl5"][int(d)] for d in days])
                high = np.array([result.band_high["pcl5"][int(d)] for d in days])
                coverage[k][0] += int(np.sum((true_days >= low) & (true_days <= high)))
                coverage[k][1] += int(days.size)

    summary = {}
    for (k, name), rows in records.items():
        true_day = true_loss[name]
        predicted = np.array([np.nan if day is None else day for day, *_ in rows])
        both = np.isfinite(true_day) & np.isfinite(predicted)
        true_class = np.where(np.isnan(true_day), "no response", np.where(np.isinf(true_day), "not lost", "lost"))
        predicted_class = np.array(["no response" if status.startswith("no response")
                                    else "not lost" if status.startswith("not lost") else "lost"
                                    for _, status, *_ in rows])
        lost = np.isfinite(true_day)
        in_band = [band is not None and band[0] <= t and (band[1] is None or t <= band[1])
                   for (_, _, band, _), t in zip(rows, true_day)]
        entry = summary.setdefault(f"after_{k}_sessions", {
            "band_coverage_pcl5": coverage[k][0] / coverage[k][1],
        })
        entry[name] = {
            "median_abs_error_days": float(np.median(np.abs(predicted[both] - true_day[both]))) if both.any() else None,
            "n_compared": int(both.sum()),
            "class_agreement": float(np.mean(true_class == predicted_class)),
            "true_classes": {c: int(np.sum(true_class == c)) for c in ("lost", "not lost", "no response")},
            "loss_band_coverage": float(np.mean(np.array(in_band)[lost])) if lost.any() else None,
            "median_effective_sample_size": float(np.median([ess for *_, ess in rows])),
        }
    result = {
        "n_patients": args.n, "seed": args.seed, "horizon_days": args.horizon_days, "draws": args.draws,
        "regimen": "induction_series() (Feder 2021)", "loss_rules": rules,
        "median_seconds_per_forecast": float(np.median(seconds)),
        "machine": platform.platform(), "python": platform.python_version(),
        **summary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2), encoding="utf-8")

    table = Table(title=f"Forecast accuracy, {args.n} virtual patients (seed {args.seed})")
    for col in ("scored after", "loss rule", "median |error| of loss day", "compared", "class agreement",
                "loss-day band coverage", "80 % band coverage (PCL-5)"):
        table.add_column(col)
    for k in SESSIONS_SCORED:
        s = summary[f"after_{k}_sessions"]
        for name in RULES:
            r = s[name]
            err = "-" if r["median_abs_error_days"] is None else f"{r['median_abs_error_days']:.1f} d"
            cover = "-" if r["loss_band_coverage"] is None else f"{r['loss_band_coverage']:.0%}"
            table.add_row(f"{k} sessions", name, err, str(r["n_compared"]), f"{r['class_agreement']:.0%}", cover,
                          f"{s['band_coverage_pcl5']:.1%}")
    console = Console()
    console.print(table)
    console.print(f"median time per forecast {result['median_seconds_per_forecast']:.2f} s; written to {RESULTS}")


if __name__ == "__main__":
    main()
