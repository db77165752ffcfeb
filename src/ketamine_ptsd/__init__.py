"""ketamine-ptsd: a literature-calibrated digital twin of ketamine therapy for PTSD,
and a clinic toolkit on the same model.

Research and decision-support software, not a medical device.

The names below are imported on first use (PEP 562), so that ``import ketamine_ptsd.clinic``
or ``ketamine-ptsd --help`` does not load numba, scipy or pandas.
"""

from __future__ import annotations

import importlib

from ._version import __version__

#: Public name -> module (relative to this package) that defines it.
_LAZY = {
    "Dose": "dosing", "Product": "dosing", "Regimen": "dosing", "Route": "dosing",
    "TherapySession": "dosing", "induction_series": "dosing", "single_dose": "dosing",
    "with_maintenance": "dosing", "with_therapy": "dosing",
    "NumbaEngine": "engine", "ScipyEngine": "engine",
    "Population": "population",
    "simulate": "simulation",
    "Trajectory": "trajectory",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
