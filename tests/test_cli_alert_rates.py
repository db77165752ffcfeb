"""The monitoring rules applied to simulated sessions from the model."""

import json

import pytest

from ketamine_ptsd.cli import main


def test_alert_rates_on_simulated_esketamine_sessions(capsys):
    assert main(["alert-rates", "--n", "200", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_sessions"] == 200
    rules = out["rules"]
    # Dissociation above 4 CADSS points is the common event after esketamine (61-84 % of
    # patients, SPRAVATO label); it must fire in most but not all simulated sessions.
    assert 0.5 < rules["cadss_notable"]["rate"] < 1.0
    for name, rule in rules.items():
        # The rate is the share of sessions where the rule fired among those it could be
        # evaluated on; a rule with no evaluable session has no rate (not 0).
        assert 0 <= rule["fired"] <= rule["evaluable"] <= 200, name
        if rule["evaluable"]:
            assert rule["rate"] == pytest.approx(rule["fired"] / rule["evaluable"]), name
        else:
            assert rule["rate"] is None and rule["fired"] == 0, name
    # The model simulates no SpO2 and no MOAA/S: those rules cannot be evaluated.
    assert rules["spo2_low"]["evaluable"] == 0 and rules["loss_of_consciousness"]["evaluable"] == 0
    # Every session has a pre-dose reading and a simulated CADSS.
    assert rules["pre_dose_hold"]["evaluable"] == 200 and rules["cadss_notable"]["evaluable"] == 200


def test_alert_rates_bad_input_exits_2(capsys):
    assert main(["alert-rates", "--n", "0"]) == 2
    assert "--n" in capsys.readouterr().err
