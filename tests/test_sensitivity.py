"""Sensitivity analysis of trial endpoints (SALib): a parameter that cannot reach the
symptoms gets zero indices, one that drives them gets large ones; undefined outputs are
reported, not turned into numbers; bad parameters and outputs are input errors."""

from __future__ import annotations

import pytest

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.params import model_table
from ketamine_ptsd.sensitivity import (
    DEFAULT_PARAMETERS,
    ParameterRange,
    default_parameters,
    indices_figure,
    parse_output,
    parse_parameter,
    run_sensitivity,
)
from ketamine_ptsd.trials import parse_spec

SPEC = """\
[trial]
name = "sens"
n_per_arm = 8
control = "saline"
seed = 21

[[arms]]
name = "ketamine"
drug = "racemic"
dose = "0.5mg/kg"
days = [0, 2, 4]

[[arms]]
name = "saline"
drug = "saline"
dose = "0.5mg/kg"
days = [0, 2, 4]

[visits]
days = [0, 7]
instruments = ["caps5_total"]

[analysis]
instrument = "caps5_total"
day = 7

[response]
instrument = "caps5_total"
percent_reduction = {percent}
day = 7

[remission]
instrument = "caps5_total"
at_or_below = 11

[follow_up]
every_days = 7
until_day = 21
"""


@pytest.fixture(scope="module")
def spec():
    return parse_spec(SPEC.format(percent=30))


#: Dissociation's EC50 acts on CADSS only; the structural gain drives every symptom score.
INERT = ParameterRange("cadss_ec50", 300.0, 600.0)
ACTIVE = ParameterRange("structural_gain", 3.0, 7.0)


def test_sobol_gives_an_inert_parameter_zero_and_the_active_one_most(spec):
    result = run_sensitivity(spec, [ACTIVE, INERT], [parse_output("difference", spec)], "sobol", 32, seed=2)
    assert result.samples.shape == (32 * (2 + 2), 2)
    idx = result.indices["difference:ketamine"]
    assert idx["cadss_ec50"]["S1"] == 0.0 and idx["cadss_ec50"]["ST"] == 0.0
    # The only parameter that matters has true first-order and total indices of 1. With one
    # active parameter the rows that swap it equal the B rows, so both estimators are ratios
    # of two estimates of the same variance from 32 base samples: within 0.1 of 1.
    assert idx["structural_gain"]["ST"] == pytest.approx(1.0, abs=0.1)
    assert idx["structural_gain"]["S1"] == pytest.approx(1.0, abs=0.1)
    d = result.to_dict()
    assert d["evaluations"] == 128 and d["parameters"]["structural_gain"] == [3.0, 7.0]


def test_morris_effects_have_the_direction_of_the_mechanism(spec):
    outputs = [parse_output("difference", spec), parse_output("responder_rate", spec)]
    result = run_sensitivity(spec, [ACTIVE, INERT], outputs, "morris", 3, seed=2)
    assert result.values.shape == (3 * 3, 2)
    diff = result.indices["difference:ketamine"]
    assert diff["cadss_ec50"]["mu_star"] == 0.0
    # More structural gain, more improvement with ketamine: the difference falls.
    assert diff["structural_gain"]["mu"] < 0 and diff["structural_gain"]["mu_star"] > 0
    assert result.indices["responder_rate:ketamine"]["structural_gain"]["mu"] >= 0
    assert indices_figure(result)[:4] == b"\x89PNG"


def test_an_output_undefined_in_some_trials_has_no_indices_and_a_warning():
    nobody = parse_spec(SPEC.format(percent=100))
    output = parse_output("median_days_to_loss_of_response", nobody)
    result = run_sensitivity(nobody, [ACTIVE], [output], "morris", 2, seed=1)
    assert result.indices[output.label] is None
    assert "undefined" in result.warnings[0]
    assert indices_figure(result)[:4] == b"\x89PNG"


def test_default_parameters_are_the_feder2021_calibrated_values_plus_minus_a_quarter():
    table = model_table()
    assert "structural_gain" in DEFAULT_PARAMETERS and "resistant_fraction" in DEFAULT_PARAMETERS
    for p in default_parameters():
        v = table.value(p.name)
        assert p.low == pytest.approx(0.75 * v)
        assert p.high == pytest.approx(min(1.25 * v, 0.99) if "fraction" in p.name else 1.25 * v)


def test_parameter_and_output_parsing(spec):
    assert parse_parameter("labile_tau=150:250") == ParameterRange("labile_tau", 150.0, 250.0)
    assert parse_output("responder_rate:saline", spec).label == "responder_rate:saline"
    assert parse_output("effect_size_d", spec).arm == "ketamine"
    for bad in ("labile_tau", "labile_tau=1", "labile_tau=a:b", "nothing=1:2", "labile_tau=5:5"):
        with pytest.raises(InputError) as err:
            parse_parameter(bad)
        assert err.value.field == "parameter"
    for bad in ("mood", "difference:saline", "responder_rate:placebo"):
        with pytest.raises(InputError) as err:
            parse_output(bad, spec)
        assert err.value.field == "output"


@pytest.mark.parametrize("method,samples,field", [("sobol", 6, "samples"), ("morris", 1, "samples"),
                                                  ("fast", 8, "method")])
def test_sample_counts_and_methods_salib_cannot_use_are_rejected(spec, method, samples, field):
    with pytest.raises(InputError) as err:
        run_sensitivity(spec, [ACTIVE], [parse_output("difference", spec)], method, samples)
    assert err.value.field == field


def test_parameters_must_be_given_once(spec):
    with pytest.raises(InputError, match="twice"):
        run_sensitivity(spec, [ACTIVE, ACTIVE], [parse_output("difference", spec)], "morris", 2)
    with pytest.raises(InputError, match="no parameter"):
        run_sensitivity(spec, [], [parse_output("difference", spec)], "morris", 2)


def test_a_single_arm_trial_has_rates_but_no_differences():
    text = SPEC.format(percent=30).replace('control = "saline"', 'design = "single_arm"')
    text = text[:text.index('[[arms]]\nname = "saline"')] + text[text.index("[visits]"):]
    spec = parse_spec(text)
    assert parse_output("responder_rate", spec).arm == "ketamine"
    with pytest.raises(InputError) as err:
        parse_output("difference", spec)
    assert err.value.field == "output" and err.value.allowed == "a trial with a control arm"
