"""`ketamine-ptsd clinic` commands, run through typer's CliRunner on the shipped examples."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketamine_ptsd.cli_clinic import app
from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()

DSM_MINIMAL = "2,0,0,0,0,2,0,2,2,0,0,0,0,0,2,2,0,0,0,0"  # items 1, 6, 8, 9, 15, 16 = 2


def run_json(*args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(args, *fragments):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


class TestScore:
    def test_pcl5_json_keys_and_values(self):
        data = run_json("score", "pcl5", DSM_MINIMAL)
        assert data["total"] == 12
        assert data["clusters"] == {"B": 2, "C": 2, "D": 4, "E": 4}
        assert data["dsm5_symptom_rule"] == "positive"
        assert data["cut_point_result"] == "negative"
        assert (data["probable_ptsd"], data["methods_agree"]) == ("negative", False)
        assert data["provisional_diagnosis"] == data["probable_ptsd"]
        assert data["flags"] == ["dsm5_rule_positive", "methods_differ"]

    def test_empty_field_is_missing(self):
        answers = "1," * 6 + "," + "1," * 12 + "1"  # item 7 empty
        data = run_json("score", "pcl5", answers)
        assert data["total"] is None
        assert data["items"][6] is None
        assert data["n_missing"] == 1

    def test_prorate(self):
        answers = "1," * 6 + "," + "1," * 12 + "1"  # 19 answered, sum 19 -> 20
        data = run_json("score", "pcl5", answers, "--prorate")
        assert data["total"] == 20
        assert data["prorated"] is True

    def test_baseline_adds_change_rules(self):
        data = run_json("score", "pcl5", "2," * 19 + "4", "--baseline", "50")  # total 42
        outcomes = {o["rule"]: o["met"] for o in data["change"]["outcomes"]}
        assert data["change"]["delta"] == 8
        assert outcomes["pcl5.reliable_change"] is True
        assert outcomes["pcl5.clinically_meaningful_change"] is False

    def test_caps5_with_criteria(self):
        data = run_json("score", "caps5", DSM_MINIMAL, "--criterion-a", "yes",
                        "--criterion-f", "yes", "--impairment", "2,0,0", "--dissociation", "2,0")
        assert data["provisional_diagnosis"] == "positive"
        assert data["dissociative_subtype"] == "positive"

    def test_caps5_response_from_baseline(self):
        # 20 items summing to 42 against a baseline of 60: exactly 30 % -> response
        answers = ",".join(["3"] * 14 + ["0"] * 6)
        data = run_json("score", "caps5", answers, "--baseline", "60")
        assert data["total"] == 42
        response = next(o for o in data["change"]["outcomes"] if o["rule"] == "caps5.response")
        assert response["met"] is True

    def test_cssrs_yes_no(self):
        data = run_json("score", "c-ssrs", "y,n,,,,y,y")
        assert data["risk"] == "high"
        assert data["skipped"] == ["Q3", "Q4", "Q5"]
        assert "total" in data and "clusters" in data

    def test_phq9_item9_flag(self):
        data = run_json("score", "phq9", "1,1,1,0,0,0,0,0,1", "--difficulty", "1")
        assert (data["total"], data["band"], data["item9_flag"]) == (4, "minimal", True)
        assert data["difficulty"] == 1

    def test_bprs_and_iesr(self):
        assert run_json("score", "bprs+", "1,1,2,7", "--bprs-convention", "1-7"
                        )["zero_based_total"] == 7
        data = run_json("score", "iesr", ",".join(["2"] * 22))
        assert (data["total"], data["total_mean"]) == (44, 6.0)

    def test_readable_output(self):
        result = runner.invoke(app, ["score", "pcl5", DSM_MINIMAL])
        assert result.exit_code == 0
        assert "dsm5_symptom_rule" in result.stdout and "probable_ptsd" in result.stdout
        assert "methods_agree" in result.stdout
        assert "positive" in result.stdout
        assert "not a medical device" in result.stdout

    def test_settings_override(self):
        answers = ",".join(["4"] * 7 + ["3"] + ["0"] * 12)  # 31
        assert run_json("score", "pcl5", answers)["cut_point_result"] == "negative"
        data = run_json("score", "pcl5", answers, "--settings",
                        str(EXAMPLES / "settings-local.toml"))
        assert data["cut_point_result"] == "positive"

    @pytest.mark.parametrize("args, fragments", [
        (["score", "pcl5", "2,0,5" + ",0" * 17], ["PCL-5 item 3", "0-4"]),
        (["score", "pcl5", "2,0,x" + ",0" * 17], ["PCL-5 item 3", "0-4"]),
        (["score", "pcl5", "2,0,1.5" + ",0" * 17], ["PCL-5 item 3", "integer"]),
        (["score", "pcl5", "1,2"], ["items", "20"]),
        (["score", "madrs", "7" + ",0" * 9], ["MADRS item 1", "0-6"]),
        (["score", "xyz", "1"], ["INSTRUMENT", "pcl5"]),
        (["score", "cssrs", "1,0,1,,,0,"], ["C-SSRS Q3"]),
        (["score", "cssrs", "maybe,0,,,,0,"], ["C-SSRS Q1", "yes or no"]),
        (["score", "dast10", "1,0,2,0,0,0,0,0,0,0"], ["DAST-10 item 3", "yes or no"]),
        (["score", "bprs_pos", "1,2,3,4"], ["--bprs-convention", "0-6 or 1-7"]),
        (["score", "pcl5", "1," * 19, "--baseline", "40"], ["--baseline"]),
        (["score", "cssrs", "0,0,,,,0,", "--prorate"], ["--prorate"]),
        (["score", "pcl5", DSM_MINIMAL, "--settings", "missing.toml"], ["--settings"]),
    ])
    def test_bad_input(self, args, fragments):
        assert_one_line_error(args, *fragments)


class TestScreen:
    @pytest.mark.parametrize("name, decision", [
        ("patient-eligible.toml", "eligible"), ("patient-review.toml", "needs_review"),
        ("patient-not-eligible.toml", "not_eligible"),
    ])
    def test_examples(self, name, decision):
        data = run_json("screen", str(EXAMPLES / name))
        assert data["decision"] == decision
        assert isinstance(data["reasons"], list)

    def test_review_example_reasons(self):
        data = run_json("screen", str(EXAMPLES / "patient-review.toml"))
        codes = {r["code"]: r["severity"] for r in data["reasons"]}
        assert codes["elevated_bp"] == "review"
        assert codes["maoi"] == "review"
        assert codes["benzodiazepine"] == "note"
        assert all(r["source"] and r["tag"] for r in data["reasons"])

    def test_readable(self):
        result = runner.invoke(app, ["screen", str(EXAMPLES / "patient-not-eligible.toml")])
        assert result.exit_code == 0
        assert "not_eligible" in result.stdout
        assert "sud_recent" in result.stdout

    def test_bad_files(self, tmp_path):
        assert_one_line_error(["screen", str(tmp_path / "none.toml")], "PATIENT.toml")
        bad = tmp_path / "p.toml"
        bad.write_text('pregnant = "perhaps"\n')
        assert_one_line_error(["screen", str(bad)], "pregnant", "true or false")
        bad.write_text("pregant = false\n")
        assert_one_line_error(["screen", str(bad)], "pregant")
        bad.write_text("pregnant = \n")
        assert_one_line_error(["screen", str(bad)], "not valid TOML")


class TestDosePlan:
    def test_racemic_json(self):
        data = run_json("dose-plan", "--weight-kg", "80", "--height-cm", "175", "--dose",
                        "0.5mg/kg", "--route", "iv_infusion", "--product", "racemic",
                        "--bag-ml", "100", "--infusion-min", "40")
        assert data["dose_mg"] == 40
        assert data["drug_volume_ml"] == 4.0
        assert data["rate_ml_per_h"] == 156.0
        assert data["notice"] == NOT_A_MEDICAL_DEVICE

    def test_adjusted_weight(self):
        data = run_json("dose-plan", "--weight-kg", "120", "--height-cm", "175", "--sex",
                        "male", "--weight-policy", "adjusted", "--dose", "0.5mg/kg")
        assert data["dose_mg"] == 45
        assert data["weight"]["dosing_kg"] == pytest.approx(90.279, abs=1e-3)

    def test_text_and_markdown(self):
        text = runner.invoke(app, ["dose-plan", "--weight-kg", "80", "--dose", "0.5mg/kg"])
        assert "156.0 mL/h" in text.stdout
        md = runner.invoke(app, ["dose-plan", "--weight-kg", "80", "--dose", "0.5mg/kg",
                                 "--markdown"])
        assert "| Infuse |" in md.stdout

    def test_esketamine(self):
        data = run_json("dose-plan", "--product", "esketamine", "--dose", "84mg",
                        "--previous-dose-mg", "56")
        assert [d["minute"] for d in data["devices"]] == [0, 5, 10]

    @pytest.mark.parametrize("args, fragments", [
        (["--weight-kg", "80", "--dose", "2mg/kg"], ["--dose", "hard cap"]),
        (["--weight-kg", "abc", "--dose", "0.5mg/kg"], ["--weight-kg", "30-300 kg"]),
        (["--dose", "0.5mg/kg"], ["--weight-kg", "required"]),
        (["--weight-kg", "80", "--dose", "0.5mg/kg", "--infusion-min", "10"],
         ["--infusion-min", ">= 20"]),
        (["--weight-kg", "80", "--dose", "0.5mg/kg", "--route", "im", "--bag-ml", "100"],
         ["--bag-ml"]),
        (["--product", "esketamine", "--dose", "84mg"], ["--dose", "prior 56 mg"]),
        (["--product", "compounded", "--route", "oral", "--dose", "100mg"],
         ["--product", "not FDA-approved"]),
        (["--weight-kg", "80", "--dose", "half"], ["--dose", "mg/kg"]),
    ])
    def test_bad_input(self, args, fragments):
        assert_one_line_error(["dose-plan", *args], *fragments)


class TestMonitor:
    def test_esketamine_example_alerts(self):
        data = run_json("monitor", str(EXAMPLES / "session-esketamine.csv"))
        alerts = {(a["time_min"], a["code"]) for a in data["alerts"]}
        assert (-10, "pre_dose_review") in alerts
        assert (40, "pause_stop") in alerts
        assert (15, "sedation") in alerts
        assert (15, "cadss_notable") in alerts
        assert data["highest_severity"] == "stop"
        # every measured criterion is met from 60 min; the 40-min BP event awaits review
        assert data["discharge"]["criteria_met_min"] == 60
        assert data["discharge"]["ready"] is False
        assert data["discharge"]["serious_events"] == ["pause_stop at 40 min"]
        reviewed = run_json("monitor", str(EXAMPLES / "session-esketamine.csv"),
                            "--event-reviewed")
        assert reviewed["discharge"]["ready_time_min"] == 120

    def test_rems_form(self):
        data = run_json("monitor", str(EXAMPLES / "session-esketamine.csv"), "--dose-mg", "56",
                        "--lot", "A1", "--start-clock", "09:30", "--concomitant",
                        "benzodiazepine", "--rems-form")
        form = data["rems_form"]
        assert (form["bp_pre_dose"], form["bp_40_min"], form["bp_pre_discharge"]) == (
            "150/95", "184/102", "146/90")
        assert (form["ready_to_leave_min"], form["ready_to_leave_time"]) == (60, "10:30")
        assert form["benzodiazepines"] is True

    def test_racemic_example_quiet(self):
        data = run_json("monitor", str(EXAMPLES / "session-racemic-iv.csv"), "--product",
                        "racemic")
        assert data["alerts"] == []
        assert data["discharge"]["min_observation_until_min"] == 100
        assert data["discharge"]["ready"] is True

    def test_readable(self):
        result = runner.invoke(app, ["monitor", str(EXAMPLES / "session-esketamine.csv")])
        assert result.exit_code == 0
        assert "pause_stop" in result.stdout
        assert "escort" in result.stdout

    def test_bad_csv(self, tmp_path):
        path = tmp_path / "s.csv"
        path.write_text("time_min,sbp,temp\n0,120,37\n")
        assert_one_line_error(["monitor", str(path)], "column temp", "time_min")
        path.write_text("time_min,sbp,dbp\n0,120,80\n40,high,80\n")
        assert_one_line_error(["monitor", str(path)], "reading 2 sbp")
        path.write_text("time_min,sbp,dbp\n0,120,80\n40,420,80\n")
        assert_one_line_error(["monitor", str(path)], "reading 2 sbp", "50-300")
        assert_one_line_error(["monitor", str(tmp_path / "none.csv")], "SESSION.csv")

    def test_rems_form_is_esketamine_only(self):
        assert_one_line_error(["monitor", str(EXAMPLES / "session-racemic-iv.csv"),
                               "--product", "racemic", "--rems-form"], "--rems-form")


class TestOtherCommands:
    def test_course_example(self):
        data = run_json("course", str(EXAMPLES / "course.toml"))
        codes = {f["code"]: f["severity"] for f in data["flags"]}
        assert codes == {"possible_tolerance": "review", "new_urinary_symptom": "review",
                         "icsi_high": "review", "escalation_requests": "note"}
        assert data["cumulative_mg"] == 184

    def test_course_bad_key(self, tmp_path):
        path = tmp_path / "c.toml"
        path.write_text("[[sessions]]\ndate = 2025-01-01\n")
        assert_one_line_error(["course", str(path)], "sessions")

    def test_regulatory(self):
        data = run_json("regulatory", "--product", "compounded")
        assert {r["date"] for r in data["status"]} == {"2022-02-16", "2023-10-10", "2025-12-31"}
        data = run_json("regulatory")
        assert list(data)[0] == "as_of" and data["as_of"].startswith("2026")
        (tele,) = [r for r in data["status"] if "telemedicine" in r["indication"]]
        assert tele["expires"] == "2026-12-31" and tele["expiry"]
        result = runner.invoke(app, ["regulatory"])
        assert result.exit_code == 0 and "off-label" in result.stdout
        assert result.stdout.startswith("Regulatory information as of 2026-12-04.")
        assert_one_line_error(["regulatory", "--product", "mdma"], "--product")

    def test_consent(self):
        result = runner.invoke(app, ["consent", "--product", "racemic", "--route", "iv_infusion"])
        assert result.exit_code == 0
        assert "PTSD: OFF-LABEL" in result.stdout
        assert "158 US veterans" in result.stdout and "saline placebo" in result.stdout
        assert NOT_A_MEDICAL_DEVICE in result.stdout
        assert_one_line_error(["consent", "--product", "racemic", "--route", "oral"], "--route")

    def test_settings_listing(self):
        data = run_json("settings", "--settings", str(EXAMPLES / "settings-local.toml"))
        assert data["pcl5.cut_point"]["at_or_above"] == 31
        assert data["pcl5.cut_point"]["overridden"] is True
        assert data["monitoring.spo2_low"]["below"] == 94

    def test_help(self):
        result = runner.invoke(app, ["--help"])
        assert result.exit_code == 0
        for command in ("score", "screen", "dose-plan", "monitor", "course", "regulatory",
                        "consent", "settings"):
            assert command in result.stdout
