"""The inference machinery of calibration/inference.py on problems whose answers are known in
closed form: the Laplace evidence of a linear-Gaussian model, the prior bound on the fit,
the proposal's fixed allocation of draws, the importance weights, and the fit and the
sampler against the exact posterior of a linear model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ketamine_ptsd.calibration.inference import (
    Problem,
    Proposal,
    effective_sample_size,
    fit_map,
    importance_weights,
)


class LinearModel:
    """y(t) = a + b t for parameters (a, b), one output."""

    def n_parameters(self):
        return 2

    def n_outputs(self):
        return 1

    def simulate(self, parameters, times):
        p = np.atleast_2d(parameters)
        return (p[:, :1] + p[:, 1:] * np.asarray(times)[None, :])[:, :, None]


def linear_problem(times, values, sigma):
    n = len(times)
    return Problem(LinearModel(), np.asarray(times, float), np.arange(n), np.zeros(n, dtype=int),
                   np.asarray(values, float), np.full(n, float(sigma)))


def test_the_residuals_are_standardised_and_read_at_the_observed_time_and_output():
    outputs = np.zeros((1, 3, 2))
    outputs[0, 2, 1] = 7.0
    outputs[0, 0, 0] = 1.0
    problem = Problem(LinearModel(), np.array([0.0, 1.0, 2.0]), np.array([2, 0]), np.array([1, 0]),
                      np.array([5.0, 2.0]), np.array([0.5, 2.0]))
    assert problem.residuals_of(outputs).tolist() == [[(7.0 - 5.0) / 0.5, (1.0 - 2.0) / 2.0]]


def test_the_laplace_evidence_of_a_linear_gaussian_model_is_exact():
    """With standardised data z = y / sigma and design D, p(z) = N(0, I + D D^T): log p(z) =
    -z^T (I + D D^T)^-1 z / 2 - log det(I + D D^T) / 2, up to the constant fit_map drops."""
    times, sigma = np.array([0.0, 1.0, 2.0, 3.0, 5.0]), 0.7
    values = np.array([0.3, 1.4, 1.9, 3.2, 4.1])
    fit = fit_map(linear_problem(times, values, sigma))
    design = np.stack([np.ones_like(times), times], axis=1) / sigma
    z = values / sigma
    marginal = np.eye(times.size) + design @ design.T
    exact = -0.5 * z @ np.linalg.solve(marginal, z) - 0.5 * np.linalg.slogdet(marginal)[1]
    assert fit.log_evidence == pytest.approx(exact, abs=1e-6)
    assert fit.objective == pytest.approx(0.5 * z @ np.linalg.solve(marginal, z), rel=1e-8)


def test_the_fit_stays_within_the_prior_bound():
    # An intercept of 100 (with b held near 0 by a single time point at t = 0) is 100 prior SDs out.
    fit = fit_map(linear_problem([0.0], [100.0], 0.1), bound=4.0)
    assert fit.mode[0] == pytest.approx(4.0, abs=1e-6)
    assert np.all(np.abs(fit.mode) <= 4.0)
    assert fit.max_residual == pytest.approx((100.0 - fit.mode[0] - fit.mode[1] * 0.0) / 0.1, rel=1e-6)


def test_the_proposal_allocates_draws_by_largest_remainders():
    fit = fit_map(linear_problem([0.0, 1.0], [0.5, 1.0], 0.5))
    proposal = Proposal(np.array([2.0, 1.0]), (fit, fit), np.array([0.7, 0.3]), prior_share=0.25)
    prior, fitted = proposal.counts(12)
    # 3 of 12 from the prior, split 2:1; 9 from the fits, 6.3 and 2.7 -> 6 and 3.
    assert prior.tolist() == [2, 1] and fitted.tolist() == [6, 3]
    x, component, from_prior = proposal.sample(np.random.default_rng(1), 12, 2)
    assert x.shape == (12, 2) and np.bincount(component).tolist() == [8, 4] and int(from_prior.sum()) == 3


def test_without_fits_every_draw_comes_from_the_prior():
    proposal = Proposal(np.array([0.75, 0.25]), (), np.array([]), prior_share=0.25)
    prior, fitted = proposal.counts(8)
    assert prior.tolist() == [6, 2] and fitted.tolist() == [0, 0]
    x = np.array([[0.0, 0.0], [1.0, -1.0]])
    # The proposal is then the prior itself: log N(x; 0, I) + log weight of the component.
    expected = [math.log(0.75) - math.log(2 * math.pi), math.log(0.25) - 1.0 - math.log(2 * math.pi)]
    assert proposal.log_density(x, np.array([0, 1])) == pytest.approx(expected)


def test_importance_weights_are_normalised_without_overflow():
    w = importance_weights(np.array([1000.0, 1000.0 + math.log(3.0)]), np.zeros(2), np.zeros(2))
    assert w.tolist() == pytest.approx([0.25, 0.75])
    assert effective_sample_size(np.full(50, 1 / 50)) == pytest.approx(50.0)
    assert effective_sample_size(np.array([1.0, 0.0, 0.0])) == 1.0


def test_map_and_laplace_match_the_exact_posterior_of_a_linear_model():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([0.5, 1.1, 2.2, 2.4])
    sigma = np.full(4, 0.5)
    problem = Problem(LinearModel(), times, np.arange(4), np.zeros(4, dtype=int), values, sigma)
    design = np.stack([np.ones(4), times], axis=1) / sigma[:, None]
    precision = design.T @ design + np.eye(2)
    exact_mean = np.linalg.solve(precision, design.T @ (values / sigma))
    fit = fit_map(problem)
    assert np.allclose(fit.mode, exact_mean, atol=1e-6)
    assert np.allclose(fit.covariance, np.linalg.inv(precision), rtol=1e-6)


def test_importance_sampling_recovers_the_exact_posterior_mean():
    times = np.array([0.0, 1.0, 2.0])
    values = np.array([1.0, 0.2, -0.7])
    problem = Problem(LinearModel(), times, np.arange(3), np.zeros(3, dtype=int), values, np.full(3, 0.4))
    design = np.stack([np.ones(3), times], axis=1) / 0.4
    exact = np.linalg.solve(design.T @ design + np.eye(2), design.T @ (values / 0.4))
    fit = fit_map(problem)
    proposal = Proposal(np.array([1.0]), (fit,), np.array([1.0]), prior_share=0.25)
    x, component, _ = proposal.sample(np.random.default_rng(3), 4000, 2)
    log_likelihood = -0.5 * np.sum(problem.residuals(x) ** 2, axis=1)
    w = importance_weights(log_likelihood, proposal.log_target_prior(x, component), proposal.log_density(x, component))
    assert effective_sample_size(w) > 1000
    assert np.allclose(w @ x, exact, atol=0.03)
