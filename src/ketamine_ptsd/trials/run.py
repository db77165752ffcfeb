"""Simulating a trial: arms split into chunks of patients (in this process or as Dask tasks),
each chunk simulated and reduced to what the endpoints need (:class:`ArmData`), and the chunks
joined into a :class:`TrialResult`. Every random draw of a patient comes from that patient's
own stream, so the numbers do not depend on the chunking or on where a chunk runs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..distributed import map_tasks
from ..dosing import HOURS_PER_DAY, Regimen
from ..engine import Engine, engine_of
from ..errors import InputError
from ..params import ParameterTable
from ..population import patient_normals, patient_uniforms, screening_values
from ..simulation import simulate
from .context import allocation, arm_population, arm_regimen, check_population
from .measures import SAFETY_OUTPUTS, acute_safety_events, days_to_loss_of_response, days_to_relapse, reduction
from .sections import score_max
from .spec import TrialSpec

#: Random streams of the trial layer (the population uses 1-4): one per arm, so a patient's
#: measurement errors and dropout in one arm of a crossover are independent of the other's.
STREAM_MEASUREMENT, STREAM_DROPOUT = 100, 200
#: Patients per unit of work (a Dask task, or one step of the single-process loop).
DEFAULT_CHUNK = 8192


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: patients ``ids`` of arm ``arm``, integrated by ``engine`` (an
    :class:`~ketamine_ptsd.engine.Engine` or its name; None: numba) with ``threads`` (1 on a
    Dask worker, None for every core) when the engine is made by name."""

    spec: TrialSpec
    arm: int
    ids: np.ndarray
    model_params: ParameterTable | None = None
    threads: int | None = None
    engine: Engine | str | None = None


@dataclass(frozen=True)
class ArmData:
    """What a trial keeps of each patient of one arm (rows in enrolment order).

    ``visits[i, v, k]`` is the observed score ``instruments[k]`` at visit ``v`` (points, NaN
    once the patient has dropped out); ``course[i, j]`` the observed response instrument at
    every assessment day (float32, for figures); ``loss_day`` the days from the response day to
    the first assessment without response (``lost``) or to the last assessment (censored);
    ``female``, ``depressed``, ``resistant`` the subgroups. ``relapse[i, r]`` holds, for
    definition ``r`` of ``[[relapse]]``, (at risk 0/1, relapsed 0/1, days to relapse or
    censoring; NaN when not at risk); ``safety[i]`` the acute-safety measures of
    ``[safety]`` in the order of :data:`SAFETY_COLUMNS`; ``maintained`` whether the patient
    received responders-only maintenance. Each is None when the spec asks for none.
    """

    ids: np.ndarray
    visits: np.ndarray
    course: np.ndarray
    loss_day: np.ndarray
    lost: np.ndarray
    female: np.ndarray
    depressed: np.ndarray
    resistant: np.ndarray
    failed: int = 0
    warnings: tuple[str, ...] = ()
    relapse: np.ndarray | None = None
    safety: np.ndarray | None = None
    maintained: np.ndarray | None = None

    @staticmethod
    def concatenate(parts: Sequence[ArmData]) -> ArmData:
        """One arm from its chunks, in order; a warning repeated by several chunks (with their
        own counts) is kept once, saying in how many chunks it came up."""
        fields = ("ids", "visits", "course", "loss_day", "lost", "female", "depressed", "resistant")
        joined = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
        for f in ("relapse", "safety", "maintained"):
            joined[f] = None if getattr(parts[0], f) is None else np.concatenate([getattr(p, f) for p in parts])
        first: dict[str, str] = {}
        times: dict[str, int] = {}
        for w in (w for p in parts for w in p.warnings):
            key = re.sub(r"\d+(\.\d+)?", "#", w)
            first.setdefault(key, w)
            times[key] = times.get(key, 0) + 1
        more = {k: f" (and similar in {n - 1} more chunks of patients)" if n > 1 else "" for k, n in times.items()}
        warnings = tuple(first[k] + more[k] for k in first)
        return ArmData(**joined, failed=sum(p.failed for p in parts), warnings=warnings)


def _output_times(spec: TrialSpec, regimen, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output times (hours): the assessment days and, with ``[safety]``, the readings of each
    session; and the index of each reading in them (sessions x readings)."""
    times = days * HOURS_PER_DAY
    if spec.safety is None:
        return times, np.zeros((0, 0), dtype=np.int64)
    readings = spec.safety_sessions(regimen)[:, None] + np.asarray(spec.safety.reading_hours, dtype=float)[None, :]
    times = np.unique(np.concatenate([times, readings.ravel()]))
    return times, np.searchsorted(times, readings)


def run_chunk(task: ChunkTask) -> ArmData:
    """Simulate one chunk and reduce it to :class:`ArmData` (what the endpoints need)."""
    spec, ids = task.spec, np.asarray(task.ids, dtype=np.int64)
    seed = spec.trial.seed
    population = arm_population(spec, ids)
    regimen = arm_regimen(spec, task.arm)
    days = spec.assessment_days()
    names = spec.simulated_scores()
    times, reading_idx = _output_times(spec, regimen, days)
    outputs = names + (list(SAFETY_OUTPUTS) if spec.safety is not None else [])
    at_days = np.searchsorted(times, days * HOURS_PER_DAY)
    # Measurement error: one independent draw per patient, assessment and score.
    z = patient_normals(seed, ids, days.size * len(names), STREAM_MEASUREMENT + task.arm)
    noise = z.reshape(ids.size, days.size, len(names)) * np.array(
        [spec.measurement_noise[n].sd if n in spec.measurement_noise else 0.0 for n in names])
    top = np.array([score_max(n) for n in names])
    hazard_per_day = -math.log1p(-spec.dropout.per_week) / 7.0
    dropout_day = np.full(ids.size, np.inf)
    if hazard_per_day > 0:
        u = patient_uniforms(seed, ids, 1, STREAM_DROPOUT + task.arm)[:, 0]
        dropout_day = -np.log(u) / hazard_per_day

    def observe(values: np.ndarray) -> np.ndarray:
        observed = np.clip(values[:, at_days, :len(names)] + noise, 0.0, top)
        observed[days[None, :] > dropout_day[:, None]] = np.nan
        return observed

    def run(which: Regimen, index: np.ndarray | None = None):
        return simulate(which, population if index is None else population.take(index),
                        engine=engine_of(task.engine, task.threads), times=times, outputs=outputs,
                        model_params=task.model_params)

    decision = spec.maintenance_decision_day(task.arm)
    maintained = None
    if decision is None:
        traj = run(regimen)
        values, steps, warnings = traj.values, traj.steps, list(traj.warnings)
    else:
        # Everyone is simulated without maintenance; the responders on the decision day (as
        # observed, still in the trial) again with it. Both runs agree up to the first
        # maintenance dose, which comes after the decision.
        induction = arm_regimen(spec, task.arm, maintenance=False)
        traj = run(induction)
        values, steps, warnings = traj.values, traj.steps.copy(), list(traj.warnings)
        r = spec.response
        score = observe(values)[:, :, names.index(r.instrument)]
        with np.errstate(invalid="ignore"):
            on_day = score[:, int(np.searchsorted(days, decision))]
            maintained = reduction(score[:, 0], on_day) >= r.percent_reduction / 100.0
        if maintained.any():
            more = run(regimen, np.flatnonzero(maintained))
            values[maintained], steps[maintained] = more.values, more.steps
            warnings += [w for w in more.warnings if w not in warnings]
    observed = observe(values)

    response = observed[:, :, names.index(spec.response.instrument)]
    loss_day, lost = days_to_loss_of_response(reduction(response[:, :1], response), days, spec.response_day(),
                                              spec.response.percent_reduction)
    visit_idx = np.searchsorted(days, np.asarray(spec.visits.days, dtype=float))
    keep = [names.index(n) for n in spec.visits.instruments]
    cov = screening_values(population.covariates)
    skipped = None
    if maintained is not None and spec.safety is not None:
        # Maintenance sessions of patients not chosen for maintenance did not take place.
        induction_h = [d.time_h for d in arm_regimen(spec, task.arm, maintenance=False).doses]
        extra = ~np.isin(spec.safety_sessions(regimen), induction_h)
        skipped = ~maintained[:, None] & extra[None, :]
    return ArmData(
        ids=ids, visits=observed[:, visit_idx][:, :, keep], course=response.astype(np.float32),
        loss_day=loss_day, lost=lost, female=cov["female"] > 0,
        depressed=cov["comorbid_depression"] > 0, resistant=population.resistant(task.model_params),
        failed=int(np.sum(steps < 0)), warnings=tuple(warnings),
        relapse=_relapse(spec, observed, names, days),
        safety=_safety(spec, values[:, :, len(names):], reading_idx, times, dropout_day, skipped),
        maintained=maintained,
    )


def _relapse(spec: TrialSpec, observed: np.ndarray, names: list[str], days: np.ndarray) -> np.ndarray | None:
    if not spec.relapse:
        return None
    out = np.empty((observed.shape[0], len(spec.relapse), 3))
    for r, definition in enumerate(spec.relapse):
        enter, relapse = spec.relapse_thresholds(r)
        at_risk, relapsed, time = days_to_relapse(observed[:, :, names.index(definition.instrument)], days,
                                                  definition.day, definition.kind, enter, relapse,
                                                  definition.consecutive, definition.clock_from_day)
        out[:, r] = np.column_stack([at_risk, relapsed, time])
    return out


#: The columns of :attr:`ArmData.safety`.
SAFETY_COLUMNS = ("cadss_above", "sbp_rise", "dbp_rise", "max_sbp_rise", "max_dbp_rise", "sessions")


def _safety(spec: TrialSpec, acute: np.ndarray, reading_idx: np.ndarray, times: np.ndarray,
            dropout_day: np.ndarray, skipped: np.ndarray | None = None) -> np.ndarray | None:
    if spec.safety is None:
        return None
    readings = acute[:, reading_idx, :]  # patients x sessions x readings x outputs
    # Sessions after a patient left the trial, or not given to the patient, are not attended.
    session_day = times[reading_idx[:, 0]] / HOURS_PER_DAY
    absent = session_day[None, :] > dropout_day[:, None]
    readings[absent if skipped is None else absent | skipped] = np.nan
    s = spec.safety
    events = acute_safety_events(readings, s.cadss_above, s.sbp_rise_at_least, s.dbp_rise_at_least)
    return np.column_stack([events[c] for c in SAFETY_COLUMNS]).astype(float)


@dataclass(frozen=True)
class TrialResult:
    """A simulated trial: the spec, one :class:`ArmData` per arm, and how many candidates
    were screened to enrol them."""

    spec: TrialSpec
    arms: tuple[ArmData, ...]
    screened: int
    engine: str = ""

    def arm(self, name: str) -> ArmData:
        try:
            return self.arms[self.spec.arm_names.index(name)]
        except ValueError:
            raise InputError("arm", f"no arm named {name!r}", ", ".join(self.spec.arm_names)) from None

    def column(self, instrument: str) -> int:
        return self.spec.visits.instruments.index(instrument)

    def visit(self, day: float) -> int:
        return [float(d) for d in self.spec.visits.days].index(float(day))


def chunk_tasks(spec: TrialSpec, arm_ids: Sequence[np.ndarray], chunk_size: int = DEFAULT_CHUNK,
                model_params: ParameterTable | None = None, threads: int | None = None,
                engine: Engine | str | None = None) -> list[ChunkTask]:
    """Split every arm's patients into tasks of at most ``chunk_size``."""
    if int(chunk_size) < 1:
        raise InputError("chunk_size", f"must be at least 1, got {chunk_size}", ">= 1")
    return [ChunkTask(spec, a, ids[s:s + chunk_size], model_params, threads, engine)
            for a, ids in enumerate(arm_ids) for s in range(0, ids.size, int(chunk_size))]


def run_trial(spec: TrialSpec, model_params: ParameterTable | None = None, client=None,
              chunk_size: int = DEFAULT_CHUNK, progress: Callable[[int], None] | None = None,
              threads: int | None = None, engine: Engine | str | None = None) -> TrialResult:
    """Enrol, randomise and simulate ``spec``, integrated by ``engine`` (an
    :class:`~ketamine_ptsd.engine.Engine` or its name; None: numba).

    ``client`` is a ``dask.distributed.Client`` (None: this process, with ``threads`` engine
    threads, None for every core; on a cluster each task uses one); ``progress`` receives the
    number of patients of each finished chunk. The result is the same with or without a
    cluster and for any ``chunk_size``.
    """
    spec.check()
    check_population(spec)
    arm_ids, screened = allocation(spec)
    tasks = chunk_tasks(spec, arm_ids, chunk_size, model_params, 1 if client is not None else threads, engine)
    done = None if progress is None else (lambda i: progress(tasks[i].ids.size))
    parts = map_tasks(run_chunk, tasks, client, done)
    arms = []
    for a in range(len(arm_ids)):
        mine = [i for i, t in enumerate(tasks) if t.arm == a]
        arms.append(ArmData.concatenate([parts[i] for i in mine]))
        # Let each arm's chunks go once joined: the peak holds one arm twice, not the trial.
        for i in mine:
            parts[i] = None
    return TrialResult(spec, tuple(arms), screened, "dask" if client is not None else "single process")

