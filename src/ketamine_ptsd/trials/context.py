"""The one seam between a trial spec and what the model is told about the trial's context: the
named population the patients come from (``trial.population``, a population of
``params/populations.toml``), and per arm the blinding context (``comparator``: ``none`` is an
open-label arm, whose expectancy is the model's open-label one; in a blinded arm the context
comes from what is given: ketamine, midazolam IV, saline IV or a placebo spray) and the
concomitant oral antidepressant (``oral_ad``: none, stable, newly started).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..dosing import Regimen
from ..errors import InputError
from ..population import Population, enrol
from .randomisation import randomisation_list
from .spec import TrialSpec


def covariate_model(spec: TrialSpec):
    """The spec's covariate distributions drawn around its named population."""
    return dataclasses.replace(spec.covariate_model(), population=spec.trial.population)


def check_population(spec: TrialSpec) -> None:
    """An InputError naming ``trial.population`` when the model has no population of that name."""
    try:
        covariate_model(spec)
    except InputError as exc:
        raise spec.error("trial.population", exc.message, exc.allowed) from None


def enrol_patients(spec: TrialSpec, n: int) -> tuple[np.ndarray, int]:
    """Screen candidates of the spec's population against its inclusion criteria and enrol
    ``n`` (ids in screening order, candidates screened)."""
    criteria = spec.criteria()
    model = covariate_model(spec)
    try:
        return enrol(n, spec.trial.seed, model, criteria)
    except InputError as exc:
        raise spec.error(f"inclusion.{criteria[0].name}" if len(criteria) == 1 else "inclusion",
                         exc.message, exc.allowed) from None


def arm_population(spec: TrialSpec, ids: np.ndarray) -> Population:
    """The enrolled patients ``ids`` as the model sees them."""
    return Population.from_ids(ids, spec.trial.seed, covariate_model(spec))


def arm_regimen(spec: TrialSpec, index: int, maintenance: bool = True) -> Regimen:
    """Arm ``index``'s regimen (without its maintenance doses when ``maintenance`` is false)
    with its blinding context and oral antidepressant."""
    regimen = spec.regimen(index, maintenance)
    arm = spec.arms[index]
    return regimen.with_context(oral_ad=arm.oral_ad,
                                open_label=None if arm.comparator is None else arm.comparator == "none")


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

