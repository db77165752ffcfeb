"""CPU time per course of the engine alone, one thread: for comparing kernels or commits.

Integrates N virtual patients (``Population.virtual(N, 0)``) on the induction series over 56
days with ``NumbaEngine(threads=1).solve`` on prepared parameters (no simulate wrapper, no
file writing) and prints one JSON line: the CPU time per course of the cheapest of ``--reps``
repetitions in this process, split into user and system time (the system time is mostly the
operating system zeroing the fresh pages of the N x T x K output array on first touch), the
mean accepted steps, failures, a checksum of the last output row (equal checksums: equal
results) and the CPU model. To compare commits, run it alternately with each
commit's ``src`` first on ``PYTHONPATH`` (and its own ``KETAMINE_PTSD_CACHE``) and take the
minimum per commit: CPU time varies far less than wall time on a loaded machine.

Usage::

    python benchmarks/bench_kernel.py [--n 2000] [--reps 3] [--dt-h 1.0]
                                      [--outputs ketamine_ng_ml,cadss,pcl5_total]
                                      [--kernel patient|lockstep|auto|lanes]
                                      [--vector-bits 512]

``--vector-bits 512`` builds the kernels for 512-bit vectors on CPUs whose LLVM tuning prefers
256-bit ones (Intel Xeon Scalable, AMD Zen 4): worth trying where a core has two 512-bit FMA
units (``ceiling.py`` shows 512-bit multiply-adds at twice the 256-bit rate). Give such a run
its own, empty ``KETAMINE_PTSD_CACHE``: the kernel is then compiled in the run, and the JSON
line counts the 512-bit register operands in the lockstep step (``zmm_in_lockstep_step``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

import numpy as np
from common import cpu_name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="courses per repetition")
    parser.add_argument("--reps", type=int, default=3, help="repetitions in this process (the minimum is kept)")
    parser.add_argument("--dt-h", type=float, default=1.0, help="hours between output times")
    parser.add_argument("--outputs", default="ketamine_ng_ml,cadss,pcl5_total", help="comma-separated outputs")
    parser.add_argument("--kernel", help="NumbaEngine's kernel: patient, lockstep, auto or lanes (default: the "
                        "engine's own; left unset for commits before the lockstep kernel)")
    parser.add_argument("--vector-bits", type=int, choices=(256, 512),
                        help="compile for 512-bit vectors where LLVM's tuning for this CPU prefers 256 "
                             "(NUMBA_CPU_FEATURES: the host's features and -prefer-256-bit), or leave "
                             "the default (256 or unset); use its own KETAMINE_PTSD_CACHE")
    args = parser.parse_args(argv)
    if args.n < 1 or args.reps < 1 or not args.dt_h > 0:
        parser.error("--n and --reps must be positive, --dt-h above 0")
    if args.vector_bits == 512:
        # Before numba is imported: its code generator reads the features once.
        import llvmlite.binding as llvm

        os.environ["NUMBA_CPU_FEATURES"] = llvm.get_host_cpu_features().flatten() + ",-prefer-256-bit"

    import numba

    from ketamine_ptsd import Population, induction_series
    from ketamine_ptsd.engine import NumbaEngine
    from ketamine_ptsd.engine.numba_engine import kernel
    from ketamine_ptsd.model import MODEL

    numba.set_num_threads(1)
    regimen = induction_series()
    times = np.arange(0.0, 56 * 24.0 + 1e-9, args.dt_h)
    params = Population.virtual(args.n, 0).parameters(regimen.pk_product, None)
    events = MODEL.events(regimen)
    names = [x.strip() for x in args.outputs.split(",") if x.strip()]
    unknown = [x for x in names if x not in MODEL.output_names]
    if unknown:
        parser.error(f"--outputs: unknown {unknown[0]!r}; choose from {', '.join(MODEL.output_names)}")
    sel = np.array([MODEL.output_names.index(x) for x in names], np.int64)
    engine = NumbaEngine(threads=1, **({"kernel": args.kernel} if args.kernel else {}))
    engine.solve(MODEL, params[:2], events, times, sel)  # compile or load, not timed
    best = None  # (CPU, user, system) seconds of the cheapest repetition
    for _ in range(args.reps):
        before = resource.getrusage(resource.RUSAGE_SELF)
        out, steps = engine.solve(MODEL, params, events, times, sel)
        after = resource.getrusage(resource.RUSAGE_SELF)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        if best is None or user + system < best[0]:
            best = (user + system, user, system)
        checksum = float(np.nansum(out[:, -1, :]))
        del out  # freed before the next repetition allocates its own, as a caller's would be
    cpu, user, system = (1e3 * x / args.n for x in best)
    zmm = None
    if args.vector_bits:
        # How much of the lockstep step uses 512-bit registers: known only where this process
        # compiled the kernel (an empty KETAMINE_PTSD_CACHE), not where it loaded it.
        step = next(iter(kernel(MODEL).solve_lanes.overloads.values()), None)
        zmm = step.library.get_asm_str().count("zmm") if step is not None else "loaded from the cache"
    print(json.dumps({"cpu_ms_per_course": cpu, "user_ms_per_course": user, "system_ms_per_course": system,
                      "mean_steps": float(steps.mean()), "failed": int((steps < 0).sum()), "checksum": checksum,
                      "n": args.n, "dt_h": args.dt_h, "outputs": names, "kernel": args.kernel,
                      "vector_bits": args.vector_bits, "zmm_in_lockstep_step": zmm, "cpu": cpu_name()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
