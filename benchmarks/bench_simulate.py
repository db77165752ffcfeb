"""What a user's ``ketamine-ptsd simulate`` costs beside the engine's own work.

For each format (Parquet, CSV), runs ``simulate --n N --horizon-days 56 --dt-min 60`` (all
outputs, float32) in a fresh process and records that process's CPU time (user + system, all
threads) and peak resident memory; in another fresh process, the engine alone on the same
patients and output grid (the CPU time of the chunked engine calls only, no start-up, no
writing). The ratio of the two is what the output path costs on top of the simulation. Also:
the start-up CPU of a one-patient run (the fixed part), the time to refuse the over-limit
runs ``--n 100000000`` and ``--dt-min 0.001`` and the unwritable ``--out /proc/nope``, and the
start-up of ``ketamine-ptsd --help`` and ``clinic score`` (best of three, warm file cache).

CPU time rather than wall-clock time: on a shared machine the CPU time of a process moves by a
few per cent, its wall time by several times. It is split into user and system time: on a
virtual machine, the system time of putting a file into the page cache moves by up to ten
times between runs (docs/benchmarks.md). With ``--reps K`` each of the engine and the
simulate runs is repeated K times, interleaved, and the cheapest of each is kept (neighbours on a
shared host inflate CPU time too, by up to 30 % here, never deflate it).

Usage::

    python benchmarks/bench_simulate.py [--n 4000] [--reps 3] [--large 100000] [--formats parquet,csv]
                                        [--kernel lanes|patient|lockstep|auto]

``--large`` adds an N = 10^5 Parquet run (memory; minutes of CPU). Results are printed and
written to ``benchmarks/results/simulate.json``. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cpu_name

RESULTS = Path(__file__).resolve().parent / "results" / "simulate.json"
COURSE = ["--horizon-days", "56", "--dt-min", "60"]

CLI = """
import json, resource, sys
from ketamine_ptsd.cli import main
rc = main(sys.argv[1:])
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"rc": rc, "cpu_s": u.ru_utime + u.ru_stime, "user_s": u.ru_utime, "system_s": u.ru_stime,
                  "peak_mb": u.ru_maxrss / 1024}))
"""

ENGINE = """
import json, resource, sys, time
from ketamine_ptsd import Population, induction_series
from ketamine_ptsd.simulation import ChunkedRun, output_times
n = int(sys.argv[1])
engine = None
if len(sys.argv) > 2:
    from ketamine_ptsd.engine import NumbaEngine
    engine = NumbaEngine(kernel=sys.argv[2])
for _ in ChunkedRun(induction_series(), Population.virtual(32, 1), engine=engine, times=[0.0, 1.0]):
    pass  # load the compiled solver before timing (32 patients: the lane kernel's too)
run = ChunkedRun(induction_series(), Population.virtual(n, 0), engine=engine, times=output_times(56, 60))
cpu = 0.0
it = iter(run)
while True:
    t0 = time.process_time()
    try:
        next(it)
    except StopIteration:
        break
    cpu += time.process_time() - t0
print(json.dumps({"cpu_s": cpu, "patients": n, "chunk": run.chunk}))
"""


def fresh(code: str, *args: str, cwd: str | None = None) -> dict:
    """``code`` run in a fresh Python process, its last line of output read as JSON. Python's
    bytecode cache is on (as it is for a user), whatever this process's environment says:
    with ``PYTHONDONTWRITEBYTECODE`` set, as in some containers and CI images, each run compiles
    the package's modules again: 0.1 s of start-up that a user's second run does not pay."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env={**env, "COLUMNS": "120"})
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(lines[-1])


def timed_cli(args: list[str], cwd: str) -> dict:
    t0 = time.perf_counter()
    result = fresh(CLI, *args, cwd=cwd)
    return {**result, "wall_s": time.perf_counter() - t0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--large", type=int, default=0, help="also a Parquet run of this many patients")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--kernel", help="simulate --kernel (default: the command's own, left unset for commits "
                        "before the option)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each run (the cheapest is kept)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    result = {"benchmark": "simulate", "date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_name(),
              "nproc": os.cpu_count(), "load_before": os.getloadavg()[0], "n": args.n, "kernel": args.kernel,
              "runs": {}}
    print(f"machine: {result['cpu']}, {result['nproc']} cores; load average {result['load_before']:.2f}")
    with tempfile.TemporaryDirectory(prefix="ketamine-ptsd-bench-") as tmp:
        timed_cli(["model", "compile"], tmp)
        sizes = [(fmt, args.n) for fmt in formats] + ([("parquet", args.large)] if args.large else [])
        engines, runs, ones = [], {}, []
        for rep in range(max(1, args.reps)):  # interleaved, so a busy spell touches every kind of run
            ones.append(timed_cli(["simulate", "--horizon-days", "1", "--out", f"one-{rep}"], tmp))
            engines.append(fresh(ENGINE, str(args.n), *([args.kernel] if args.kernel else [])))
            for fmt, n in sizes:
                if n != args.n and rep:
                    continue  # the large run once
                run = timed_cli(["simulate", "--n", str(n), *COURSE, "--format", fmt, "--out", f"{fmt}-{n}-{rep}",
                                 "--yes", *(["--kernel", args.kernel] if args.kernel else [])], tmp)
                size = (Path(tmp) / f"{fmt}-{n}-{rep}" / f"trajectory.{fmt}").stat().st_size
                shutil.rmtree(Path(tmp) / f"{fmt}-{n}-{rep}")
                run.update(file_mb=size / 1e6, patients=n)
                runs.setdefault(f"{fmt}_{n}", []).append(run)
        result["startup_one_patient"] = min(ones, key=lambda r: r["cpu_s"])
        engine = min(engines, key=lambda r: r["cpu_s"])
        engine["all_cpu_s"] = [r["cpu_s"] for r in engines]
        result["engine"] = engine
        print(f"engine alone, N = {args.n:,}, 56 days, hourly, all outputs: {engine['cpu_s']:.2f} s CPU "
              f"({1e3 * engine['cpu_s'] / args.n:.3f} ms/course; cheapest of {len(engines)})")
        print(f"one-patient run (start-up, report): {result['startup_one_patient']['cpu_s']:.2f} s CPU")
        for key, tries in runs.items():
            run = min(tries, key=lambda r: r["cpu_s"])
            run["all_cpu_s"] = [r["cpu_s"] for r in tries]
            fmt, n = key.split("_")[0], run["patients"]
            if n == args.n:
                run["ratio_to_engine"] = run["cpu_s"] / engine["cpu_s"]
                run["ratio_to_engine_without_startup"] = ((run["cpu_s"] - result["startup_one_patient"]["cpu_s"])
                                                          / engine["cpu_s"])
            result["runs"][key] = run
            print(f"simulate --n {n:,} --format {fmt}: {run['cpu_s']:.2f} s CPU (user {run['user_s']:.2f}, system "
                  f"{run['system_s']:.2f}), peak {run['peak_mb']:,.0f} MB, "
                  f"file {run['file_mb']:,.0f} MB"
                  + (f"; {run['ratio_to_engine']:.2f}x the engine ({run['ratio_to_engine_without_startup']:.2f}x "
                     "without the one-patient start-up)" if "ratio_to_engine" in run else ""))
        refusals = {}
        for label, extra in (("n_1e8", ["--n", "100000000"]), ("dt_0.001", ["--dt-min", "0.001"]),
                             ("out_proc", ["--out", "/proc/nope", "--yes", "--n", "100000000"])):
            r = timed_cli(["simulate", *([] if label == "out_proc" else ["--out", "refused"]), *extra], tmp)
            refusals[label] = r
            print(f"refusal {label}: exit {r['rc']} after {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU")
        result["refusals"] = refusals
        starts = {}
        for label, cmd in (("help", ["--help"]), ("clinic_score", ["clinic", "score", "pcl5", ",".join(["2"] * 20)])):
            runs = [timed_cli(cmd, tmp) for _ in range(3)]
            starts[label] = min(runs, key=lambda r: r["wall_s"])
            print(f"start-up {label}: {starts[label]['wall_s']:.2f} s wall, {starts[label]['cpu_s']:.2f} s CPU "
                  "(best of 3)")
        result["startup"] = starts
    result["load_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
