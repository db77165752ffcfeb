"""Schedules and strategies on virtual patients with known truth.

A :class:`Schedule` is an induction (sessions, sessions per week, dose, optional therapy
after each dose) followed by maintenance by one of four strategies:

* ``interval``: a session every ``interval_days`` after the last induction session;
* ``triggered``: assessments every ``visit_every_days``; a session on the day an observed
  score is out of response (symptom-triggered, dose on relapse);
* ``forecast``: assessments every ``visit_every_days``; after each assessment and each
  session the patient's forecast is updated and the next session booked on the day the
  personal planner gives (the probability of staying in response at or above
  ``target_probability``). The forecast here is a cheap approximation of
  :func:`~ketamine_ptsd.calibration.individual.forecast`: a bank of particles (virtual
  patients of the same population, other ids) simulated once under the induction,
  weighted by the patient's observed scores, each session assumed to return a particle to
  its course after the last induction session (a renewal approximation), scores scaled
  to the patient's observed baseline;
* ``none``: induction only.

Each patient's true course is simulated under the sessions that patient actually received
(the model's truth); the strategies see it only through scores with the instrument's error
of measurement (the PCL-5 SEM of ``calibration/individual.toml``), drawn from each
patient's own random stream, so every candidate and strategy meets the same patients with
the same errors (common random numbers: comparisons are paired). A session is given only
within the limits: at most ``max_sessions_per_7_days`` in any 7 days and a cumulative dose
of at most ``max_cumulative_mg``.

Per patient: sessions, cumulative dose (mg and mg/kg), days in response (the true course
meets the loss rule's threshold), relapses (true course leaving response after the
induction) and whether in response on the last day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from ..calibration.individual import first_day_below, forecast_table, improvement_needed
from ..dosing import HOURS_PER_DAY, Regimen, induction_series, with_therapy
from ..engine import NumbaEngine
from ..errors import InputError
from ..population import Population, patient_normals
from ..simulation import simulate
from .context import virtual_patients

KINDS = ("interval", "triggered", "forecast", "none")
#: Random stream of the instrument errors of the planning layer (the population uses 1-4,
#: trials 100 and 200).
STREAM_SCORES = 300
#: Particles of the forecast-guided strategy's cheap forecast; the bank's seed offset.
N_PARTICLES = 256
BANK_SEED_OFFSET = 1_000_003
OUTPUT = "pcl5_total"
PER_PATIENT = ("sessions", "cumulative_mg", "cumulative_mg_per_kg", "days_in_response", "relapses",
               "in_response_at_end")


@dataclass(frozen=True)
class Schedule:
    """Induction then maintenance; see the module docstring."""

    induction_sessions: int = 6
    sessions_per_week: int = 3
    dose_mg_per_kg: float = 0.5
    infusion_min: float = 40.0
    maintenance: str = "interval"
    interval_days: float = 14.0
    visit_every_days: int = 7
    target_probability: float = 0.8
    therapy_hours_after_dose: float | None = None

    def __post_init__(self):
        if self.maintenance not in KINDS:
            raise InputError("maintenance", f"unknown strategy {self.maintenance!r}", ", ".join(KINDS))
        if not 1 <= int(self.induction_sessions) <= 24:
            raise InputError("induction_sessions", f"{self.induction_sessions} is out of range", "1 to 24")
        if not 1 <= int(self.sessions_per_week) <= 7:
            raise InputError("sessions_per_week", f"{self.sessions_per_week} is out of range", "1 to 7")
        if not 0.05 <= float(self.dose_mg_per_kg) <= 2.0:
            raise InputError("dose_mg_per_kg", f"{self.dose_mg_per_kg:g} is out of range", "0.05 to 2")
        if not 1 <= float(self.interval_days) <= 365:
            raise InputError("interval_days", f"{self.interval_days:g} is out of range", "1 to 365")
        if not 1 <= int(self.visit_every_days) <= 90:
            raise InputError("visit_every_days", f"{self.visit_every_days} is out of range", "1 to 90")
        if not 0.5 <= float(self.target_probability) <= 0.99:
            raise InputError("target_probability", f"{self.target_probability:g} is out of range", "0.5 to 0.99")

    def induction_days(self) -> list[int]:
        """Session days: ``sessions_per_week`` sessions in each week, spread over it from its
        first day (3 a week: days 0, 2, 4, 7, 9, 11 as in Feder 2021)."""
        offsets = [math.floor(k * 7 / self.sessions_per_week) for k in range(self.sessions_per_week)]
        return [7 * (k // self.sessions_per_week) + offsets[k % self.sessions_per_week]
                for k in range(int(self.induction_sessions))]

    def regimen(self, days) -> Regimen:
        """The sessions on ``days`` (each the schedule's dose), with therapy if it has any."""
        regimen = induction_series(sorted(days), amount=self.dose_mg_per_kg, duration_min=self.infusion_min)
        if self.therapy_hours_after_dose is not None:
            regimen = with_therapy(regimen, sorted(days), self.therapy_hours_after_dose)
        return regimen

    def describe(self) -> dict:
        """The schedule as a plain dict, without the fields its strategy does not use."""
        out = asdict(self)
        unused = {"interval": ("visit_every_days", "target_probability"), "triggered": ("interval_days",
                  "target_probability"), "forecast": ("interval_days",),
                  "none": ("interval_days", "visit_every_days", "target_probability")}[self.maintenance]
        for key in unused:
            out.pop(key)
        out["induction_days"] = self.induction_days()
        return out


@dataclass(frozen=True)
class Setting:
    """Where schedules are evaluated: ``n_patients`` virtual patients (ids 1..n) of
    ``population`` drawn with ``seed``, followed for ``horizon_days``, judged by the loss
    ``rule`` (``calibration.individual.loss_rule``), within the limits."""

    n_patients: int
    seed: int
    horizon_days: int
    rule: dict
    max_sessions_per_7_days: int
    max_cumulative_mg: float
    population: str | None = None
    score_sd: float = field(default_factory=lambda: float(forecast_table()["residual_sd"]["pcl5"]["total"]))

    def patients(self, start: int, stop: int) -> Population:
        return virtual_patients(self.n_patients, self.seed, self.population).take(slice(start, stop))


@dataclass(frozen=True)
class Task:
    """One unit of work: the patients ``start:stop`` of ``setting`` under ``schedule``."""

    setting: Setting
    schedule: Schedule
    start: int
    stop: int


def _simulate_groups(schedule: Schedule, patients: Population, histories: list[tuple], index, days: np.ndarray,
                     out: np.ndarray) -> None:
    """Simulate the patients ``index`` under their own session days, one engine call per
    distinct history, into ``out`` (patients x days)."""
    engine = NumbaEngine(threads=1)
    groups = defaultdict(list)
    for i in index:
        groups[histories[i]].append(i)
    for history, members in groups.items():
        members = np.array(members)
        values = simulate(schedule.regimen(history), patients.take(members), engine=engine,
                          times=days * HOURS_PER_DAY, outputs=[OUTPUT])[OUTPUT]
        out[members] = values


def _allowed(histories: list[tuple], day: int, setting: Setting, mg_per_session: np.ndarray) -> np.ndarray:
    recent = np.array([sum(1 for d in h if d > day - 7) for h in histories])
    given = np.array([len(h) for h in histories])
    return (recent < setting.max_sessions_per_7_days) & ((given + 1) * mg_per_session <= setting.max_cumulative_mg)


class _Particles:
    """The forecast-guided strategy's cheap forecast (see the module docstring)."""

    def __init__(self, setting: Setting, schedule: Schedule, days: np.ndarray):
        bank = virtual_patients(N_PARTICLES, setting.seed + BANK_SEED_OFFSET, setting.population)
        course = simulate(schedule.regimen(schedule.induction_days()), bank, times=days * HOURS_PER_DAY,
                          outputs=[OUTPUT])[OUTPUT]
        self.ratio = course / np.maximum(course[:, :1], 1e-9)  # particles x days, relative to baseline
        self.last_induction = schedule.induction_days()[-1]
        self.horizon = int(days[-1])

    def column(self, day: np.ndarray, last_session: np.ndarray) -> np.ndarray:
        """Index into the particles' days of each patient's ``day`` (renewal after a session)."""
        since = np.where(last_session > self.last_induction, day - last_session, day - self.last_induction)
        mapped = np.where(day <= self.last_induction, day, self.last_induction + since)
        return np.clip(mapped, 0, self.horizon)

    def log_likelihood(self, observed: np.ndarray, baseline: np.ndarray, column: np.ndarray, sd: float):
        """(patients x particles) log likelihood of one score per patient."""
        predicted = baseline[:, None] * self.ratio[:, column].T
        return -0.5 * ((observed[:, None] - predicted) / sd) ** 2

    def next_session(self, loglik: np.ndarray, baseline: np.ndarray, needed: np.ndarray, today: int,
                     last_session: np.ndarray, target: float) -> np.ndarray:
        """Each patient's planned day (inf when none within the horizon): the personal
        planner's rule on the particle forecast."""
        out = np.full(baseline.size, np.inf)
        if today > self.horizon:
            return out
        weights = np.exp(loglik - loglik.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        future = np.arange(today, self.horizon + 1)
        for i in range(baseline.size):
            columns = self.column(future, np.full(future.size, last_session[i]))
            inside = (1.0 - self.ratio[:, columns]) * baseline[i] >= needed[i]
            probability = weights[i] @ inside
            below = first_day_below(probability, future, today, target)
            if below is not None:
                out[i] = max(today, below - 1)
        return out


def run_task(task: Task) -> dict[str, np.ndarray]:
    """Per-patient results (:data:`PER_PATIENT`) of one chunk of patients."""
    setting, schedule = task.setting, task.schedule
    patients = setting.patients(task.start, task.stop)
    n = len(patients)
    days = np.arange(0, setting.horizon_days + 1)
    induction = schedule.induction_days()
    if induction[-1] >= setting.horizon_days:
        raise InputError("horizon_days", f"{setting.horizon_days} days ends before the induction",
                         f"> {induction[-1]}")
    mg_per_session = schedule.dose_mg_per_kg * patients.covariates["weight_kg"]
    histories: list[tuple] = [tuple(induction)] * n
    truth = np.empty((n, days.size))
    if schedule.maintenance == "interval":
        planned = [d for d in np.arange(induction[-1] + schedule.interval_days, setting.horizon_days + 1e-9,
                                        schedule.interval_days)]
        cap = np.floor(setting.max_cumulative_mg / mg_per_session + 1e-9).astype(int)
        histories = [tuple(induction + [round(float(d), 6) for d in planned])[: max(int(c), 0)] for c in cap]
        _simulate_groups(schedule, patients, histories, range(n), days, truth)
    else:
        _simulate_groups(schedule, patients, histories, range(n), days, truth)
        if schedule.maintenance != "none":
            _follow(task, patients, histories, truth, days, mg_per_session)
    baseline = truth[:, 0]
    inside = (baseline[:, None] - truth) >= improvement_needed(baseline, setting.rule)[:, None]
    after = inside[:, induction[-1]:]
    sessions = np.array([len(h) for h in histories], dtype=float)
    return {
        "sessions": sessions,
        "cumulative_mg": sessions * mg_per_session,
        "cumulative_mg_per_kg": sessions * schedule.dose_mg_per_kg,
        "days_in_response": inside[:, 1:].sum(axis=1).astype(float),
        "relapses": (after[:, :-1] & ~after[:, 1:]).sum(axis=1).astype(float),
        "in_response_at_end": inside[:, -1].astype(float),
    }


def _follow(task: Task, patients: Population, histories: list[tuple], truth: np.ndarray, days: np.ndarray,
            mg_per_session: np.ndarray) -> None:
    """Day by day after the induction: assessments, decisions, sessions; the true course of
    a patient who receives a session is simulated again with it (a session changes nothing
    before it, so earlier assessments stay valid)."""
    setting, schedule = task.setting, task.schedule
    n = len(patients)
    errors = patient_normals(setting.seed, patients.ids, days.size, STREAM_SCORES) * setting.score_sd
    observed = np.clip(np.rint(truth + errors), 0.0, 80.0)  # refreshed as truth changes
    baseline = observed[:, 0]
    needed = improvement_needed(baseline, setting.rule)
    last_induction = schedule.induction_days()[-1]
    last_session = np.full(n, last_induction)
    particles = booked = loglik = None
    if schedule.maintenance == "forecast":
        particles = _Particles(setting, schedule, days)
        loglik = np.zeros((n, N_PARTICLES))
        for day in [0, *(d + 1 for d in schedule.induction_days())]:
            if day <= last_induction:
                loglik += particles.log_likelihood(observed[:, day], baseline,
                                                   particles.column(np.full(n, day), last_session), setting.score_sd)
        booked = particles.next_session(loglik, baseline, needed, last_induction + 1, last_session,
                                        schedule.target_probability)
    for day in range(last_induction + 1, setting.horizon_days + 1):
        visit = (day - last_induction) % schedule.visit_every_days == 0
        dose = np.zeros(n, bool)
        if schedule.maintenance == "triggered" and visit:
            dose = (baseline - observed[:, day]) < needed
        if schedule.maintenance == "forecast":
            if visit:
                loglik += particles.log_likelihood(observed[:, day], baseline,
                                                   particles.column(np.full(n, day), last_session), setting.score_sd)
                booked = particles.next_session(loglik, baseline, needed, day, last_session,
                                                schedule.target_probability)
            dose = booked <= day
        dose &= _allowed(histories, day, setting, mg_per_session)
        index = np.flatnonzero(dose)
        if not index.size:
            continue
        for i in index:
            histories[i] = histories[i] + (day,)
        last_session[index] = day
        _simulate_groups(schedule, patients, histories, index, days, truth)
        observed[index] = np.clip(np.rint(truth[index] + errors[index]), 0.0, 80.0)
        observed[index, 0] = baseline[index]
        if schedule.maintenance == "forecast":
            booked[index] = particles.next_session(loglik[index], baseline[index], needed[index], day + 1,
                                                   last_session[index], schedule.target_probability)


def per_year(per_patient: dict[str, np.ndarray], horizon_days: int) -> dict[str, np.ndarray]:
    """Per-patient measures per patient-year (the share in response at the end as it is)."""
    years = horizon_days / 365.25
    return {"sessions_per_year": per_patient["sessions"] / years,
            "mg_per_kg_per_year": per_patient["cumulative_mg_per_kg"] / years,
            "mg_per_year": per_patient["cumulative_mg"] / years,
            "days_in_response_per_year": per_patient["days_in_response"] / years,
            "relapses_per_year": per_patient["relapses"] / years,
            "share_in_response_at_end": per_patient["in_response_at_end"]}


def summarise(per_patient: dict[str, np.ndarray], setting: Setting) -> dict:
    """Per patient-year means with normal 95 % confidence intervals over patients."""
    return {name: mean_ci(values) for name, values in per_year(per_patient, setting.horizon_days).items()}


def mean_ci(values: np.ndarray) -> dict:
    """Mean and normal 95 % confidence interval."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    half = 1.959964 * float(values.std(ddof=1)) / math.sqrt(values.size) if values.size > 1 else float("nan")
    return {"mean": round(mean, 4), "ci_low": round(mean - half, 4), "ci_high": round(mean + half, 4)}


def tasks_for(setting: Setting, schedule: Schedule, chunk: int) -> list[Task]:
    return [Task(setting, schedule, s, min(s + chunk, setting.n_patients)) for s in range(0, setting.n_patients, chunk)]


def join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in PER_PATIENT}
