"""The engine is passed down into a trial: the same tiny trial integrated by the scipy
reference (``solve_ivp``, LSODA) and by the default numba engine gives the same observed
scores and endpoints, to within the solvers' tolerances."""

from __future__ import annotations

import numpy as np

from ketamine_ptsd.engine import Engine, NumbaEngine, ScipyEngine, engine_of
from ketamine_ptsd.trials import endpoints, parse_spec, run_trial

TINY = """\
[trial]
name = "tiny"
n_per_arm = 3
control = "saline"
seed = 5

[[arms]]
name = "ketamine"
drug = "racemic"
dose = "0.5mg/kg"
days = [0, 2]

[[arms]]
name = "saline"
drug = "saline"
dose = "0.5mg/kg"
days = [0, 2]

[visits]
days = [0, 1, 7]
instruments = ["caps5_total", "madrs"]

[analysis]
instrument = "caps5_total"
day = 7

[response]
instrument = "caps5_total"
percent_reduction = 30
day = 7

[remission]
instrument = "caps5_total"
at_or_below = 11

[follow_up]
every_days = 7
until_day = 14
"""


def test_engines_meet_the_protocol_and_are_chosen_by_name():
    assert isinstance(NumbaEngine(), Engine) and isinstance(ScipyEngine(), Engine)
    assert isinstance(engine_of(None), NumbaEngine) and engine_of(None, threads=1).threads == 1
    assert isinstance(engine_of("scipy"), ScipyEngine)
    mine = ScipyEngine(rtol=1e-8)
    assert engine_of(mine) is mine


def test_a_trial_runs_on_the_scipy_engine_with_the_same_endpoints():
    spec = parse_spec(TINY)
    numba = run_trial(spec, threads=1)
    scipy = run_trial(spec, engine=ScipyEngine(rtol=1e-8, atol=1e-10))
    assert len(scipy.arms) == 2
    for a, b in zip(numba.arms, scipy.arms):
        # The scores are on 0-80 (CAPS-5) and 0-60 (MADRS) scales: solver differences of
        # a relative 1e-6 leave them within 0.01 point.
        np.testing.assert_allclose(a.visits, b.visits, atol=0.01, equal_nan=True)
        assert a.failed == b.failed == 0
    # The primary comparison (ketamine - saline, CAPS-5 change at day 7) with its interval.
    c_numba = endpoints(numba)["comparisons"]["ketamine"]
    c_scipy = endpoints(scipy)["comparisons"]["ketamine"]
    for key in ("difference", "ci_low", "ci_high"):
        assert abs(c_numba[key] - c_scipy[key]) <= 0.02, key
    assert c_numba["difference"] != 0.0
    # The engine given is the one used: a loose explicit solver moves the scores.
    loose = run_trial(spec, engine=ScipyEngine(method="RK23", rtol=1e-1, atol=1e-1))
    assert not np.allclose(loose.arms[0].visits, numba.arms[0].visits, atol=1e-6, equal_nan=True)
