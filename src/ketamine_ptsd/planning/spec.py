"""The planning specification (TOML) read by ``plan population`` and ``plan evaluate``.

Sections: ``[plan]`` (who and how long), ``[response]`` (the loss rule, default the
clinic's PCL-5 rule), ``[limits]`` (default the clinic settings), ``[induction]`` (the
induction of ``plan evaluate``), ``[search]`` (ranges searched by ``plan population``) and
``[[strategies]]`` (compared by ``plan evaluate``). Every key is checked; an error names the
file, line and field. See docs/planning.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..calibration.individual import loss_rule
from ..clinic.settings import load_settings
from ..errors import InputError
from ..trials.toml_lines import key_lines, place, validation_error
from .strategies import Schedule, Setting


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanSection(_Section):
    name: str = "plan"
    seed: int = Field(1, ge=0)
    n_patients: int = Field(200, ge=10, le=1_000_000)
    population: str | None = None
    horizon_days: int = Field(182, ge=28, le=730)
    chunk: int = Field(250, ge=10, le=100_000)


class ResponseSection(_Section):
    percent_reduction: float | None = Field(None, ge=1, le=100)
    absolute_reduction: float | None = Field(None, ge=0.5, le=80)


class LimitsSection(_Section):
    max_sessions_per_7_days: int | None = Field(None, ge=1, le=7)
    max_cumulative_mg: float | None = Field(None, gt=0)


class InductionSection(_Section):
    sessions: int = Field(6, ge=1, le=24)
    sessions_per_week: int = Field(3, ge=1, le=7)
    dose_mg_per_kg: float = Field(0.5, ge=0.05, le=2.0)
    infusion_min: float = Field(40.0, ge=1, le=240)
    therapy_hours_after_dose: float | None = Field(None, ge=0, le=168)


class SearchSection(_Section):
    n_patients: int | None = Field(None, ge=10, le=1_000_000)
    trials: int = Field(40, ge=4, le=5000)
    population_size: int = Field(8, ge=4, le=500)
    cost: Literal["sessions_per_year", "mg_per_kg_per_year"] = "sessions_per_year"
    benefit: Literal["days_in_response_per_year", "share_in_response_at_end"] = "days_in_response_per_year"
    induction_sessions: tuple[int, int] = (3, 8)
    sessions_per_week: tuple[int, int] = (1, 3)
    dose_mg_per_kg: tuple[float, float] = (0.3, 0.75)
    maintenance: list[Literal["interval", "triggered", "none"]] = Field(
        default_factory=lambda: ["interval", "triggered", "none"], min_length=1)
    interval_days: tuple[int, int] = (7, 42)
    visit_every_days: tuple[int, int] = (7, 28)
    therapy_hours_after_dose: list[float | Literal["none"]] = Field(default_factory=lambda: ["none"], min_length=1)

    @model_validator(mode="after")
    def _ordered(self):
        for name in ("induction_sessions", "sessions_per_week", "dose_mg_per_kg", "interval_days",
                     "visit_every_days"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: the first value is above the second")
        return self


class StrategySection(_Section):
    name: str
    kind: Literal["interval", "triggered", "forecast", "none"]
    every_days: float = Field(14.0, ge=1, le=365)
    visit_every_days: int = Field(7, ge=1, le=90)
    target_probability: float = Field(0.8, ge=0.5, le=0.99)


class PlanSpec(_Section):
    plan: PlanSection = Field(default_factory=PlanSection)
    response: ResponseSection = Field(default_factory=ResponseSection)
    limits: LimitsSection = Field(default_factory=LimitsSection)
    induction: InductionSection = Field(default_factory=InductionSection)
    search: SearchSection = Field(default_factory=SearchSection)
    strategies: list[StrategySection] = Field(default_factory=list)

    def setting(self, search: bool = False) -> Setting:
        """Where strategies are evaluated (``plan.n_patients``), or with ``search`` candidates
        (``search.n_patients`` when given)."""
        threshold = {k: v for k, v in self.response.model_dump().items() if v is not None}
        if len(threshold) > 1:
            raise InputError("response", "both a percent and an absolute reduction given", "one of the two")
        settings = load_settings()
        per_week = self.limits.max_sessions_per_7_days or int(settings.rule("risk.max_sessions_per_7_days")["racemic"])
        cap = self.limits.max_cumulative_mg or float(settings.rule("risk.cumulative_dose_info")["at_or_above_mg"])
        n = (self.search.n_patients if search else None) or self.plan.n_patients
        return Setting(n, self.plan.seed, self.plan.horizon_days, loss_rule(threshold or None),
                       per_week, cap, self.plan.population)

    def strategy_schedules(self) -> dict[str, Schedule]:
        """The ``[[strategies]]`` as schedules after the ``[induction]``."""
        ind = self.induction
        out = {}
        for s in self.strategies:
            out[s.name] = Schedule(ind.sessions, ind.sessions_per_week, ind.dose_mg_per_kg, ind.infusion_min,
                                   s.kind, s.every_days, s.visit_every_days, s.target_probability,
                                   ind.therapy_hours_after_dose)
        return out


def parse_plan_spec(text: str, label: str = "spec") -> PlanSpec:
    """Read and check a planning specification from TOML ``text``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(label, f"not valid TOML: {exc}", "a TOML file like examples/plan_feder2021.toml") from None
    lines = key_lines(text)

    def where(path: str) -> str:
        return place(lines, label, path)

    try:
        spec = PlanSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(*validation_error(exc.errors()[0], PlanSpec, where)) from None
    names = [s.name for s in spec.strategies]
    if len(set(names)) != len(names):
        raise InputError(where("strategies"), "two strategies share a name", "distinct names")
    try:
        spec.setting()
    except InputError as exc:
        raise InputError(where(exc.field), exc.message, exc.allowed) from None
    return spec


def load_plan_spec(path: str | Path) -> PlanSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("SPEC", f"cannot read {path}: {exc.strerror}", "a readable TOML file") from None
    return parse_plan_spec(text, path.name)
