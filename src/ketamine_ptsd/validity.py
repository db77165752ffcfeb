"""The range the model was validated for, and warnings for inputs outside it."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

import numpy as np

from .dosing import Regimen


@cache
def validated_ranges() -> dict:
    """The table of ``params/validated.toml``."""
    text = resources.files("ketamine_ptsd.params").joinpath("validated.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def validated_range_warnings(regimen: Regimen, population) -> list[str]:
    """One line per input outside the validated range (the simulation still runs)."""
    ranges = validated_ranges()
    out = []
    for name in ("weight_kg", "age_years"):
        values = population.covariates[name]
        lo, hi = ranges[name]["low"], ranges[name]["high"]
        bad = (values < lo) | (values > hi)
        if np.any(bad):
            out.append(f"{name} outside the validated range {lo:g}-{hi:g} for {int(bad.sum())} patient(s) "
                       f"(e.g. {values[bad][0]:g})")
    weights = population.covariates["weight_kg"]
    for d in regimen.doses:
        if d.product.value not in ("racemic", "esketamine"):
            continue
        route = d.route.value
        per_kg_table = ranges["dose_mg_per_kg"].get(route)
        mg_table = ranges["dose_mg"].get(route)
        if per_kg_table:
            mg_per_kg = d.amount if d.per_kg else d.amount / weights
            lo, hi = per_kg_table["low"], per_kg_table["high"]
            value = np.atleast_1d(mg_per_kg)
            if np.any((value < lo) | (value > hi)):
                out.append(f"dose {float(value[0]):.3g} mg/kg by {route} at {d.time_h:g} h outside the validated "
                           f"range {lo:g}-{hi:g} mg/kg")
        elif mg_table:
            mg = np.atleast_1d(d.amount * weights if d.per_kg else d.amount)
            lo, hi = mg_table["low"], mg_table["high"]
            if np.any((mg < lo) | (mg > hi)):
                out.append(f"dose {float(mg[0]):.3g} mg by {route} at {d.time_h:g} h outside the validated "
                           f"range {lo:g}-{hi:g} mg")
    return out
