"""Our engine against other engines on the same model, in the same run (issue 8).

The full model on the standard induction series (racemic ketamine 0.5 mg/kg IV over 40 min
on days 0, 2, 4, 7, 9, 11) followed for 8 weeks after the last infusion (67 days), virtual
patients of ``Population.virtual`` (seeded), plasma ketamine and PCL-5 total every 15 min,
rtol 1e-6 and atol 1e-9 for every engine:

* ``numba``: our engine (``NumbaEngine``) with one and with two threads, N patients in
  chunks, with each of its kernels (``--kernels``: per patient, and lockstep in SIMD lanes;
  ``lanes``, the default engine's, on request);
  each chunk is reduced to endpoints (peak ketamine, final PCL-5), so memory stays flat in N;
* ``lsoda``: a per-patient loop of ``scipy.integrate.solve_ivp`` (LSODA) on the same
  right-hand side (the project's ``ScipyEngine``), on a subsample, scaled to courses per
  second;
* ``roadrunner``: libRoadRunner on the exported SBML (``interop.sbml``), CVODE (BDF: its
  Adams mode stalls at the model's kinks), LLVM optimisation passes on, results not copied,
  one loaded model looped over patients with ``resetAll``, ``setValues`` and ``reset``; in one process
  and in two. A patient on whom CVODE stops is run again at atol 1e-10 (counted in the time
  and reported). The exported file holds dose amounts for one body weight; here each event
  amount is rewritten as ``fixed + per_kg * patient_weight_kg`` so one loaded model serves
  every patient;
* ``jax``: the optional JAX backend on the CPU (a small N: it is the GPU backend).

Each run of our engine also measures the flop ceiling just before and after its timed run
(``ceiling.py``: independent multiply-adds): one core's with one thread, the whole machine's
(every core at once, wall clock) with more; the summary gives the share of that measured peak
beside the share of the nominal one. ``--reps R`` repeats each timed run of our engine R times
in its process and keeps the cheapest in CPU time (every one is in the JSON).

Every measurement runs in a fresh process: its JIT/compile time (from an empty cache) is
reported apart from the timed run, and its peak resident memory is measured over the timed
run only (the kernel's high-water mark is reset before it). Accuracy: on a few patients,
each engine's largest difference from ``solve_ivp`` DOP853 at rtol 1e-10, atol 1e-12, per
output as a fraction of that output's largest value over the course.

Usage::

    python benchmarks/bench_peers.py [--n 1000,10000,100000,1000000] [--one-thread-max 100000]
        [--lsoda-sample 20] [--roadrunner-sample 200] [--accuracy-sample 4] [--jax-n 512]
        [--chunk 2048] [--seed 2024] [--engines accuracy,numba,lsoda,roadrunner,jax]
        [--kernels patient,lockstep] [--reps 1]
        [--out benchmarks/results/peers.json]

``--quick`` runs a small version (minutes). Results are printed as a table and written as
JSON. A benchmark, not a test: nothing here asserts a time. Research and decision-support
software, not a medical device.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ceiling import measure as measure_ceiling
from ceiling import measure_machine
from ceiling import widths as ceiling_widths
from common import cpu_name, peak_gflops, relative_difference

HORIZON_DAYS = 11 + 56
OUTPUT_EVERY_MIN = 15
OUTPUTS = ("ketamine_ng_ml", "pcl5_total")
ACCURACY_OUTPUTS = ("ketamine_ng_ml", "norketamine_ng_ml", "nmda_occupancy", "plasticity", "cadss",
                    "pcl5_total", "madrs")
RTOL, ATOL = 1e-6, 1e-9
REFERENCE = {"method": "DOP853", "rtol": 1e-10, "atol": 1e-12}
RESULTS = Path(__file__).resolve().parent / "results" / "peers.json"


# -- what every worker shares ---------------------------------------------------------------------


def course():
    """The regimen and output times of the benchmark."""
    from ketamine_ptsd import induction_series
    from ketamine_ptsd.simulation import output_times

    return induction_series(), output_times(HORIZON_DAYS, OUTPUT_EVERY_MIN)


def reset_peak_memory() -> float:
    """Reset this process's resident-memory high-water mark; returns the current RSS (MB)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def peak_memory_mb() -> float:
    """Peak resident memory of this process since the last reset (MB)."""
    return _status_mb("VmHWM")


def _status_mb(key: str) -> float:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def timed(fn):
    """``fn()`` with wall and CPU seconds (all threads of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


# -- the engines ----------------------------------------------------------------------------------


class Metered:
    """Our engine, passed to ``simulate`` in its place, keeping the CPU time of its own
    ``solve`` calls (the rest of a ``simulate`` call draws patients, prepares parameters and
    assembles the trajectory) and the lockstep kernel's work counts of each patient's group
    (accepted and rejected steps, right-hand side evaluations, dense-output passes; -1 where
    another kernel ran), from which the flops are counted."""

    def __init__(self, engine):
        from ketamine_ptsd.engine.numba_engine import WORK_COUNTS

        self.engine, self.columns = engine, len(WORK_COUNTS)
        self.reset()

    def reset(self):
        self.cpu_s, self.work = 0.0, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def solve(self, model, params, *args, **kwargs):
        work = np.empty((params.shape[0], self.columns), np.int64)
        cpu = time.process_time()
        result = self.engine.solve(model, params, *args, work=work, **kwargs)
        self.cpu_s += time.process_time() - cpu
        self.work.append(work)
        return result


def run_numba(spec: dict) -> dict:
    """Our engine on N patients in chunks, reduced to endpoints chunk by chunk."""
    from ketamine_ptsd import Population, simulate
    from ketamine_ptsd.engine import NumbaEngine
    from ketamine_ptsd.engine.numba_engine import WORK_COUNTS

    regimen, times = course()
    engine = Metered(NumbaEngine(rtol=RTOL, atol=ATOL, threads=spec["threads"], chunk_size=spec["chunk"],
                                 **({"kernel": spec["kernel"]} if "kernel" in spec else {})))
    # Two lane groups, so that every kernel compiles here, not in the timed run (the lane kernel
    # leaves fewer than LANES_FROM patients to the per-patient one).
    _, compile_s, _ = timed(lambda: simulate(regimen, Population.virtual(32, spec["seed"]), engine=engine,
                                             times=times, outputs=OUTPUTS))
    n, chunk = spec["n"], spec["chunk"]
    peak = np.empty(n)
    final = np.empty(n)
    steps = np.empty(n, np.int64)

    def work():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            patients = Population.virtual(stop - start, spec["seed"], first_id=start + 1)
            traj = simulate(regimen, patients, engine=engine, times=times, outputs=OUTPUTS)
            peak[start:stop] = traj["ketamine_ng_ml"].max(axis=1)
            final[start:stop] = traj["pcl5_total"][:, -1]
            steps[start:stop] = traj.steps

    # The measured flop ceiling just before and after the timed run (``ceiling.py``): one
    # core's with one thread, the whole machine's (every core at once, wall clock) with more.
    # A shared host's clock moves from minute to minute, so the share of peak is taken against
    # what the machine did then.
    def ceiling():
        if spec["threads"] == 1:
            return measure_ceiling(0.1, 3)["gflops_per_core"]
        return measure_machine(spec["threads"], max(ceiling_widths()), 0.1)

    before = ceiling()
    base = reset_peak_memory()
    # ``--reps``: the timed run repeated, the cheapest in CPU time kept (a shared host slows
    # runs of this cache-bound kernel by up to a third for minutes at a time).
    runs = []
    for _ in range(spec.get("reps", 1)):
        engine.reset()
        runs.append(timed(work)[1:] + (engine.cpu_s,))
    wall, cpu, engine_cpu = min(runs, key=lambda r: r[1])
    key = "measured_core_gflops_before_after" if spec["threads"] == 1 else "measured_machine_gflops_before_after"
    counts = np.concatenate(engine.work)
    return {"compile_s": compile_s, "wall_s": wall, "cpu_s": cpu, "cpu_s_each": [r[1] for r in runs],
            "engine_cpu_s": engine_cpu, "engine_cpu_s_each": [r[2] for r in runs],
            **({"mean_work": dict(zip(WORK_COUNTS, counts.mean(axis=0).tolist()))} if np.all(counts >= 0) else {}),
            "courses": n, "rss_base_mb": base,
            "peak_rss_mb": peak_memory_mb(), "mean_steps": float(steps.mean()), "failed": int(np.sum(steps < 0)),
            "mean_peak_ketamine_ng_ml": float(peak.mean()), "mean_final_pcl5": float(final.mean()),
            key: [before, ceiling()]}


def run_lsoda(spec: dict) -> dict:
    """``solve_ivp`` LSODA, one patient at a time (the right-hand side is the compiled one)."""
    from ketamine_ptsd import Population, simulate
    from ketamine_ptsd.engine import ScipyEngine

    regimen, times = course()
    engine = ScipyEngine(method="LSODA", rtol=RTOL, atol=ATOL)
    # The right-hand side and outputs compile at their first call: one short course first.
    _, compile_s, _ = timed(lambda: simulate(regimen, Population.virtual(1, spec["seed"]), engine=engine,
                                             times=times[:3], outputs=OUTPUTS))
    patients = Population.virtual(spec["n"], spec["seed"])
    base = reset_peak_memory()
    traj, wall, cpu = timed(lambda: simulate(regimen, patients, engine=engine, times=times, outputs=OUTPUTS))
    return {"compile_s": compile_s, "wall_s": wall, "cpu_s": cpu, "courses": spec["n"], "rss_base_mb": base,
            "peak_rss_mb": peak_memory_mb(), "mean_rhs_calls": float(traj.steps.mean())}


def population_sbml(regimen, folder: Path) -> Path:
    """The exported SBML of ``regimen`` with every event amount a formula of the patient's
    weight (``fixed + per_kg * patient_weight_kg``), so one loaded model serves everyone."""
    import libsbml

    from ketamine_ptsd.interop.sbml import sbml_document, sbml_ids
    from ketamine_ptsd.model import MODEL
    from ketamine_ptsd.model.system import JUMP

    ids = sbml_ids(MODEL)
    weight = ids["parameter"]["weight_kg"]
    state_of = {ids["state"][name]: k for k, name in enumerate(MODEL.state_names)}
    input_of = {ids["input"][name]: k for k, name in enumerate(MODEL.input_names)}
    events = MODEL.events(regimen)
    doc = sbml_document(regimen)
    model = doc.getModel()
    for e in range(model.getNumEvents()):
        event = model.getEvent(e)
        t = float(libsbml.formulaToL3String(event.getTrigger().getMath()).split(">=")[1])
        for a in range(event.getNumEventAssignments()):
            assignment = event.getEventAssignment(a)
            sid = assignment.getVariable()
            if sid in state_of:
                at_t = np.abs(events.time_h - t) <= 1e-9 * max(1.0, t)  # the trigger's time, as printed
                mine = (events.kind == JUMP) & (events.index == state_of[sid]) & at_t
                fixed, per_kg = float(events.fixed[mine].sum()), float(events.per_kg[mine].sum())
                formula = f"{sid} + ({fixed!r} + {per_kg!r} * {weight})"
            else:
                so_far = events.time_h <= t + 1e-9 * max(1.0, t)
                mine = (events.kind != JUMP) & (events.index == input_of[sid]) & so_far
                fixed, per_kg = (float(v) if abs(v) >= 1e-12 else 0.0
                                 for v in (events.fixed[mine].sum(), events.per_kg[mine].sum()))
                formula = f"{fixed!r} + {per_kg!r} * {weight}"
            if libsbml.parseL3Formula(formula) is None:
                raise RuntimeError(f"cannot write the event amount of {sid}: {formula}")
            assignment.setMath(libsbml.parseL3Formula(formula))
    path = folder / "ketamine_ptsd_population.xml"
    path.write_text(libsbml.writeSBMLToString(doc), encoding="utf-8")
    return path


def roadrunner_fastest_settings() -> None:
    """libRoadRunner's documented speed settings: LLVM optimisation passes, no result copy."""
    from roadrunner import Config

    for name in ("GVN", "CFG_SIMPLIFICATION", "INSTRUCTION_COMBINING", "DEAD_INST_ELIMINATION",
                 "DEAD_CODE_ELIMINATION", "INSTRUCTION_SIMPLIFIER"):
        Config.setValue(getattr(Config, f"LOADSBMLOPTIONS_OPTIMIZE_{name}"), True)
    Config.setValue(Config.SIMULATEOPTIONS_COPY_RESULT, False)


def load_roadrunner(path: Path, selections):
    import roadrunner

    roadrunner_fastest_settings()
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = RTOL
    rr.integrator.absolute_tolerance = ATOL
    rr.integrator.maximum_num_steps = 20_000  # per output interval: a stall fails fast and is retried
    rr.timeCourseSelections = ["time", *selections]
    return rr


def parameter_ids() -> list[str]:
    """SBML ids of the model parameters, in the order of a parameter row."""
    from ketamine_ptsd.interop.sbml import sbml_ids
    from ketamine_ptsd.model import MODEL

    ids = sbml_ids(MODEL)["parameter"]
    return [ids[name] for name in MODEL.param_names]


def roadrunner_loop(rr, keys: list[str], params: np.ndarray, times: np.ndarray, keep: bool):
    """Simulate each row of ``params``; returns (patients x times x outputs, NaN where
    CVODE failed, if ``keep``) and the numbers of patients retried and failed.

    CVODE stops on a few patients at atol 1e-9 where the clip of the glutamate surge opens
    (too much work, or a step below t's resolution); such a patient is run again at atol
    1e-10, its time counted, and counted as failed only if that stops too."""
    out = np.full((len(params) if keep else 0, times.size, len(rr.timeCourseSelections) - 1), np.nan)
    retried = failed = 0
    for i, row in enumerate(params):
        for atol in (ATOL, ATOL / 10):
            rr.integrator.absolute_tolerance = atol
            rr.resetAll()
            rr.setValues(keys, row.tolist())
            # Events at t = 0 fire during a reset: without this one they would use the previous
            # patient's weight (the first infusion 7 % off for a 65-kg patient after a 70-kg one).
            rr.reset()
            try:
                result = rr.simulate(times=times)
            except RuntimeError:
                retried += atol == ATOL
                failed += atol != ATOL
                continue
            if keep:
                out[i] = np.asarray(result)[:, 1:]
            break
    rr.integrator.absolute_tolerance = ATOL
    return out, retried, failed


def _roadrunner_process(path, params, times, loaded, results):
    try:
        rr = load_roadrunner(path, OUTPUTS)
        keys = parameter_ids()
        loaded.wait()
        base = reset_peak_memory()
        (_, retried, failed), wall, cpu = timed(lambda: roadrunner_loop(rr, keys, params, times, keep=False))
        results.put({"wall_s": wall, "cpu_s": cpu, "rss_base_mb": base, "peak_rss_mb": peak_memory_mb(),
                     "retried": retried, "failed": failed})
    except Exception as exc:  # reported by the parent, which would otherwise wait forever
        loaded.abort()
        results.put({"error": repr(exc)})


def run_roadrunner(spec: dict) -> dict:
    """libRoadRunner over a sample of patients, in ``spec["processes"]`` processes (each
    loads the model first; the clock starts when all have)."""
    from ketamine_ptsd import Population

    regimen, times = course()
    params = Population.virtual(spec["n"], spec["seed"]).parameters(regimen.pk_product)
    with tempfile.TemporaryDirectory() as folder:
        path = population_sbml(regimen, Path(folder))
        _, compile_s, _ = timed(lambda: load_roadrunner(path, OUTPUTS))
        context = mp.get_context("spawn")
        loaded, results = context.Barrier(spec["processes"] + 1), context.Queue()
        parts = np.array_split(params, spec["processes"])
        procs = [context.Process(target=_roadrunner_process, args=(path, part, times, loaded, results))
                 for part in parts]
        for p in procs:
            p.start()
        loaded.wait(timeout=600)  # the clock starts once every process has loaded its model
        t0 = time.perf_counter()
        reports = [results.get(timeout=3600) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join()
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise RuntimeError(errors[0])
    return {"compile_s": compile_s, "wall_s": wall, "cpu_s": sum(r["cpu_s"] for r in reports),
            "courses": spec["n"], "rss_base_mb": sum(r["rss_base_mb"] for r in reports),
            "peak_rss_mb": sum(r["peak_rss_mb"] for r in reports),
            "retried_at_atol_1e-10": sum(r["retried"] for r in reports), "failed": sum(r["failed"] for r in reports)}


def run_jax(spec: dict) -> dict:
    """The JAX backend on this machine's CPU (compile from an empty persistent cache)."""
    import jax

    from ketamine_ptsd import Population, simulate
    from ketamine_ptsd.engine.jax_engine import JaxEngine

    regimen, times = course()
    engine = JaxEngine(rtol=RTOL, atol=ATOL, lanes=spec["lanes"], chunk_size=spec["n"])
    patients = Population.virtual(spec["n"], spec["seed"])
    _, compile_s, _ = timed(lambda: simulate(regimen, patients, engine=engine, times=times, outputs=OUTPUTS))
    base = reset_peak_memory()
    traj, wall, cpu = timed(lambda: simulate(regimen, patients, engine=engine, times=times, outputs=OUTPUTS))
    return {"compile_s": compile_s - wall, "wall_s": wall, "cpu_s": cpu, "courses": spec["n"],
            "rss_base_mb": base, "peak_rss_mb": peak_memory_mb(), "mean_steps": float(traj.steps.mean()),
            "device": str(jax.devices()[0])}


def run_accuracy(spec: dict) -> dict:
    """Each engine on the same few patients against the tight DOP853 reference."""
    from ketamine_ptsd import Population, simulate
    from ketamine_ptsd.engine import NumbaEngine, ScipyEngine

    regimen, times = course()
    patients = Population.virtual(spec["n"], spec["seed"])
    ref = simulate(regimen, patients, engine=ScipyEngine(**REFERENCE), times=times, outputs=ACCURACY_OUTPUTS)
    engines = {"numba": NumbaEngine(rtol=RTOL, atol=ATOL, kernel="patient"),
               "numba-1-thread": NumbaEngine(rtol=RTOL, atol=ATOL, threads=1, kernel="patient"),
               "lsoda": ScipyEngine(method="LSODA", rtol=RTOL, atol=ATOL)}
    for kernel in spec.get("kernels", ()):
        if kernel != "patient":
            engines[f"numba-{kernel}"] = NumbaEngine(rtol=RTOL, atol=ATOL, kernel=kernel)
    if spec["jax"]:
        from ketamine_ptsd.engine.jax_engine import JaxEngine

        engines["jax"] = JaxEngine(rtol=RTOL, atol=ATOL, lanes=spec["n"])
    values = {name: simulate(regimen, patients, engine=engine, times=times, outputs=ACCURACY_OUTPUTS).values
              for name, engine in engines.items()}
    with tempfile.TemporaryDirectory() as folder:
        rr = load_roadrunner(population_sbml(regimen, Path(folder)), ACCURACY_OUTPUTS)
        values["roadrunner"], retried, failed = roadrunner_loop(rr, parameter_ids(), patients.parameters(
            regimen.pk_product), times, keep=True)
    out = {"roadrunner_retried": retried, "roadrunner_failed": failed}
    for name, got in values.items():
        ok = np.all(np.isfinite(got), axis=(1, 2))
        diff = relative_difference(got[ok], ref.values[ok])
        out[name] = {"max": float(diff.max()), "worst_output": ACCURACY_OUTPUTS[int(diff.argmax())],
                     "by_output": dict(zip(ACCURACY_OUTPUTS, map(float, diff), strict=True))}
    out["numba_threads_identical"] = bool(np.array_equal(values["numba"], values["numba-1-thread"]))
    return out


def count_flops() -> dict | None:
    """Arithmetic operations of one right-hand side and of one evaluation of the kept outputs,
    counted on the model's own source traced by JAX (None without jax)."""
    try:
        import jax
    except ImportError:
        return None
    from ketamine_ptsd.engine.jax_engine import double_precision, jax_model
    from ketamine_ptsd.model import MODEL

    arithmetic = {"add", "sub", "mul", "div", "max", "min", "neg", "pow", "exp", "log", "integer_pow", "abs", "sqrt"}
    jm = jax_model(MODEL)
    from ketamine_ptsd.population import Population

    n, m = len(MODEL.state_names), len(MODEL.input_names)
    kept = [MODEL.output_names.index(name) for name in OUTPUTS]
    work = MODEL.prepare(Population.typical().parameters("racemic"))[0]
    with double_precision():
        rhs = jax.make_jaxpr(jm.rhs)(0.0, np.zeros(n), work, np.zeros(m))
        # The outputs the benchmark keeps: observe computes only the groups they need.
        need = [name in OUTPUTS for name in MODEL.output_names]

        def observe_kept(y, q):
            out = [0.0] * len(need)
            jm.module.observe(list(y), list(q), out, need)
            return [out[k] for k in kept]

        obs = jax.make_jaxpr(observe_kept)(np.zeros(n), work)

    def count(jaxpr):
        ops = [e.primitive.name for e in jaxpr.jaxpr.eqns if e.primitive.name in arithmetic]
        return {"flops": len(ops), "transcendental": sum(op in {"pow", "exp", "log"} for op in ops)}

    # Dormand-Prince 5(4) around the right-hand side, per state: the six stage inputs
    # (2i + 1 operations for stage i), the error estimate (12) and its norm (7). The dense
    # output, as both kernels compute it, only for the states the kept outputs read: per
    # accepted step with an output time in it, four coefficients of six stage weights each
    # (6 products, 5 sums and the step size: 48), counted for every accepted step (an upper
    # bound); per output time, the polynomial (4 products and 4 sums).
    from ketamine_ptsd.engine.dependencies import states_read

    dense = len(states_read(MODEL, np.array(kept)))
    return {"rhs": count(rhs), "observe": count(obs), "states": n, "dense_states": dense,
            "step_overhead_per_state": sum(2 * i + 1 for i in range(1, 7)) + 12 + 7,
            "coefficients_per_dense_state": 48, "record_per_dense_state": 8}


WORKERS = {"numba": run_numba, "lsoda": run_lsoda, "roadrunner": run_roadrunner, "jax": run_jax,
           "accuracy": run_accuracy}


# -- the conductor --------------------------------------------------------------------------------


def machine() -> dict:
    import importlib.metadata as md

    versions = {}
    for dist in ("ketamine-ptsd", "numpy", "scipy", "numba", "llvmlite", "libroadrunner", "python-libsbml",
                 "jax", "jaxlib"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    return {"cpu": cpu_name(), "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True), "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                                                          * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "versions": versions}


def measure(kind: str, spec: dict, cache: Path) -> dict:
    """Run one worker in a fresh process with an empty compile cache."""
    env = dict(os.environ, KETAMINE_PTSD_CACHE=str(cache))
    load_before = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, json.dumps(spec)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"kind": kind, **spec, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"kind": kind, **spec, **result, "load_before": load_before, "load_after": os.getloadavg()[0]}


def plan(args) -> list[tuple[str, dict]]:
    seed, chunk = args.seed, args.chunk
    runs = [("accuracy", {"n": args.accuracy_sample, "seed": seed, "kernels": args.kernels,
                          "jax": importlib.util.find_spec("jax") is not None}),
            ("lsoda", {"n": args.lsoda_sample, "seed": seed}),
            ("roadrunner", {"n": args.roadrunner_sample, "seed": seed, "processes": 1}),
            ("roadrunner", {"n": args.roadrunner_sample, "seed": seed, "processes": 2}),
            ("jax", {"n": args.jax_n, "seed": seed, "lanes": args.jax_n})]
    for kernel in args.kernels:
        for n in args.sizes:
            for threads in (1, 2):
                if threads == 1 and n > args.one_thread_max:
                    continue
                runs.append(("numba", {"n": n, "threads": threads, "chunk": chunk, "seed": seed, "kernel": kernel,
                                       "reps": args.reps}))
    return [(kind, spec) for kind, spec in runs if kind in args.engines]


def rate(run: dict) -> float:
    return run["courses"] / run["wall_s"] if "wall_s" in run else float("nan")


def table(results: list[dict], flops: dict | None) -> str:
    lines = ["| engine | N | courses/s | CPU ms/course | compile s | peak MB (base) | max rel. diff |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    accuracy = next((r for r in results if r["kind"] == "accuracy"), {})
    for r in results:
        if r["kind"] == "accuracy" or "error" in r:
            continue
        name = {"numba": f"numba DP5 {r.get('kernel')}, {r.get('threads')} thread(s)", "lsoda": "solve_ivp LSODA loop",
                "roadrunner": f"libRoadRunner, {r.get('processes')} process(es)", "jax": "JAX backend (CPU)"}[r["kind"]]
        key = ("numba" if r.get("kernel") == "patient" else f"numba-{r.get('kernel')}") if r["kind"] == "numba" \
            else r["kind"]
        acc = accuracy.get(key, {}).get("max", float("nan"))
        lines.append(f"| {name} | {r['courses']:,} | {rate(r):,.1f} | {1e3 * r['cpu_s'] / r['courses']:.2f} | "
                     f"{r['compile_s']:.2f} | {r['peak_rss_mb']:,.0f} ({r['rss_base_mb']:,.0f}) | {acc:.1e} |")
    for r in results:
        if "error" in r:
            lines.append(f"| {r['kind']} N={r.get('n')} failed: {r['error']} | | | | | | |")
    return "\n".join(lines)


def summary(results: list[dict], flops: dict | None, kernel: str = "patient") -> dict:
    """Speed-ups of our engine (with ``kernel``) at N = 10^4 against each peer: in wall-clock
    throughput (two threads against the peer's best), and per core in CPU time (one thread),
    which other work on a shared machine disturbs less; and the arithmetic of one course
    (with the kernel's own steps: a lockstep group's steps are work done for each lane)."""
    def best(kind, **match):
        runs = [r for r in results if r["kind"] == kind and "error" not in r
                and all(r.get(k) == v for k, v in match.items())]
        return max(runs, key=rate) if runs else None

    def cpu_per_course(run):
        return run["cpu_s"] / run["courses"]

    ours = best("numba", n=10_000, threads=2, kernel=kernel) or best("numba", threads=2, kernel=kernel)
    ours_core = best("numba", n=10_000, threads=1, kernel=kernel) or best("numba", threads=1, kernel=kernel)
    out = {}
    for label, peer in (("lsoda", best("lsoda")), ("roadrunner_1", best("roadrunner", processes=1)),
                        ("roadrunner_2", best("roadrunner", processes=2)), ("jax_cpu", best("jax"))):
        if peer and ours:
            out[f"speedup_vs_{label}"] = rate(ours) / rate(peer)
        if peer and ours_core:
            out[f"per_core_speedup_vs_{label}"] = cpu_per_course(peer) / cpu_per_course(ours_core)
    if ours and flops:
        _, times = course()
        per_record = flops["observe"]["flops"] + flops["dense_states"] * flops["record_per_dense_state"]
        # The earlier estimate, kept for comparison with older results: accepted steps only (a
        # rejected step's work left out) and the dense coefficients counted for every one.
        per_step = (6 * flops["rhs"]["flops"] + flops["states"] * flops["step_overhead_per_state"]
                    + flops["dense_states"] * flops["coefficients_per_dense_state"])
        estimate = ours["mean_steps"] * per_step + times.size * per_record
        work = ours.get("mean_work")
        if work:
            # What the lockstep kernel did, counted by it: every right-hand side evaluation
            # (those of rejected steps, of each segment's starting step and after a flush
            # included), the stage sums, error estimate and norm of every attempted step, the
            # dense coefficients of each step that had an output time in it.
            per_course = (work["rhs_calls"] * flops["rhs"]["flops"]
                          + (work["accepted"] + work["rejected"]) * flops["states"] * flops["step_overhead_per_state"]
                          + work["dense_passes"] * flops["dense_states"] * flops["coefficients_per_dense_state"]
                          + times.size * per_record)
        else:
            per_course = estimate
        out.update(flops_per_course=per_course, flops_counted_by_kernel=bool(work),
                   flops_per_course_accepted_steps_estimate=estimate,
                   achieved_gflops=per_course * rate(ours) / 1e9)
        if ours_core:
            out["achieved_gflops_per_core"] = per_course / cpu_per_course(ours_core) / 1e9
            if "engine_cpu_s" in ours_core:
                # The engine's own calls only: the same flops over the CPU time of its solve calls.
                out["engine_cpu_ms_per_course"] = 1e3 * ours_core["engine_cpu_s"] / ours_core["courses"]
                out["engine_gflops_per_core"] = per_course / (1e-3 * out["engine_cpu_ms_per_course"]) / 1e9
        peak, how = peak_gflops()
        out.update(machine_peak_gflops=peak, machine_peak_reckoned=how,
                   share_of_peak=out["achieved_gflops"] / peak,
                   flop_ceiling_courses_per_s=peak * 1e9 / per_course)
        measured_machine = ours.get("measured_machine_gflops_before_after")
        if measured_machine:
            out["measured_machine_gflops"] = float(np.mean(measured_machine))
            out["share_of_measured_peak"] = out["achieved_gflops"] / out["measured_machine_gflops"]
        if ours_core:
            out["share_of_core_peak"] = out["achieved_gflops_per_core"] / (peak / (os.cpu_count() or 1))
            measured = ours_core.get("measured_core_gflops_before_after")
            if measured:
                out["measured_core_gflops"] = float(np.mean(measured))
                out["share_of_measured_core_peak"] = out["achieved_gflops_per_core"] / out["measured_core_gflops"]
                if "engine_gflops_per_core" in out:
                    out["engine_share_of_measured_core_peak"] = (out["engine_gflops_per_core"]
                                                                 / out["measured_core_gflops"])
    return out


def readable(out: dict) -> str:
    """The summary in words: ratios per core and in wall clock, flops and the share of peak."""
    lines = []
    for label, name in (("lsoda", "solve_ivp LSODA loop"), ("roadrunner_1", "libRoadRunner, 1 process"),
                        ("roadrunner_2", "libRoadRunner, 2 processes"), ("jax_cpu", "JAX backend (CPU)")):
        if f"speedup_vs_{label}" in out or f"per_core_speedup_vs_{label}" in out:
            lines.append(f"ours against {name}: {out.get(f'speedup_vs_{label}', float('nan')):,.1f}x wall clock, "
                         f"{out.get(f'per_core_speedup_vs_{label}', float('nan')):,.1f}x per core (CPU time)")
    if "flops_per_course" in out:
        how = "counted by the kernel" if out.get("flops_counted_by_kernel") else "estimated from accepted steps"
        lines.append(f"{out['flops_per_course'] / 1e6:.2f} Mflop per course ({how}); "
                     f"{out['achieved_gflops']:.1f} GFLOP/s "
                     f"of a nominal {out['machine_peak_gflops']:.0f} ({out['machine_peak_reckoned']}): "
                     f"{100 * out['share_of_peak']:.1f} % of peak (ceiling "
                     f"{out['flop_ceiling_courses_per_s']:,.0f} courses/s)"
                     + (f", {100 * out['share_of_core_peak']:.1f} % of one core's peak on one thread"
                        if "share_of_core_peak" in out else ""))
        if "share_of_measured_core_peak" in out:
            lines.append(f"{out['achieved_gflops_per_core']:.1f} GFLOP/s on one thread against the core's measured "
                         f"{out['measured_core_gflops']:.1f} (ceiling.py, before and after the run): "
                         f"{100 * out['share_of_measured_core_peak']:.1f} %, "
                         f"{1 / out['share_of_measured_core_peak']:.2f}x below the measured ceiling")
        if "engine_share_of_measured_core_peak" in out:
            lines.append(f"the engine's own solve calls: {out['engine_cpu_ms_per_course']:.3f} ms of CPU per course, "
                         f"{out['engine_gflops_per_core']:.1f} GFLOP/s, "
                         f"{100 * out['engine_share_of_measured_core_peak']:.1f} % of the measured ceiling, "
                         f"{1 / out['engine_share_of_measured_core_peak']:.2f}x below it")
        if "share_of_measured_peak" in out:
            lines.append(f"{out['achieved_gflops']:.1f} GFLOP/s on every thread against the machine's measured "
                         f"{out['measured_machine_gflops']:.1f} (every core at once): "
                         f"{100 * out['share_of_measured_peak']:.1f} %")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="1000,10000,100000,1000000", help="population sizes for our engine")
    parser.add_argument("--one-thread-max", type=int, default=100_000, help="largest N run with one thread")
    parser.add_argument("--lsoda-sample", type=int, default=20)
    parser.add_argument("--roadrunner-sample", type=int, default=200)
    parser.add_argument("--accuracy-sample", type=int, default=4)
    parser.add_argument("--jax-n", type=int, default=512)
    available = [k for k in WORKERS if k != "jax" or importlib.util.find_spec("jax") is not None]
    parser.add_argument("--engines", default=",".join(available),
                        help="which measurements to run (comma-separated, of: " + ", ".join(WORKERS) + ")")
    parser.add_argument("--chunk", type=int, default=2048, help="patients per engine call")
    parser.add_argument("--kernels", default="patient,lockstep", help="our engine's kernels to run (comma-separated)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--reps", type=int, default=1,
                        help="timed runs of our engine per measurement, the cheapest in CPU time kept (1 to 20)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for trying the script")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.lsoda_sample, args.roadrunner_sample, args.accuracy_sample, args.jax_n = "200,1000", 3, 20, 2, 64
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    from ketamine_ptsd.engine.numba_engine import KERNELS

    if not args.kernels or set(args.kernels) - set(KERNELS):
        parser.error(f"--kernels: choose from {', '.join(KERNELS)}")
    if not args.engines or set(args.engines) - set(WORKERS):
        parser.error(f"--engines: choose from {', '.join(WORKERS)}")
    try:
        args.sizes = [int(x) for x in args.n.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--n: cannot read {args.n!r}; give e.g. 1000,10000")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--n: sizes must be positive")
    if not 1 <= args.reps <= 20:
        parser.error(f"--reps must be from 1 to 20, got {args.reps}")
    for name in ("lsoda_sample", "roadrunner_sample", "accuracy_sample", "jax_n", "chunk"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        kind, spec = args.worker
        print(json.dumps(WORKERS[kind](json.loads(spec))))
        return 0

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    runs = plan(args)
    flops = count_flops()  # first: a failure here must not cost the timed runs
    results = []
    with tempfile.TemporaryDirectory(prefix="ketamine-ptsd-bench-") as tmp:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("benchmark", total=len(runs))
            for i, (kind, spec) in enumerate(runs):
                progress.update(task, description=f"{kind} {spec.get('n'):,}")
                results.append(measure(kind, spec, Path(tmp) / f"cache-{i}"))
                progress.advance(task)
    report = {"benchmark": "peers", "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
              "protocol": {"regimen": "induction_series(): racemic 0.5 mg/kg IV over 40 min, days 0,2,4,7,9,11",
                           "horizon_days": HORIZON_DAYS, "output_every_min": OUTPUT_EVERY_MIN, "outputs": OUTPUTS,
                           "accuracy_outputs": ACCURACY_OUTPUTS, "rtol": RTOL, "atol": ATOL, "reference": REFERENCE,
                           "seed": args.seed, "chunk": args.chunk},
              "flops": flops, "summary": {k: summary(results, flops, k) for k in args.kernels}, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"machine: {report['machine']['cpu']}, {report['machine']['nproc']} cores, "
          f"{report['machine']['memory_gb']} GiB")
    print(table(results, flops))
    for kernel, numbers in report["summary"].items():
        print(f"kernel {kernel}:\n{readable(numbers)}")
    print(json.dumps(report["summary"], indent=2))
    print(f"wrote {args.out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
