"""The compiled population engine: numba, adaptive Dormand-Prince 5(4), one integrator per
patient in parallel threads, events as hard breakpoints, chunked for bounded memory."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dependencies import states_read

#: Idle OpenMP threads sleep rather than spin, unless the user says otherwise (read by libgomp
#: when numba's threading layer first loads it, at the first parallel kernel call, which no
#: code of ours makes before this module is imported). A run alternates parallel chunks with
#: serial work in the main thread (writing a chunk, the report's bands); with libgomp's
#: default policy the idle engine thread spun through the start of each: 0.15 of a 4,000-patient
#: Parquet run's 0.5 s of writing, 0.3 s in all of its 4 s (docs/benchmarks.md, "The output path
#: once more").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cache_dir() -> Path:
    """Where compiled solvers are kept (``KETAMINE_PTSD_CACHE`` or the user's cache)."""
    base = os.environ.get("KETAMINE_PTSD_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "ketamine-ptsd"


#: Patients per lockstep group: of 8, 16 and 32 lanes, 16 was the cheapest per course on the
#: Intel Xeon kind (0.757, 0.48 and 0.554 ms; docs/benchmarks.md, "The lockstep kernel").
LANES = 16

#: What the lockstep kernel counts of each group's work (``NumbaEngine.solve``'s ``work``
#: columns, in this order): accepted and rejected steps, right-hand side evaluations and
#: dense-output passes.
WORK_COUNTS = ("accepted", "rejected", "rhs_calls", "dense_passes")

#: LLVM's names of the CPUs on which the lockstep error norm divides (see
#: ``single_precision_reciprocal``).
_DIVIDING_CPUS = ("znver3", "znver4")


def single_precision_reciprocal(cpu_name: str) -> bool:
    """Whether the lockstep kernel's error norm takes the reciprocal of its scale in single
    precision (refined by a Newton step) on a CPU of this LLVM name, rather than by a double
    division. Measured on the error loop alone: on an Intel Xeon (family 6 model 167) the single
    precision cut it from 266 to 188 ns per group; on a Zen 3 AMD EPYC (``znver3``) it was twice
    as slow (11.1 against 5.2 cycles per four lanes; 0.423 against 0.411 ms per course); on a
    Zen 4 no difference (docs/benchmarks.md). So those two divide; every other CPU, measured
    or not, keeps the single precision the kernel was built with."""
    return cpu_name not in _DIVIDING_CPUS


def kernel_cpu_name() -> str:
    """The LLVM name of the CPU numba compiles the kernel for: ``NUMBA_CPU_NAME`` where set,
    else the host's."""
    import llvmlite.binding as llvm
    import numba

    return numba.config.CPU_NAME or llvm.get_host_cpu_name()


#: The files whose text makes up the compiled kernel module, besides the model's own.
_KERNEL_FILES = ("dopri5_kernel.py", "lockstep_kernel.py", "lane_steps_kernel.py", "lanes.py", "plain.py")


_KERNELS: dict = {}


def _kernel_for(model):
    module, source_files = model.module, tuple(model.source_files)
    here = resources.files(__package__)
    texts = {name: here.joinpath(name).read_text(encoding="utf-8") for name in _KERNEL_FILES}
    single = single_precision_reciprocal(kernel_cpu_name())
    digest = hashlib.sha256(f"lanes={LANES} single={single}".encode())
    for text in texts.values():
        digest.update(text.encode())
    # The owner-less views the kernel imports are compiled into it too.
    digest.update(resources.files("ketamine_ptsd").joinpath("numba_views.py").read_bytes())
    for f in source_files:
        digest.update(Path(f).read_bytes())
    key = digest.hexdigest()[:16]
    folder = cache_dir() / "solvers"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dopri5_{key}.py"
    if not path.exists():
        from .lanes import lane_source

        lanes = lane_source(model, LANES)
        text = (f"from {module} import FASTMATH, observe, rhs\n{texts['dopri5_kernel.py']}\n\n"
                f"POWER_PARAMS = {lanes.power_exponents!r}\n{lanes.source}\n\nSINGLE_RECIPROCAL = {single!r}\n"
                f"WORK_COUNTS = {len(WORK_COUNTS)}\n"
                f"{texts['lockstep_kernel.py']}\n\n"
                f"{texts['lane_steps_kernel.py']}")
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    name = f"_ketamine_ptsd_solver_{key}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def kernel(model):
    """The compiled kernel module for ``model`` (compiled once per model source, then cached
    on disk)."""
    key = (model.module, tuple(model.source_files))
    if key not in _KERNELS:
        _KERNELS[key] = _kernel_for(model)
    return _KERNELS[key]


#: The population kernels: patients in SIMD lanes with their own steps (the default), one
#: integrator per patient, patients in lockstep SIMD lanes, lockstep where there are at least
#: two lane groups.
KERNELS = ("lanes", "patient", "lockstep", "auto")

#: The lane kernel takes populations from this many patients on and leaves smaller ones to the
#: per-patient kernel (which gives the same results to the last bit): with fewer patients than
#: lanes, the idle lanes cost as much as busy ones. One thread, daily outputs over 56 days, CPU
#: per course on the AMD EPYC (Zen 5) kind: 4 patients 0.34 ms per patient against 0.69 in
#: lanes, 8: 0.33 against 0.41, 12: 0.33 against 0.30, 16: 0.33 against 0.22.
LANES_FROM = 12


def lockstep_order(model, prepared: np.ndarray) -> np.ndarray:
    """The order in which patients are grouped into lanes: sorted by the model's
    ``stiffness_params`` (the first the primary key), so that each group's patients need
    similar step sizes; as given when the model names none."""
    columns = [prepared[:, model.param_names.index(name)] for name in reversed(model.stiffness_params)]
    if not columns:
        return np.arange(prepared.shape[0], dtype=np.int64)
    return np.lexsort(columns).astype(np.int64)


def output_array(out, n_patients: int, n_times: int, n_outputs: int) -> np.ndarray:
    """``out`` checked to be a writable float64 or float32 array of the engines' output shape
    (patients x times x outputs), or a new float64 one when ``out`` is None. Any memory layout
    is accepted: the streaming writer passes a view of an outputs x patients x times float32
    buffer, so that each output's column is filled in place, ready for Arrow without a copy
    (the kernel is compiled once more for that layout, and cached)."""
    shape = (n_patients, n_times, n_outputs)
    if out is None:
        return np.empty(shape)
    if (out.shape != shape or out.dtype not in (np.float64, np.float32) or not out.flags.writeable):
        raise InputError("out", f"need a writable float64 or float32 array of shape {shape}, got "
                         f"{out.dtype} {out.shape}", "patients x times x outputs")
    return out


@dataclass(frozen=True)
class NumbaEngine:
    """Adaptive DP5(4) with per-patient step control (see ``PERFORMANCE.md`` of the design).

    ``rtol``/``atol`` are the usual mixed tolerances; states whose magnitude falls below
    ``flush_below`` (1e-8 of the state's unit: mg, ng/mL or a dimensionless fraction; 1e-6 held
    the growing cascade at zero after a dose and moved plasticity by ~2e-4 of its peak, while
    1e-8 saves as many steps) are set to zero, so an eliminated drug does not keep the step size
    at the stability limit of the fast PK (0 turns this off, as the tight reference tests do);
    ``threads`` limits numba's thread pool (None: all cores); ``chunk_size`` bounds memory per call.

    ``kernel`` chooses how patients are integrated: ``lanes`` (the default), ``LANES`` patients
    at a time in SIMD lanes, each lane with its own time, step size, events and outputs: the
    per-patient kernel's algorithm with the same arithmetic, so every course, step and output
    is the per-patient kernel's to the last bit (tests), at 1.6x to 2.5x its speed where outputs
    are sparse (below ``LANES_FROM`` patients it is the per-patient kernel); ``patient``, one
    integrator per patient; with either, a patient's course never depends on who else is
    simulated. ``lockstep``: groups of ``LANES`` patients (sorted by the model's
    ``stiffness_params``) sharing time and step size, each patient still held to its own error
    tolerance, and a course moving by up to about the tolerance with its group; ``auto``,
    lockstep from two groups of patients on. The lane kernels need the exponents the lane code
    takes as whole numbers (``POWER_PARAMS`` of the compiled module) to be whole numbers below
    ``2 ** lanes.POWER_BITS`` for every patient, and otherwise integrate per patient.
    """

    rtol: float = 1e-6
    atol: float = 1e-9
    threads: int | None = None
    chunk_size: int = 4096
    max_steps: int = 200_000
    flush_below: float = 1e-8
    kernel: str = "lanes"
    name: str = "numba-dopri5"

    def __post_init__(self):
        for field_name in ("rtol", "atol"):
            value = getattr(self, field_name)
            if not (value > 0 and np.isfinite(value)):
                raise InputError(field_name, f"must be a positive number, got {value}", "> 0")
        if self.kernel not in KERNELS:
            raise InputError("kernel", f"unknown kernel {self.kernel!r}", ", ".join(KERNELS))

    def solve(self, model, params, events, times, out_sel, record_states=False, y0=None, out=None, work=None):
        """Integrate patients ``params`` (N x P) over ``times`` (h); returns outputs
        (N x T x K; written into ``out`` when given, a float64 or float32 array of that shape
        in any layout) and accepted steps per patient.

        ``work``, an N x ``len(WORK_COUNTS)`` int64 array, receives what the lockstep kernel did
        for each patient's group (``WORK_COUNTS``: what the benchmarks count flops from); -1
        where another kernel integrated the patient."""
        import numba

        mod = kernel(model)
        most = numba.config.NUMBA_NUM_THREADS
        numba.set_num_threads(min(max(1, self.threads or most), most))
        weight_col = model.param_names.index("weight_kg")
        y0 = model.initial_state(params.shape[0]) if y0 is None else y0
        if np.shape(y0) != (params.shape[0], len(model.state_names)):
            raise InputError("y0", f"need {params.shape[0]} x {len(model.state_names)} initial states, got shape "
                             f"{np.shape(y0)}", "one row per patient, one column per model state")
        times = np.ascontiguousarray(times, dtype=np.float64)
        out_sel = np.ascontiguousarray(out_sel, dtype=np.int64)
        out = output_array(out, params.shape[0], times.size, out_sel.size)
        prepared = model.prepare(params)
        shared = (events.time_h, events.kind, events.index, events.fixed, events.per_kg, weight_col, times, out_sel,
                  states_read(model, out_sel, record_states), bool(record_states), len(model.input_names),
                  len(model.output_names), float(self.rtol), float(self.atol), float(self.flush_below),
                  int(self.max_steps), out)
        y0 = np.ascontiguousarray(y0, dtype=np.float64)
        counts = np.full((params.shape[0], len(WORK_COUNTS)), -1, np.int64)
        if work is not None:
            if work.shape != counts.shape or work.dtype != np.int64:
                raise InputError("work", f"need an int64 array of shape {counts.shape}, got {work.dtype} {work.shape}",
                                 "patients x work counts")
            counts = work
            counts[:] = -1
        if (self.kernel == "lanes" and prepared.shape[0] >= LANES_FROM
                and self._lane_code_applies(mod, prepared)):
            steps = mod.solve_population_own(y0, prepared, numba.get_num_threads(), *shared)
        elif self._lockstep(mod, prepared):
            steps = mod.solve_population_lanes(y0, prepared, lockstep_order(model, prepared), *shared, counts)
        else:
            steps = mod.solve_population(y0, prepared, *shared)
        return out, steps

    def _lockstep(self, mod, prepared: np.ndarray) -> bool:
        """Whether these patients go through the lockstep kernel: asked for (or ``auto`` with
        at least two lane groups), and the lane code applies to every patient."""
        if self.kernel in ("patient", "lanes") or (self.kernel == "auto" and prepared.shape[0] < 2 * LANES):
            return False
        return self._lane_code_applies(mod, prepared)

    @staticmethod
    def _lane_code_applies(mod, prepared: np.ndarray) -> bool:
        """Whether every exponent the lane code takes as a whole number is one (0-31) for
        every patient."""
        from .lanes import POWER_BITS

        exponents = prepared[:, list(mod.POWER_PARAMS)]
        return bool(np.all((exponents == np.round(exponents)) & (exponents >= 0) & (exponents < 2 ** POWER_BITS)))
