"""``ketamine-ptsd trial`` and ``ketamine-ptsd sensitivity`` on the command line: the files
they write, the JSON scripts read, the built-in specs, and bad input (exit 2, one line naming
the field, nothing written)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from ketamine_ptsd import cli
from ketamine_ptsd.cli_trial import sensitivity, trial
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.trials import builtin_spec_text

SPEC = """\
[trial]
name = "cli"
title = "CLI test trial"
n_per_arm = 10
control = "saline"
seed = 4

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
instruments = ["caps5_total", "madrs", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e"]

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
until_day = 28
"""


@pytest.fixture
def app() -> typer.Typer:
    """A small app with the two commands, as cli.py mounts them."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("trial")(trial)
    app.command("sensitivity")(sensitivity)
    return app


@pytest.fixture
def main():
    """``ketamine_ptsd.cli.main`` with the commands mounted (temporarily, if cli.py has not)."""
    added = [name for name in ("trial", "sensitivity") if name not in {c.name for c in cli.app.registered_commands}]
    functions = {"trial": trial, "sensitivity": sensitivity}
    for name in added:
        cli.app.command(name)(functions[name])
    yield cli.main
    cli.app.registered_commands[:] = [c for c in cli.app.registered_commands
                                      if not (c.name in added and c.callback is functions[c.name])]


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "trial.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_print_spec_prints_the_builtin_toml(app):
    result = CliRunner().invoke(app, ["trial", "--builtin", "feder2021", "--print-spec"])
    assert result.exit_code == 0
    assert result.stdout == builtin_spec_text("feder2021")


def test_a_trial_writes_endpoints_and_report_and_prints_a_summary(app, spec_file, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["trial", str(spec_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    e = json.loads((out / "endpoints.json").read_text())
    assert e["trial"] == "cli" and e["n_per_arm"] == {"ketamine": 10, "saline": 10}
    html = (out / "report.html").read_text()
    for words in ("Kaplan-Meier", "not a medical device", "CLI test trial", "DSM-5 clusters"):
        assert words in html, words
    assert html.count("data:image/png;base64,") == 4
    assert "responders" in result.stdout and "not a medical device" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["endpoints.json", "report.html"]


def test_json_goes_to_stdout_alone_and_options_override_the_spec(app, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["trial", str(spec_file), "--json", "--n-per-arm", "6", "--seed", "9"])
    assert result.exit_code == 0
    e = json.loads(result.stdout)
    assert e["seed"] == 9 and e["n_per_arm"] == {"ketamine": 6, "saline": 6}
    arm = e["arms"]["ketamine"]
    for key in ("responder_rate", "remission_rate", "mean_change_from_baseline", "median_days_to_loss_of_response"):
        assert key in arm
    assert set(arm["mean_change_from_baseline"]["caps5_total"]) == {"1", "7"}
    comparison = e["comparisons"]["ketamine"]
    for key in ("difference", "ci_low", "ci_high", "p_value", "effect_size_d"):
        assert key in comparison
    assert list(tmp_path.iterdir()) == [spec_file]  # --json without --out writes no files


def test_power_trials_add_a_power_block(app, spec_file):
    result = CliRunner().invoke(app, ["trial", str(spec_file), "--json", "--n-per-arm", "5", "--power-trials", "3"])
    assert result.exit_code == 0
    p = json.loads(result.stdout)["power"]
    assert p["trials"] == 3 and 0 <= p["by_arm"]["ketamine"]["power"] <= 1


def test_the_builtin_feder2014_crossover_runs(app):
    result = CliRunner().invoke(app, ["trial", "--builtin", "feder2014", "--json", "--n-per-arm", "8"])
    e = json.loads(result.stdout)
    assert e["design"] == "crossover" and e["population"]["enrolled"] == 8
    assert e["comparisons"]["ketamine"]["method"] == "paired (crossover)"


BAD = [
    (["trial", "{spec}", "--n-per-arm", "0"], "--n-per-arm"),
    (["trial", "{spec}", "--seed", "-3"], "--seed"),
    (["trial", "{spec}", "--workers", "0"], "--workers"),
    (["trial", "{spec}", "--scheduler", "not-an-address"], "--scheduler"),
    (["trial", "{spec}", "--chunk-size", "0"], "--chunk-size"),
    (["trial", "{spec}", "--power-trials", "-1"], "--power-trials"),
    (["trial"], "SPEC"),
    (["trial", "--builtin", "feder2099"], "--builtin"),
    (["trial", "{spec}", "--builtin", "feder2021"], "--builtin"),
    (["trial", "{spec}", "--print-spec"], "--print-spec"),
    (["trial", "{missing}"], "SPEC"),
    (["trial", "{bad_spec}"], "bad.toml line 4, trial.n_per_arm"),
    (["trial", "{unknown_key}"], "unknown.toml line 7, trial.colour"),
    (["sensitivity", "{spec}", "--samples", "3"], "--samples"),
    (["sensitivity", "{spec}", "--method", "fast"], "--method"),
    (["sensitivity", "{spec}", "-p", "no_such_param=1:2"], "--parameter"),
    (["sensitivity", "{spec}", "-p", "labile_tau=300:200"], "--parameter"),
    (["sensitivity", "{spec}", "-o", "happiness"], "--output"),
    (["sensitivity", "{spec}", "-o", "difference:saline"], "--output"),
]


@pytest.mark.parametrize("args,field", BAD)
def test_bad_input_exits_2_with_one_line_naming_the_field_and_writes_nothing(args, field, main, spec_file, tmp_path,
                                                                             capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(SPEC.replace("n_per_arm = 10", "n_per_arm = 0"))
    (tmp_path / "unknown.toml").write_text(SPEC.replace("seed = 4", "seed = 4\ncolour = 3"))
    paths = {"spec": str(spec_file), "missing": str(tmp_path / "missing.toml"),
             "bad_spec": str(tmp_path / "bad.toml"), "unknown_key": str(tmp_path / "unknown.toml")}
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main([a.format(**paths) for a in args])
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), captured.err
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_error_in_the_library_is_raised_before_any_file_is_written(app, spec_file, tmp_path):
    out = tmp_path / "out"
    spec_file.write_text(SPEC.replace("[visits]", "[inclusion]\ncaps5_total = { at_least = 79.9 }\n\n[visits]"))
    result = CliRunner().invoke(app, ["trial", str(spec_file), "--out", str(out), "--n-per-arm", "1"])
    assert isinstance(result.exception, InputError)
    assert "inclusion.caps5_total" in result.exception.field
    assert not out.exists()


def test_sensitivity_writes_indices_and_a_plot(app, spec_file, tmp_path):
    out = tmp_path / "sens"
    result = CliRunner().invoke(app, ["sensitivity", str(spec_file), "--method", "morris", "--samples", "2",
                                      "-p", "structural_gain=4:6", "-p", "cadss_ec50=300:600",
                                      "-o", "responder_rate", "-o", "difference", "--n-per-arm", "6",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["method"] == "morris" and data["evaluations"] == 6
    assert set(data["indices"]) == {"responder_rate:ketamine", "difference:ketamine"}
    # Dissociation's EC50 does not reach the symptom model: no elementary effect on the difference.
    assert data["indices"]["difference:ketamine"]["cadss_ec50"]["mu_star"] == 0.0
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    assert "mu_star" in result.stdout


OPEN_LABEL = """\
[trial]
name = "open"
title = "Open-label series"
design = "single_arm"
n_per_arm = 6
seed = 3

[[arms]]
name = "ketamine"
drug = "racemic"
dose = "0.5mg/kg"
days = [0, 2, 4]

[arms.maintenance]
days = [11]

[visits]
days = [0, 1, 5, 12]
instruments = ["madrs"]

[analysis]
instrument = "madrs"
day = 5

[response]
instrument = "madrs"
percent_reduction = 50
day = 5

[remission]
instrument = "madrs"
at_or_below = 12

[[relapse]]
instrument = "madrs"
kind = "loss_of_response"
day = 5

[safety]
"""


def test_a_single_arm_trial_with_relapse_and_safety_reports_them(app, tmp_path):
    spec = tmp_path / "open.toml"
    spec.write_text(OPEN_LABEL, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["trial", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    e = json.loads((out / "endpoints.json").read_text())
    assert e["comparisons"] == {} and e["control"] is None
    assert set(e["arms"]["ketamine"]) >= {"by_visit", "relapse", "safety"}
    html = (out / "report.html").read_text()
    for words in ("no control arm", "Every instrument at every visit", "Relapse", "Acute safety", "days 11"):
        assert words in html, words
    assert "against" not in result.stdout  # no comparison table


def test_power_of_a_single_arm_trial_is_refused_before_simulating(main, tmp_path, capsys):
    spec = tmp_path / "open.toml"
    spec.write_text(OPEN_LABEL, encoding="utf-8")
    rc = main(["trial", str(spec), "--power-trials", "2", "--out", str(tmp_path / "out")])
    assert rc == 2 and "trial.control" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_builtin_prints(app):
    from ketamine_ptsd.trials import BUILTIN

    for name in BUILTIN:
        result = CliRunner().invoke(app, ["trial", "--builtin", name, "--print-spec"])
        assert result.exit_code == 0 and result.stdout == builtin_spec_text(name)
