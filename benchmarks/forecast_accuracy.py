"""Accuracy of the personal forecast on virtual patients whose true parameters are known.

Virtual patients of a population (``--population NAME``, repeatable; default the model's
default population) receive the Feder 2021 induction series (0.5 mg/kg racemic ketamine
over 40 min on days 0, 2, 4, 7, 9, 11). Each is scored with the PCL-5 before the first dose
and 24 h after each of the first 1, 3 or 6 sessions (0 = the baseline score only): the true
cluster scores plus normal instrument error with the SDs of
``calibration/individual.toml``, rounded to whole points and kept on each cluster's scale.
The forecast knows the regimen, the scores, weight and age, not the baselines or the
population's parameters. It is compared with what was held back:

* coverage of the 80 % predictive band: the share of (patient, day) pairs, from the day
  after the last score used to the horizon, whose held-back noisy PCL-5 score (the true
  course plus a fresh instrument error) lies inside the band (75-85 % is the target);
* the largest probability of response reported (on any day, over all patients), which
  with the baseline score alone must not exceed 0.95;
* the day response is lost, by two rules: the forecast's default (the PCL-5 improvement
  from baseline below the 5-point minimum reliable change) and response lost (PCL-5
  reduction below 30 %). The true day is the first day, after the true course's best day
  after the last infusion, on which the true course is out of response; the predicted day
  is the forecast's ``loss_of_response_day``. Reported: the median absolute error over
  patients whose true and predicted loss both fall within the horizon, and how often the
  forecast gets the class right (lost within the horizon / not lost / no response).

Usage::

    python benchmarks/forecast_accuracy.py [--n 60] [--seed 11] [--horizon-days 84] [--draws 256]
                                           [--population NAME ...] [--out FILE]

Each population's forecasts use that population's prior (``forecast(..., population=NAME)``).
Results are printed and written to ``benchmarks/results/forecast_accuracy.json`` (or ``--out``). This is
a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ketamine_ptsd import simulate
from ketamine_ptsd.calibration.individual import (
    CLUSTERS,
    OUTPUTS,
    Observation,
    ResponseSamples,
    first_day_below,
    forecast,
    loss_rule,
    observed_scores,
)
from ketamine_ptsd.dosing import HOURS_PER_DAY, induction_series
from ketamine_ptsd.planning.context import virtual_patients

RESULTS = Path(__file__).resolve().parent / "results" / "forecast_accuracy.json"
VISITS = (0, 1, 3, 6)
RULES = {"reliable_change": None, "response_30_percent": {"percent_reduction": 30}}


def scores_at(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Observed whole-point scores (instrument error added) of true outputs (... x K)."""
    return np.rint(observed_scores(truth, rng))


def loss_day(samples: ResponseSamples, horizon: float) -> tuple[str, float]:
    """Class and day of loss of a course (or of a forecast's samples), as the forecast defines them."""
    probability = samples.probability()
    if probability[samples.days >= samples.start_day].max() < 0.5:
        return "no response", np.nan
    day = first_day_below(probability, samples.days, samples.start_day, 0.5)
    return ("not lost", np.inf) if day is None else ("lost", float(day))


def run_population(population: str | None, args, rng: np.random.Generator, bar: Progress) -> dict:
    regimen = induction_series()
    session_h = np.array([d.time_h for d in regimen.doses])
    last_dose_h = regimen.end_h
    patients = virtual_patients(args.n, args.seed, population, "--population")
    days = np.arange(0, int(args.horizon_days) + 1)
    truth = simulate(regimen, patients, times=days * HOURS_PER_DAY, outputs=OUTPUTS).values
    held_back = scores_at(truth, rng)[:, :, OUTPUTS.index("pcl5_total")]
    score_h = np.concatenate([[-1.0], session_h + HOURS_PER_DAY])
    score_day = np.ceil(np.maximum(score_h, 0) / HOURS_PER_DAY).astype(int)
    rules = {name: loss_rule(threshold) for name, threshold in RULES.items()}
    one = np.ones(1)
    true_loss = {name: [loss_day(ResponseSamples.of(truth[i:i + 1], days, one, rule, last_dose_h, "patient"),
                                 args.horizon_days) for i in range(args.n)] for name, rule in rules.items()}
    covered = {k: [0, 0] for k in VISITS}
    predicted = {(k, name): [] for k in VISITS for name in RULES}
    seconds = []
    top_probability = {k: 0.0 for k in VISITS}
    task = bar.add_task(f"forecasts ({population or 'default population'})", total=args.n * len(VISITS))
    for i in range(args.n):
        visit_truth = truth[i, score_day]
        observed = scores_at(visit_truth, rng)
        all_scores = []
        for t, row in zip(score_h, observed):
            clusters = {c: float(row[OUTPUTS.index(f"pcl5_{c.lower()}")]) for c in CLUSTERS}
            all_scores.append(Observation(float(t), "pcl5", sum(clusters.values()), clusters))
        covariates = {k: float(patients.covariates[k][i]) for k in ("weight_kg", "age_years")}
        for k in VISITS:
            start = time.perf_counter()
            result = forecast(regimen, all_scores[: k + 1], covariates, args.horizon_days, seed=args.seed + i,
                              n_draws=args.draws, population=population)
            seconds.append(time.perf_counter() - start)
            bar.advance(task)
            top_probability[k] = max(top_probability[k], result.probability_of_response,
                                     max(result.probability_in_response.values()))
            later = days[days > score_day[k]]
            low = np.array([result.band_low["pcl5"][int(d)] for d in later])
            high = np.array([result.band_high["pcl5"][int(d)] for d in later])
            covered[k][0] += int(np.sum((held_back[i, later] >= low) & (held_back[i, later] <= high)))
            covered[k][1] += int(later.size)
            s = result.samples
            for name, rule in rules.items():
                # One forecast serves both rules: the draws are the same, only the rule differs.
                predicted[k, name].append(loss_day(s.with_rule(rule), args.horizon_days))
    out = {"median_seconds_per_forecast": float(np.median(seconds))}
    for k in VISITS:
        entry = out[f"after_{k}_visits"] = {"band_coverage_pcl5": covered[k][0] / covered[k][1],
                                            "pairs": covered[k][1], "max_probability": top_probability[k]}
        for name in RULES:
            true_class = np.array([c for c, _ in true_loss[name]])
            true_day = np.array([d for _, d in true_loss[name]])
            pred_class = np.array([c for c, _ in predicted[k, name]])
            pred_day = np.array([d for _, d in predicted[k, name]])
            both = np.isfinite(true_day) & np.isfinite(pred_day)
            entry[name] = {
                "median_abs_error_days": float(np.median(np.abs(pred_day[both] - true_day[both]))) if both.any()
                else None,
                "n_compared": int(both.sum()),
                "class_agreement": float(np.mean(true_class == pred_class)),
                "true_classes": {c: int(np.sum(true_class == c)) for c in ("lost", "not lost", "no response")},
            }
    return out


def _processor() -> str:
    """The CPU model (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--horizon-days", type=float, default=84.0)
    parser.add_argument("--draws", type=int, default=256)
    parser.add_argument("--population", action="append", default=None,
                        help="a named population of the model (repeatable; default: the default population)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args()
    started = time.perf_counter()
    populations = args.population or [None]
    rng = np.random.default_rng(args.seed)
    with Progress() as bar:
        by_population = {name or "default": run_population(name, args, rng, bar) for name in populations}
    result = {"n_patients": args.n, "seed": args.seed, "horizon_days": args.horizon_days, "draws": args.draws,
              "regimen": "induction_series() (Feder 2021)", "visits": list(VISITS),
              "loss_rules": {name: loss_rule(t) for name, t in RULES.items()},
              "machine": platform.platform(), "processor": _processor(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "wall_seconds": round(time.perf_counter() - started, 1),
              "populations": by_population}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")

    console = Console()
    for population, summary in by_population.items():
        table = Table(title=f"Forecast accuracy, {args.n} virtual patients of the {population} population "
                            f"(seed {args.seed})")
        for col in ("visits scored", "80 % band coverage (PCL-5)", "loss rule", "median |error| of loss day",
                    "compared", "class agreement"):
            table.add_column(col)
        for k in VISITS:
            s = summary[f"after_{k}_visits"]
            for j, name in enumerate(RULES):
                r = s[name]
                err = "-" if r["median_abs_error_days"] is None else f"{r['median_abs_error_days']:.1f} d"
                table.add_row(str(k) if j == 0 else "", f"{s['band_coverage_pcl5']:.1%}" if j == 0 else "", name,
                              err, str(r["n_compared"]), f"{r['class_agreement']:.0%}")
        console.print(table)
        console.print(f"median time per forecast {summary['median_seconds_per_forecast']:.2f} s")
        console.print("largest probability of response reported, with the baseline score alone: "
                      f"{summary['after_0_visits']['max_probability']:.3f}")
    console.print(f"written to {args.out}")


if __name__ == "__main__":
    main()
