"""The SBML export: a valid Level 3 document that libRoadRunner simulates to the engine's
trajectory."""

from __future__ import annotations

import libsbml
import numpy as np
import pytest

from ketamine_ptsd import Population, simulate
from ketamine_ptsd.dosing import induction_series, single_dose, with_therapy
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.interop.sbml import export_sbml
from ketamine_ptsd.model.layout import INPUT_NAMES, OUTPUT_NAMES, PARAM_NAMES, STATE_NAMES

roadrunner = pytest.importorskip("roadrunner")

COMPARED = ("ketamine_ng_ml", "norketamine_ng_ml", "effect_site_ng_ml", "nmda_occupancy", "glutamate",
            "bdnf", "synaptic_density", "plasticity", "cadss", "sbp_mmhg", "pcl5_total", "pcl5_b",
            "caps5_total", "madrs")
#: Largest difference allowed, as a fraction of each variable's maximum over the course.
TOLERANCE = 1e-4


def roadrunner_run(path, times, outputs):
    """libRoadRunner (CVODE) at its default relative tolerance, with a tight absolute one."""
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = 1e-6
    rr.integrator.absolute_tolerance = 1e-12
    rr.integrator.maximum_num_steps = 100_000
    rr.timeCourseSelections = ["time", *outputs]
    result = rr.simulate(times=times)
    return {name: np.asarray(result[name]) for name in outputs}


def largest_relative_difference(regimen, tmp_path, tight_engine, days):
    times = np.arange(0.0, days * 24.0 + 0.25, 0.25)
    path = export_sbml(tmp_path / "model.xml", regimen)
    ours = simulate(regimen, Population.typical(), engine=tight_engine, times=times, outputs=COMPARED)
    theirs = roadrunner_run(path, times, COMPARED)
    return {name: float(np.max(np.abs(theirs[name] - ours[name][0])) / np.max(np.abs(ours[name][0])))
            for name in COMPARED}


def test_roadrunner_follows_the_engine_over_the_standard_induction_series(tmp_path, tight_engine):
    errors = largest_relative_difference(induction_series(), tmp_path, tight_engine, days=21)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst} differs by {errors[worst]:.2e} of its maximum"


def test_roadrunner_follows_nasal_esketamine_and_therapy_sessions(tmp_path, tight_engine):
    # Two 28-mg devices 5 min apart (depot jumps), the swallowed part as a zero-order input,
    # and a psychotherapy session the next day (the therapy input).
    regimen = with_therapy(single_dose(56, per_kg=False, route="intranasal", product="esketamine"), [1])
    errors = largest_relative_difference(regimen, tmp_path, tight_engine, days=5)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst} differs by {errors[worst]:.2e} of its maximum"


def test_document_is_valid_level_3_with_every_state_parameter_and_output(tmp_path):
    path = export_sbml(tmp_path / "model.xml", induction_series(days=[0, 2]))
    doc = libsbml.readSBMLFromFile(str(path))
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    doc.checkConsistency()
    errors = [doc.getError(i).getMessage() for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    assert errors == []
    model = doc.getModel()
    ids = {model.getParameter(i).getId() for i in range(model.getNumParameters())}
    assert {"ketamine_ng_ml", "pcl5_total", "madrs", "mtor_state", "s_central_mg", "patient_weight_kg",
            "labile_tau", "iv_rate_mg_h"} <= ids
    assert len(ids) == len(STATE_NAMES) + len(PARAM_NAMES) + len(OUTPUT_NAMES) + len(INPUT_NAMES)
    assert model.getNumRules() == len(STATE_NAMES) + len(OUTPUT_NAMES)
    # Two infusions: start and end of each (the session markers share the start events).
    assert model.getNumEvents() == 4
    typical = Population.typical().parameters("racemic")[0]
    assert model.getParameter("cl_s").getValue() == pytest.approx(typical[PARAM_NAMES.index("cl_s")])
    assert "Ebert" in model.getParameter("ki_s_ketamine").getNotesString()


def test_parameters_by_name_replace_the_typical_values(tmp_path):
    path = export_sbml(tmp_path / "model.xml", params={"labile_tau": 200.0, "weight_kg": 90.0})
    model = libsbml.readSBMLFromFile(str(path)).getModel()
    assert model.getParameter("labile_tau").getValue() == 200.0
    assert model.getParameter("patient_weight_kg").getValue() == 90.0


def test_untreated_model_stays_at_baseline(tmp_path):
    path = export_sbml(tmp_path / "model.xml")
    run = roadrunner_run(path, np.linspace(0, 240, 11), ["pcl5_total", "ketamine_ng_ml"])
    assert np.allclose(run["ketamine_ng_ml"], 0.0)
    assert np.allclose(run["pcl5_total"], 13 + 6 + 17 + 14)


@pytest.mark.parametrize("params, field", [
    ({"no_such_parameter": 1.0}, "no_such_parameter"),
    ({"labile_tau": float("nan")}, "labile_tau"),
    ([1.0, 2.0], "params"),
])
def test_bad_parameters_are_refused_and_nothing_is_written(tmp_path, params, field):
    target = tmp_path / "model.xml"
    with pytest.raises(InputError) as err:
        export_sbml(target, params=params)
    assert field in err.value.field
    assert list(tmp_path.iterdir()) == []
