"""Throughput of the population engine on the standard induction series.

Simulates N virtual patients (default 1,000, 10,000 and 100,000) on the Feder 2021
induction series (0.5 mg/kg racemic ketamine over 40 min on days 0, 2, 4, 7, 9, 11) over
8 weeks, recording three outputs (plasma ketamine, CADSS, PCL-5 total) at hourly times, in
chunks so memory stays bounded. Beside it, in the same run, the scipy reference: a
per-patient loop of ``scipy.integrate.solve_ivp`` with LSODA on the same model (the
project's ``ScipyEngine``) at the same tolerances, on a subsample of the same patients,
scaled to patients per second; and the largest relative difference between the two on that
subsample.

Usage::

    python benchmarks/bench_engine.py [--n 1000,10000,100000] [--scipy-sample 20]
                                      [--chunk 4096] [--seed 0] [--use-cache]

The numba kernel is compiled (into a fresh cache folder unless ``--use-cache``) and warmed
up before any timing; the compile time is reported on its own. Results are printed and
written to ``benchmarks/results/engine.json``. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import cpu_name, relative_difference

OUTPUTS = ["ketamine_ng_ml", "cadss", "pcl5_total"]
HORIZON_DAYS = 56
RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="1000,10000,100000", help="comma-separated population sizes")
    parser.add_argument("--scipy-sample", type=int, default=20, help="patients for the scipy LSODA loop")
    parser.add_argument("--chunk", type=int, default=4096, help="patients per engine call (bounds memory)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the virtual population")
    parser.add_argument("--use-cache", action="store_true",
                        help="use the existing compiled-kernel cache (the compile time is then a cache load)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(x) for x in args.n.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--n: cannot read {args.n!r}; give e.g. 1000,10000,100000")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--n: sizes must be positive")
    if args.scipy_sample < 1 or args.chunk < 1:
        parser.error("--scipy-sample and --chunk must be positive")
    return args


def machine() -> dict:
    import numba
    import scipy

    return {
        "cpu": cpu_name(), "cores": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "scipy": scipy.__version__, "platform": platform.platform(terse=True),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    fresh = None
    if not args.use_cache:
        # A fresh cache folder, so the reported compile time is a real compile.
        fresh = tempfile.mkdtemp(prefix="ketamine-ptsd-bench-")
        os.environ["KETAMINE_PTSD_CACHE"] = fresh
    try:
        return run(args)
    finally:
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ketamine_ptsd import Population, induction_series, simulate
    from ketamine_ptsd.engine import NumbaEngine, ScipyEngine
    from ketamine_ptsd.engine.numba_engine import kernel
    from ketamine_ptsd.model import MODEL

    console = Console(stderr=True)
    regimen = induction_series()
    times = np.arange(0.0, HORIZON_DAYS * 24.0 + 0.5, 1.0)
    engine = NumbaEngine(chunk_size=args.chunk)
    lsoda = ScipyEngine(method="LSODA", rtol=engine.rtol, atol=engine.atol)
    info = machine()
    print(f"ketamine-ptsd engine benchmark: induction series (6 x 0.5 mg/kg IV over 40 min), {HORIZON_DAYS} days, "
          f"{len(OUTPUTS)} outputs at {times.size} hourly times; rtol {engine.rtol:g}, atol {engine.atol:g}")
    print(f"machine: {info['cpu']}, {info['cores']} cores, numba {info['numba']} with {info['numba_threads']} threads")

    # ------------------------------------------------------------------ compile and warm up
    t0 = time.perf_counter()
    kernel(MODEL)
    simulate(regimen, Population.virtual(2, args.seed), engine=engine, times=times, outputs=OUTPUTS)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    simulate(regimen, Population.virtual(1, args.seed), engine=lsoda, times=times[:3], outputs=OUTPUTS)
    scipy_warmup_s = time.perf_counter() - t0
    print(f"numba kernel compile + first call: {compile_s:.1f} s ({'cache' if args.use_cache else 'fresh cache'}); "
          f"scipy path JIT warm-up: {scipy_warmup_s:.1f} s")

    # ------------------------------------------------------------------ numba population runs
    runs = []
    for n in args.sizes:
        steps_sum = 0
        failed = 0
        peak_sum = 0.0
        start_t = time.perf_counter()
        with Progress(TextColumn(f"numba N={n:,}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("", total=n)
            for start in range(0, n, args.chunk):
                m = min(args.chunk, n - start)
                chunk = Population.virtual(m, args.seed, first_id=start + 1)
                traj = simulate(regimen, chunk, engine=engine, times=times, outputs=OUTPUTS)
                steps_sum += int(traj.steps[traj.steps > 0].sum())
                failed += int(np.sum(traj.steps < 0))
                peak_sum += float(traj["ketamine_ng_ml"].max(axis=1).sum())
                progress.advance(task, m)
        elapsed = time.perf_counter() - start_t
        run = {"n": n, "elapsed_s": elapsed, "patient_courses_per_s": n / elapsed,
               "mean_accepted_steps": steps_sum / max(n - failed, 1), "failed": failed,
               "mean_peak_ketamine_ng_ml": peak_sum / n,
               "output_bytes_per_chunk": min(args.chunk, n) * times.size * len(OUTPUTS) * 8}
        runs.append(run)
        print(f"numba  N={n:>7,}: {elapsed:8.2f} s  {run['patient_courses_per_s']:10,.0f} patient-courses/s  "
              f"mean accepted steps {run['mean_accepted_steps']:.0f}  failed {failed}")

    # ------------------------------------------------------------------ scipy LSODA loop on a subsample
    k = args.scipy_sample
    sample = Population.virtual(k, args.seed)
    t0 = time.perf_counter()
    ref = simulate(regimen, sample, engine=lsoda, times=times, outputs=OUTPUTS)
    scipy_s = time.perf_counter() - t0
    ours = simulate(regimen, sample, engine=engine, times=times, outputs=OUTPUTS)
    diff = relative_difference(ours.values, ref.values)
    scipy = {"method": "LSODA", "sample": k, "elapsed_s": scipy_s, "seconds_per_patient": scipy_s / k,
             "patient_courses_per_s": k / scipy_s, "mean_rhs_calls": float(np.mean(ref.steps)),
             "max_relative_difference": float(diff.max()),
             "relative_difference_by_output": dict(zip(OUTPUTS, map(float, diff), strict=True))}
    print(f"scipy  LSODA loop on {k} patients: {scipy_s:.2f} s  {scipy['patient_courses_per_s']:10,.1f} "
          f"patient-courses/s  mean RHS calls {scipy['mean_rhs_calls']:.0f}")
    for run in runs:
        run["speedup_vs_scipy"] = run["patient_courses_per_s"] / scipy["patient_courses_per_s"]
        run["scipy_estimated_s"] = run["n"] * scipy["seconds_per_patient"]
        print(f"  N={run['n']:>7,}: numba {run['elapsed_s']:8.2f} s vs scipy (scaled) "
              f"{run['scipy_estimated_s']:10.0f} s  speed-up x{run['speedup_vs_scipy']:,.0f}")
    print(f"max relative difference numba vs LSODA on the subsample (per output, relative to its max over time): "
          f"{scipy['max_relative_difference']:.2e}  "
          + ", ".join(f"{name} {v:.1e}" for name, v in scipy["relative_difference_by_output"].items()))

    result = {
        "benchmark": "engine", "regimen": "induction_series() default: racemic 0.5 mg/kg IV over 40 min, "
                                          "days 0,2,4,7,9,11",
        "horizon_days": HORIZON_DAYS, "outputs": OUTPUTS, "output_times": int(times.size), "seed": args.seed,
        "engine": {"name": engine.name, "rtol": engine.rtol, "atol": engine.atol, "chunk_size": args.chunk,
                   "flush_below": getattr(engine, "flush_below", None)},
        "compile_s": compile_s, "compile_from": "cache" if args.use_cache else "fresh cache",
        "scipy_jit_warmup_s": scipy_warmup_s, "machine": info, "numba": runs, "scipy": scipy,
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shown = args.out.relative_to(Path.cwd()) if args.out.is_relative_to(Path.cwd()) else args.out.name
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
