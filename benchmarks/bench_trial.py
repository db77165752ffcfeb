"""Throughput and memory of a virtual two-arm trial as the number of patients grows.

The trial is the built-in Feder 2021 design (six infusions of ketamine vs midazolam, CAPS-5
with measurement error) over an 8-week horizon (weekly follow-up to day 56), endpoints only.
Each size runs in a fresh process, in one process and on a local Dask cluster of two
single-threaded workers; the peak resident memory is that process's (and, on the cluster,
each worker's) ``ru_maxrss``; the CPU time (user + system of the process and the workers)
says what the run costs when other work shares the machine. This is a benchmark, not a test:
it asserts nothing about time.

    python benchmarks/bench_trial.py                       # 10^3, 10^4, 10^5 patients
    python benchmarks/bench_trial.py --sizes 1000000       # the 10^6-patient trial
    python benchmarks/bench_trial.py --json results.json   # also write the rows as JSON
    python benchmarks/bench_trial.py --kernel patient      # one integrator per patient
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from common import cpu_name

HORIZON_DAYS = 56
MODES = ("single", "dask")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """CPU time (user + system, every thread) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one(n_patients: int, mode: str, workers: int, chunk_size: int, kernel: str = "lanes") -> dict:
    """Run the trial once in this process and return its timing and memory; ``kernel``: the
    numba engine's (the trial's default engine has the lane kernel)."""
    from ketamine_ptsd.distributed import dask_client
    from ketamine_ptsd.engine import NumbaEngine
    from ketamine_ptsd.trials import FollowUpSpec, builtin_spec, endpoints, run_trial

    base = builtin_spec("feder2021").with_overrides(n_per_arm=n_patients // 2)
    spec = base.model_copy(update={"follow_up": FollowUpSpec(every_days=7, until_day=HORIZON_DAYS)}).check()
    # Warm up the compiled solver (and the workers) so the timing is the trial's alone.
    warm = base.with_overrides(n_per_arm=4)
    # One thread per Dask worker, every core in one process, as the trial gives the default engine.
    engine = NumbaEngine(kernel=kernel, threads=1 if mode == "dask" else None)
    with dask_client(workers if mode == "dask" else None) as client:
        run_trial(warm, client=client, engine=engine)
        cpu_before = [cpu_seconds(), *(client.run(cpu_seconds).values() if client is not None else [])]
        start = time.perf_counter()
        result = run_trial(spec, client=client, chunk_size=chunk_size, engine=engine)
        simulated = time.perf_counter() - start
        e = endpoints(result)
        total = time.perf_counter() - start
        cpu_after = [cpu_seconds(), *(client.run(cpu_seconds).values() if client is not None else [])]
        workers_mb = list(client.run(peak_rss_mb).values()) if client is not None else []
    cpu = sum(cpu_after) - sum(cpu_before)
    return {
        "patients": n_patients, "mode": mode, "workers": workers if mode == "dask" else 1,
        "chunk_size": chunk_size, "seconds": total, "simulation_seconds": simulated,
        "patients_per_second": n_patients / total, "microseconds_per_patient": 1e6 * total / n_patients,
        # On a shared machine the wall time depends on the other load; CPU time hardly does.
        "cpu_seconds": cpu, "cpu_microseconds_per_patient": 1e6 * cpu / n_patients,
        "load_average_1min": os.getloadavg()[0],
        "peak_rss_mb_main": peak_rss_mb(), "peak_rss_mb_workers": workers_mb,
        "peak_rss_mb_total": peak_rss_mb() + sum(workers_mb),
        "responders_ketamine": e["arms"]["ketamine"]["responder_rate"],
        "difference": e["comparisons"]["ketamine"]["difference"],
        "cpu": cpu_name(), "kernel": kernel,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000],
                        help="total patients (two arms)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--workers", type=int, default=2, help="Dask workers of the local cluster")
    parser.add_argument("--chunk-size", type=int, default=8192)
    parser.add_argument("--json", help="write the rows to this file")
    from ketamine_ptsd.engine.numba_engine import KERNELS

    parser.add_argument("--kernel", default=KERNELS[0], choices=KERNELS,
                        help="the numba engine's kernel (default: the engine's own, as the trial command)")
    parser.add_argument("--one", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(int(args.one[0]), args.one[1], args.workers, args.chunk_size, args.kernel)))
        return 0
    rows = []
    print(f"{'patients':>9} {'mode':>7} {'seconds':>9} {'patients/s':>11} {'us/patient':>11} {'CPU us/pt':>10} "
          f"{'peak MB':>9} {'load':>5}")
    for n in args.sizes:
        for mode in args.modes:
            # A fresh process per run, so ru_maxrss is this run's peak.
            out = subprocess.run([sys.executable, __file__, "--one", str(n), mode, "--workers", str(args.workers),
                                  "--chunk-size", str(args.chunk_size), "--kernel", args.kernel],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{n:>9} {mode:>7} {row['seconds']:>9.1f} {row['patients_per_second']:>11.0f} "
                  f"{row['microseconds_per_patient']:>11.0f} {row['cpu_microseconds_per_patient']:>10.0f} "
                  f"{row['peak_rss_mb_total']:>9.0f} {row['load_average_1min']:>5.1f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
