"""The one entry point: ``simulate(regimen, population, model=..., engine=..., times=...)``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._version import __version__
from .dosing import Regimen
from .engine import NumbaEngine, get_engine
from .errors import InputError
from .model import MODEL
from .params import DEFAULT_POPULATION, ParameterTable
from .population import Population
from .trajectory import Trajectory
from .validity import validated_range_warnings

#: Largest result ``simulate`` builds in memory; the machine this project targets has 24 GiB.
MAX_RESULT_GIB = 8.0


def output_times(horizon_days: float, dt_min: float) -> np.ndarray:
    """Output grid from 0 to ``horizon_days`` every ``dt_min`` minutes, in hours."""
    return np.arange(output_count(horizon_days, dt_min)) * (dt_min / 60.0)


def output_count(horizon_days: float, dt_min: float) -> int:
    """Number of output times of :func:`output_times`, without building them (so the size of a
    run can be judged before any memory is spent on it)."""
    if not (np.isfinite(horizon_days) and horizon_days > 0):
        raise InputError("horizon_days", f"must be a positive number, got {horizon_days}", "> 0")
    if not (np.isfinite(dt_min) and dt_min > 0):
        raise InputError("dt_min", f"must be a positive number, got {dt_min}", "> 0")
    return int(np.floor(horizon_days * 24 * 60 / dt_min + 1e-9)) + 1


def select_outputs(model, outputs: Sequence[str] | None, record_states: bool = False
                   ) -> tuple[tuple[str, ...], np.ndarray]:
    """The names of ``outputs`` (default: all of the model's outputs, or states with
    ``record_states``) and their indices, checked against the model."""
    names_all = model.state_names if record_states else model.output_names
    names = tuple(outputs) if outputs is not None else tuple(names_all)
    unknown = [n for n in names if n not in names_all]
    if unknown:
        raise InputError("outputs", f"unknown variable {unknown[0]!r}", ", ".join(names_all))
    if len(set(names)) < len(names):
        raise InputError("outputs", "a variable is named twice", "each variable once")
    return names, np.array([names_all.index(n) for n in names], dtype=np.int64)


#: Output values (float64) one chunk of :class:`ChunkedRun` may hold: 64 MiB.
CHUNK_BYTES = 64 * 2**20
#: Most patients, and float32 bytes, kept for the percentile bands of a written run's report.
BAND_SAMPLE = 1000
BAND_SAMPLE_BYTES = 128 * 2**20


class ChunkedRun:
    """A simulation run chunk by chunk, so memory does not grow with the population.

    Iterating yields, per chunk of patients, ``(start, trajectory)``: the chunk's
    :class:`Trajectory` (patients ``start`` to ``start + len``), whose ``values`` live in a
    buffer reused by the next chunk (copy what you keep). :meth:`metadata` describes the run
    once iteration has finished. Arguments as for :func:`simulate`; ``chunk_bytes`` bounds the
    float64 outputs of one chunk.
    """

    def __init__(self, regimen: Regimen, population: Population | None = None, model=MODEL, engine=None,
                 times: Sequence[float] | None = None, outputs: Sequence[str] | None = None,
                 model_params: ParameterTable | None = None, record_states: bool = False,
                 chunk_bytes: int | None = CHUNK_BYTES):
        self.regimen = regimen
        self.population = population or Population.typical()
        self.model = model
        self.engine = get_engine(engine) if isinstance(engine, str) else engine or NumbaEngine()
        times = output_times(56, 15) if times is None else np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
            raise InputError("times", "need one or more finite output times", "hours, increasing")
        if np.any(np.diff(times) <= 0):
            raise InputError("times", "output times must increase strictly", "increasing hours")
        self.times = times
        self.record_states = record_states
        self.names, self.out_sel = select_outputs(model, outputs, record_states)
        self.model_params = model_params
        per_patient = max(1, times.size * self.out_sel.size * 8)
        chunk = getattr(self.engine, "chunk_size", None) or len(self.population)
        if chunk_bytes is not None:
            chunk = min(chunk, max(1, chunk_bytes // per_patient))
        self.chunk = max(1, min(chunk, len(self.population)))
        self.failed = 0
        #: The type the engine writes each chunk's outputs in (``write`` sets float32 for a
        #: float32 file, so Arrow takes each column without a conversion).
        self.dtype = np.float64

    def __len__(self) -> int:
        return len(self.population)

    def __iter__(self):
        population, times = self.population, self.times
        events = self.model.events(self.regimen, self.model_params)
        params = population.parameters(self.regimen.pk_product, self.model_params)
        # Outputs-major: each output's values of a chunk are one contiguous column (patient by
        # patient, time by time), the long format's column, which Arrow takes without a copy.
        buffer = np.empty((self.out_sel.size, self.chunk, times.size), dtype=self.dtype)
        self.failed = 0
        for start in range(0, len(population), self.chunk):
            stop = min(start + self.chunk, len(population))
            values = buffer[:, : stop - start].transpose(1, 2, 0)
            _, steps = self.engine.solve(self.model, params[start:stop], events, times, self.out_sel,
                                         self.record_states, out=values)
            self.failed += int(np.sum(steps < 0))
            yield start, Trajectory(population.ids[start:stop], times, self.names, values, {}, steps)

    def metadata(self) -> dict:
        """What produced the run: versions, engine, regimen, units and warnings."""
        return run_metadata(self.regimen, self.population, self.model, self.engine, self.names, self.failed)

    def write(self, folder: str | Path, fmt: str = "parquet", precision: str = "float32",
              sample: int = BAND_SAMPLE, sample_bytes: int = BAND_SAMPLE_BYTES, progress=None,
              summarise: Callable[[Trajectory], object] | None = None, band_names: Sequence[str] = ()) -> RunFiles:
        """Run, writing ``folder/trajectory.<fmt>`` and ``folder/metadata.json`` chunk by chunk
        (memory holds one chunk), and return the per-patient summary of every patient
        (``summarise`` applied to each chunk, the caller's: the report layer sits above this one)
        and a sample of patients of the outputs ``band_names`` for the report's bands: every k-th
        patient, at most ``sample`` of them and ``sample_bytes`` of float32 values."""
        from .writers import TrajectoryWriter, check_format, write_metadata

        check_format(fmt, precision)
        folder = Path(folder)
        n, times = len(self.population), self.times
        drawn = [v for v in band_names if v in self.names]
        keep = [self.names.index(v) for v in drawn]
        fit = sample_bytes // max(1, times.size * len(keep) * 4)
        every = math.ceil(n / max(1, min(n, sample, fit)))
        kept = np.arange(0, n, every)
        # Variables-major, as the chunks are: each variable's rows are copied whole, and each
        # variable of the sample is one contiguous patients x times block for the percentiles.
        band = np.empty((len(keep), kept.size, times.size), dtype=np.float32)
        summaries = []
        writer = TrajectoryWriter(folder / f"trajectory.{fmt}", fmt, self.names, precision)
        # The engine rounds each value to the file's precision as it stores it: the same values
        # as converting afterwards, without a float64 buffer and a copy of every column.
        self.dtype = np.float32 if precision == "float32" else np.float64
        try:
            for start, chunk in self:
                writer.write(chunk.ids, times, chunk.values)
                if summarise is not None:
                    summaries.append(summarise(chunk))
                # The sample's rows lo to hi are the chunk's patients lo * every, (lo + 1) * every,
                # ...: slices, so each variable's rows are copied once, not gathered into a
                # temporary and scattered from it.
                lo, hi = -(-start // every), -(-(start + len(chunk.ids)) // every)
                by_output = np.moveaxis(chunk.values, 2, 0)  # the engine's outputs x patients x times
                for j, k in enumerate(keep):
                    band[j, lo:hi] = by_output[k, lo * every - start::every]
                if progress is not None:
                    progress(len(chunk.ids))
            metadata = {**self.metadata(), "precision": precision}
            path = writer.close(metadata)
        except BaseException:
            writer.abort()
            raise
        write_metadata(folder, metadata)
        sample_traj = Trajectory(self.population.ids[kept], times, tuple(drawn), band.transpose(1, 2, 0), metadata)
        note = (f"all {n:,} patients" if every == 1 else
                f"{kept.size:,} of {n:,} patients (every {every:,}th, from the first)")
        summary = {k: np.concatenate([s[k] for s in summaries]) for k in summaries[0]} if summaries else None
        return RunFiles(path, summary, sample_traj, note, metadata)


@dataclass(frozen=True)
class RunFiles:
    """What :meth:`ChunkedRun.write` wrote and kept: the trajectory file, the per-patient
    summary of every patient, the sample of patients for the report's bands and what it is."""

    path: Path
    summary: object
    sample: Trajectory
    sample_note: str
    metadata: dict


def run_metadata(regimen: Regimen, population: Population, model, engine, names: Sequence[str],
                 failed: int) -> dict:
    """The metadata of a simulation of ``regimen`` on ``population`` (``failed``: patients that
    exceeded the step limit)."""
    outside = validated_range_warnings(regimen, population)
    warnings = list(outside)
    if failed:
        warnings.append(f"{failed} patient(s) exceeded the step limit; their outputs are NaN from that time")
    return {
        "ketamine_ptsd_version": __version__,
        "model": model.name,
        "engine": getattr(engine, "name", type(engine).__name__),
        "rtol": getattr(engine, "rtol", None),
        "atol": getattr(engine, "atol", None),
        "kernel": getattr(engine, "kernel", None),
        "product": regimen.pk_product,
        "n_patients": len(population),
        "seed": population.seed,
        "doses": [
            {"time_h": d.time_h, "amount": d.amount, "unit": "mg/kg" if d.per_kg else "mg",
             "route": d.route.value, "drug": d.product.value, "duration_h": d.duration_h}
            for d in regimen.doses
        ],
        "therapy_sessions_h": [s.time_h for s in regimen.therapy],
        "population": population.population or DEFAULT_POPULATION,
        "oral_ad": regimen.oral_ad,
        "open_label": regimen.open_label,
        "units": {n: model.output_units.get(n, "") for n in names},
        "warnings": warnings,
        "outside_validated_range": bool(outside),
        "notice": "Research and decision-support software, not a medical device.",
    }


def simulate(
    regimen: Regimen,
    population: Population | None = None,
    model=MODEL,
    engine=None,
    times: Sequence[float] | None = None,
    outputs: Sequence[str] | None = None,
    model_params: ParameterTable | None = None,
    record_states: bool = False,
    progress=None,
) -> Trajectory:
    """Simulate ``regimen`` for every patient of ``population``.

    ``times`` are output times in hours (default: every 15 min over 8 weeks); ``outputs``
    the variables to keep (default all; with ``record_states`` the names are states); only
    the output groups they need are computed.
    ``engine`` decides how to integrate (an engine object or a name: ``numba`` (default),
    ``scipy``, ``jax``); ``model_params``
    replaces the model's acute/cascade/symptom parameter table (calibration uses this).
    ``progress`` is an optional callable receiving the number of patients finished.
    The whole result is built in memory; :class:`ChunkedRun` runs chunk by chunk.
    """
    run = ChunkedRun(regimen, population, model, engine, times, outputs, model_params, record_states,
                     chunk_bytes=None)
    population, times = run.population, run.times
    size_gib = len(population) * times.size * run.out_sel.size * 8 / 2**30
    if size_gib > MAX_RESULT_GIB:
        raise InputError("outputs", f"the result would need {size_gib:.0f} GiB ({len(population)} patients x "
                         f"{times.size} times x {run.out_sel.size} variables)",
                         f"at most {MAX_RESULT_GIB} GiB: fewer patients, variables or output times "
                         "(for large populations use the trial command, which reduces chunk by chunk)")
    events = model.events(regimen, model_params)
    params = population.parameters(regimen.pk_product, model_params)
    values = np.empty((len(population), times.size, run.out_sel.size))
    steps = np.empty(len(population), np.int64)
    for start in range(0, len(population), run.chunk):
        stop = min(start + run.chunk, len(population))
        # Each chunk is written in place: a copy of the engine's result would be serial work.
        _, steps[start:stop] = run.engine.solve(model, params[start:stop], events, times, run.out_sel,
                                                record_states, out=values[start:stop])
        if progress is not None:
            progress(stop - start)
    metadata = run_metadata(regimen, population, model, run.engine, run.names, int(np.sum(steps < 0)))
    return Trajectory(population.ids.copy(), times.copy(), run.names, values, metadata, steps)


def compile_solvers(model=MODEL) -> None:
    """Compile (or load from the disk cache) the solver for the ways results are written: a
    whole result in memory (:func:`simulate`) and chunk by chunk (:class:`ChunkedRun`, in float64
    and in float32), with each kernel (lanes, per patient and lockstep), and the CSV formatter
    (compiled on import), so that the first simulation after installation does not wait for
    the compiler."""
    from . import csvtext  # noqa: F401
    from .dosing import single_dose
    from .engine.numba_engine import LANES_FROM

    # The lane kernel takes populations of LANES_FROM patients on (smaller ones run per patient).
    for kernel, population in (("patient", Population.typical()), ("lockstep", Population.typical()),
                               ("lanes", Population.virtual(LANES_FROM, 0))):
        engine = NumbaEngine(kernel=kernel)
        simulate(single_dose(0.5), population, model, engine=engine, times=[0.0, 1.0])
        for dtype in (np.float64, np.float32):  # float32: what a file of that precision is written from
            run = ChunkedRun(single_dose(0.5), population, model, engine=engine, times=[0.0, 1.0])
            run.dtype = dtype
            for _ in run:
                pass
