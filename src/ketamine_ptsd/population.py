"""Virtual patients: covariates and between-patient variability, reproducible by seed.

Every random number of patient ``id`` comes from a counter-based stream keyed on
``(seed, id, dimension)``, so a patient is the same whichever chunk, worker or order it is
simulated in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from .errors import InputError
from .model.layout import PARAM_NAMES, PATIENT_NAMES
from .params import ParameterTable, model_table, patient_table, pk_table

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
        return x ^ (x >> np.uint64(31))


def patient_uniforms(seed: int, ids: np.ndarray, n_dims: int, stream: int = 0) -> np.ndarray:
    """Uniforms in (0, 1), shape (len(ids), n_dims), a pure function of (seed, stream, id, dim)."""
    ids = np.asarray(ids, dtype=np.uint64)
    key = _splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ _splitmix64(np.uint64(stream)))
    with np.errstate(over="ignore"):
        base = _splitmix64(key ^ (ids[:, None] * np.uint64(0xD1B54A32D192ED03)))
        x = _splitmix64(base + np.arange(n_dims, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def patient_normals(seed: int, ids: np.ndarray, n_dims: int, stream: int = 0) -> np.ndarray:
    """Standard normals from :func:`patient_uniforms` (inverse CDF)."""
    return ndtri(patient_uniforms(seed, ids, n_dims, stream))


STREAM_ETAS, STREAM_COVARIATES, STREAM_PHENOTYPE = 1, 2, 3


@dataclass(frozen=True)
class Population:
    """Patients to simulate.

    ``covariates`` maps each name of ``layout.PATIENT_NAMES`` to one value per patient;
    ``etas`` holds standard-normal deviates (N x len(PARAM_NAMES)) for the parameters with
    between-patient variability, or None for typical values. ``multipliers`` scales named
    parameters per patient (for instance a treatment-resistant phenotype).
    """

    ids: np.ndarray
    covariates: Mapping[str, np.ndarray]
    etas: np.ndarray | None = None
    multipliers: Mapping[str, np.ndarray] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self):
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
    def typical(cls, **covariates: float) -> Population:
        """One typical patient (population values), covariates overridable by name."""
        return cls.from_patients([covariates])

    @classmethod
    def from_patients(cls, patients: list[Mapping[str, float]]) -> Population:
        """Patients given by their covariates (defaults from ``params/patient.toml``)."""
        table = patient_table()
        unknown = {k for p in patients for k in p} - set(table.names)
        if unknown:
            raise InputError(sorted(unknown)[0], "unknown covariate", ", ".join(table.names))
        cov = {name: np.array([float(p.get(name, table.value(name))) for p in patients]) for name in table.names}
        return cls(np.arange(1, len(patients) + 1), cov)

    @classmethod
    def virtual(cls, n: int, seed: int = 0, first_id: int = 1, **fixed: float) -> Population:
        """``n`` virtual patients with between-patient variability, reproducible by ``seed``.

        Covariates vary log-normally around their typical values (``params/patient.toml``),
        baselines are kept inside each instrument's range; ``fixed`` pins covariates (for
        instance ``weight_kg=70``).
        """
        if int(n) < 1:
            raise InputError("n", f"must be at least 1, got {n}", ">= 1")
        ids = np.arange(first_id, first_id + int(n), dtype=np.int64)
        return cls(ids, sample_covariates(seed, ids, fixed),
                   patient_normals(seed, ids, len(PARAM_NAMES), STREAM_ETAS), seed=seed)

    def take(self, index) -> Population:
        """The patients at ``index`` (a slice or an index array)."""
        return Population(
            self.ids[index],
            {k: v[index] for k, v in self.covariates.items()},
            None if self.etas is None else self.etas[index],
            {k: v[index] for k, v in self.multipliers.items()},
            self.seed,
        )

    def with_multipliers(self, **multipliers) -> Population:
        """A copy with named parameters scaled per patient."""
        new = dict(self.multipliers)
        for name, value in multipliers.items():
            if name not in PARAM_NAMES:
                raise InputError(name, "no such parameter", "a name of the parameter tables")
            new[name] = np.broadcast_to(np.asarray(value, dtype=float), self.ids.shape).copy()
        return Population(self.ids, self.covariates, self.etas, new, self.seed)

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
        for col, name in enumerate(PARAM_NAMES):
            if name in PATIENT_NAMES:
                out[:, col] = self.covariates[name]
                continue
            p = lookup[name]
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
        if self.seed is not None and self.etas is not None:
            # Virtual populations include the treatment-resistant phenotype (MODEL.md §4).
            u = patient_uniforms(self.seed, self.ids, 1, STREAM_PHENOTYPE)[:, 0]
            resistant = u < lookup["resistant_fraction"].value
            out[resistant, PARAM_NAMES.index("response_sensitivity")] *= lookup["resistant_factor"].value
        return out

    def resistant(self, model_params: ParameterTable | None = None) -> np.ndarray:
        """Which patients have the treatment-resistant phenotype (boolean per patient)."""
        if self.seed is None or self.etas is None:
            return np.zeros(len(self), dtype=bool)
        fraction = (model_params or model_table()).value("resistant_fraction")
        return patient_uniforms(self.seed, self.ids, 1, STREAM_PHENOTYPE)[:, 0] < fraction


#: Upper end of each covariate's scale; baselines are clipped into [lower, upper].
COVARIATE_BOUNDS = {
    "weight_kg": (40.0, 160.0), "age_years": (18.0, 80.0),
    "pcl5_b": (1.0, 20.0), "pcl5_c": (1.0, 8.0), "pcl5_d": (1.0, 28.0), "pcl5_e": (1.0, 24.0),
    "caps5_b": (1.0, 20.0), "caps5_c": (1.0, 8.0), "caps5_d": (1.0, 28.0), "caps5_e": (1.0, 24.0),
    "madrs": (1.0, 60.0), "iesr_intrusion": (1.0, 32.0), "iesr_avoidance": (1.0, 32.0),
    "iesr_hyperarousal": (1.0, 24.0), "sbp_mmhg": (90.0, 200.0), "dbp_mmhg": (50.0, 120.0),
    "hr_bpm": (45.0, 120.0),
}


def sample_covariates(seed: int, ids: np.ndarray, fixed: Mapping[str, float] | None = None) -> dict:
    """Log-normal covariates around the typical patient, clipped to plausible ranges.

    The PTSD baselines share one severity factor per patient (clusters correlate), the
    cluster-specific deviations are smaller.
    """
    table = patient_table()
    fixed = dict(fixed or {})
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
        omega = p.omega
        shared = p.name.startswith(("pcl5", "caps5", "iesr"))
        dev = 0.8 * severity + 0.6 * z[:, col] if shared else z[:, col]
        lo, hi = COVARIATE_BOUNDS[p.name]
        cov[p.name] = np.clip(p.value * np.exp(omega * dev), lo, hi)
    return cov
