"""The engine reaches every course a forecast simulates (the fits, the draws and the
population curve), as it does in trials: an engine passed to ``forecast`` integrates them
all, and one that integrates as the default does gives the same forecast."""

from __future__ import annotations

from dataclasses import dataclass, field

from ketamine_ptsd.calibration.individual import POPULATION_SIZE, Observation, forecast
from ketamine_ptsd.dosing import induction_series
from ketamine_ptsd.engine import Engine, NumbaEngine

REGIMEN = induction_series(days=[0, 2, 4])
SCORES = [Observation(-24.0, "pcl5", 48.0, {"B": 14, "C": 6, "D": 16, "E": 12}),
          Observation(7 * 24.0, "pcl5", 30.0, {"B": 8, "C": 4, "D": 10, "E": 8})]
DRAWS = 64


@dataclass(frozen=True)
class Counting:
    """An engine that integrates as numba on one thread and notes each batch's size."""

    name: str = "counting"
    inner: NumbaEngine = NumbaEngine(threads=1)
    batches: list = field(default_factory=list, compare=False, hash=False)

    def solve(self, model, params, events, times, out_sel, record_states=False, y0=None, out=None):
        self.batches.append(params.shape[0])
        return self.inner.solve(model, params, events, times, out_sel, record_states, y0, out)


def test_the_engine_integrates_the_fits_the_draws_and_the_population_curve():
    engine = Counting()
    assert isinstance(engine, Engine)
    with_engine = forecast(REGIMEN, SCORES, {"weight_kg": 70.0}, horizon_days=28, n_draws=DRAWS, engine=engine)
    assert DRAWS in engine.batches and POPULATION_SIZE in engine.batches
    # The fits: batches of the point and one step per fitted parameter (fit_map's Jacobian).
    assert any(n < DRAWS for n in engine.batches)
    default = forecast(REGIMEN, SCORES, {"weight_kg": 70.0}, horizon_days=28, n_draws=DRAWS)
    assert with_engine.to_dict() == default.to_dict()


def test_without_scores_the_engine_integrates_the_draws_and_the_population_curve_only():
    engine = Counting()
    # Another horizon than above: the population curve is cached by regimen, horizon and engine.
    forecast(REGIMEN, [], {"weight_kg": 70.0}, horizon_days=35, n_draws=DRAWS, engine=engine)
    # With no scores there is nothing to fit: the draws and the population curve only.
    assert sorted(set(engine.batches)) == sorted({DRAWS, POPULATION_SIZE})
