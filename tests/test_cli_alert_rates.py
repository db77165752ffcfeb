"""The monitoring rules applied to simulated sessions from the model."""

import json

from ketamine_ptsd.cli import main


def test_alert_rates_on_simulated_esketamine_sessions(capsys):
    assert main(["alert-rates", "--n", "200", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_sessions"] == 200
    rules = out["rules"]
    # Dissociation above 4 CADSS points is the common event after esketamine (61-84 % of
    # patients, SPRAVATO label); it must fire in most but not all simulated sessions.
    assert 0.5 < rules["cadss_notable"]["rate"] < 1.0
    for rule in rules.values():
        if rule["rate"] is not None:
            assert 0.0 <= rule["rate"] <= 1.0


def test_alert_rates_bad_input_exits_2(capsys):
    assert main(["alert-rates", "--n", "0"]) == 2
    assert "--n" in capsys.readouterr().err
