"""The one seam between planning and the model's named populations: a population is a name
passed to ``Population.virtual(..., population=NAME)``; left out (None), the model's default
population. Nothing here knows a population's numbers."""

from __future__ import annotations

from ..errors import InputError
from ..population import Population


def virtual_patients(n: int, seed: int, population: str | None = None, field: str = "population") -> Population:
    """``n`` virtual patients (ids 1..n) of the named ``population`` (None: the default);
    an unknown name is an error naming ``field``."""
    try:
        return Population.virtual(n, seed=seed, population=population)
    except InputError as exc:
        raise InputError(field, exc.message, exc.allowed) from None
