"""The trial specification: :class:`TrialSpec` (the validated TOML file), its checks across
fields, the regimen of each arm, and reading a spec from text, a file or the built-ins."""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import Field, PrivateAttr, ValidationError

from ..dosing import HOURS_PER_DAY, Dose, Protocol, Regimen, with_maintenance
from ..errors import InputError
from ..population import CovariateModel, InclusionCriterion
from ..units import parse_dose
from .randomisation import ratio
from .sections import (
    AnalysisSpec,
    ArmSpec,
    CriterionSpec,
    DropoutSpec,
    FollowUpSpec,
    NoiseSpec,
    OutcomeSpec,
    PopulationSpec,
    RandomisationSpec,
    RelapseSpec,
    RemissionSpec,
    ResponseSpec,
    SafetySpec,
    ScoreName,
    TrialInfo,
    VisitsSpec,
    _Section,
)
from .toml_lines import key_lines, place, validation_error

#: statsmodels' MixedLM loops over patients in Python; above this many a fit takes too long.
MMRM_MAX_PATIENTS = 20_000

BUILTIN = ("feder2014", "feder2021", "fava2018", "synapse", "abdallah2022", "cochrane2021", "transform2",
           "murrough2013", "phillips2019", "wilkinson2017", "esketamine_bp_tail")


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
    outcomes: dict[ScoreName, OutcomeSpec] = {}
    relapse: list[RelapseSpec] = []
    safety: SafetySpec | None = None
    _label: str = PrivateAttr(default="spec")
    _lines: dict = PrivateAttr(default_factory=dict)

    # ----------------------------------------------------------------- locations

    def where(self, path: str) -> str:
        """``path`` (``arms[1].dose``) with the spec's name and the line it is on."""
        return place(self._lines, self._label, path)

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

    def outcome_thresholds(self, instrument: str) -> tuple[float | None, float | None]:
        """(responder percent reduction, remission score) of ``instrument`` for the per-visit
        endpoints: ``[outcomes.INSTRUMENT]``, else ``[response]`` / ``[remission]`` when they
        are of this instrument, else None."""
        o = self.outcomes.get(instrument)
        percent = o.percent_reduction if o is not None else None
        remission = o.remission_at_or_below if o is not None else None
        if percent is None and self.response.instrument == instrument:
            percent = self.response.percent_reduction
        if remission is None and self.remission.instrument == instrument:
            remission = self.remission.at_or_below
        return percent, remission

    def relapse_thresholds(self, index: int) -> tuple[float, float]:
        """(threshold that puts a patient at risk, threshold of relapse) of ``relapse[index]``:
        percent reductions for loss of response, scores for relapse from remission."""
        r = self.relapse[index]
        percent, remission = self.outcome_thresholds(r.instrument)
        if r.kind == "loss_of_response":
            value = r.percent_reduction if r.percent_reduction is not None else percent
            if value is None:
                raise self.error(f"relapse[{index}].percent_reduction", f"no responder threshold for "
                                 f"{r.instrument}", "a percent reduction here or in [outcomes]")
            return float(value), float(value)
        enter = r.remission_at_or_below if r.remission_at_or_below is not None else remission
        if enter is None:
            raise self.error(f"relapse[{index}].remission_at_or_below", f"no remission threshold for {r.instrument}",
                             "a score here or in [outcomes]")
        if r.relapse_at_or_above is None:
            raise self.error(f"relapse[{index}].relapse_at_or_above", "required for kind from_remission",
                             f"a score above {enter:g}")
        if not r.relapse_at_or_above > enter:
            raise self.error(f"relapse[{index}].relapse_at_or_above", f"{r.relapse_at_or_above:g} is not above "
                             f"the remission threshold {enter:g}", f"> {enter:g}")
        return float(enter), float(r.relapse_at_or_above)

    def safety_sessions(self, regimen: Regimen) -> np.ndarray:
        """Start times (hours) of the sessions whose acute readings ``[safety]`` counts."""
        times = np.unique([d.time_h for d in regimen.doses])
        until = self.safety.until_day if self.safety is not None else None
        return times if until is None else times[times <= until * HOURS_PER_DAY + 1e-9]

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

    def regimen(self, index: int, maintenance: bool = True) -> Regimen:
        """The dosing schedule of arm ``index`` (doses, titration, maintenance unless
        ``maintenance`` is false, psychotherapy); :func:`~ketamine_ptsd.trials.context.arm_regimen`
        adds the comparator context."""
        arm = self.arms[index]
        path = f"arms[{index}]"
        keys = {"dose": "dose", "infusion_min": "infusion_min", "route": "route", "drug": "drug",
                "days": "days", "therapy_days": "therapy_days", "every_days": "maintenance.every_days",
                "from_day": "maintenance.from_day", "until_day": "maintenance.until_day",
                "maintenance.dose": "maintenance.dose", "maintenance.days": "maintenance.days"}
        doses = arm.dose if isinstance(arm.dose, list) else [arm.dose] * len(arm.days)
        if len(doses) != len(arm.days):
            raise self.error(f"{path}.dose", f"{len(doses)} doses for {len(arm.days)} session days",
                             "one dose, or a list with one dose per day of days")
        if arm.maintenance is not None:
            self._check_maintenance(index)
        try:
            amounts = [parse_dose(d, "dose") for d in doses]
            regimen = Protocol(arm.days, *amounts[0], arm.route, arm.drug, arm.infusion_min,
                               therapy_days=arm.therapy_days,
                               therapy_hours_after_dose=arm.therapy_hours_after_dose).regimen()
            # Titration: each session its own amount (the series is in day order).
            regimen = Regimen(tuple(replace(d, amount=a, per_kg=k) for d, (a, k) in zip(regimen.doses, amounts)),
                              regimen.therapy)
            if arm.maintenance is not None and maintenance:
                regimen = self._with_maintenance(regimen, index)
        except InputError as exc:
            key = keys.get(exc.field.split()[-1], "")
            raise self.error(f"{path}.{key}" if key else path, exc.message, exc.allowed) from None
        return Regimen(regimen.doses, regimen.therapy, arm.name)

    def _check_maintenance(self, index: int) -> None:
        """Either listed days or every_days with from_day and until_day (errors located)."""
        m = self.arms[index].maintenance
        path = f"arms[{index}].maintenance"
        interval = {"every_days": m.every_days, "from_day": m.from_day, "until_day": m.until_day}
        if m.days is not None:
            given = [k for k, v in interval.items() if v is not None]
            if given:
                raise self.error(f"{path}.{given[0]}", "give maintenance days, or every_days with from_day and "
                                 "until_day, not both", "one of the two")
            days = [float(d) for d in m.days]
            if any(not b > a for a, b in zip(days, days[1:])):
                raise self.error(f"{path}.days", "days out of order or repeated", "strictly increasing days")
            return
        missing = [k for k, v in interval.items() if v is None]
        if missing:
            raise self.error(f"{path}.{missing[0]}" if len(missing) < 3 else path, "required key missing",
                             "every_days, from_day and until_day, or days")

    def maintenance_decision_day(self, index: int) -> float | None:
        """The day responders are chosen for maintenance in arm ``index`` (None: everyone
        receives it, or the arm has none)."""
        m = self.arms[index].maintenance
        if m is None or not m.responders_only:
            return None
        return float(m.decision_day if m.decision_day is not None else self.response.day)

    def _check_maintenance_decision(self, index: int) -> None:
        day = self.maintenance_decision_day(index)
        if day is None:
            return
        path = f"arms[{index}].maintenance.decision_day"
        assessed = [float(d) for d in self.assessment_days()]
        if day not in assessed:
            raise self.error(path, f"day {day:g} is not an assessment day", ", ".join(f"{d:g}" for d in assessed[1:]))
        induction = {d.time_h for d in self.regimen(index, maintenance=False).doses}
        first = min((d.time_h for d in self.regimen(index).doses if d.time_h not in induction), default=math.inf)
        if day * HOURS_PER_DAY > first:
            raise self.error(path, f"responders must be known by the first maintenance dose (day "
                             f"{first / HOURS_PER_DAY:g})", f"<= {first / HOURS_PER_DAY:g}")

    def _with_maintenance(self, regimen: Regimen, index: int) -> Regimen:
        m = self.arms[index].maintenance
        template: Dose = regimen.doses[-1]
        if m.dose is not None:
            amount, per_kg = parse_dose(m.dose, "maintenance.dose")
            template = replace(template, amount=amount, per_kg=per_kg)
        if m.days is None:
            return with_maintenance(regimen, m.every_days, m.from_day, m.until_day, template)
        taken = {d.time_h for d in regimen.doses}
        times = [float(d) * HOURS_PER_DAY for d in m.days]
        extra = tuple(replace(template, time_h=t) for t in times if t not in taken)
        return Regimen(regimen.doses + extra, regimen.therapy, regimen.name)

    def check(self) -> TrialSpec:
        """Checks across fields (a missing arm, an impossible schedule); returns the spec."""
        names = self.arm_names
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.error(f"arms[{i}].name", f"arm name {name!r} used twice", "a different name for each arm")
        self._check_design()
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
        self._check_endpoints()
        for i in range(len(self.arms)):
            self._check_maintenance_decision(i)
        self.covariate_model()
        self.criteria()
        self._check_randomisation()
        if self.analysis.method == "mmrm" and sum(self.arm_sizes()) > MMRM_MAX_PATIENTS:
            raise self.error("analysis.method", f"a mixed-model fit of {sum(self.arm_sizes())} patients takes "
                             "too long", f"mmrm up to {MMRM_MAX_PATIENTS} patients, ancova for any number")
        return self

    def _check_design(self):
        names, control = self.arm_names, self.trial.control
        if self.trial.design == "single_arm":
            if len(names) != 1:
                raise self.error("arms", f"a single-arm trial has one arm, not {len(names)}",
                                 'one [[arms]], or design = "parallel" with a control arm')
            if control is not None:
                raise self.error("trial.control", "a single-arm trial has no control arm", "omit control")
            return
        if control is None:
            raise self.error("trial.control", f"a {self.trial.design} trial compares its arms with a control arm",
                             ", ".join(names))
        if control not in names:
            raise self.error("trial.control", f"no arm named {control!r}", ", ".join(names))
        if len(names) < 2:
            raise self.error("arms", "a trial needs a control arm and at least one arm compared with it",
                             'two or more [[arms]], or design = "single_arm" without a control')

    def _check_endpoints(self):
        """The per-visit outcomes, the relapse definitions and the safety readings."""
        instruments = list(self.visits.instruments)
        for name in self.outcomes:
            if name not in instruments:
                raise self.error(f"outcomes.{name}", f"{name} is not assessed at the visits", ", ".join(instruments))
        assessed = [float(d) for d in self.assessment_days()]
        labels: list[str] = []
        for i, r in enumerate(self.relapse):
            if r.instrument not in instruments:
                raise self.error(f"relapse[{i}].instrument", f"{r.instrument} is not assessed at the visits",
                                 ", ".join(instruments))
            if float(r.day) not in assessed:
                raise self.error(f"relapse[{i}].day", f"day {r.day:g} is not an assessment day",
                                 ", ".join(f"{d:g}" for d in assessed[1:]))
            if r.clock_from_day is not None and r.clock_from_day > r.day:
                raise self.error(f"relapse[{i}].clock_from_day", f"the clock must start by day {r.day:g}",
                                 f"<= {r.day:g}")
            if any(not d > 0 for d in r.by_days):
                raise self.error(f"relapse[{i}].by_days", "days after the start of the clock must be positive", "> 0")
            if r.label in labels:
                raise self.error(f"relapse[{i}].name", f"relapse definition {r.label!r} given twice",
                                 "a different name for each [[relapse]]")
            labels.append(r.label)
            self.relapse_thresholds(i)
        if self.safety is not None:
            hours = [float(h) for h in self.safety.reading_hours]
            if hours[0] != 0.0 or any(not b > a for a, b in zip(hours, hours[1:])) or hours[-1] >= HOURS_PER_DAY:
                raise self.error("safety.reading_hours", "readings start with the pre-dose one (0) and increase",
                                 "0 first, then increasing hours below 24")

    def _check_randomisation(self):
        if self.trial.design != "parallel" or self.randomisation.method != "permuted_blocks":
            return
        unit = sum(ratio(self.arm_sizes()))
        if self.randomisation.block_size % unit:
            raise self.error("randomisation.block_size", f"{self.randomisation.block_size} cannot hold whole "
                             f"allocation ratios of {':'.join(map(str, ratio(self.arm_sizes())))}",
                             f"a multiple of {unit}")

    def with_overrides(self, n_per_arm: int | None = None, seed: int | None = None) -> TrialSpec:
        """A copy with every arm's size and/or the seed replaced (command-line options)."""
        if n_per_arm is not None and int(n_per_arm) < 1:
            raise InputError("n_per_arm", f"must be at least 1, got {n_per_arm}", ">= 1")
        if seed is not None and int(seed) < 0:
            raise InputError("seed", f"must be >= 0, got {seed}", ">= 0")
        trial = self.trial.model_copy(update={k: int(v) for k, v in (("n_per_arm", n_per_arm), ("seed", seed))
                                              if v is not None})
        arms = self.arms if n_per_arm is None else [a.model_copy(update={"n": None}) for a in self.arms]
        new = self.model_copy(update={"trial": trial, "arms": arms})
        new._label, new._lines = self._label, self._lines
        return new.check()



def parse_spec(text: str, label: str = "spec") -> TrialSpec:
    """Read and check a trial specification from TOML ``text``; ``label`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(label, f"not valid TOML: {exc}", "a TOML file like trials/feder2021.toml") from None
    lines = key_lines(text)
    try:
        spec = TrialSpec.model_validate(data)
    except ValidationError as exc:
        spec_stub = TrialSpec.model_construct()
        spec_stub._label, spec_stub._lines = label, lines
        raise InputError(*validation_error(exc.errors()[0], TrialSpec, spec_stub.where)) from None
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
        raise InputError("builtin", f"no built-in trial {name!r}", ", ".join(BUILTIN))
    return resources.files("ketamine_ptsd").joinpath("trials", f"{name}.toml").read_text(encoding="utf-8")


def builtin_spec(name: str) -> TrialSpec:
    """Built-in specification ``name`` (``feder2014`` or ``feder2021``)."""
    return parse_spec(builtin_spec_text(name), f"{name}.toml")

