"""Bayesian inference on a forward model seen through one small interface (as in PINTS).

A forward model is anything with ``n_parameters()``, ``n_outputs()`` and
``simulate(parameters, times)``; its parameters are standard-normal deviates under the prior
(etas, as NONMEM calls them), and ``simulate`` takes a batch (S x n) and returns outputs
(S x T x K), since the engine integrates a population in one call. A :class:`Problem` binds
a model to observed outputs with their residual SDs. On it:

* :func:`fit_map` finds the maximum a posteriori point with ``scipy.optimize.least_squares``
  (the prior adds the parameters themselves as residuals) and returns its Laplace
  approximation (Gauss-Newton Hessian), with a finite-difference Jacobian that costs one
  batched simulation of n + 1 parameter sets;
* :class:`Proposal` mixes the prior with a multivariate t around each Laplace approximation,
  for sampling-importance-resampling (SIR) that corrects what the Laplace approximation
  gets wrong (bounded scores, a mixture prior, parameters held at typical values in the
  fit).

Literature calibration can use the same interface: a model whose outputs are the target
quantities, bound to the published values in a :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import multivariate_t


class ForwardModel(Protocol):
    """What inference sees of a model."""

    def n_parameters(self) -> int:
        """Number of parameters (standard-normal deviates under the prior)."""

    def n_outputs(self) -> int:
        """Number of outputs per time."""

    def simulate(self, parameters: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Outputs (S x T x K) at ``times`` for each row of ``parameters`` (S x n)."""


@dataclass(frozen=True)
class Problem:
    """Observed outputs of ``model``: observation ``i`` is output ``output_index[i]`` at
    ``times[time_index[i]]``, value ``values[i]``, residual SD ``sigma[i]`` (normal,
    additive, independent)."""

    model: ForwardModel
    times: np.ndarray
    time_index: np.ndarray
    output_index: np.ndarray
    values: np.ndarray
    sigma: np.ndarray

    def residuals_of(self, outputs: np.ndarray) -> np.ndarray:
        """Standardised residuals (S x n_obs) of simulated ``outputs`` (S x T x K at ``times``)."""
        return (outputs[:, self.time_index, self.output_index] - self.values) / self.sigma

    def residuals(self, parameters: np.ndarray) -> np.ndarray:
        """Standardised residuals (S x n_obs) for each row of ``parameters``."""
        return self.residuals_of(self.model.simulate(np.atleast_2d(parameters), self.times))


@dataclass(frozen=True)
class Laplace:
    """Normal approximation of the posterior at its mode.

    ``objective`` is -log posterior up to a constant, 0.5 (sum r^2 + sum x^2);
    ``log_evidence`` the Laplace estimate of log p(data) up to the same constant, for
    comparing models with the same data; ``max_residual`` the largest standardised residual
    at the mode (a misfit check).
    """

    mode: np.ndarray
    covariance: np.ndarray
    objective: float
    log_evidence: float
    max_residual: float
    evaluations: int


def fit_map(problem: Problem, x0: Sequence[float] | None = None, bound: float = 4.0,
            step: float = 0.01, max_evaluations: int = 40) -> Laplace:
    """Maximum a posteriori fit of ``problem`` under a standard-normal prior, with its
    Laplace approximation.

    Parameters stay within +-``bound`` prior SDs; ``step`` is the forward-difference step
    (in prior SDs: large enough to stand above the solver's tolerance, small against the
    posterior width).
    """
    n = problem.model.n_parameters()
    x0 = np.zeros(n) if x0 is None else np.clip(np.asarray(x0, dtype=float), -bound + 1e-6, bound - 1e-6)
    last: dict = {}
    count = [0]

    def evaluate(x):
        if last.get("x") is None or not np.array_equal(last["x"], x):
            batch = np.vstack([x, x + step * np.eye(n)])
            full = np.hstack([problem.residuals(batch), batch])
            last.update(x=x.copy(), f=full[0], jac=(full[1:] - full[0]).T / step)
            count[0] += 1
        return last

    result = least_squares(lambda x: evaluate(x)["f"], x0, jac=lambda x: evaluate(x)["jac"],
                           bounds=(-bound, bound), method="trf", max_nfev=max_evaluations)
    at = evaluate(result.x)
    hessian = at["jac"].T @ at["jac"]
    _, logdet = np.linalg.slogdet(hessian)
    objective = 0.5 * float(at["f"] @ at["f"])
    n_obs = at["f"].size - n
    return Laplace(
        mode=result.x.copy(),
        covariance=np.linalg.inv(hessian),
        objective=objective,
        log_evidence=-objective - 0.5 * float(logdet),
        max_residual=float(np.max(np.abs(at["f"][:n_obs]))) if n_obs else 0.0,
        evaluations=count[0],
    )


def standard_normal_logpdf(x: np.ndarray) -> np.ndarray:
    """log N(x; 0, I) for each row of ``x``."""
    return -0.5 * np.sum(x**2, axis=1) - 0.5 * x.shape[1] * np.log(2 * np.pi)


@dataclass(frozen=True)
class Proposal:
    """Defensive importance-sampling proposal over (parameters, component).

    The prior is a mixture over discrete components (``prior_weights``) with a
    standard-normal prior on the parameters in each. A share ``prior_share`` of the draws
    comes from that prior; the rest from a multivariate t (``df``) around each component's
    Laplace approximation, in proportions ``fit_weights``. The prior share keeps the
    importance weights bounded and doubles as a draw from the prior.
    """

    prior_weights: np.ndarray
    fits: tuple[Laplace, ...]
    fit_weights: np.ndarray
    prior_share: float
    df: float = 5.0

    def counts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws per component from the prior and from the fits (fixed, so the mixture
        proportions are exact)."""
        n_prior = int(round(self.prior_share * n)) if self.fits else n
        prior = _allocate(n_prior, self.prior_weights)
        fitted = _allocate(n - n_prior, self.fit_weights) if self.fits else np.zeros_like(prior)
        return prior, fitted

    def sample(self, rng: np.random.Generator, n: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` draws: parameters (n x dim), component (n,), and whether each came from the prior."""
        prior, fitted = self.counts(n)
        xs, comps, from_prior = [], [], []
        for c, k in enumerate(prior):
            xs.append(rng.standard_normal((k, dim)))
            comps.append(np.full(k, c))
            from_prior.append(np.ones(k, bool))
        for c, k in enumerate(fitted):
            if k:
                fit = self.fits[c]
                draw = multivariate_t(fit.mode, fit.covariance, df=self.df).rvs(size=k, random_state=rng)
                xs.append(np.reshape(draw, (k, dim)))
                comps.append(np.full(k, c))
                from_prior.append(np.zeros(k, bool))
        return np.vstack(xs), np.concatenate(comps), np.concatenate(from_prior)

    def log_target_prior(self, x: np.ndarray, component: np.ndarray) -> np.ndarray:
        """log prior of each draw: log weight of its component + log N(x; 0, I)."""
        return np.log(self.prior_weights[component]) + standard_normal_logpdf(x)

    def log_density(self, x: np.ndarray, component: np.ndarray) -> np.ndarray:
        """log of the proposal density of each draw."""
        share = self.prior_share if self.fits else 1.0
        out = np.log(share) + self.log_target_prior(x, component)
        for c, fit in enumerate(self.fits):
            mine = component == c
            if mine.any() and self.fit_weights[c] > 0:
                t = multivariate_t(fit.mode, fit.covariance, df=self.df).logpdf(x[mine])
                out[mine] = np.logaddexp(out[mine], np.log((1 - share) * self.fit_weights[c]) + t)
        return out


def _allocate(n: int, weights: np.ndarray) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainders)."""
    exact = n * np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    return counts


def importance_weights(log_likelihood: np.ndarray, log_prior: np.ndarray, log_proposal: np.ndarray) -> np.ndarray:
    """Normalised importance weights from log likelihood, log prior and log proposal density."""
    log_w = log_likelihood + log_prior - log_proposal
    w = np.exp(log_w - np.max(log_w))
    return w / w.sum()


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of normalised weights."""
    return float(1.0 / np.sum(weights**2))
