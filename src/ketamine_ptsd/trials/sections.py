"""The sections of a trial specification (TOML tables validated by pydantic), the scores a
trial can assess, and the notice every trial output carries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..clinic.instruments import CAPS5, IESR, MADRS, PCL5
from ..dosing import Product, Route
from ..population import FEMALE_FRACTION

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

def score_max(name: str) -> float:
    """Highest possible value of score ``name`` (points)."""
    instrument, cluster = SCORES[name]
    items = len(instrument.clusters[cluster]) if cluster else instrument.n_items
    return float(items * instrument.scale[1])


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrialInfo(_Section):
    """``[trial]``: name, design, size and the arm the others are compared with (none in a
    ``single_arm`` design); ``population`` names one of the model's populations (default:
    the covariate distributions of ``params/patient.toml``)."""

    name: str = Field(min_length=1)
    title: str = ""
    source: str = ""
    design: Literal["parallel", "crossover", "single_arm"] = "parallel"
    n_per_arm: int = Field(ge=1)
    control: str | None = Field(default=None, min_length=1)
    seed: int = Field(default=0, ge=0)
    population: str | None = Field(default=None, min_length=1)


class Maintenance(_Section):
    """Maintenance doses every ``every_days`` from ``from_day`` up to ``until_day``, or on
    the listed ``days``; each of ``dose`` (default: the arm's last induction dose). With
    ``responders_only``, only patients responding (``[response]``) on ``decision_day``
    (default: the response day) receive them."""

    every_days: float | None = Field(default=None, gt=0)
    from_day: float | None = Field(default=None, ge=0)
    until_day: float | None = Field(default=None, ge=0)
    days: list[float] | None = Field(default=None, min_length=1)
    dose: str | None = None
    responders_only: bool = False
    decision_day: float | None = Field(default=None, gt=0)


class ArmSpec(_Section):
    """``[[arms]]``: what one arm receives. ``dose`` is per session (``0.5mg/kg`` or ``56mg``),
    or a list with one dose per session day (titration: ``["56mg", "56mg", "84mg"]``);
    ``days`` the session days (day 0 = first session), psychotherapy on ``therapy_days``
    ``therapy_hours_after_dose`` hours after the start of the day; ``n`` overrides
    ``trial.n_per_arm`` for this arm. ``comparator`` is the blinding context the arm is given
    in (``none`` = open label; a placebo spray is ``drug = "saline"``, ``route =
    "intranasal"``) and ``oral_ad`` the oral antidepressant taken alongside (none, a stable
    one, or one newly started with the course); unset, the model's defaults apply."""

    name: str = Field(min_length=1)
    drug: Product
    route: Route = Route.IV_INFUSION
    dose: str | list[str]
    comparator: Literal["none", "saline", "midazolam", "placebo_spray"] | None = None
    oral_ad: Literal["none", "stable", "new"] | None = None
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



class OutcomeSpec(_Section):
    """``[outcomes.INSTRUMENT]``: the responder and remission thresholds of one instrument for
    the per-visit endpoints (default: those of ``[response]`` / ``[remission]`` when they are
    of this instrument; unset, no rate is given)."""

    percent_reduction: float | None = Field(default=None, gt=0, le=100)
    remission_at_or_below: float | None = Field(default=None, ge=0)
    source: str = ""


class RelapseSpec(_Section):
    """``[[relapse]]``: one relapse definition. Patients at risk are those responding
    (``loss_of_response``: a reduction of at least ``percent_reduction`` %) or in remission
    (``from_remission``: score at or below ``remission_at_or_below``) on ``day``; relapse is the
    first run of ``consecutive`` later assessments without response, or at or above
    ``relapse_at_or_above``. Days are counted from ``clock_from_day`` (default ``day``, for
    instance the last infusion); ``by_days`` asks for the share relapsed by those days."""

    name: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$")
    instrument: ScoreName
    kind: Literal["loss_of_response", "from_remission"]
    day: float = Field(gt=0)
    percent_reduction: float | None = Field(default=None, gt=0, le=100)
    remission_at_or_below: float | None = Field(default=None, ge=0)
    relapse_at_or_above: float | None = Field(default=None, ge=0)
    consecutive: int = Field(default=1, ge=1, le=4)
    clock_from_day: float | None = Field(default=None, ge=0)
    by_days: list[float] = []
    source: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.instrument}_{self.kind}"


class SafetySpec(_Section):
    """``[safety]``: acute readings at every session, ``reading_hours`` after the dose (0 =
    the pre-dose reading, the reference for the rises); a patient counts once if at any
    session a post-dose CADSS is above ``cadss_above`` (and above its pre-dose value), or the
    systolic / diastolic pressure rose by at least ``sbp_rise_at_least`` /
    ``dbp_rise_at_least`` mmHg. Sessions up to ``until_day`` (default: all)."""

    reading_hours: list[float] = Field(default=[0.0, 0.67, 1.5], min_length=2)
    cadss_above: float = Field(default=4.0, ge=0)
    sbp_rise_at_least: float = Field(default=40.0, gt=0)
    dbp_rise_at_least: float = Field(default=25.0, gt=0)
    until_day: float | None = Field(default=None, ge=0)
    source: str = ""
