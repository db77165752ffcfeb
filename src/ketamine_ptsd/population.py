"""Virtual patients: covariates and between-patient variability, reproducible by seed.

Every random number of patient ``id`` comes from a counter-based stream keyed on
``(seed, id, dimension)``, so a patient is the same whichever chunk, worker or order it is
simulated in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .clinic.instruments.specs import CAPS5, IESR, PCL5
from .errors import InputError
from .model.layout import PARAM_NAMES, PATIENT_NAMES
from .params import ParameterTable, model_table, patient_table, pk_table, population_spec
from .streams import patient_normals, patient_uniforms  # noqa: F401 (part of this module's API)

STREAM_ETAS, STREAM_COVARIATES, STREAM_PHENOTYPE, STREAM_SEX, STREAM_PLACEBO = 1, 2, 3, 4, 5

#: Share of women when a population does not say: 23 of 30 participants of Feder et al. 2021
#: (Am J Psychiatry 178:193), the trial the symptom model is calibrated to.
FEMALE_FRACTION = 23 / 30
#: Baseline MADRS at or above which a patient counts as having comorbid depression: the lower
#: end of "moderate" in the bands of Snaith et al. (0-6 absent, 7-19 mild, 20-34 moderate).
DEPRESSION_MADRS_AT_LEAST = 20.0


@dataclass(frozen=True)
class CovariateModel:
    """How the covariates of a virtual population are distributed.

    ``population`` names a population of ``params/populations.toml`` (None: the default,
    ``civilian_ptsd``) whose covariate and phenotype distributions are the starting point;
    ``distributions`` maps a covariate of ``params/patient.toml`` to ``(median, cv)``, replacing
    its typical value (in the covariate's unit) and the coefficient of variation of its
    log-normal spread; ``fixed`` pins covariates; ``female_fraction`` is the share of women
    (None: the population's; the model has no sex-specific parameter: sex is recorded for
    inclusion criteria and subgroups); ``resistant_fraction`` the share with the
    low-sensitivity phenotype (None: the population's, else the calibrated value of the model
    table).
    """

    distributions: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)
    female_fraction: float | None = None
    resistant_fraction: float | None = None
    population: str | None = None

    def __post_init__(self):
        population_spec(self.population)  # an unknown name is an InputError naming the field
        names = patient_table().names
        for name in list(self.distributions) + list(self.fixed):
            if name not in names:
                raise InputError(name, "unknown covariate", ", ".join(names))
        for name, (median, cv) in self.distributions.items():
            if not (np.isfinite(median) and median > 0):
                raise InputError(f"{name}.median", f"must be a positive number, got {median}", "> 0")
            if not (np.isfinite(cv) and cv >= 0):
                raise InputError(f"{name}.cv", f"must be a number >= 0, got {cv}", ">= 0")
        for name, value in (("female_fraction", self.female_fraction), ("resistant_fraction", self.resistant_fraction)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise InputError(name, f"must be a fraction, got {value}", "0 to 1")


@dataclass(frozen=True)
class Population:
    """Patients to simulate.

    ``covariates`` maps each name of ``layout.PATIENT_NAMES`` to one value per patient;
    ``etas`` holds standard-normal deviates (N x len(PARAM_NAMES)) for the parameters with
    between-patient variability, or None for typical values. ``multipliers`` scales named
    parameters per patient (for instance a treatment-resistant phenotype).
    ``resistant_fraction`` is the share of the treatment-resistant phenotype among seeded
    virtual patients (None: the population's, else the model table's value);
    ``population`` the name of the population of ``params/populations.toml`` whose phenotype
    distributions the parameters follow (None: the default).
    """

    ids: np.ndarray
    covariates: Mapping[str, np.ndarray]
    etas: np.ndarray | None = None
    multipliers: Mapping[str, np.ndarray] = field(default_factory=dict)
    seed: int | None = None
    resistant_fraction: float | None = None
    population: str | None = None

    def __post_init__(self):
        population_spec(self.population)
        ids = np.asarray(self.ids, dtype=np.int64)
        object.__setattr__(self, "ids", ids)
        missing = [n for n in PATIENT_NAMES if n not in self.covariates]
        if missing:
            raise InputError("covariates", f"missing {', '.join(missing)}", ", ".join(PATIENT_NAMES))
        cov = {k: np.broadcast_to(np.asarray(v, dtype=float), ids.shape).copy() for k, v in self.covariates.items()}
        weight = cov["weight_kg"]
        if not np.all(np.isfinite(weight)) or np.any(weight <= 0):
            bad = weight[~(weight > 0)][:3].tolist()
            raise InputError("weight_kg", f"must be a positive number, got {bad}", "> 0 kg")
        for name, values in cov.items():
            if not np.all(np.isfinite(values)):
                raise InputError(name, "must be a finite number", "finite values")
            if np.any(values < 0):
                raise InputError(name, "must not be negative", ">= 0")
        object.__setattr__(self, "covariates", cov)

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def typical(cls, population: str | None = None, **covariates: float) -> Population:
        """One typical patient (median values) of ``population`` (None: the default),
        covariates overridable by name."""
        return cls.from_patients([covariates], population)

    @classmethod
    def from_patients(cls, patients: list[Mapping[str, float]], population: str | None = None) -> Population:
        """Patients given by their covariates (defaults: the medians of ``population``, else
        ``params/patient.toml``), with the typical phenotype of ``population``."""
        table = patient_table()
        unknown = {k for p in patients for k in p} - set(table.names)
        if unknown:
            raise InputError(sorted(unknown)[0], "unknown covariate", ", ".join(table.names))
        medians = {k: v["median"] for k, v in population_spec(population).get("covariates", {}).items()}
        cov = {name: np.array([float(p.get(name, medians.get(name, table.value(name)))) for p in patients])
               for name in table.names}
        return cls(np.arange(1, len(patients) + 1), cov, population=population)

    @classmethod
    def virtual(cls, n: int, seed: int = 0, first_id: int = 1, population: str | None = None,
                **fixed: float) -> Population:
        """``n`` virtual patients of ``population`` (a name of ``params/populations.toml``;
        None: the default) with between-patient variability, reproducible by ``seed``.

        Covariates vary log-normally around the population's typical values, baselines are
        kept inside each instrument's range; ``fixed`` pins covariates (for instance
        ``weight_kg=70``).
        """
        if int(n) < 1:
            raise InputError("n", f"must be at least 1, got {n}", ">= 1")
        ids = np.arange(first_id, first_id + int(n), dtype=np.int64)
        return cls.from_ids(ids, seed, CovariateModel(fixed=fixed, population=population))

    @classmethod
    def from_ids(cls, ids, seed: int, covariate_model: CovariateModel | None = None) -> Population:
        """The virtual patients with the given ids, covariates drawn from ``covariate_model``.

        Patient ``id`` is the same in any selection of ids, chunk or order (one random stream
        per patient); ``covariates["female"]`` is 1 for women, 0 for men.
        """
        model = covariate_model or CovariateModel()
        ids = np.asarray(ids, dtype=np.int64)
        return cls(ids, virtual_covariates(seed, ids, model),
                   patient_normals(seed, ids, len(PARAM_NAMES), STREAM_ETAS), seed=seed,
                   resistant_fraction=model.resistant_fraction, population=model.population)

    def take(self, index) -> Population:
        """The patients at ``index`` (a slice or an index array)."""
        return replace(
            self,
            ids=self.ids[index],
            covariates={k: v[index] for k, v in self.covariates.items()},
            etas=None if self.etas is None else self.etas[index],
            multipliers={k: v[index] for k, v in self.multipliers.items()},
        )

    def with_multipliers(self, **multipliers) -> Population:
        """A copy with named parameters scaled per patient."""
        new = dict(self.multipliers)
        for name, value in multipliers.items():
            if name not in PARAM_NAMES:
                raise InputError(name, "no such parameter", "a name of the parameter tables")
            new[name] = np.broadcast_to(np.asarray(value, dtype=float), self.ids.shape).copy()
        return replace(self, multipliers=new)

    def parameters(self, product: str, model_params: ParameterTable | None = None) -> np.ndarray:
        """Individual parameter matrix (N x len(PARAM_NAMES)) for ``product``'s PK set."""
        tables = [pk_table(product), pk_table("midazolam"), model_params or model_table()]
        lookup = {}
        for t in tables:
            for p in t:
                lookup[p.name] = p
        n = len(self)
        out = np.empty((n, len(PARAM_NAMES)))
        weight = self.covariates["weight_kg"]
        phenotype = population_spec(self.population).get("phenotype", {})
        for col, name in enumerate(PARAM_NAMES):
            if name in PATIENT_NAMES:
                out[:, col] = self.covariates[name]
                continue
            p = lookup[name]
            if name in phenotype:
                # The population's distribution of this phenotype parameter.
                p = replace(p, value=p.value * phenotype[name].get("factor", 1.0),
                            iiv_cv=phenotype[name].get("cv", p.iiv_cv))
            value = np.full(n, p.value)
            if p.scaling == "cl":
                value *= (weight / 70.0) ** 0.75
            elif p.scaling == "v":
                value *= weight / 70.0
            if self.etas is not None and p.iiv_cv > 0:
                value *= np.exp(p.omega * self.etas[:, col])
            if name in self.multipliers:
                value *= self.multipliers[name]
            out[:, col] = value
        for name in RESIDUAL_NAMES:
            col = PARAM_NAMES.index(name)
            out[:, col] = np.clip(out[:, col], 0.0, RESIDUAL_MAX)
        if self.seed is not None and self.etas is not None:
            # Virtual populations include the treatment-resistant phenotype (MODEL.md §4).
            resistant = self.resistant(model_params)
            out[resistant, PARAM_NAMES.index("response_sensitivity")] *= lookup["resistant_factor"].value
            # ... and the strong placebo responders (a two-component mixture of the expectancy gain).
            strong = self.placebo_responders(model_params)
            out[strong, PARAM_NAMES.index("expectancy_gain")] *= lookup["placebo_responder_factor"].value
        return out

    def placebo_responders(self, model_params: ParameterTable | None = None) -> np.ndarray:
        """Which patients are strong placebo (expectancy) responders (boolean per patient): a
        share ``placebo_responder_fraction`` (the population's, else the model table's) of
        seeded virtual patients, drawn from its own random stream (independent of the
        treatment-resistant phenotype); none among typical patients."""
        if self.seed is None or self.etas is None:
            return np.zeros(len(self), dtype=bool)
        fraction = phenotype_share("placebo_responder_fraction", self.population, model_params)
        return patient_uniforms(self.seed, self.ids, 1, STREAM_PLACEBO)[:, 0] < fraction

    def resistant(self, model_params: ParameterTable | None = None) -> np.ndarray:
        """Which patients have the treatment-resistant phenotype (boolean per patient)."""
        if self.seed is None or self.etas is None:
            return np.zeros(len(self), dtype=bool)
        fraction = self.resistant_fraction
        if fraction is None:
            fraction = phenotype_share("resistant_fraction", self.population, model_params)
        return patient_uniforms(self.seed, self.ids, 1, STREAM_PHENOTYPE)[:, 0] < fraction


def phenotype_share(name: str, population: str | None = None, model_params: ParameterTable | None = None) -> float:
    """The share of a two-point phenotype mixture (``resistant_fraction`` or
    ``placebo_responder_fraction``) in the named population: the population's own value in
    ``params/populations.toml``, else the model table's."""
    share = population_spec(population).get(name)
    return (model_params or model_table()).value(name) if share is None else share


#: Irreducible fractions of symptom severity, kept in [0, RESIDUAL_MAX] (log-normal spread).
RESIDUAL_NAMES = ("residual_ptsd", "residual_depression")
RESIDUAL_MAX = 0.9

#: Upper end of each covariate's scale; baselines are clipped into [lower, upper].
COVARIATE_BOUNDS = {
    "weight_kg": (40.0, 160.0), "age_years": (18.0, 80.0),
    "pcl5_b": (1.0, 20.0), "pcl5_c": (1.0, 8.0), "pcl5_d": (1.0, 28.0), "pcl5_e": (1.0, 24.0),
    "caps5_b": (1.0, 20.0), "caps5_c": (1.0, 8.0), "caps5_d": (1.0, 28.0), "caps5_e": (1.0, 24.0),
    "madrs": (1.0, 60.0), "iesr_intrusion": (1.0, 32.0), "iesr_avoidance": (1.0, 32.0),
    "iesr_hyperarousal": (1.0, 24.0), "sbp_mmhg": (90.0, 200.0), "dbp_mmhg": (50.0, 120.0),
    "hr_bpm": (45.0, 120.0),
}


#: The PTSD scales whose baselines (covariates named ``<id>_...``) share one severity factor.
PTSD_SCALES = (PCL5.id, CAPS5.id, IESR.id)


def sample_covariates(seed: int, ids: np.ndarray, fixed: Mapping[str, float] | None = None,
                      distributions: Mapping[str, tuple[float, float]] | None = None) -> dict:
    """Log-normal covariates around the typical patient, clipped to plausible ranges.

    The PTSD baselines share one severity factor per patient (clusters correlate), the
    cluster-specific deviations are smaller. ``distributions`` replaces the ``(median, cv)``
    of named covariates; the random deviates stay those of the patient.
    """
    table = patient_table()
    fixed = dict(fixed or {})
    distributions = dict(distributions or {})
    unknown = set(fixed) - set(table.names)
    if unknown:
        raise InputError(sorted(unknown)[0], "unknown covariate", ", ".join(table.names))
    z = patient_normals(seed, ids, len(table) + 1, STREAM_COVARIATES)
    severity = z[:, -1]
    cov = {}
    for col, p in enumerate(table):
        if p.name in fixed:
            cov[p.name] = np.full(ids.shape, float(fixed[p.name]))
            continue
        if p.name in distributions:
            median, cv = distributions[p.name]
            p = replace(p, value=float(median), iiv_cv=float(cv))
        omega = p.omega
        shared = p.name.startswith(PTSD_SCALES)
        dev = 0.8 * severity + 0.6 * z[:, col] if shared else z[:, col]
        lo, hi = COVARIATE_BOUNDS[p.name]
        cov[p.name] = np.clip(p.value * np.exp(omega * dev), lo, hi)
    return cov


def virtual_covariates(seed: int, ids: np.ndarray, model: CovariateModel) -> dict:
    """The covariates of virtual patients ``ids``: those of ``params/patient.toml`` (as
    distributed in the model's population) and ``female`` (1 for women, 0 for men)."""
    spec = population_spec(model.population)
    distributions = {k: (v["median"], v["cv"]) for k, v in spec.get("covariates", {}).items()}
    distributions.update(model.distributions)
    cov = sample_covariates(seed, ids, model.fixed, distributions)
    female = model.female_fraction
    if female is None:
        female = spec.get("female_fraction", FEMALE_FRACTION)
    cov["female"] = (patient_uniforms(seed, ids, 1, STREAM_SEX)[:, 0] < female).astype(float)
    return cov


#: Baseline quantities an inclusion criterion can name: the covariates, sex and the totals.
SCREENING_NAMES = (*PATIENT_NAMES, "female", "caps5_total", "pcl5_total", "iesr_total", "comorbid_depression")


def screening_values(covariates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The covariates plus the baseline totals (points) and ``comorbid_depression`` (1 when
    baseline MADRS >= :data:`DEPRESSION_MADRS_AT_LEAST`, else 0)."""
    values = dict(covariates)
    values["caps5_total"] = sum(covariates[f"caps5_{c}"] for c in "bcde")
    values["pcl5_total"] = sum(covariates[f"pcl5_{c}"] for c in "bcde")
    values["iesr_total"] = covariates["iesr_intrusion"] + covariates["iesr_avoidance"] + covariates["iesr_hyperarousal"]
    values["comorbid_depression"] = (covariates["madrs"] >= DEPRESSION_MADRS_AT_LEAST).astype(float)
    return values


@dataclass(frozen=True)
class InclusionCriterion:
    """Eligible when ``at_least <= value <= at_most`` (either end open when None) for the
    baseline quantity ``name`` (one of :data:`SCREENING_NAMES`, in its own unit)."""

    name: str
    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self):
        if self.name not in SCREENING_NAMES:
            raise InputError(self.name, "not a baseline quantity a criterion can use", ", ".join(SCREENING_NAMES))
        if self.at_least is None and self.at_most is None:
            raise InputError(self.name, "a criterion needs at_least, at_most or both", "at_least and/or at_most")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise InputError(self.name, f"at_least {self.at_least:g} is above at_most {self.at_most:g}",
                             "at_least <= at_most")

    def eligible(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean per patient."""
        v = values[self.name]
        ok = np.ones(v.shape, dtype=bool)
        if self.at_least is not None:
            ok &= v >= self.at_least
        if self.at_most is not None:
            ok &= v <= self.at_most
        return ok


#: Candidates screened per block, and the most screened per enrolled patient before the
#: criteria are declared impossible to meet.
SCREEN_BLOCK = 65_536
MAX_SCREENED_PER_ENROLLED = 1000


def enrol(n: int, seed: int, model: CovariateModel | None = None,
          criteria: tuple[InclusionCriterion, ...] = (), first_id: int = 1) -> tuple[np.ndarray, int]:
    """Screen candidates ``first_id, first_id + 1, ...`` as a trial does and enrol the first
    ``n`` who meet every criterion.

    Returns the enrolled ids (in order of screening) and how many candidates were screened.
    Each candidate's covariates come from their own random stream, so enrolment is the same
    however the later simulation is split.
    """
    if int(n) < 1:
        raise InputError("n", f"must be at least 1, got {n}", ">= 1")
    n = int(n)
    model = model or CovariateModel()
    if not criteria:
        return np.arange(first_id, first_id + n, dtype=np.int64), n
    found: list[np.ndarray] = []
    have = screened = 0
    limit = MAX_SCREENED_PER_ENROLLED * n + SCREEN_BLOCK
    while have < n:
        if screened >= limit:
            names = ", ".join(c.name for c in criteria)
            raise InputError(names, f"only {have} of {screened} virtual candidates meet the inclusion criteria",
                             f"criteria that at least 1 in {MAX_SCREENED_PER_ENROLLED} candidates meet")
        ids = np.arange(first_id + screened, first_id + screened + SCREEN_BLOCK, dtype=np.int64)
        values = screening_values(virtual_covariates(seed, ids, model))
        ok = np.ones(ids.size, dtype=bool)
        for criterion in criteria:
            ok &= criterion.eligible(values)
        found.append(ids[ok][: n - have])
        have += found[-1].size
        screened += SCREEN_BLOCK
    enrolled = np.concatenate(found)
    return enrolled, int(enrolled[-1] - first_id + 1)
