"""The one seam between planning and the model's named populations: a population is a name
passed to ``Population.virtual(..., population=NAME)`` when the model version in use takes
one; left out (None), the model's default population. Nothing here knows a population's
numbers."""

from __future__ import annotations

import inspect

from ..errors import InputError
from ..population import Population


def supports_population() -> bool:
    """Whether this model version takes a named population."""
    return "population" in inspect.signature(Population.virtual).parameters


def virtual_patients(n: int, seed: int, population: str | None = None, field: str = "population") -> Population:
    """``n`` virtual patients (ids 1..n) of the named ``population`` (None: the default);
    an unknown name or a model without named populations is an error naming ``field``."""
    if population is None:
        return Population.virtual(n, seed=seed)
    if not supports_population():
        raise InputError(field, f"population {population!r} is not available in this model version",
                         "omit it (the model's default population)")
    try:
        return Population.virtual(n, seed=seed, population=population)
    except InputError as exc:
        raise InputError(field, exc.message, exc.allowed) from None
