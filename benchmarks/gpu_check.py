"""The JAX backend on a GPU: same trajectories as the CPU engine, and throughput at
N = 10^5 to 10^7 patient-courses (issue 8). One prepared script for a lent GPU machine.

Requirements: Python 3.11+, jax with a GPU plugin, numba, numpy, scipy, pandas, pyarrow,
pyyaml and rich (the project's core imports). The lent machines' image has all of them
(jax with CUDA included), so no install is needed there; run from the repository root::

    PYTHONPATH=src PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out "$OUT/gpu.json"

Elsewhere: ``pip install -e '.[jax]' 'jax[cuda12]'`` (or the jax GPU wheel of your CUDA),
then ``python benchmarks/gpu_check.py``. On a CPU it runs too (``--quick``), which is how it
was tried before any GPU was lent.

What it does, in order, with a wall-clock budget (``--budget-s``, default 480 s) that it
checks before each size:

1. Accuracy: ``--check-n`` virtual patients (default 512) on the standard induction series
   (racemic 0.5 mg/kg IV over 40 min on days 0, 2, 4, 7, 9, 11) plus 8 weeks, outputs every
   15 min, on the JAX device and on the CPU numba engine, both at rtol 1e-6, atol 1e-9:
   without the flush of tiny states (largest difference per output as a fraction of its
   maximum over the course; the backend's claim is < 1e-6) and with the defaults (< 1e-5).
2. Throughput: N = 10^5, 10^6, 10^7 (``--sizes``) distinct virtual patients, endpoints only
   (PCL-5 total and plasma ketamine on days 0, 11, 39 and 67), in chunks of ``--chunk``
   patients (one compiled shape for every N) on ``--lanes`` lanes. Patient generation on the
   host is timed apart from the device solve (which includes the transfers); the compile
   is reported apart.
   A size whose projected time exceeds the budget left is skipped and said so.

Prints a summary and writes JSON. A benchmark, not a test. Research and decision-support
software, not a medical device.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import cpu_name, relative_difference

HORIZON_DAYS = 11 + 56
ENDPOINT_DAYS = (0.0, 11.0, 39.0, 67.0)
ENDPOINT_OUTPUTS = ("pcl5_total", "ketamine_ng_ml")
CHECK_OUTPUTS = ("ketamine_ng_ml", "norketamine_ng_ml", "nmda_occupancy", "plasticity", "cadss", "pcl5_total",
                 "madrs")
SEED = 2024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="patient-courses per throughput run")
    parser.add_argument("--lanes", type=int, default=1 << 17, help="patients integrated side by side")
    parser.add_argument("--chunk", type=int, default=1 << 20, help="patients per device call")
    parser.add_argument("--check-n", type=int, default=512, help="patients of the accuracy check")
    parser.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget of the whole script")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a CPU")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "gpu.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.lanes, args.chunk, args.check_n = "2000,8000", 512, 4096, 16
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    if not args.sizes or min(args.sizes) < 1 or min(args.lanes, args.chunk, args.check_n) < 1:
        parser.error("sizes, lanes, chunk and check-n must be positive")
    return args


def device_info() -> dict:
    import jax

    info = {"jax": jax.__version__, "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()], "python": platform.python_version(),
            "host_cpu": cpu_name()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        info["gpu"] = smi.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["gpu"] = None
    return info


def difference_by_output(got: np.ndarray, ref: np.ndarray) -> dict:
    return dict(zip(CHECK_OUTPUTS, map(float, relative_difference(got, ref)), strict=True))


def accuracy(args, regimen, jax_engine_cls) -> dict:
    """JAX on the device against numba on the CPU, with and without the flush."""
    from ketamine_ptsd import NumbaEngine, Population, simulate
    from ketamine_ptsd.simulation import output_times

    times = output_times(HORIZON_DAYS, 15)
    patients = Population.virtual(args.check_n, SEED)
    out = {"patients": args.check_n, "output_times": int(times.size)}
    for label, options in (("no_flush", {"flush_below": 0.0}), ("defaults", {})):
        cpu = simulate(regimen, patients, engine=NumbaEngine(**options), times=times, outputs=CHECK_OUTPUTS)
        engine = jax_engine_cls(lanes=min(args.lanes, args.check_n), **options)
        t0 = time.perf_counter()
        dev = simulate(regimen, patients, engine=engine, times=times, outputs=CHECK_OUTPUTS)
        first_s = time.perf_counter() - t0
        diff = difference_by_output(dev.values, cpu.values)
        out[label] = {"max": max(diff.values()), "by_output": diff, "first_call_s": first_s,
                      "steps_equal_fraction": float(np.mean(dev.steps == cpu.steps)),
                      "all_finite": bool(np.all(np.isfinite(dev.values)))}
    return out


def throughput(args, regimen, jax_engine_cls, started: float) -> list[dict]:
    """Endpoints of N distinct patients per size, chunk by chunk on the device."""
    from ketamine_ptsd import Population
    from ketamine_ptsd.model import MODEL

    times = np.array(ENDPOINT_DAYS) * 24.0
    out_sel = np.array([MODEL.output_names.index(n) for n in ENDPOINT_OUTPUTS])
    events = MODEL.events(regimen)
    # One compiled shape for every size: each call is padded to a full chunk (padding rows
    # are never integrated). The first call compiles; it integrates one patient.
    engine = jax_engine_cls(lanes=args.lanes, chunk_size=args.chunk, bucket=args.chunk)
    t0 = time.perf_counter()
    engine.solve(MODEL, Population.virtual(1, SEED).parameters(regimen.pk_product), events, times, out_sel)
    compile_s = time.perf_counter() - t0
    print(f"first call (compile, and one patient): {compile_s:.1f} s", flush=True)
    runs = []
    rate = None
    for n in args.sizes:
        left = args.budget_s - (time.perf_counter() - started)
        if rate is not None and n / rate > 0.9 * left:
            runs.append({"n": n, "skipped": f"projected {n / rate:.0f} s at {rate:,.0f} courses/s, {left:.0f} s left"})
            print(f"N={n:,}: skipped ({runs[-1]['skipped']})", flush=True)
            continue
        host_s = device_s = 0.0
        steps_sum = failed = 0
        pcl_end = 0.0
        for start in range(0, n, args.chunk):
            m = min(args.chunk, n - start)
            t0 = time.perf_counter()
            params = Population.virtual(m, SEED, first_id=start + 1).parameters(regimen.pk_product)
            t1 = time.perf_counter()
            values, steps = engine.solve(MODEL, params, events, times, out_sel)
            host_s += t1 - t0
            device_s += time.perf_counter() - t1
            ok = steps > 0
            steps_sum += int(steps[ok].sum())
            failed += int(np.sum(~ok))
            pcl_end += float(values[ok, -1, 0].sum())
        rate = n / device_s
        runs.append({"n": n, "device_s": device_s, "host_generation_s": host_s, "courses_per_s": rate,
                     "mean_steps": steps_sum / max(n - failed, 1), "failed": failed,
                     "mean_final_pcl5": pcl_end / max(n - failed, 1)})
        print(f"N={n:>10,}: device {device_s:8.1f} s  {rate:12,.0f} courses/s  (patients generated on the host in "
              f"{host_s:.1f} s)  mean steps {runs[-1]['mean_steps']:.0f}  failed {failed}", flush=True)
    return [{"compile_s": compile_s, "lanes": args.lanes, "chunk": args.chunk, "endpoint_days": ENDPOINT_DAYS,
             "outputs": ENDPOINT_OUTPUTS}] + runs


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from ketamine_ptsd import induction_series
    from ketamine_ptsd.engine.jax_engine import JaxEngine

    regimen = induction_series()
    report = {"script": "gpu_check", "date": time.strftime("%Y-%m-%d %H:%M"), "device": device_info(),
              "regimen": "induction_series() + 8 weeks", "horizon_days": HORIZON_DAYS}
    print(json.dumps(report["device"]), flush=True)
    report["accuracy"] = accuracy(args, regimen, JaxEngine)
    for label in ("no_flush", "defaults"):
        a = report["accuracy"][label]
        print(f"accuracy ({label}): max relative difference JAX vs numba {a['max']:.2e}, "
              f"same step count for {100 * a['steps_equal_fraction']:.0f} % of patients", flush=True)
    report["throughput"] = throughput(args, regimen, JaxEngine, started)
    report["wall_s"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wall {report['wall_s']:.0f} s; wrote {args.out.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
