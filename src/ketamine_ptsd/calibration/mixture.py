"""The discrete phenotypes of the personal forecast's prior.

A virtual population draws two independent two-point mixtures on top of the continuous
between-patient variability (``population.Population.parameters``): the treatment-resistant
phenotype (``resistant_factor`` x the response sensitivity, a share ``resistant_fraction``)
and the strong placebo (expectancy) responders (``placebo_responder_factor`` x the
expectancy gain, a share ``placebo_responder_fraction``). The forecast's prior is the same
population, so it carries the same four components (typical, resistant, strong placebo
responder, both), each with the product of its shares as its prior weight; a prior without
the placebo component would put a patient whose improvement is mostly expectancy outside
its band until enough visits are scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..params import model_table
from ..population import phenotype_share


@dataclass(frozen=True)
class Phenotype:
    """One component of the prior: its flags and its prior weight."""

    resistant: bool
    placebo_responder: bool
    weight: float

    @property
    def name(self) -> str:
        parts = (["treatment_resistant"] if self.resistant else []) + \
                (["strong_placebo_responder"] if self.placebo_responder else [])
        return "+".join(parts) or "typical"


def shares(population: str | None = None) -> tuple[float, float]:
    """The population's share of the treatment-resistant phenotype and of strong placebo
    responders (each the model table's when the population does not give its own)."""
    return phenotype_share("resistant_fraction", population), phenotype_share("placebo_responder_fraction", population)


def phenotypes(population: str | None = None) -> tuple[Phenotype, ...]:
    """The four components of the prior, typical first, with weights summing to one."""
    resistant, placebo = shares(population)
    return tuple(Phenotype(r, p, (resistant if r else 1 - resistant) * (placebo if p else 1 - placebo))
                 for r in (False, True) for p in (False, True))


def flags(components: tuple[Phenotype, ...], index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw of component ``index``: whether it is treatment resistant, a strong placebo responder."""
    index = np.asarray(index, dtype=np.int64)
    return (np.array([c.resistant for c in components])[index],
            np.array([c.placebo_responder for c in components])[index])


def multipliers(resistant: np.ndarray, placebo: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """The parameter multipliers of ``n`` draws with these flags (broadcast)."""
    table = model_table()
    resistant = np.broadcast_to(np.asarray(resistant, dtype=bool), (n,))
    placebo = np.broadcast_to(np.asarray(placebo, dtype=bool), (n,))
    return {"response_sensitivity": np.where(resistant, table.value("resistant_factor"), 1.0),
            "expectancy_gain": np.where(placebo, table.value("placebo_responder_factor"), 1.0)}


def marginals(components: tuple[Phenotype, ...], weights: np.ndarray, digits: int = 3) -> dict:
    """Posterior (or prior) probability of each phenotype from component ``weights``, rounded
    to ``digits``: ``typical`` (neither), ``treatment_resistant`` and
    ``strong_placebo_responder`` (each summed over the other mixture), and ``components``,
    each of the four."""
    weights = np.asarray(weights, dtype=float)
    out = {"typical": weights[0],
           "treatment_resistant": sum(w for c, w in zip(components, weights) if c.resistant),
           "strong_placebo_responder": sum(w for c, w in zip(components, weights) if c.placebo_responder)}
    out = {k: round(float(v), digits) for k, v in out.items()}
    out["components"] = {c.name: round(float(w), digits) for c, w in zip(components, weights)}
    return out
