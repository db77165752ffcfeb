"""Personal forecasts: the population model updated with one patient's own scores.

:func:`forecast` fits the individual parameters that matter for the course of symptoms
(response sensitivity, cascade sensitivity = spine formation rate, decay of new synapses =
``labile_tau``, synaptic set-point, expectancy response, depression sensitivity when MADRS
is scored, and the baseline severities the clinic did not give) by maximum a posteriori,
with the population model (each parameter's between-patient variability in the parameter
tables, and the treatment-resistant and strong-placebo-responder phenotypes as discrete
prior components, ``calibration.mixture``) as the prior,
from the patient's doses and scores. Scores scatter around the model with each
instrument's standard error of measurement (``individual.toml``).

Uncertainty: the Laplace approximation at each component's mode, corrected by
sampling-importance-resampling (SIR). With only baseline (pre-dose) scores nothing informs
the response parameters: every draw comes from the population prior (weighted by the
baseline scores) and the forecast says so (``fit["basis"] == "population"``), and its
probabilities of response are capped (``individual.toml`` ``[baseline_only]``). Draws come
from a multivariate t around the modes and from the prior, every other parameter with
between-patient variability is drawn from the population, and all draws are simulated in
one engine call. The weighted draws give
the forecast PCL-5 (total and by cluster), CAPS-5 and MADRS with a median (of the course)
and an 80 % predictive band of an observed score (the course plus the instrument's error of
measurement, so that the band can be checked against scores), the probability of being in
response on each day (the share of weighted draws whose improvement meets the loss rule's
threshold), and from that one curve the day response is lost and a day to book
maintenance; the prior draws alone give the covariate-only curve, and a virtual population the population curve.

The fit sees the model only through :class:`CourseModel`, a forward model of
``calibration.inference`` (``n_parameters()``, ``simulate(parameters, times)``).
Research and decision-support software, not a medical device.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from ..clinic.instruments import CAPS5, MADRS, PCL5
from ..clinic.settings import load_settings
from ..dosing import HOURS_PER_DAY, Regimen
from ..engine import Engine, NumbaEngine
from ..errors import InputError
from ..model.layout import PARAM_NAMES, PATIENT_NAMES
from ..params import DEFAULT_POPULATION, patient_table, population_spec
from ..population import Population
from ..simulation import simulate
from ..validity import validated_range_warnings
from . import mixture
from .inference import Laplace, Problem, Proposal, effective_sample_size, fit_map, importance_weights
from .response import first_day_below, improvement_needed, loss_times  # noqa: F401 (re-exported)

NOTICE = "Research and decision-support software, not a medical device."
SPECS = {spec.id: spec for spec in (PCL5, CAPS5, MADRS)}
CLUSTERS = tuple(PCL5.clusters)
#: Forecast keys and the model outputs they read.
FORECAST_OUTPUTS = {"pcl5": "pcl5_total", "pcl5_b": "pcl5_b", "pcl5_c": "pcl5_c", "pcl5_d": "pcl5_d",
                    "pcl5_e": "pcl5_e", "caps5": "caps5_total", "madrs": "madrs"}
OUTPUTS = tuple(FORECAST_OUTPUTS.values())
#: Baseline covariates of each instrument.
BASELINES = {"pcl5": tuple(f"pcl5_{c.lower()}" for c in CLUSTERS),
             "caps5": tuple(f"caps5_{c.lower()}" for c in CLUSTERS), "madrs": ("madrs",)}
#: Model parameters fitted to every patient; ``sensitivity_depression`` joins when MADRS is scored.
FITTED_PARAMETERS = ("response_sensitivity", "spine_formation_rate", "labile_tau", "stable_tau", "set_point",
                     "expectancy_gain")
#: Baseline severity levels (log scale factors on the baseline covariates), fitted when not given.
LEVELS = {"ptsd_severity": (PCL5.id, CAPS5.id), "depression_severity": (MADRS.id,)}
ETA_NAMES = PARAM_NAMES + tuple(LEVELS)

# Algorithm settings (not clinical numbers): draws for SIR, of which a quarter from the prior
# (enough for the covariate-only curve and to bound the weights); the simulation grid for
# the day of loss (6 h); a virtual population for the population curve.
N_DRAWS = 512
PRIOR_SHARE = 0.25
GRID_H = 6.0
POPULATION_SIZE = 200
BAND = (0.1, 0.5, 0.9)
SMALL_BATCH = 16
#: Random stream of the instrument errors added for the predictive band.
NOISE_STREAM = 7


@cache
def forecast_table() -> dict:
    """The packaged ``calibration/individual.toml``."""
    return tomllib.loads(resources.files(__package__).joinpath("individual.toml").read_text(encoding="utf-8"))


def _number(value, field_name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field_name, f"not a number: {value!r}", f"{low:g} to {high:g}") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise InputError(field_name, f"{number:g} is out of range", f"{low:g} to {high:g}")
    return number


@dataclass(frozen=True)
class Observation:
    """One scored instrument: ``time_h`` hours from the first dose (negative = before it),
    ``instrument`` ``pcl5``, ``caps5`` or ``madrs``, its ``total`` and, for the PCL-5,
    optionally the DSM-5 cluster sums ``{"B": .., "C": .., "D": .., "E": ..}`` (CAPS-5
    clusters are accepted, but only its total is used: the model has no CAPS-5 clusters)."""

    time_h: float
    instrument: str
    total: float
    clusters: dict[str, float] | None = None

    def __post_init__(self):
        if self.instrument not in SPECS:
            raise InputError("instrument", f"unknown instrument {self.instrument!r}", ", ".join(SPECS))
        spec = SPECS[self.instrument]
        object.__setattr__(self, "time_h", _number(self.time_h, "time_h", -24.0 * 365, 24.0 * 3650))
        object.__setattr__(self, "total", _number(self.total, f"{spec.name} total", 0, spec.max_total))
        if self.clusters is None:
            return
        if not spec.clusters:
            raise InputError("clusters", f"{spec.name} has no clusters", "omit clusters for this instrument")
        clusters = {str(k).upper(): v for k, v in dict(self.clusters).items()}
        if set(clusters) != set(spec.clusters):
            raise InputError("clusters", f"got {sorted(clusters)}", "all of " + ", ".join(spec.clusters))
        values = {c: _number(clusters[c], f"{spec.name} cluster {c}", 0, spec.scale[1] * len(items))
                  for c, items in spec.clusters.items()}
        if abs(sum(values.values()) - self.total) > 0.5:
            raise InputError("clusters", f"cluster sums add up to {sum(values.values()):g}, not {self.total:g}",
                             "clusters that add up to the total")
        object.__setattr__(self, "clusters", values)


def loss_rule(threshold: Mapping | None) -> dict:
    """The definition of the loss of response: instrument, an absolute or a percent
    reduction from baseline, and the quantile of the loss day at which to book
    maintenance. Defaults come from the clinic settings and ``individual.toml``."""
    allowed = ("instrument", "absolute_reduction", "percent_reduction", "maintenance_quantile")
    threshold = dict(threshold or {})
    unknown = sorted(set(threshold) - set(allowed))
    if unknown:
        raise InputError(f"threshold.{unknown[0]}", "unknown key", ", ".join(allowed))
    table = forecast_table()
    instrument = threshold.get("instrument", "pcl5")
    if instrument not in SPECS:
        raise InputError("threshold.instrument", f"unknown instrument {instrument!r}", ", ".join(SPECS))
    if "absolute_reduction" in threshold and "percent_reduction" in threshold:
        raise InputError("threshold", "both an absolute and a percent reduction given", "one of the two")
    rule = load_settings().rule(table["loss_rule"][instrument])
    source = rule.citation
    if "absolute_reduction" in threshold or "percent_reduction" in threshold:
        source = "given by the caller"
        params = {k: threshold[k] for k in ("absolute_reduction", "percent_reduction") if k in threshold}
    else:
        params = dict(rule.params)
    spec = SPECS[instrument]
    out = {"instrument": instrument, "source": source}
    if "absolute_reduction" in params:
        out["absolute_reduction"] = _number(params["absolute_reduction"], "threshold.absolute_reduction",
                                            0.5, spec.max_total)
    else:
        out["percent_reduction"] = _number(params["percent_reduction"], "threshold.percent_reduction", 1, 100)
    out["maintenance_quantile"] = _number(threshold.get("maintenance_quantile", table["maintenance"]["quantile"]),
                                          "threshold.maintenance_quantile", 0.01, 0.5)
    return out


def population_name(population: str | None) -> str:
    """The name of ``population`` (None: the default's), checked against ``populations.toml``."""
    population_spec(population)
    return population or DEFAULT_POPULATION


def typical_covariates(population: str | None = None) -> dict[str, float]:
    """The typical value of each covariate in ``population`` (its median where
    ``populations.toml`` gives one, else ``patient.toml``'s)."""
    table = patient_table()
    medians = population_spec(population).get("covariates", {})
    return {name: float(medians[name]["median"]) if name in medians else table.value(name) for name in PATIENT_NAMES}


def _baseline_covariates(covariates: Mapping[str, float], observations: Sequence[Observation],
                         population: str | None = None) -> tuple[dict, dict]:
    """The patient's covariates with every baseline filled in, and which instruments' baselines
    were given. A baseline not given is the population's typical one; for the PCL-5 its
    cluster profile is that of the pre-dose scores when there are any (the level is fitted)."""
    typical = typical_covariates(population)
    unknown = sorted(set(covariates) - set(PATIENT_NAMES))
    if unknown:
        raise InputError(f"covariates.{unknown[0]}", "unknown covariate", ", ".join(PATIENT_NAMES))
    filled = {name: float(covariates.get(name, typical[name])) for name in PATIENT_NAMES}
    given = {}
    for instrument, names in BASELINES.items():
        present = [n for n in names if n in covariates]
        if present and len(present) != len(names):
            raise InputError(f"covariates.{names[0]}", f"{SPECS[instrument].name} baseline partly given",
                             "all of " + ", ".join(names) + " or none")
        given[instrument] = bool(present)
    profiles = [o.clusters for o in observations if o.instrument == "pcl5" and o.time_h <= 0 and o.clusters]
    if not given["pcl5"] and profiles:
        mean = {c: np.mean([p[c] for p in profiles]) for c in CLUSTERS}
        total = sum(mean.values())
        typical_total = sum(typical[n] for n in BASELINES["pcl5"])
        if total > 0:
            for c, name in zip(CLUSTERS, BASELINES["pcl5"]):
                filled[name] = typical_total * mean[c] / total
    return filled, given


class CourseModel:
    """One patient's course under a regimen, as a forward model.

    Parameters are standard-normal deviates (etas) of ``fitted`` (names of
    :data:`ETA_NAMES`: model parameters, whose value is typical x exp(omega x eta), or the
    severity levels of :data:`LEVELS`, which scale the baselines not given by
    exp(omega x eta)). Every other eta comes from ``others`` (draws x len(ETA_NAMES); zero,
    the typical patient, when None); ``resistant`` and ``placebo`` mark draws with the
    treatment-resistant phenotype and the strong placebo responders (``calibration.mixture``).
    ``population`` names the population of ``params/populations.toml`` whose phenotype
    distributions (typical values and spreads) the etas are deviates of, and
    whose baseline spreads the severity levels use (None: the default population).
    Outputs are :data:`OUTPUTS`.
    """

    def __init__(self, regimen: Regimen, covariates: Mapping[str, float], given: Mapping[str, bool],
                 fitted: Sequence[str], resistant=False, others: np.ndarray | None = None,
                 population: str | None = None, engine: Engine | str | None = None, placebo=False):
        self.regimen = regimen
        self.population_name = population
        self.engine = engine
        self.covariates = dict(covariates)
        self.given = dict(given)
        self.fitted = tuple(fitted)
        self.columns = np.array([ETA_NAMES.index(n) for n in self.fitted], dtype=np.int64)
        self.resistant = np.atleast_1d(np.asarray(resistant, dtype=bool))
        self.placebo = np.atleast_1d(np.asarray(placebo, dtype=bool))
        self.others = np.zeros((1, len(ETA_NAMES))) if others is None else np.atleast_2d(others)
        patient = patient_table()
        spread = population_spec(population).get("covariates", {})
        self.level_omega = {level: dataclasses.replace(patient[name], iiv_cv=spread[name]["cv"]).omega
                            if name in spread else patient[name].omega
                            for level, name in (("ptsd_severity", "pcl5_b"), ("depression_severity", "madrs"))}

    def view(self, regimen: Regimen | None = None, resistant=None, others: np.ndarray | None = None,
             placebo=None) -> CourseModel:
        """The same patient and population under ``regimen``, with other phenotypes and etas."""
        return CourseModel(regimen or self.regimen, self.covariates, self.given, self.fitted,
                           self.resistant if resistant is None else resistant, others, self.population_name,
                           self.engine, self.placebo if placebo is None else placebo)

    def n_parameters(self) -> int:
        return len(self.fitted)

    def n_outputs(self) -> int:
        return len(OUTPUTS)

    def etas(self, parameters: np.ndarray) -> np.ndarray:
        """Every eta (draws x len(ETA_NAMES)) for a batch of ``parameters``."""
        parameters = np.atleast_2d(parameters)
        etas = np.array(np.broadcast_to(self.others, (parameters.shape[0], len(ETA_NAMES))))
        etas[:, self.columns] = parameters
        return etas

    def population(self, parameters: np.ndarray) -> Population:
        """The draws as a :class:`Population` (given covariates, levels applied)."""
        etas = self.etas(parameters)
        n = etas.shape[0]
        covariates = {k: np.full(n, v) for k, v in self.covariates.items()}
        for level, instruments in LEVELS.items():
            factor = np.exp(self.level_omega[level] * etas[:, ETA_NAMES.index(level)])
            for instrument in instruments:
                if self.given[instrument]:
                    continue
                spec = SPECS[instrument]
                caps = [spec.scale[1] * len(items) for items in spec.clusters.values()] or [spec.max_total]
                for name, cap in zip(BASELINES[instrument], caps):
                    covariates[name] = np.minimum(covariates[name] * factor, cap)
        return Population(np.arange(1, n + 1), covariates, etas[:, : len(PARAM_NAMES)],
                          mixture.multipliers(self.resistant, self.placebo, n),
                          population=self.population_name)

    def simulate(self, parameters: np.ndarray, times: np.ndarray, progress=None) -> np.ndarray:
        """Outputs (draws x T x K) at ``times`` (h; times before the first dose read as 0,
        where every patient is still at baseline)."""
        times = np.asarray(times, dtype=float)
        grid = np.unique(np.maximum(times, 0.0))
        population = self.population(parameters)
        # A fit's batch of a few courses gains nothing from threads, and on a busy machine
        # waiting for a descheduled thread costs more than the work (15 ms against 2 ms).
        engine = self.engine or (NumbaEngine(threads=1) if len(population) < SMALL_BATCH else None)
        trajectory = simulate(self.regimen, population, engine=engine, times=grid, outputs=OUTPUTS,
                              progress=progress)
        return trajectory.values[:, np.searchsorted(grid, np.maximum(times, 0.0))]


def _problem(model: CourseModel, observations: Sequence[Observation]) -> Problem:
    """The patient's scores as data: PCL-5 clusters when scored, else totals."""
    sd = forecast_table()["residual_sd"]
    rows = []
    for obs in observations:
        if obs.instrument == "pcl5" and obs.clusters:
            for c in CLUSTERS:
                rows.append((obs.time_h, OUTPUTS.index(f"pcl5_{c.lower()}"), obs.clusters[c],
                             sd["pcl5_clusters"][c]))
        else:
            rows.append((obs.time_h, OUTPUTS.index(FORECAST_OUTPUTS[obs.instrument]), obs.total,
                         sd[obs.instrument]["total"]))
    times = np.unique([max(r[0], 0.0) for r in rows])
    return Problem(model, times, np.searchsorted(times, [max(r[0], 0.0) for r in rows]),
                   np.array([r[1] for r in rows], dtype=np.int64), np.array([r[2] for r in rows]),
                   np.array([r[3] for r in rows]))


def _starting_point(model: CourseModel, observations: Sequence[Observation]) -> np.ndarray:
    """Zero, except the severity levels: those of the pre-dose scores when there are any."""
    x0 = np.zeros(model.n_parameters())
    for i, name in enumerate(model.fitted):
        if name not in LEVELS:
            continue
        for instrument in LEVELS[name]:
            before = [o.total for o in observations if o.instrument == instrument and o.time_h <= 0]
            typical = sum(model.covariates[n] for n in BASELINES[instrument])
            if before and typical > 0 and not model.given[instrument]:
                x0[i] = math.log(max(np.mean(before), 1.0) / typical) / model.level_omega[name]
                break
    return x0


@lru_cache(maxsize=8)
def _population_curves(regimen: Regimen, horizon_days: float, population: str | None = None, engine=None) -> dict:
    """Median and predictive band of a virtual population (seed 0) under ``regimen``."""
    days = np.arange(0, math.floor(horizon_days) + 1)
    patients = Population.virtual(POPULATION_SIZE, seed=0, population=population)
    values = simulate(regimen, patients, engine=engine, times=days * HOURS_PER_DAY, outputs=OUTPUTS).values
    return forecast_curves(values, days, None, observed_scores(values, np.random.default_rng([0, NOISE_STREAM])))


@cache
def _score_limits() -> tuple[np.ndarray, np.ndarray]:
    """Per output of :data:`OUTPUTS`: the instrument's error of measurement and its largest score."""
    sd = forecast_table()["residual_sd"]
    clusters = {f"pcl5_{c.lower()}": (sd["pcl5_clusters"][c], PCL5.scale[1] * len(PCL5.clusters[c]))
                for c in CLUSTERS}
    limits = {"pcl5_total": (sd["pcl5"]["total"], PCL5.max_total), **clusters,
              "caps5_total": (sd["caps5"]["total"], CAPS5.max_total), "madrs": (sd["madrs"]["total"], MADRS.max_total)}
    return np.array([limits[o][0] for o in OUTPUTS]), np.array([limits[o][1] for o in OUTPUTS], dtype=float)


def observed_scores(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scores as an instrument would read them: ``values`` (... x K outputs) plus normal
    error with each instrument's standard error of measurement, kept on its scale."""
    sd, top = _score_limits()
    return np.clip(values + rng.standard_normal(values.shape) * sd, 0.0, top)


def forecast_curves(values: np.ndarray, days: np.ndarray, weights: np.ndarray | None = None,
            observed: np.ndarray | None = None) -> dict:
    """``{"band_low"|"median"|"band_high": {forecast key: {day: value}}}`` from draws
    (draws x days x K): the median of the courses ``values``, the band of the scores
    ``observed`` (default: of the courses)."""
    median = np.quantile(values, BAND[1], axis=0, weights=weights, method="inverted_cdf")
    low, high = np.quantile(values if observed is None else observed, (BAND[0], BAND[2]), axis=0, weights=weights,
                            method="inverted_cdf")
    out = {}
    for name, level in zip(("band_low", "median", "band_high"), (np.minimum(low, median), median,
                                                                 np.maximum(high, median))):
        out[name] = {key: {int(d): round(float(v), 2) for d, v in zip(days, level[:, OUTPUTS.index(output)])}
                     for key, output in FORECAST_OUTPUTS.items()}
    return out


@dataclass(frozen=True)
class Forecast:
    """A personal forecast; see :func:`forecast` and :meth:`to_dict`."""

    loss_of_response_day: float | None
    loss_of_response_band: tuple[float, float] | None
    loss_status: str
    probability_of_response: float
    recommended_maintenance_day: int | None
    maintenance_rule: str
    threshold: dict
    median: dict
    band_low: dict
    band_high: dict
    population: dict
    covariate_only: dict
    outside_validated_range: list[str]
    warnings: list[str]
    fit: dict
    probability_in_response: dict = field(default_factory=dict)
    samples: ResponseSamples | None = field(default=None, repr=False, compare=False)
    posterior: Posterior | None = field(default=None, repr=False, compare=False)
    notice: str = field(default=NOTICE)

    def to_dict(self) -> dict:
        """JSON-ready dict. Curves are ``{instrument: {day: value}}`` for pcl5, pcl5_b..e,
        caps5 and madrs, days from the first dose; ``population`` and ``covariate_only``
        hold ``median``, ``band_low`` and ``band_high`` in the same shape. ``median`` is the
        median course; the bands are the 80 % predictive band of an observed score (course
        plus the instrument's error of measurement). ``probability_in_response`` is
        ``{day: probability}`` under the loss rule (capped with only baseline scores)."""
        return {
            "loss_of_response_day": self.loss_of_response_day,
            "loss_of_response_band": None if self.loss_of_response_band is None else list(self.loss_of_response_band),
            "loss_status": self.loss_status,
            "probability_of_response": self.probability_of_response,
            "recommended_maintenance_day": self.recommended_maintenance_day,
            "maintenance_rule": self.maintenance_rule,
            "threshold": dict(self.threshold),
            "median": self.median,
            "band_low": self.band_low,
            "band_high": self.band_high,
            "population": self.population,
            "covariate_only": self.covariate_only,
            "outside_validated_range": list(self.outside_validated_range),
            "warnings": list(self.warnings),
            "fit": self.fit,
            "probability_in_response": dict(self.probability_in_response),
            "notice": self.notice,
        }


def _day(hours: float) -> float:
    return round(hours / HOURS_PER_DAY * 4) / 4


def forecast(regimen: Regimen, observations: Sequence[Observation], covariates: Mapping[str, float],
             horizon_days: float = 84, threshold: Mapping | None = None, *, seed: int = 0,
             n_draws: int = N_DRAWS, progress=None, population: str | None = None,
             engine: Engine | str | None = None) -> Forecast:
    """Forecast one patient's course from their doses (``regimen``, hours from the first
    dose) and scores (``observations``).

    ``covariates`` are names of ``layout.PATIENT_NAMES`` (weight_kg, age_years, baselines
    pcl5_b..e, caps5_b..e, madrs, ...); baselines not given are fitted. ``horizon_days`` is
    how far the curves go (days from the first dose). ``threshold`` defines the loss of
    response (see :func:`loss_rule`): by default the PCL-5 improvement from baseline falling
    below the NCPTSD minimum reliable change of 5 points. The day of loss and the
    recommended maintenance day come from the probability of being in response on each
    day after the last dose of ``regimen`` (see :func:`_loss_summary`): maintenance by the
    last day on which it is at least 1 - ``maintenance_quantile`` (default 0.8). ``seed``
    fixes the draws; ``progress`` receives the number of courses simulated; ``population``
    names the patient's population of ``params/populations.toml`` (None: the default,
    ``civilian_ptsd``): the prior is that population's (its phenotype distributions, its
    shares of the treatment-resistant phenotype and of strong placebo responders, its typical
    covariates and baseline spreads), and the population curve is a virtual population of it. ``engine``
    integrates every course (an :class:`~ketamine_ptsd.engine.Engine` or its name; None: numba).
    """
    population_spec(population)  # an unknown name is an InputError naming ``population``
    if not isinstance(regimen, Regimen) or not regimen.doses:
        raise InputError("regimen", "no doses", "a regimen with the patient's doses")
    observations = list(observations)
    for i, obs in enumerate(observations):
        if not isinstance(obs, Observation):
            raise InputError(f"observations[{i}]", "not an Observation", "Observation(time_h, instrument, total)")
    horizon_days = _number(horizon_days, "horizon_days", 1, 730)
    last_dose_h = max(d.time_h + (d.duration_h or 0.0) for d in regimen.doses)
    if last_dose_h >= horizon_days * HOURS_PER_DAY:
        raise InputError("horizon_days", f"{horizon_days:g} days ends before the last dose",
                         f"> {last_dose_h / HOURS_PER_DAY:g} days")
    late = [o.time_h for o in observations if o.time_h > horizon_days * HOURS_PER_DAY]
    if late:
        raise InputError("observations", f"a score at {late[0]:g} h is after the horizon",
                         f"times up to {horizon_days * HOURS_PER_DAY:g} h, or a longer horizon_days")
    n_draws = int(_number(n_draws, "n_draws", 64, 100_000))
    rule = loss_rule(threshold)
    filled, given = _baseline_covariates(covariates, observations, population)

    scored = {o.instrument for o in observations}
    fitted = list(FITTED_PARAMETERS) + (["sensitivity_depression"] if "madrs" in scored else [])
    fitted += [level for level, instruments in LEVELS.items()
               if any(i in scored and not given[i] for i in instruments)]
    components = mixture.phenotypes(population)
    prior_weights = np.array([c.weight for c in components])

    # Only scores after the first dose inform the response; before it, the population decides.
    basis = "patient" if any(o.time_h > 0 for o in observations) else "population"
    fits: list[Laplace] = []
    if basis == "patient":
        for c in components:
            model = CourseModel(regimen, filled, given, fitted, c.resistant, population=population, engine=engine,
                                placebo=c.placebo_responder)
            fits.append(fit_map(_problem(model, observations), _starting_point(model, observations)))
        log_post = np.log(prior_weights) + np.array([f.log_evidence for f in fits])
        fit_weights = np.exp(log_post - log_post.max())
        fit_weights /= fit_weights.sum()
    else:
        fit_weights = prior_weights
    proposal = Proposal(prior_weights, tuple(fits), fit_weights, PRIOR_SHARE)

    rng = np.random.default_rng(seed)
    x, component, from_prior = proposal.sample(rng, n_draws, len(fitted))
    others = rng.standard_normal((n_draws, len(ETA_NAMES)))
    resistant, placebo = mixture.flags(components, component)
    draws = CourseModel(regimen, filled, given, fitted, resistant, others, population, engine, placebo)
    grid = np.arange(0.0, horizon_days * HOURS_PER_DAY + 1e-9, GRID_H)
    problem = _problem(draws, observations) if observations else None
    times = np.union1d(grid, problem.times) if problem else grid
    values = draws.simulate(x, times, progress)
    if problem:
        at_obs = values[:, np.searchsorted(times, problem.times)]
        log_likelihood = -0.5 * np.sum(problem.residuals_of(at_obs) ** 2, axis=1)
        weights = importance_weights(log_likelihood, proposal.log_target_prior(x, component),
                                     proposal.log_density(x, component))
    else:
        weights = np.full(n_draws, 1.0 / n_draws)
    on_grid = values[:, np.searchsorted(times, grid)]

    days = np.arange(0, math.floor(horizon_days) + 1)
    daily = on_grid[:, np.searchsorted(grid, days * HOURS_PER_DAY)]
    noise = np.random.default_rng([seed, NOISE_STREAM])
    updated = forecast_curves(daily, days, weights, observed_scores(daily, noise))
    prior_daily = daily[from_prior]
    covariate_only = forecast_curves(prior_daily, days, None, observed_scores(prior_daily, noise))
    population_curves = _population_curves(regimen, float(horizon_days), population, engine)

    samples = ResponseSamples.of(daily, days, weights, rule, last_dose_h, basis)
    loss = _loss_summary(samples, rule, horizon_days)

    patient = Population.from_patients([filled], population)
    warnings = []
    if basis == "population":
        warnings.append("only baseline scores: the forecast is the population's spread for a patient with these "
                        f"baselines, and no probability of response above {samples.cap:.0%} is reported; scores "
                        "after the first dose will make it personal")
    ess = effective_sample_size(weights)
    if observations and ess < 50:
        warnings.append(f"posterior poorly sampled (effective sample size {ess:.0f} of {n_draws}); "
                        "more draws (n_draws) would steady the bands")
    best = int(np.argmax(fit_weights)) if fits else None
    if fits and fits[best].max_residual > 3:
        warnings.append(f"a score lies {fits[best].max_residual:.1f} residual SDs from the best fit: "
                        "the patient's course may not be one the model can describe")
    fit = _fit_summary(draws, fitted, fits, components, fit_weights, x, weights, ess, n_draws)
    fit["basis"] = basis
    fit["population"] = population_name(population)
    return Forecast(
        **loss, threshold=rule, median=updated["median"], band_low=updated["band_low"], band_high=updated["band_high"],
        population=population_curves, covariate_only=covariate_only,
        outside_validated_range=validated_range_warnings(regimen, patient), warnings=warnings, fit=fit,
        probability_in_response=samples.curve(), samples=samples, posterior=Posterior(draws, x, weights, basis),
    )


@dataclass(frozen=True)
class Posterior:
    """The weighted draws of a forecast, to simulate them again under another regimen
    (:func:`simulate_posterior`)."""

    model: CourseModel
    x: np.ndarray
    weights: np.ndarray
    basis: str


def simulate_posterior(posterior: Posterior, regimen: Regimen, days: np.ndarray) -> np.ndarray:
    """Daily outputs (draws x days x K) of the forecast's draws under ``regimen``."""
    view = posterior.model.view(regimen, others=posterior.model.others)
    return view.simulate(posterior.x, np.asarray(days, dtype=float) * HOURS_PER_DAY)


@dataclass(frozen=True)
class ResponseSamples:
    """What the loss-of-response summary and the planner read: per draw its weight, the
    rule's instrument on each day (``score``, draws x days), its baseline and the
    improvement needed to count as in response; ``start_day`` the first whole day after
    the last dose, ``cap`` the largest probability that may be reported."""

    days: np.ndarray
    weights: np.ndarray
    score: np.ndarray
    baseline: np.ndarray
    needed: np.ndarray
    start_day: int
    cap: float

    @classmethod
    def of(cls, daily: np.ndarray, days: np.ndarray, weights: np.ndarray, rule: dict, last_dose_h: float,
           basis: str) -> ResponseSamples:
        score = daily[:, :, OUTPUTS.index(FORECAST_OUTPUTS[rule["instrument"]])]
        baseline = score[:, 0]
        needed = improvement_needed(baseline, rule)
        cap = float(forecast_table()["baseline_only"]["max_probability"]) if basis == "population" else 1.0
        return cls(days, weights, score, baseline, needed, math.ceil(last_dose_h / HOURS_PER_DAY - 1e-9), cap)

    def with_rule(self, rule: dict) -> ResponseSamples:
        """The same draws judged by another loss rule of the same instrument."""
        return dataclasses.replace(self, needed=improvement_needed(self.baseline, rule))

    def probability(self, score: np.ndarray | None = None) -> np.ndarray:
        """Probability of being in response on each day (capped); ``score`` replaces the
        draws' course (the same draws under another regimen)."""
        score = self.score if score is None else score
        inside = (self.baseline[:, None] - score) >= self.needed[:, None]
        return np.minimum(self.weights @ inside, self.cap)

    def curve(self) -> dict[int, float]:
        return {int(d): round(float(p), 4) for d, p in zip(self.days, self.probability())}

    def to_dict(self) -> dict:
        """The samples as JSON-ready lists, unrounded (so that anything computed from them
        can be computed again exactly)."""
        return {"days": self.days.tolist(), "weights": self.weights.tolist(), "score": self.score.tolist(),
                "baseline": self.baseline.tolist(), "needed": self.needed.tolist(), "start_day": self.start_day,
                "cap": self.cap}


def _loss_summary(samples: ResponseSamples, rule: dict, horizon_days: float) -> dict:
    """From the probability of being in response on each day: the probability of a response
    (its largest value after the last dose), the day of loss (the first day after that
    largest value on which it is below 0.5: the median course leaves response, when the
    baselines are given), its 80 % band (below 0.9 and below 0.1) and the maintenance day
    (the last day on which it is at least 1 - maintenance_quantile)."""
    probability = samples.probability()
    days, start = samples.days, samples.start_day
    p_response = float(probability[days >= start].max())
    out = {"loss_of_response_day": None, "loss_of_response_band": None, "recommended_maintenance_day": None,
           "probability_of_response": round(p_response, 3), "loss_status": "no response expected"}
    if p_response >= 0.5:
        mid = first_day_below(probability, days, start, 0.5)
        low = first_day_below(probability, days, start, BAND[2])
        high = first_day_below(probability, days, start, BAND[0])
        book = first_day_below(probability, days, start, 1 - rule["maintenance_quantile"])
        out["loss_status"] = "lost" if mid is not None else f"not lost within {horizon_days:g} days"
        out["loss_of_response_day"] = mid
        if low is not None:
            out["loss_of_response_band"] = (low, high)
        if book is not None:
            out["recommended_maintenance_day"] = max(start, book - 1)
    name = SPECS[rule["instrument"]].name
    if "absolute_reduction" in rule:
        definition = f"improvement of {name} from baseline below {rule['absolute_reduction']:g} points"
    else:
        definition = f"{name} reduction from baseline below {rule['percent_reduction']:g} %"
    out["maintenance_rule"] = (f"loss of response: {definition}; the day of loss is the first day after the most "
                               "probable day of response on which the probability of being in response is below "
                               f"50 %; book maintenance by the last day on which it is at least "
                               f"{1 - rule['maintenance_quantile']:.0%}")
    return out


def _fit_summary(model: CourseModel, fitted: Sequence[str], fits: Sequence[Laplace],
                 components: tuple[mixture.Phenotype, ...], fit_weights: np.ndarray,
                 x: np.ndarray, weights: np.ndarray, ess: float, n_draws: int) -> dict:
    """MAP values (natural units) of the most probable phenotype, Laplace SDs (in prior SDs)
    and the weighted 10th-90th percentiles of the draws."""
    out = {"phenotype_probability": mixture.marginals(components, fit_weights),
           "effective_sample_size": round(ess, 1), "n_draws": n_draws,
           "residual_sd": {k: {kk: vv for kk, vv in v.items() if kk not in ("source", "tag")}
                           for k, v in forecast_table()["residual_sd"].items()},
           "parameters": {}}
    if not fits:
        return out
    best = int(np.argmax(fit_weights))
    fit = fits[best]
    out.update(objective=round(fit.objective, 3), evaluations=sum(f.evaluations for f in fits))
    mode_values = _natural(model, fit.mode[None, :], components[best].resistant, None,
                           components[best].placebo_responder)
    draw_values = _natural(model, x, model.resistant, model.others, model.placebo)
    for i, name in enumerate(fitted):
        low, high = np.quantile(draw_values[name], (BAND[0], BAND[2]), weights=weights, method="inverted_cdf")
        out["parameters"][name] = {"map": round(float(mode_values[name][0]), 4),
                                   "map_eta": round(float(fit.mode[i]), 3),
                                   "sd_eta": round(float(math.sqrt(fit.covariance[i, i])), 3),
                                   "band_low": round(float(low), 4), "band_high": round(float(high), 4)}
    return out


def _natural(model: CourseModel, parameters: np.ndarray, resistant: np.ndarray,
             others: np.ndarray | None, placebo: np.ndarray) -> dict[str, np.ndarray]:
    """Fitted quantities in their own units: model parameters as the patient's values, a
    severity level as the baseline total of the first instrument it scales."""
    view = model.view(resistant=resistant, others=others, placebo=placebo)
    population = view.population(parameters)
    matrix = population.parameters(model.regimen.pk_product)
    out = {}
    for name in model.fitted:
        if name in LEVELS:
            instrument = next(i for i in LEVELS[name] if not model.given[i])
            out[name] = sum(population.covariates[n] for n in BASELINES[instrument])
        else:
            out[name] = matrix[:, PARAM_NAMES.index(name)]
    return out
