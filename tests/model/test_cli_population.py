"""``simulate --population`` and ``--oral-ad``, and ``alert-rates`` on recorded readings."""

import json

import pandas as pd

from ketamine_ptsd.cli import main


def _madrs(tmp_path, oral_ad):
    out = tmp_path / oral_ad
    assert main(["simulate", "--population", "trd", "--oral-ad", oral_ad, "--n", "3", "--days", "0",
                 "--horizon-days", "28", "--dt-min", "1440", "--out", str(out)]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["population"] == "trd" and meta["oral_ad"] == oral_ad
    return pd.read_csv(out / "trajectory.csv").pivot(index="time_h", columns="id", values="madrs")


def test_simulate_with_a_population_and_a_new_oral_antidepressant(tmp_path):
    new, none = _madrs(tmp_path, "new"), _madrs(tmp_path, "none")
    # The same trd patients; the new antidepressant adds little in the first days, more by week 4.
    assert (new.loc[0.0] == none.loc[0.0]).all()
    early = (none.loc[24.0] - new.loc[24.0]).min()
    late = (none.loc[28 * 24.0] - new.loc[28 * 24.0]).min()
    assert 0 <= early < late


def test_simulate_unknown_population_exits_2(tmp_path, capsys):
    assert main(["simulate", "--population", "martians", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--population" in err and "civilian_ptsd" in err
    assert not (tmp_path / "x").exists()


def test_alert_rates_see_rises_on_placebo_like_doses_only_through_noise(capsys):
    """Recorded readings carry cuff noise: some sessions cross the blood-pressure rule even at
    a dose too small to raise pressure, none would on the model's smooth curves."""
    assert main(["alert-rates", "--dose", "0.05mg/kg", "--route", "iv_infusion", "--drug", "racemic",
                 "--n", "3000", "--seed", "2", "--json"]) == 0
    rates = json.loads(capsys.readouterr().out)["rules"]
    assert rates["bp_rise"]["fired"] > 0
