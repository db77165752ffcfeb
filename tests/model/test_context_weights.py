"""The session expectancy weights by context (``session_expectancy_*`` and
``open_label_expectancy`` of ``params/model.toml``) come from the model parameter table in use,
as every other model parameter does: a table passed to ``simulate`` (as calibration, validation
``--params`` and trials pass one) must change the sessions' expectancy, not only the patients'
parameters.

Expected values follow from the equations, not from a run: a session adds its weight to the
pending expectancy, which feeds the expectancy state through two linear first-order steps
(``symptoms.symptom_rhs``); from an untreated start the expectancy state is therefore
proportional to the session's weight, and doubling the weight doubles it at every time.
"""

from __future__ import annotations

import numpy as np
import pytest

from ketamine_ptsd import Population, Regimen, simulate, single_dose
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model import layout as L
from ketamine_ptsd.params import model_table

TIMES = np.array([0.0, 2.0, 6.0, 24.0, 48.0, 7 * 24.0])
AT_24H = 3


def midazolam() -> Regimen:
    return single_dose(0.045, product="midazolam")


def doubled_midazolam_weight():
    packaged = model_table()
    return packaged.replace(session_expectancy_midazolam=2 * packaged.value("session_expectancy_midazolam"))


def expectancy(regimen: Regimen, table=None) -> np.ndarray:
    traj = simulate(regimen, Population.typical(), times=TIMES, outputs=["expectancy"], record_states=True,
                    model_params=table)
    return traj["expectancy"][0]


def madrs(regimen: Regimen, table=None) -> np.ndarray:
    return simulate(regimen, Population.typical(), times=TIMES, outputs=["madrs"], model_params=table)["madrs"][0]


def test_event_table_reads_the_session_weight_of_the_table_passed():
    packaged = model_table()
    table = doubled_midazolam_weight()
    jumps = {}
    for name, t in (("packaged", None), ("doubled", table)):
        ev = MODEL.events(midazolam(), t)
        at = (ev.index == L.X_EXPECT_PENDING) & (ev.kind == 0)
        assert at.sum() == 1
        jumps[name] = float(ev.fixed[at][0])
    assert jumps["packaged"] == packaged.value("session_expectancy_midazolam")
    assert jumps["doubled"] == 2 * packaged.value("session_expectancy_midazolam")


def test_open_label_weight_of_the_table_passed_scales_the_session():
    packaged = model_table()
    table = packaged.replace(open_label_expectancy=1.5)
    regimen = Regimen(single_dose().doses, open_label=True)
    ev = MODEL.events(regimen, table)
    at = ev.index == L.X_EXPECT_PENDING
    assert float(ev.fixed[at][0]) == pytest.approx(1.5 * packaged.value("session_expectancy_ketamine"))


def test_doubled_midazolam_weight_doubles_the_expectancy_response():
    packaged = expectancy(midazolam())
    doubled = expectancy(midazolam(), doubled_midazolam_weight())
    assert packaged[0] == 0.0 and packaged[AT_24H] > 0.0
    # The expectancy state is linear in the session's weight (module docstring); the solver's
    # steps differ slightly between the two runs, hence the tolerance.
    np.testing.assert_allclose(doubled[1:], 2 * packaged[1:], rtol=1e-4)


def test_doubled_midazolam_weight_deepens_the_24h_madrs_change():
    packaged = madrs(midazolam())
    doubled = madrs(midazolam(), doubled_midazolam_weight())
    assert doubled[0] == pytest.approx(packaged[0])  # same patient, same baseline
    change_packaged = packaged[AT_24H] - packaged[0]
    change_doubled = doubled[AT_24H] - doubled[0]
    assert change_packaged < 0.0
    # More expectancy, a larger improvement; the response saturates (gain * e / (1 + e)), so
    # less than twice as large.
    assert change_doubled < change_packaged - 0.5
    assert change_doubled > 2 * change_packaged


def test_midazolam_weight_leaves_a_ketamine_session_alone():
    packaged = madrs(single_dose())
    other = madrs(single_dose(), doubled_midazolam_weight())
    np.testing.assert_array_equal(other, packaged)

