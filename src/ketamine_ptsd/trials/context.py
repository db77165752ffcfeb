"""The one seam between a trial spec and what the model is told about the trial's context: the
named population the patients come from (``trial.population``), and per arm the comparator
context (``comparator``: open label, saline IV, midazolam IV, placebo spray) and the
concomitant oral antidepressant (``oral_ad``: none, stable, newly started).

Each is passed on when the model version in use accepts it (a ``population`` argument of
``Population.from_ids`` and of ``enrol``; ``comparator`` / ``oral_ad`` fields of ``Regimen``)
and is otherwise a clear :class:`~ketamine_ptsd.errors.InputError` naming the spec's field,
before anything is simulated. A spec that sets none of them runs as before.
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np

from ..dosing import Regimen
from ..errors import InputError
from ..population import Population, enrol
from .randomisation import randomisation_list
from .spec import TrialSpec

#: What each context field of an arm is called on the model's ``Regimen``.
REGIMEN_CONTEXT = ("comparator", "oral_ad")


def _accepts(func, name: str) -> bool:
    return name in inspect.signature(func).parameters


def supports_population() -> bool:
    """Whether the model takes a named population (``Population.from_ids(..., population=)``)."""
    return _accepts(Population.from_ids, "population") and _accepts(enrol, "population")


def supports_regimen_field(name: str) -> bool:
    """Whether the model's ``Regimen`` carries the context field ``name``."""
    return name in {f.name for f in dataclasses.fields(Regimen)}


def check_model_support(spec: TrialSpec) -> None:
    """An InputError naming the first field of ``spec`` that this model version cannot honour."""
    name = spec.trial.population
    if name is not None and not supports_population():
        raise spec.error("trial.population", f"population {name!r} is not available in this model version",
                         "omit trial.population (the default population of params/patient.toml)")
    for i, arm in enumerate(spec.arms):
        for key in REGIMEN_CONTEXT:
            value = getattr(arm, key)
            if value is not None and not supports_regimen_field(key):
                raise spec.error(f"arms[{i}].{key}", f"{key} {value!r} is not available in this model version",
                                 f"omit {key} (the model's default)")


def _population_kwargs(spec: TrialSpec) -> dict:
    check_model_support(spec)
    return {} if spec.trial.population is None else {"population": spec.trial.population}


def enrol_patients(spec: TrialSpec, n: int) -> tuple[np.ndarray, int]:
    """Screen candidates of the spec's population against its inclusion criteria and enrol
    ``n`` (ids in screening order, candidates screened)."""
    criteria = spec.criteria()
    try:
        return enrol(n, spec.trial.seed, spec.covariate_model(), criteria, **_population_kwargs(spec))
    except InputError as exc:
        raise spec.error(f"inclusion.{criteria[0].name}" if len(criteria) == 1 else "inclusion",
                         exc.message, exc.allowed) from None


def arm_population(spec: TrialSpec, ids: np.ndarray) -> Population:
    """The enrolled patients ``ids`` as the model sees them."""
    return Population.from_ids(ids, spec.trial.seed, spec.covariate_model(), **_population_kwargs(spec))


def arm_regimen(spec: TrialSpec, index: int, maintenance: bool = True) -> Regimen:
    """Arm ``index``'s regimen (without its maintenance doses when ``maintenance`` is false)
    with its comparator context and oral antidepressant."""
    check_model_support(spec)
    regimen = spec.regimen(index, maintenance)
    arm = spec.arms[index]
    context = {key: getattr(arm, key) for key in REGIMEN_CONTEXT if getattr(arm, key) is not None}
    return dataclasses.replace(regimen, **context) if context else regimen


def allocation(spec: TrialSpec) -> tuple[list[np.ndarray], int]:
    """Patient ids of each arm (enrolment order) and the number of candidates screened."""
    sizes = spec.arm_sizes()
    seed = spec.trial.seed
    crossover = spec.trial.design == "crossover"
    ids, screened = enrol_patients(spec, sizes[0] if crossover else sum(sizes))
    if crossover:
        return [ids] * len(sizes), screened
    arm_of = randomisation_list(sizes, seed, spec.randomisation.method, spec.randomisation.block_size)
    return [ids[arm_of == a] for a in range(len(sizes))], screened

