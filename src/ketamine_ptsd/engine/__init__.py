"""Engines: how a population is integrated. ``NumbaEngine`` is the default; ``ScipyEngine``
is the slow reference. Every engine meets the model at one seam, :class:`Engine`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from .numba_engine import NumbaEngine
from .scipy_engine import ScipyEngine

if TYPE_CHECKING:
    from ..model.system import EventTable, Model

__all__ = ["Engine", "NumbaEngine", "ScipyEngine", "engine_of", "get_engine"]


@runtime_checkable
class Engine(Protocol):
    """What the simulation asks of an engine.

    ``solve`` integrates patients ``params`` (N x P, the model's parameter columns) through
    the dosing ``events`` and returns the outputs ``out_sel`` (indices of the model's
    outputs) at ``times`` (hours) as an N x T x K array (written into ``out`` when given,
    float64 or float32 of that shape), with the states instead when ``record_states``, and
    the accepted steps per patient (negative where a patient failed). ``y0`` (N x S) starts
    from given states instead of the model's initial state. ``name`` names the engine in
    results and metadata.
    """

    name: str

    def solve(self, model: Model, params: np.ndarray, events: EventTable, times: np.ndarray,
              out_sel: np.ndarray, record_states: bool = False, y0: np.ndarray | None = None,
              out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def get_engine(name: str | None = None, **options) -> Engine:
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


def engine_of(engine: Engine | str | None, threads: int | None = None) -> Engine:
    """``engine`` itself, or the engine of that name (None: numba); ``threads`` is given to
    an engine made here that has a thread pool (numba)."""
    if engine is not None and not isinstance(engine, str):
        return engine
    name = (engine or "numba").lower()
    return get_engine(name, threads=threads) if name == "numba" else get_engine(name)
