"""Shared fixtures of the simulation-core tests (no autouse fixtures: the clinic tests share
this folder)."""

from __future__ import annotations

import dataclasses

import pytest

from ketamine_ptsd.engine import NumbaEngine


def make_tight_engine(**overrides) -> NumbaEngine:
    """The numba engine at tight tolerances and without flushing tiny states to zero (an
    approximation of its own), for comparisons against exact solutions."""
    options = dict(rtol=1e-10, atol=1e-12)
    if "flush_below" in {f.name for f in dataclasses.fields(NumbaEngine)}:
        options["flush_below"] = 0.0
    options.update(overrides)
    return NumbaEngine(**options)


@pytest.fixture(scope="session")
def tight_engine() -> NumbaEngine:
    return make_tight_engine()
