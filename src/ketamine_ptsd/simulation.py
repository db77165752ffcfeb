"""The one entry point: ``simulate(regimen, population, model=..., engine=..., times=...)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import __version__
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
    if not (np.isfinite(horizon_days) and horizon_days > 0):
        raise InputError("--horizon-days", f"must be a positive number, got {horizon_days}", "> 0")
    if not (np.isfinite(dt_min) and dt_min > 0):
        raise InputError("--dt-min", f"must be a positive number, got {dt_min}", "> 0")
    n = int(np.floor(horizon_days * 24 * 60 / dt_min + 1e-9))
    return np.arange(n + 1) * (dt_min / 60.0)


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
    the variables to keep (default all; with ``record_states`` the names are states).
    ``engine`` decides how to integrate (an engine object or a name: ``numba`` (default),
    ``scipy``, ``jax``); ``model_params``
    replaces the model's acute/cascade/symptom parameter table (calibration uses this).
    ``progress`` is an optional callable receiving the number of patients finished.
    """
    population = population or Population.typical()
    engine = get_engine(engine) if isinstance(engine, str) else engine or NumbaEngine()
    times = output_times(56, 15) if times is None else np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise InputError("times", "need one or more finite output times", "hours, increasing")
    if np.any(np.diff(times) <= 0):
        raise InputError("times", "output times must increase strictly", "increasing hours")
    names_all = model.state_names if record_states else model.output_names
    names = tuple(outputs) if outputs is not None else tuple(names_all)
    unknown = [n for n in names if n not in names_all]
    if unknown:
        raise InputError("outputs", f"unknown variable {unknown[0]!r}", ", ".join(names_all))
    out_sel = np.array([names_all.index(n) for n in names], dtype=np.int64)
    size_gib = len(population) * times.size * out_sel.size * 8 / 2**30
    if size_gib > MAX_RESULT_GIB:
        raise InputError("outputs", f"the result would need {size_gib:.0f} GiB ({len(population)} patients x "
                         f"{times.size} times x {out_sel.size} variables)",
                         f"at most {MAX_RESULT_GIB} GiB: fewer patients, variables or output times "
                         "(for large populations use the trial command, which reduces chunk by chunk)")
    events = model.events(regimen)
    params = population.parameters(regimen.pk_product, model_params)

    chunk = getattr(engine, "chunk_size", len(population)) or len(population)
    values = np.empty((len(population), times.size, out_sel.size))
    steps = np.empty(len(population), np.int64)
    for start in range(0, len(population), chunk):
        stop = min(start + chunk, len(population))
        # Each chunk is written in place: a copy of the engine's result would be serial work.
        _, steps[start:stop] = engine.solve(model, params[start:stop], events, times, out_sel, record_states,
                                            out=values[start:stop])
        if progress is not None:
            progress(stop - start)
    failed = int(np.sum(steps < 0))
    outside = validated_range_warnings(regimen, population)
    warnings = list(outside)
    if failed:
        warnings.append(f"{failed} patient(s) exceeded the step limit; their outputs are NaN from that time")
    metadata = {
        "ketamine_ptsd_version": __version__,
        "model": model.name,
        "engine": getattr(engine, "name", type(engine).__name__),
        "rtol": getattr(engine, "rtol", None),
        "atol": getattr(engine, "atol", None),
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
    return Trajectory(population.ids.copy(), times.copy(), names, values, metadata, steps)
