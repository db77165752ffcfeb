"""Engines: how a population is integrated. ``NumbaEngine`` is the default; ``ScipyEngine``
is the slow reference."""

from .numba_engine import NumbaEngine
from .scipy_engine import ScipyEngine

__all__ = ["NumbaEngine", "ScipyEngine", "get_engine"]


def get_engine(name: str | None = None, **options):
    """An engine by name: ``numba`` (default), ``scipy``, or ``jax`` (optional extra)."""
    name = (name or "numba").lower()
    if name == "numba":
        return NumbaEngine(**options)
    if name == "scipy":
        return ScipyEngine(**options)
    if name == "jax":
        from .jax_engine import JaxEngine  # optional extra: imported only when asked for

        return JaxEngine(**options)
    from ..errors import InputError

    raise InputError("engine", f"unknown engine {name!r}", "numba, scipy, jax")
