"""Virtual randomised trials: the specification, its arms, enrolment and randomisation, the
simulation in chunks, and the endpoints and statistics a trial report gives.

A trial is written in TOML (see the built-in ``trials/feder2021.toml``) and read with
:func:`load_spec`. :func:`run_trial` enrols virtual patients (inclusion criteria applied to
their baseline covariates), randomises them, simulates each arm in chunks of patients (on a
Dask cluster when given a client; the same numbers either way, since every random draw of a
patient comes from that patient's own stream) and keeps only what the endpoints need: the
scores at the visits and each patient's days to loss of response. :func:`endpoints` turns the
result into the numbers of a trial report: change from baseline at each visit, responders
and remission, Kaplan-Meier time to loss of response, between-arm differences by ANCOVA or a
mixed model for repeated measures (statsmodels) with Cohen's d; :func:`power` repeats the
trial with new seeds.

Research software: simulated trials are not evidence that a treatment works, and nothing here
is medical advice.
"""

from __future__ import annotations

import math
import re
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from .clinic.instruments import CAPS5, IESR, MADRS, PCL5
from .distributed import map_tasks
from .dosing import HOURS_PER_DAY, Product, Regimen, Route, induction_series, with_maintenance, with_therapy
from .engine import NumbaEngine
from .errors import InputError
from .params import ParameterTable
from .population import (
    FEMALE_FRACTION,
    CovariateModel,
    InclusionCriterion,
    Population,
    enrol,
    patient_normals,
    patient_uniforms,
    screening_values,
)
from .simulation import simulate
from .units import parse_dose

NOTICE = ("Research and decision-support software, not a medical device: a simulated trial is not "
          "evidence that a treatment works and not advice for any patient.")

#: The scores a trial can assess, with the instrument and DSM-5 cluster they come from
#: (their ranges are those of the clinic toolkit's instrument definitions).
SCORES = {
    "caps5_total": (CAPS5, None), "pcl5_total": (PCL5, None),
    "pcl5_b": (PCL5, "B"), "pcl5_c": (PCL5, "C"), "pcl5_d": (PCL5, "D"), "pcl5_e": (PCL5, "E"),
    "madrs": (MADRS, None), "iesr_total": (IESR, None),
}
CLUSTERS = ("pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e")
ScoreName = Literal[tuple(SCORES)]

#: Random streams of the trial layer (the population uses 1-4): one per arm, so a patient's
#: measurement errors and dropout in one arm of a crossover are independent of the other's.
STREAM_MEASUREMENT, STREAM_DROPOUT = 100, 200
#: Patients per unit of work (a Dask task, or one step of the single-process loop).
DEFAULT_CHUNK = 8192
#: statsmodels' MixedLM loops over patients in Python; above this many a fit takes too long.
MMRM_MAX_PATIENTS = 20_000

BUILTIN = ("feder2014", "feder2021")


def score_max(name: str) -> float:
    """Highest possible value of score ``name`` (points)."""
    instrument, cluster = SCORES[name]
    items = len(instrument.clusters[cluster]) if cluster else instrument.n_items
    return float(items * instrument.scale[1])


# --------------------------------------------------------------------------- the specification


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrialInfo(_Section):
    """``[trial]``: name, design, size and the arm the others are compared with."""

    name: str = Field(min_length=1)
    title: str = ""
    source: str = ""
    design: Literal["parallel", "crossover"] = "parallel"
    n_per_arm: int = Field(ge=1)
    control: str = Field(min_length=1)
    seed: int = Field(default=0, ge=0)


class Maintenance(_Section):
    """Maintenance doses every ``every_days`` from ``from_day`` up to ``until_day``."""

    every_days: float = Field(gt=0)
    from_day: float = Field(ge=0)
    until_day: float = Field(ge=0)


class ArmSpec(_Section):
    """``[[arms]]``: what one arm receives. ``dose`` is per session (``0.5mg/kg`` or ``56mg``),
    ``days`` the session days (day 0 = first session), psychotherapy on ``therapy_days``
    ``therapy_hours_after_dose`` hours after the start of the day; ``n`` overrides
    ``trial.n_per_arm`` for this arm."""

    name: str = Field(min_length=1)
    drug: Product
    route: Route = Route.IV_INFUSION
    dose: str
    infusion_min: float | None = Field(default=None, gt=0)
    days: list[float] = Field(min_length=1)
    therapy_days: list[float] = []
    therapy_hours_after_dose: float = Field(default=0.0, ge=0)
    maintenance: Maintenance | None = None
    n: int | None = Field(default=None, ge=1)


class RandomisationSpec(_Section):
    """``[randomisation]``: permuted blocks of ``block_size`` in the ratio of the arms' sizes,
    or complete randomisation of the whole allocation list."""

    method: Literal["permuted_blocks", "complete"] = "permuted_blocks"
    block_size: int = Field(default=4, ge=2)


class DistributionSpec(_Section):
    """Median and coefficient of variation of a log-normally spread covariate."""

    median: float = Field(gt=0)
    cv: float = Field(ge=0)


class PopulationSpec(_Section):
    """``[population]``: covariate distributions (defaults: ``params/patient.toml``)."""

    female_fraction: float = Field(default=FEMALE_FRACTION, ge=0, le=1)
    resistant_fraction: float | None = Field(default=None, ge=0, le=1)
    covariates: dict[str, DistributionSpec] = {}
    fixed: dict[str, float] = {}


class CriterionSpec(_Section):
    """One inclusion criterion: the baseline value must lie in ``[at_least, at_most]``."""

    at_least: float | None = None
    at_most: float | None = None


class VisitsSpec(_Section):
    """``[visits]``: assessment days (day 0 = baseline, before the first session) and the
    scores assessed at each."""

    days: list[float] = Field(min_length=2)
    instruments: list[ScoreName] = Field(min_length=1)


class AnalysisSpec(_Section):
    """``[analysis]``: the primary comparison (change from baseline of ``instrument`` on
    ``day``), by ANCOVA or a mixed model for repeated measures, at level ``alpha``."""

    instrument: ScoreName
    day: float = Field(gt=0)
    method: Literal["ancova", "mmrm"] = "ancova"
    alpha: float = Field(default=0.05, gt=0, lt=1)


class ResponseSpec(_Section):
    """``[response]``: responder = reduction from baseline of at least ``percent_reduction`` %
    on ``day``; loss of response = the first later assessment with a smaller reduction."""

    instrument: ScoreName
    percent_reduction: float = Field(gt=0, le=100)
    day: float = Field(gt=0)
    source: str = ""


class RemissionSpec(_Section):
    """``[remission]``: score at or below ``at_or_below`` on ``day`` (default: the response day)."""

    instrument: ScoreName
    at_or_below: float = Field(ge=0)
    day: float | None = Field(default=None, gt=0)
    source: str = ""


class FollowUpSpec(_Section):
    """``[follow_up]``: assessments of the response instrument every ``every_days`` after the
    response day, up to ``until_day``, to time the loss of response."""

    every_days: float = Field(gt=0)
    until_day: float = Field(gt=0)


class DropoutSpec(_Section):
    """``[dropout]``: probability per week of leaving the trial (constant hazard)."""

    per_week: float = Field(default=0.0, ge=0, lt=1)
    source: str = ""


class NoiseSpec(_Section):
    """Standard deviation (points) of the error of one assessment, with its source."""

    sd: float = Field(ge=0)
    source: str = ""


class TrialSpec(_Section):
    """A whole trial specification (the TOML file, validated)."""

    trial: TrialInfo
    population: PopulationSpec = PopulationSpec()
    inclusion: dict[str, CriterionSpec] = {}
    randomisation: RandomisationSpec = RandomisationSpec()
    arms: list[ArmSpec] = Field(min_length=1)
    visits: VisitsSpec
    analysis: AnalysisSpec
    response: ResponseSpec
    remission: RemissionSpec
    follow_up: FollowUpSpec | None = None
    dropout: DropoutSpec = DropoutSpec()
    measurement_noise: dict[ScoreName, NoiseSpec] = {}
    _label: str = PrivateAttr(default="spec")
    _lines: dict = PrivateAttr(default_factory=dict)

    # ----------------------------------------------------------------- locations

    def where(self, path: str) -> str:
        """``path`` (``arms[1].dose``) with the spec's name and the line it is on."""
        probe = path
        while probe and probe not in self._lines:
            shorter = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
            probe = "" if shorter == probe else shorter
        line = self._lines.get(probe)
        return f"{self._label} line {line}, {path}" if line else f"{self._label}, {path}"

    def error(self, path: str, message: str, allowed: str | None = None) -> InputError:
        """An :class:`InputError` naming the line and field ``path``."""
        return InputError(self.where(path), message, allowed)

    # ----------------------------------------------------------------- derived design

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    def arm_sizes(self) -> list[int]:
        """Patients per arm."""
        return [a.n or self.trial.n_per_arm for a in self.arms]

    def response_day(self) -> float:
        return float(self.response.day)

    def remission_day(self) -> float:
        return float(self.remission.day if self.remission.day is not None else self.response.day)

    def assessment_days(self) -> np.ndarray:
        """Every assessment day: the visits and the follow-up of the response instrument."""
        days = set(float(d) for d in self.visits.days)
        if self.follow_up is not None:
            step, start = self.follow_up.every_days, self.response_day()
            k = np.arange(1, int(math.floor((self.follow_up.until_day - start) / step + 1e-9)) + 1)
            days.update((start + k * step).tolist())
        return np.array(sorted(days))

    def simulated_scores(self) -> list[str]:
        """The scores simulated: those of the visits plus the endpoint instruments."""
        names = list(self.visits.instruments)
        for extra in (self.analysis.instrument, self.response.instrument, self.remission.instrument):
            if extra not in names:
                names.append(extra)
        return names

    def covariate_model(self) -> CovariateModel:
        p = self.population
        try:
            return CovariateModel({k: (v.median, v.cv) for k, v in p.covariates.items()}, dict(p.fixed),
                                  p.female_fraction, p.resistant_fraction)
        except InputError as exc:
            section = "fixed" if exc.field.split(".")[0] in p.fixed else "covariates"
            raise self.error(f"population.{section}.{exc.field}", exc.message, exc.allowed) from None

    def criteria(self) -> tuple[InclusionCriterion, ...]:
        out = []
        for name, c in self.inclusion.items():
            try:
                out.append(InclusionCriterion(name, c.at_least, c.at_most))
            except InputError as exc:
                raise self.error(f"inclusion.{name}", exc.message, exc.allowed) from None
        return tuple(out)

    def regimen(self, index: int) -> Regimen:
        """The regimen of arm ``index``."""
        arm = self.arms[index]
        path = f"arms[{index}]"
        keys = {"dose": "dose", "infusion_min": "infusion_min", "route": "route", "drug": "drug",
                "days": "days", "therapy_days": "therapy_days", "every_days": "maintenance.every_days",
                "from_day": "maintenance.from_day", "until_day": "maintenance.until_day"}
        try:
            amount, per_kg = parse_dose(arm.dose, "dose")
            regimen = induction_series(arm.days, amount, per_kg, arm.route, arm.drug,
                                       arm.infusion_min if arm.route is Route.IV_INFUSION else None)
            if arm.therapy_days:
                regimen = with_therapy(regimen, arm.therapy_days, arm.therapy_hours_after_dose)
            if arm.maintenance is not None:
                m = arm.maintenance
                regimen = with_maintenance(regimen, m.every_days, m.from_day, m.until_day)
        except InputError as exc:
            key = keys.get(exc.field.split()[-1], "")
            raise self.error(f"{path}.{key}" if key else path, exc.message, exc.allowed) from None
        return Regimen(regimen.doses, regimen.therapy, arm.name)

    def check(self) -> TrialSpec:
        """Checks across fields (a missing arm, an impossible schedule); returns the spec."""
        names = self.arm_names
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.error(f"arms[{i}].name", f"arm name {name!r} used twice", "a different name for each arm")
        if self.trial.control not in names:
            raise self.error("trial.control", f"no arm named {self.trial.control!r}", ", ".join(names))
        if len(names) < 2:
            raise self.error("arms", "a trial needs a control arm and at least one arm compared with it",
                             "two or more [[arms]]")
        if self.trial.design == "crossover":
            for i, arm in enumerate(self.arms):
                if arm.n is not None and arm.n != self.trial.n_per_arm:
                    raise self.error(f"arms[{i}].n", "in a crossover every patient receives every arm",
                                     "omit n (trial.n_per_arm applies)")
        days = [float(d) for d in self.visits.days]
        if days[0] != 0.0 or any(not math.isfinite(d) for d in days):
            raise self.error("visits.days", "the first visit is the baseline, day 0", "0 first, then later days")
        for a, b in zip(days, days[1:]):
            if not b > a:
                raise self.error("visits.days", f"days out of order or repeated ({a:g} then {b:g})",
                                 "strictly increasing days")
        for path, day in (("analysis.day", self.analysis.day), ("response.day", self.response.day),
                          ("remission.day", self.remission_day())):
            if float(day) not in days[1:]:
                raise self.error(path, f"day {day:g} is not a visit after baseline",
                                 ", ".join(f"{d:g}" for d in days[1:]))
        for path, name in (("analysis.instrument", self.analysis.instrument),
                           ("response.instrument", self.response.instrument),
                           ("remission.instrument", self.remission.instrument)):
            if name not in self.visits.instruments:
                raise self.error(path, f"{name} is not assessed at the visits", ", ".join(self.visits.instruments))
        for name in self.measurement_noise:
            if name not in self.visits.instruments:
                raise self.error(f"measurement_noise.{name}", f"{name} is not assessed at the visits",
                                 ", ".join(self.visits.instruments))
        if self.follow_up is not None and self.follow_up.until_day <= self.response_day():
            raise self.error("follow_up.until_day", f"follow-up must end after the response day "
                             f"({self.response_day():g})", f"> {self.response_day():g}")
        last = float(self.assessment_days()[-1])
        for i in range(len(self.arms)):
            regimen = self.regimen(i)
            for key, times in (("days", [d.time_h for d in regimen.doses]),
                               ("therapy_days", [s.time_h for s in regimen.therapy])):
                end = max(times, default=0.0) / HOURS_PER_DAY
                if end > last:
                    if key == "days" and end > max(self.arms[i].days):
                        key = "maintenance"
                    raise self.error(f"arms[{i}].{key}", f"a session on day {end:g} comes after the last "
                                     f"assessment (day {last:g})", f"sessions up to day {last:g}")
        self.covariate_model()
        self.criteria()
        self._check_randomisation()
        if self.analysis.method == "mmrm" and sum(self.arm_sizes()) > MMRM_MAX_PATIENTS:
            raise self.error("analysis.method", f"a mixed-model fit of {sum(self.arm_sizes())} patients takes "
                             "too long", f"mmrm up to {MMRM_MAX_PATIENTS} patients, ancova for any number")
        return self

    def _check_randomisation(self):
        if self.trial.design != "parallel" or self.randomisation.method != "permuted_blocks":
            return
        unit = sum(_ratio(self.arm_sizes()))
        if self.randomisation.block_size % unit:
            raise self.error("randomisation.block_size", f"{self.randomisation.block_size} cannot hold whole "
                             f"allocation ratios of {':'.join(map(str, _ratio(self.arm_sizes())))}",
                             f"a multiple of {unit}")

    def with_overrides(self, n_per_arm: int | None = None, seed: int | None = None) -> TrialSpec:
        """A copy with every arm's size and/or the seed replaced (command-line options)."""
        if n_per_arm is not None and int(n_per_arm) < 1:
            raise InputError("--n-per-arm", f"must be at least 1, got {n_per_arm}", ">= 1")
        if seed is not None and int(seed) < 0:
            raise InputError("--seed", f"must be >= 0, got {seed}", ">= 0")
        trial = self.trial.model_copy(update={k: int(v) for k, v in (("n_per_arm", n_per_arm), ("seed", seed))
                                              if v is not None})
        arms = self.arms if n_per_arm is None else [a.model_copy(update={"n": None}) for a in self.arms]
        new = self.model_copy(update={"trial": trial, "arms": arms})
        new._label, new._lines = self._label, self._lines
        return new.check()


def _ratio(sizes: Sequence[int]) -> list[int]:
    g = math.gcd(*sizes)
    return [s // g for s in sizes]


def _key_lines(text: str) -> dict[str, int]:
    """Line number of every table and key of a TOML text, by dotted path (``arms[1].dose``)."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    table = ""
    name = r"[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*"

    def resolve(path: str) -> str:
        parts = [p.strip() for p in path.split(".")]
        out = []
        for p in parts:
            out.append(p)
            joined = ".".join(out)
            if joined in arrays:
                out = [f"{joined}[{arrays[joined] - 1}]"]
        return ".".join(out)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if m := re.match(rf"^\[\[\s*({name})\s*\]\]", line):
            key = ".".join(p.strip() for p in m.group(1).split("."))
            arrays[key] = arrays.get(key, 0) + 1
            table = resolve(key)
            lines[table] = number
        elif m := re.match(rf"^\[\s*({name})\s*\]", line):
            table = resolve(m.group(1))
            lines[table] = number
        elif m := re.match(rf"^({name})\s*=(.*)$", line):
            key = ".".join(p.strip() for p in m.group(1).split("."))
            path = f"{table}.{key}" if table else key
            lines[path] = number
            for inner in re.findall(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", m.group(2)):
                lines[f"{path}.{inner}"] = number
    return lines


def _loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed(error: dict) -> str | None:
    ctx = error.get("ctx") or {}
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    bounds = [f"{words[k]} {ctx[k]}" for k in ("ge", "gt", "le", "lt") if k in ctx]
    if bounds:
        return " and ".join(bounds)
    if "expected" in ctx:
        return str(ctx["expected"])
    if "min_length" in ctx:
        return f"at least {ctx['min_length']} entries"
    return None


def _fields_at(loc: tuple) -> list[str]:
    """Names of the keys allowed in the table at ``loc`` (for an unknown-key error)."""
    cls = TrialSpec
    for part in loc:
        if isinstance(part, int) or cls is None:
            continue
        if part not in cls.model_fields:
            cls = None
            break
        ann = cls.model_fields[part].annotation
        candidates = [ann, *get_args(ann)]
        for a in list(candidates):
            candidates += list(get_args(a))
        cls = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return sorted(cls.model_fields) if cls is not None else []


def parse_spec(text: str, label: str = "spec") -> TrialSpec:
    """Read and check a trial specification from TOML ``text``; ``label`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(label, f"not valid TOML: {exc}", "a TOML file like trials/feder2021.toml") from None
    lines = _key_lines(text)
    try:
        spec = TrialSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        spec_stub = TrialSpec.model_construct()
        spec_stub._label, spec_stub._lines = label, lines
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(_fields_at(loc[:-1])) or None
            raise spec_stub.error(_loc_path(loc), "unknown key", allowed) from None
        if first["type"] == "missing":
            raise spec_stub.error(_loc_path(loc), "required key missing", None) from None
        if first["type"] == "literal_error":
            raise spec_stub.error(_loc_path(loc), f"unknown value {first['input']!r}", _allowed(first)) from None
        allowed = _allowed(first)
        message = f"out of range: {first['input']!r}" if allowed and "ctx" in first else first["msg"]
        raise spec_stub.error(_loc_path(loc), message, allowed) from None
    spec._label, spec._lines = label, lines
    return spec.check()


def load_spec(path: str | Path) -> TrialSpec:
    """Read and check the trial specification in the TOML file ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("SPEC", f"cannot read {path}: {exc.strerror}", "a readable TOML file") from None
    return parse_spec(text, path.name)


def builtin_spec_text(name: str) -> str:
    """The TOML text of built-in specification ``name`` (as ``--print-spec`` shows it)."""
    if name not in BUILTIN:
        raise InputError("--builtin", f"no built-in trial {name!r}", ", ".join(BUILTIN))
    return resources.files("ketamine_ptsd").joinpath("trials", f"{name}.toml").read_text(encoding="utf-8")


def builtin_spec(name: str) -> TrialSpec:
    """Built-in specification ``name`` (``feder2014`` or ``feder2021``)."""
    return parse_spec(builtin_spec_text(name), f"{name}.toml")


# --------------------------------------------------------------------------- enrolment and randomisation


def randomisation_list(sizes: Sequence[int], seed: int, method: str = "permuted_blocks",
                       block_size: int = 4) -> np.ndarray:
    """Arm index of each enrolled patient, in order of enrolment, with exactly ``sizes[a]``
    patients in arm ``a``.

    ``permuted_blocks``: blocks of ``block_size`` in the ratio of the sizes, each shuffled,
    the last block made of what remains; ``complete``: one shuffle of the whole list. The
    shuffles come from a generator seeded with the trial seed.
    """
    rng = np.random.default_rng([int(seed), 0x7A11])
    sizes = np.asarray(sizes, dtype=np.int64)
    arms = np.arange(sizes.size)
    if method == "complete":
        return rng.permutation(np.repeat(arms, sizes))
    ratio = np.asarray(_ratio(sizes.tolist()))
    per_block = ratio * (block_size // int(ratio.sum()))
    n_full = int(sizes.sum()) // block_size
    full = rng.permuted(np.tile(np.repeat(arms, per_block), (n_full, 1)), axis=1).ravel()
    rest = rng.permutation(np.repeat(arms, sizes - n_full * per_block))
    return np.concatenate([full, rest]).astype(np.int64)


def allocation(spec: TrialSpec) -> tuple[list[np.ndarray], int]:
    """Patient ids of each arm (enrolment order) and the number of candidates screened."""
    sizes = spec.arm_sizes()
    seed = spec.trial.seed
    model, criteria = spec.covariate_model(), spec.criteria()
    crossover = spec.trial.design == "crossover"
    try:
        ids, screened = enrol(sizes[0] if crossover else sum(sizes), seed, model, criteria)
    except InputError as exc:
        raise spec.error(f"inclusion.{criteria[0].name}" if len(criteria) == 1 else "inclusion",
                         exc.message, exc.allowed) from None
    if crossover:
        return [ids] * len(sizes), screened
    arm_of = randomisation_list(sizes, seed, spec.randomisation.method, spec.randomisation.block_size)
    return [ids[arm_of == a] for a in range(len(sizes))], screened


# --------------------------------------------------------------------------- simulation in chunks


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: patients ``ids`` of arm ``arm``; ``threads`` of the engine (1 on a
    Dask worker, None for every core)."""

    spec: TrialSpec
    arm: int
    ids: np.ndarray
    model_params: ParameterTable | None = None
    threads: int | None = None


@dataclass(frozen=True)
class ArmData:
    """What a trial keeps of each patient of one arm (rows in enrolment order).

    ``visits[i, v, k]`` is the observed score ``instruments[k]`` at visit ``v`` (points, NaN
    once the patient has dropped out); ``course[i, j]`` the observed response instrument at
    every assessment day (float32, for figures); ``loss_day`` the days from the response day to
    the first assessment without response (``lost``) or to the last assessment (censored);
    ``female``, ``depressed``, ``resistant`` the subgroups.
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

    @staticmethod
    def concatenate(parts: Sequence[ArmData]) -> ArmData:
        """One arm from its chunks, in order; a warning repeated by several chunks (with their
        own counts) is kept once, saying in how many chunks it came up."""
        fields = ("ids", "visits", "course", "loss_day", "lost", "female", "depressed", "resistant")
        joined = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
        first: dict[str, str] = {}
        times: dict[str, int] = {}
        for w in (w for p in parts for w in p.warnings):
            key = re.sub(r"\d+(\.\d+)?", "#", w)
            first.setdefault(key, w)
            times[key] = times.get(key, 0) + 1
        more = {k: f" (and similar in {n - 1} more chunks of patients)" if n > 1 else "" for k, n in times.items()}
        warnings = tuple(first[k] + more[k] for k in first)
        return ArmData(**joined, failed=sum(p.failed for p in parts), warnings=warnings)


def reduction(baseline: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Fractional reduction from baseline, (baseline - score) / baseline; NaN where the
    baseline is 0 or either value is missing."""
    baseline = np.asarray(baseline, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(baseline > 0, (baseline - score) / baseline, np.nan)


def days_to_loss_of_response(red: np.ndarray, days: np.ndarray, response_day: float,
                             percent_reduction: float) -> tuple[np.ndarray, np.ndarray]:
    """Days from ``response_day`` to the first later assessment whose reduction ``red``
    (patients x ``days``, NaN = not assessed) is below ``percent_reduction`` %, and whether
    that happened; otherwise the days to the last assessment (censored; 0 if none)."""
    after = days > response_day
    n = red.shape[0]
    if not after.any():
        return np.zeros(n), np.zeros(n, dtype=bool)
    follow = days[after] - response_day
    seen = ~np.isnan(red[:, after])
    with np.errstate(invalid="ignore"):
        below = seen & (red[:, after] < percent_reduction / 100.0)
    lost = below.any(axis=1)
    last_seen = seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    censored_at = np.where(seen.any(axis=1), follow[last_seen], 0.0)
    return np.where(lost, follow[np.argmax(below, axis=1)], censored_at), lost


def run_chunk(task: ChunkTask) -> ArmData:
    """Simulate one chunk and reduce it to :class:`ArmData` (what the endpoints need)."""
    spec, ids = task.spec, np.asarray(task.ids, dtype=np.int64)
    seed = spec.trial.seed
    population = Population.from_ids(ids, seed, spec.covariate_model())
    days = spec.assessment_days()
    names = spec.simulated_scores()
    traj = simulate(spec.regimen(task.arm), population, engine=NumbaEngine(threads=task.threads),
                    times=days * HOURS_PER_DAY, outputs=names, model_params=task.model_params)
    # Measurement error: one independent draw per patient, assessment and score.
    z = patient_normals(seed, ids, days.size * len(names), STREAM_MEASUREMENT + task.arm)
    sd = np.array([spec.measurement_noise[n].sd if n in spec.measurement_noise else 0.0 for n in names])
    top = np.array([score_max(n) for n in names])
    observed = np.clip(traj.values + sd * z.reshape(ids.size, days.size, len(names)), 0.0, top)
    hazard_per_day = -math.log1p(-spec.dropout.per_week) / 7.0
    if hazard_per_day > 0:
        u = patient_uniforms(seed, ids, 1, STREAM_DROPOUT + task.arm)[:, 0]
        dropout_day = -np.log(u) / hazard_per_day
        observed[days[None, :] > dropout_day[:, None]] = np.nan

    response = observed[:, :, names.index(spec.response.instrument)]
    loss_day, lost = days_to_loss_of_response(reduction(response[:, :1], response), days, spec.response_day(),
                                              spec.response.percent_reduction)
    visit_idx = np.searchsorted(days, np.asarray(spec.visits.days, dtype=float))
    keep = [names.index(n) for n in spec.visits.instruments]
    cov = screening_values(population.covariates)
    return ArmData(
        ids=ids, visits=observed[:, visit_idx][:, :, keep], course=response.astype(np.float32),
        loss_day=loss_day, lost=lost, female=cov["female"] > 0,
        depressed=cov["comorbid_depression"] > 0, resistant=population.resistant(task.model_params),
        failed=int(np.sum(traj.steps < 0)), warnings=tuple(traj.warnings),
    )


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
                model_params: ParameterTable | None = None, threads: int | None = None) -> list[ChunkTask]:
    """Split every arm's patients into tasks of at most ``chunk_size``."""
    if int(chunk_size) < 1:
        raise InputError("--chunk-size", f"must be at least 1, got {chunk_size}", ">= 1")
    return [ChunkTask(spec, a, ids[s:s + chunk_size], model_params, threads)
            for a, ids in enumerate(arm_ids) for s in range(0, ids.size, int(chunk_size))]


def run_trial(spec: TrialSpec, model_params: ParameterTable | None = None, client=None,
              chunk_size: int = DEFAULT_CHUNK, progress: Callable[[int], None] | None = None,
              threads: int | None = None) -> TrialResult:
    """Enrol, randomise and simulate ``spec``.

    ``client`` is a ``dask.distributed.Client`` (None: this process, with ``threads`` engine
    threads, None for every core; on a cluster each task uses one); ``progress`` receives the
    number of patients of each finished chunk. The result is the same with or without a
    cluster and for any ``chunk_size``.
    """
    spec.check()
    arm_ids, screened = allocation(spec)
    tasks = chunk_tasks(spec, arm_ids, chunk_size, model_params, 1 if client is not None else threads)
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


# --------------------------------------------------------------------------- endpoints


def observed_scores(result: TrialResult, arm: str, instrument: str, day: float) -> np.ndarray:
    """Observed score of every patient of ``arm`` at visit ``day`` (NaN if not observed)."""
    return result.arm(arm).visits[:, result.visit(day), result.column(instrument)]


def change_from_baseline(result: TrialResult, arm: str, instrument: str, day: float) -> np.ndarray:
    """Observed score at ``day`` minus baseline, per patient (points; NaN if not observed)."""
    return observed_scores(result, arm, instrument, day) - observed_scores(result, arm, instrument, 0.0)


def mean_score(result: TrialResult, arm: str, instrument: str, day: float) -> float:
    """Mean observed score among patients assessed at ``day`` (points)."""
    return _nanmean(observed_scores(result, arm, instrument, day))


def reduction_at(result: TrialResult, arm: str, instrument: str | None = None, day: float | None = None) -> np.ndarray:
    """Fractional reduction from baseline per patient at ``day`` (NaN when not assessed);
    defaults: the ``[response]`` instrument and day."""
    r = result.spec.response
    instrument, day = instrument or r.instrument, r.day if day is None else day
    return reduction(observed_scores(result, arm, instrument, 0.0), observed_scores(result, arm, instrument, day))


def responder_rate(result: TrialResult, arm: str, instrument: str | None = None, day: float | None = None,
                   percent_reduction: float | None = None) -> float:
    """Share of patients assessed at ``day`` whose reduction is at least ``percent_reduction``
    % (0-1); defaults from ``[response]``."""
    percent = result.spec.response.percent_reduction if percent_reduction is None else percent_reduction
    red = reduction_at(result, arm, instrument, day)
    red = red[~np.isnan(red)]
    return float(np.mean(red >= percent / 100.0)) if red.size else math.nan


def remission_rate(result: TrialResult, arm: str) -> float:
    """Share of patients assessed on the remission day at or below the ``[remission]`` score."""
    rem = result.spec.remission
    score = observed_scores(result, arm, rem.instrument, result.spec.remission_day())
    score = score[~np.isnan(score)]
    return _nanmean((score <= rem.at_or_below).astype(float))


def _is_responder(result: TrialResult, arm: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return reduction_at(result, arm) >= result.spec.response.percent_reduction / 100.0


@dataclass(frozen=True)
class KaplanMeier:
    """Time to loss of response among responders: event times (days after the response day),
    survival probabilities after each, and the median (NaN when not reached)."""

    times: np.ndarray
    survival: np.ndarray
    median: float
    n: int


def loss_of_response(result: TrialResult, arm: str) -> KaplanMeier:
    """Kaplan-Meier estimate (statsmodels ``SurvfuncRight``) of the days from the response
    day to the first assessment without response, among that day's responders; patients
    still responding at their last assessment are censored there."""
    from statsmodels.duration.survfunc import SurvfuncRight

    data = result.arm(arm)
    mask = _is_responder(result, arm)
    if not mask.any():
        return KaplanMeier(np.zeros(0), np.zeros(0), math.nan, 0)
    km = SurvfuncRight(data.loss_day[mask], data.lost[mask].astype(float))
    return KaplanMeier(np.asarray(km.surv_times), np.asarray(km.surv_prob), float(km.quantile(0.5)), int(mask.sum()))


@dataclass(frozen=True)
class Comparison:
    """An arm against the control: difference in change from baseline (arm minus control,
    points; negative = more improvement on a symptom scale), its confidence interval and
    p-value, Cohen's d of the change (same sign), the method and patients analysed."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    effect_size_d: float
    method: str
    n_arm: int
    n_control: int


def cohen_d(arm: np.ndarray, control: np.ndarray) -> float:
    """(mean arm - mean control) / pooled standard deviation."""
    arm, control = arm[~np.isnan(arm)], control[~np.isnan(control)]
    n1, n2 = arm.size, control.size
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = math.sqrt(((n1 - 1) * arm.var(ddof=1) + (n2 - 1) * control.var(ddof=1)) / (n1 + n2 - 2))
    return float((arm.mean() - control.mean()) / pooled) if pooled > 0 else math.nan


def compare(result: TrialResult, arm: str, method: str | None = None) -> Comparison:
    """The primary comparison of ``arm`` with the control (``[analysis]``).

    Parallel design: ANCOVA, change ~ arm + baseline (statsmodels OLS), on the patients of
    both arms assessed on the analysis day; crossover: the within-patient difference of the
    changes (paired). ``mmrm``: a linear mixed model over every post-baseline visit (fixed
    effects visit, arm, visit x arm and baseline; a random intercept per patient), estimated
    at the analysis day.
    """
    spec = result.spec
    a = spec.analysis
    method = method or a.method
    control = spec.trial.control
    inst, day = a.instrument, a.day
    ch_arm = change_from_baseline(result, arm, inst, day)
    ch_ctl = change_from_baseline(result, control, inst, day)
    d = cohen_d(ch_arm, ch_ctl)
    if method == "mmrm":
        estimate = _mmrm(result, arm, control, inst, day, a.alpha)
        label = "MMRM"
    elif spec.trial.design == "crossover":
        estimate = _paired(ch_arm, ch_ctl, a.alpha)
        label = "paired (crossover)"
    else:
        base = np.concatenate([observed_scores(result, arm, inst, 0.0), observed_scores(result, control, inst, 0.0)])
        change = np.concatenate([ch_arm, ch_ctl])
        is_arm = np.concatenate([np.ones(ch_arm.size), np.zeros(ch_ctl.size)])
        estimate = _ancova(change, base, is_arm, a.alpha)
        label = "ANCOVA"
    n_arm, n_ctl = int(np.sum(~np.isnan(ch_arm))), int(np.sum(~np.isnan(ch_ctl)))
    return Comparison(*estimate, d, label, n_arm, n_ctl)


def _ancova(change, baseline, is_arm, alpha) -> tuple[float, float, float, float]:
    import statsmodels.api as sm

    ok = ~np.isnan(change)
    if ok.sum() < 4 or len(set(is_arm[ok])) < 2:
        return (math.nan,) * 4
    X = np.column_stack([np.ones(ok.sum()), is_arm[ok], baseline[ok]])
    fit = sm.OLS(change[ok], X).fit()
    lo, hi = fit.conf_int(alpha)[1]
    return float(fit.params[1]), float(lo), float(hi), float(fit.pvalues[1])


def _paired(ch_arm, ch_ctl, alpha) -> tuple[float, float, float, float]:
    import statsmodels.api as sm

    diff = ch_arm - ch_ctl
    diff = diff[~np.isnan(diff)]
    if diff.size < 2:
        return (math.nan,) * 4
    fit = sm.OLS(diff, np.ones(diff.size)).fit()
    lo, hi = fit.conf_int(alpha)[0]
    return float(fit.params[0]), float(lo), float(hi), float(fit.pvalues[0])


def _mmrm(result, arm, control, inst, day, alpha) -> tuple[float, float, float, float]:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    spec = result.spec
    post = [float(d) for d in spec.visits.days[1:]]
    others = [d for d in post if d != float(day)]
    rows = []
    for is_arm, name in ((1.0, arm), (0.0, control)):
        data = result.arm(name)
        base = data.visits[:, 0, result.column(inst)]
        for d in post:
            change = data.visits[:, result.visit(d), result.column(inst)] - base
            ok = ~np.isnan(change)
            # Grouped by patient id: in a crossover the same patient's two periods form one group.
            rows.append((data.ids[ok], np.full(ok.sum(), d), np.full(ok.sum(), is_arm), base[ok], change[ok]))
    group, visit, is_arm, base, y = (np.concatenate(c) for c in zip(*rows))
    # The analysis day is the reference visit, so the arm coefficient is the effect on that day.
    dummies = [(visit == d).astype(float) for d in others]
    X = np.column_stack([np.ones(y.size), is_arm, base, *dummies, *[v * is_arm for v in dummies]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = sm.MixedLM(y, X, groups=group).fit(reml=True)
    lo, hi = np.asarray(fit.conf_int(alpha))[1]
    return float(fit.params[1]), float(lo), float(hi), float(fit.pvalues[1])


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def _clean(value):
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def day_key(day: float) -> str:
    """How a day is written as a JSON key (``14``, ``0.5``)."""
    return f"{float(day):g}"


def _subgroups(result: TrialResult, arm: str) -> dict:
    data = result.arm(arm)
    r = result.spec.response
    red = reduction_at(result, arm)
    out = {}
    for label, mask in (("women", data.female), ("men", ~data.female),
                        ("comorbid_depression", data.depressed), ("no_comorbid_depression", ~data.depressed),
                        ("treatment_resistant", data.resistant), ("not_treatment_resistant", ~data.resistant)):
        sub = red[mask]
        sub = sub[~np.isnan(sub)]
        out[label] = {"n": int(mask.sum()),
                      "responder_rate": float(np.mean(sub >= r.percent_reduction / 100.0)) if sub.size else None}
    return out


def arm_endpoints(result: TrialResult, arm: str) -> dict:
    """The endpoints of one arm (see :func:`endpoints`)."""
    spec = result.spec
    data = result.arm(arm)
    km = loss_of_response(result, arm)
    post = [float(d) for d in spec.visits.days[1:]]
    out = {
        "n": int(data.ids.size),
        "responder_rate": responder_rate(result, arm),
        "remission_rate": remission_rate(result, arm),
        "mean_change_from_baseline": {
            inst: {day_key(d): _nanmean(change_from_baseline(result, arm, inst, d)) for d in post}
            for inst in spec.visits.instruments
        },
        "median_days_to_loss_of_response": km.median,
        "responders_followed": km.n,
        "mean_baseline": {inst: mean_score(result, arm, inst, 0.0) for inst in spec.visits.instruments},
        "completed": int(np.sum(~np.isnan(data.visits[:, -1, 0]))),
        "subgroups": _subgroups(result, arm),
        "failed_integrations": data.failed,
    }
    clusters = [c for c in CLUSTERS if c in spec.visits.instruments]
    if clusters:
        out["clusters"] = {c: _nanmean(change_from_baseline(result, arm, c, spec.analysis.day)) for c in clusters}
    return out


def definitions(spec: TrialSpec) -> dict:
    """What each endpoint means, in words (written into the JSON and the report)."""
    r, rem, a = spec.response, spec.remission, spec.analysis
    follow = (f"assessed every {spec.follow_up.every_days:g} days up to day {spec.follow_up.until_day:g}"
              if spec.follow_up else "assessed at the later visits")
    return {
        "responder_rate": f"share of patients assessed on day {r.day:g} whose {r.instrument} fell by at least "
                          f"{r.percent_reduction:g} % from baseline. {r.source}".strip(),
        "remission_rate": f"share of patients assessed on day {spec.remission_day():g} with {rem.instrument} "
                          f"<= {rem.at_or_below:g}. {rem.source}".strip(),
        "mean_change_from_baseline": "mean of (observed score at the visit - observed baseline) among patients "
                                     "assessed at that visit, points, by instrument and visit day",
        "median_days_to_loss_of_response": f"Kaplan-Meier median, among day-{r.day:g} responders, of the days "
                                           f"from day {r.day:g} to the first assessment ({follow}) with a "
                                           f"reduction below {r.percent_reduction:g} %; censored at the last "
                                           "assessment; null when not reached",
        "difference": f"{a.instrument} change from baseline on day {a.day:g}, arm minus control (points; "
                      f"negative = more improvement); ci at level {1 - a.alpha:g}. ANCOVA: change ~ arm + "
                      "baseline (statsmodels OLS) among patients assessed that day; paired (crossover): mean "
                      "within-patient difference; MMRM: linear mixed model over all post-baseline visits "
                      "(visit, arm, visit x arm, baseline; random intercept per patient)",
        "effect_size_d": "Cohen's d of the change from baseline on the analysis day, arm minus control "
                         "(pooled standard deviation)",
    }


def endpoints(result: TrialResult) -> dict:
    """The endpoints as a JSON-ready dict: per arm ``responder_rate``, ``remission_rate``,
    ``mean_change_from_baseline`` (instrument -> visit day -> points) and
    ``median_days_to_loss_of_response``; per arm compared with the control ``difference``,
    ``ci_low``, ``ci_high``, ``p_value`` and ``effect_size_d``."""
    spec = result.spec
    control = spec.trial.control
    arms = {name: arm_endpoints(result, name) for name in spec.arm_names}
    comparisons = {}
    for name in spec.arm_names:
        if name == control:
            continue
        c = compare(result, name)
        comparisons[name] = {
            "control": control, "difference": c.difference, "ci_low": c.ci_low, "ci_high": c.ci_high,
            "p_value": c.p_value, "effect_size_d": c.effect_size_d, "method": c.method,
            "n_arm": c.n_arm, "n_control": c.n_control,
        }
        if "clusters" in arms[name]:
            comparisons[name]["clusters"] = {k: arms[name]["clusters"][k] - arms[control]["clusters"][k]
                                             for k in arms[name]["clusters"]}
    # In a crossover every arm holds the same patients: count them once.
    cohort = result.arms[:1] if spec.trial.design == "crossover" else result.arms
    enrolled = sum(a.ids.size for a in cohort)
    population = {"screened": result.screened, "enrolled": enrolled}
    for key, field in (("female_share", "female"), ("comorbid_depression_share", "depressed"),
                       ("treatment_resistant_share", "resistant")):
        population[key] = sum(int(getattr(a, field).sum()) for a in cohort) / enrolled
    return _clean({
        "trial": spec.trial.name, "title": spec.trial.title, "source": spec.trial.source,
        "design": spec.trial.design, "seed": spec.trial.seed, "control": control,
        "n_per_arm": dict(zip(spec.arm_names, spec.arm_sizes())),
        "primary": {"instrument": spec.analysis.instrument, "day": spec.analysis.day, "method": spec.analysis.method,
                    "alpha": spec.analysis.alpha},
        "population": population,
        "arms": arms,
        "comparisons": comparisons,
        "definitions": definitions(spec),
        "warnings": list(dict.fromkeys(w for a in result.arms for w in a.warnings)),
        "notice": NOTICE,
    })


# --------------------------------------------------------------------------- power


def trial_seed(seed: int, k: int) -> int:
    """Seed of the ``k``-th repeat of a trial with seed ``seed`` (a 63-bit integer)."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class PowerTask:
    spec: TrialSpec
    model_params: ParameterTable | None = None
    threads: int | None = None


def _power_once(task: PowerTask) -> dict[str, float]:
    result = run_trial(task.spec, task.model_params, threads=task.threads)
    return {name: compare(result, name).p_value for name in task.spec.arm_names if name != task.spec.trial.control}


def power(spec: TrialSpec, n_per_arm: int | None = None, n_trials: int = 100, model_params=None, client=None,
          progress: Callable[[int], None] | None = None) -> dict:
    """Power by repeated simulation: the share of ``n_trials`` trials (each with its own seed
    derived from the spec's) whose primary comparison has p < ``analysis.alpha``, per arm
    compared with the control, with its Monte Carlo standard error."""
    if int(n_trials) < 1:
        raise InputError("--power-trials", f"must be at least 1, got {n_trials}", ">= 1")
    spec = spec.with_overrides(n_per_arm=n_per_arm)
    tasks = [PowerTask(spec.with_overrides(seed=trial_seed(spec.trial.seed, k)), model_params,
                       1 if client is not None else None) for k in range(int(n_trials))]
    done = None if progress is None else (lambda i: progress(1))
    p_values = map_tasks(_power_once, tasks, client, done)
    alpha = spec.analysis.alpha
    by_arm = {}
    for name in p_values[0]:
        p = np.array([r[name] for r in p_values])
        share = float(np.mean(p < alpha))
        by_arm[name] = {"power": share, "standard_error": math.sqrt(share * (1 - share) / p.size)}
    return {"n_per_arm": spec.arm_sizes(), "trials": int(n_trials), "alpha": alpha, "by_arm": by_arm,
            "definition": "share of simulated trials (seeds derived from the trial seed) with p < alpha in the "
                          f"primary comparison ({spec.analysis.method})"}
