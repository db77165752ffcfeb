"""The records commands (patient, session, assess, course, forecast, export, model, db), run
through typer's CliRunner on a fresh SQLite database per test."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from ketamine_ptsd import cli_records

runner = CliRunner()
PCL5_ALL_2 = ",".join(["2"] * 20)  # total 40: B 10, C 4, D 14, E 12


def records_app() -> typer.Typer:
    app = typer.Typer()
    for name in ("patient", "session", "assess", "course", "export", "model", "db"):
        app.add_typer(getattr(cli_records, f"{name}_app"), name=name)
    app.command("forecast")(cli_records.forecast)
    return app


APP = records_app()


@pytest.fixture(autouse=True)
def database(tmp_path, monkeypatch):
    path = tmp_path / "records.sqlite"
    monkeypatch.setenv("KETAMINE_PTSD_DB", f"sqlite:///{path}")
    monkeypatch.setenv("KETAMINE_PTSD_USER", "dr_env")
    return path


def run(*args: str) -> str:
    result = runner.invoke(APP, list(args))
    assert result.exit_code == 0, result.stderr or result.output
    return result.stdout


def run_json(*args: str):
    return json.loads(run(*args, "--json"))


def fails(*args: str, fragments: tuple[str, ...] = ()) -> str:
    """The command refuses with exit code 2 and one line on stderr, nothing on stdout."""
    result = runner.invoke(APP, list(args))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def add_patient(*extra: str) -> str:
    return run("patient", "add", "--name", "Test Patient", "--sex", "female", "--weight-kg", "72",
               "--birth-date", "1985-04-02", *extra).strip()


class TestPatient:
    def test_add_prints_only_the_new_id(self):
        assert add_patient() == "1"
        assert run("patient", "add", "--name", "Second").strip() == "2"
        listed = run_json("patient", "list")
        assert [(p["id"], p["name"]) for p in listed] == [(1, "Test Patient"), (2, "Second")]

    def test_show(self):
        pid = add_patient("--mrn", "X-7")
        data = run_json("patient", "show", pid)
        assert data["patient"]["mrn"] == "X-7"
        assert (data["courses"], data["assessments"], data["latest_forecast"]) == ([], [], None)

    def test_update_is_audited_under_the_acting_user(self):
        pid = add_patient()
        run("patient", "update", pid, "--weight-kg", "70.5", "--user", "dr_lee")
        entries = run_json("db", "audit", "--table", "patients")
        assert [(e["actor"], e["action"], e["field"]) for e in entries] == [
            ("dr_env", "insert", "*"), ("dr_lee", "update", "weight_kg")]
        assert (entries[1]["old_value"], entries[1]["new_value"]) == ("72.0", "70.5")

    @pytest.mark.parametrize("args, fragment", [
        (("--weight-kg", "700"), "--weight-kg"),
        (("--birth-date", "1985-13-01"), "--birth-date"),
        (("--sex", "robot"), "--sex"),
    ])
    def test_bad_input(self, args, fragment, database):
        fails("patient", "add", "--name", "Bad Input", *args, fragments=(fragment,))
        assert run_json("patient", "list") == []

    def test_unknown_patient(self):
        fails("patient", "show", "41", fragments=("PATIENT_ID", "no patient with id 41"))

    def test_screen(self, tmp_path):
        pid = add_patient()
        answers = tmp_path / "patient.toml"
        answers.write_text('product = "racemic"\npregnant = true\n')
        data = run_json("patient", "screen", pid, str(answers), "--date", "2025-01-02")
        assert data["decision"] == "not_eligible"

    def test_screen_takes_the_age_from_the_record(self, tmp_path):
        pid = add_patient()  # born 1985-04-02
        answers = tmp_path / "patient.toml"
        answers.write_text('product = "racemic"\npregnant = true\n')
        data = run_json("patient", "screen", pid, str(answers), "--date", "2025-01-02")
        assert data["answers"]["age_years"] == 39.8
        answers.write_text('product = "racemic"\nage_years = 67\npregnant = true\n')
        fails("patient", "screen", pid, str(answers), "--date", "2025-01-02",
              fragments=("age_years", "67", "1985-04-02"))
        assert len(run_json("patient", "show", pid)["screenings"]) == 1


class TestSession:
    def test_record_with_blood_pressure_and_an_event(self):
        pid = add_patient()
        data = run_json("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg",
                        "--bp", "-5:150/95", "--bp", "40:150/92", "--event", "adverse_event:nausea")
        assert data["dose_mg"] == 36.0  # 0.5 mg/kg x 72 kg
        assert [(v["minutes"], v["sbp"]) for v in data["vitals"]] == [(-5, 150), (40, 150)]
        assert "pre_dose_review" in [a["code"] for a in data["monitoring"]["report"]["alerts"]]
        assert data["events"][0]["detail"] == "nausea"

    def test_record_readings_file(self, tmp_path):
        pid = add_patient()
        readings = tmp_path / "session.csv"
        readings.write_text("time_min,label,sbp,dbp,hr,spo2,cadss,moaas\n0,pre_dose,124,78,68,98,0,5\n"
                            "40,,136,84,74,97,2,5\n100,pre_discharge,124,79,68,98,0,5\n")
        out = run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "35mg", "--infusion-min", "40",
                  "--readings", str(readings))
        assert "session 1 recorded" in out
        assert "discharge criteria met at 100 min" in out

    @pytest.mark.parametrize("args, fragments", [
        (("--date", "2999-01-01", "--dose", "0.5mg/kg"), ("--date", "in the future")),
        (("--date", "06/01/2025", "--dose", "0.5mg/kg"), ("--date",)),
        (("--date", "2025-01-06", "--dose", "half"), ("--dose",)),
        (("--date", "2025-01-06", "--dose", "56mg", "--bp", "40:150"), ("--bp 1",)),
        (("--date", "2025-01-06", "--dose", "56mg", "--event", "party"), ("--event 1",)),
        (("--date", "2025-01-06", "--dose", "0.5mg/kg", "--weight-kg", "nan"), ("--weight-kg", "finite")),
        (("--date", "2025-01-06", "--dose", "56mg", "--infusion-min", "inf"), ("--infusion-min", "finite")),
        (("--date", "2025-01-06", "--dose", "56mg", "--infusion-min", "1e-308"), ("--infusion-min", "5-240 min")),
        (("--date", "2025-01-06", "--dose", "56mg", "--bp", "40:nan/80"), ("reading 1 sbp", "finite")),
    ])
    def test_bad_input_writes_nothing(self, args, fragments, database):
        pid = add_patient()
        fails("session", "record", pid, *args, fragments=fragments)
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM courses").fetchone() == (0,)


class TestCorrections:
    def test_a_reading_is_corrected_and_withdrawn_with_a_reason(self):
        pid = add_patient()
        data = run_json("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg",
                        "--bp", "-5:120/80", "--bp", "40:186/104")
        reading = data["vitals"][1]["id"]
        assert "pause_stop" in [a["code"] for a in data["monitoring"]["report"]["alerts"]]
        out = run("session", "correct-reading", str(reading), "--sbp", "136", "--dbp", "84", "--reason", "typo",
                  "--user", "dr_lee")
        assert f"corrected reading {reading}" in out
        shown = json.loads(run("session", "show", str(data["id"])))
        assert [v["sbp"] for v in shown["vitals"]] == [120, 136]
        assert "pause_stop" not in [a["code"] for a in shown["monitoring"]["report"]["alerts"]]
        fails("session", "correct-reading", str(reading), "--hr", "nan", "--reason", "x", fragments=("--hr",))
        fails("session", "withdraw", str(reading), "--reading", "--reason", " ", fragments=("reason",))
        assert "withdrew reading" in run("session", "withdraw", str(reading), "--reading", "--reason", "wrong cuff")
        assert [v["minutes"] for v in json.loads(run("session", "show", str(data["id"])))["vitals"]] == [-5]
        entries = [(e["actor"], e["field"]) for e in run_json("db", "audit", "--table", "vitals")]
        assert ("dr_lee", "sbp") in entries and ("dr_env", "withdrawn_at") in entries

    def test_an_assessment_is_corrected_and_withdrawn(self):
        pid = add_patient()
        assessment = run_json("assess", "record", pid, "pcl5", PCL5_ALL_2, "--date", "2025-01-05")
        assert "corrected assessment" in run("assess", "correct", str(assessment["id"]), ",".join(["1"] * 20),
                                             "--reason", "wrong column")
        assert run_json("assess", "list", pid)[0]["total"] == 20
        run("assess", "withdraw", str(assessment["id"]), "--reason", "duplicate")
        assert run_json("assess", "list", pid) == []

    def test_a_patient_needs_a_name_or_a_pseudonym(self):
        fails("patient", "add", "--sex", "female", fragments=("--name", "pseudonym"))
        pid = run("patient", "add", "--name", "Blue Heron", "--pseudonym").strip()
        assert run_json("patient", "show", pid)["patient"]["pseudonym"] is True


class TestAssess:
    def test_record_scores_with_the_clinic_rules(self):
        pid = add_patient()
        data = run_json("assess", "record", pid, "PCL-5", PCL5_ALL_2, "--date", "2025-01-05")
        assert (data["total"], data["clusters"]) == (40, {"B": 10, "C": 4, "D": 14, "E": 12})
        out = run("assess", "record", pid, "madrs", "3,3,3,3,3,3,3,3,3,4", "--date", "2025-01-05T10:00")
        assert "MADRS total 31" in out
        assert "suicide_review" in out
        listed = run_json("assess", "list", pid, "--instrument", "pcl5")
        assert [a["total"] for a in listed] == [40]

    @pytest.mark.parametrize("args, fragments", [
        (("1", "pcl5", "2," * 19 + "5", "--date", "2025-01-05"), ("PCL-5 item 20", "integer 0-4")),
        (("1", "pcl5", PCL5_ALL_2, "--date", "2999-01-05"), ("in the future",)),
        (("9", "pcl5", PCL5_ALL_2, "--date", "2025-01-05"), ("PATIENT_ID", "no patient with id 9")),
        (("1", "gad7", "1,1", "--date", "2025-01-05"), ("INSTRUMENT",)),
    ])
    def test_bad_input_writes_nothing(self, args, fragments):
        add_patient()
        fails("assess", "record", *args, fragments=fragments)
        assert run_json("assess", "list", "1") == []

    def test_fhir_round_trip_into_another_patient(self, tmp_path):
        first = add_patient()
        run("assess", "record", first, "pcl5", "0,1,2,3,4,0,1,2,3,4,0,1,2,3,4,0,1,2,3,4", "--date", "2025-01-05")
        run("assess", "record", first, "dast10", "1,0,0,0,0,0,0,0,0,0", "--date", "2025-01-05")
        run("session", "record", first, "--date", "2025-01-06T09:00", "--dose", "35mg", "--bp", "0:124/78")
        bundle_file = tmp_path / "bundle.json"
        run("export", "fhir", first, "--out", str(bundle_file))
        bundle = json.loads(bundle_file.read_text())
        kinds = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
        assert kinds == ["Observation", "QuestionnaireResponse", "QuestionnaireResponse"]
        second = run("patient", "add", "--name", "Other").strip()
        # The bundle's subject is the first patient: refused for another one unless re-assigned.
        fails("assess", "import", second, str(bundle_file), fragments=("response 1 subject", f"Patient/{first}",
                                                                       "--reassign"))
        assert run_json("assess", "list", second) == []
        ids = run("assess", "import", second, str(bundle_file), "--reassign").split()
        assert len(ids) == 2
        imported = {a["instrument"]: a for a in run_json("assess", "list", second)}
        assert imported["pcl5"]["total"] == 40
        # DAST-10: "yes" to item 1 and "no" to item 3 ("able to stop?", reversed) score 2.
        assert imported["dast10"]["total"] == 2
        assert imported["pcl5"]["source"] == "fhir"

    @pytest.mark.parametrize("content, fragment", [
        ("{not json", "not JSON"),
        ('{"resourceType": "Patient"}', "QuestionnaireResponse"),
        ('{"resourceType": "QuestionnaireResponse", "status": "completed", "authored": "2025-01-05",'
         ' "questionnaire": "http://loinc.org/q/101697-1", "item": [{"linkId": "1", "answer": [{"valueInteger": 9}]}]}',
         "item 1"),
    ])
    def test_malformed_fhir_is_refused_and_writes_nothing(self, tmp_path, content, fragment):
        pid = add_patient()
        path = tmp_path / "in.json"
        path.write_text(content)
        fails("assess", "import", pid, str(path), fragments=(fragment,))
        assert run_json("assess", "list", pid) == []


class TestCourse:
    def test_start_show_book_close(self):
        pid = add_patient()
        assert run("course", "start", pid, "--date", "2025-01-06", "--days", "0,2,4", "--maintenance", "interval",
                   "--every-days", "10").strip() == "1"
        for day in ("06", "08", "10"):
            run("session", "record", pid, "--date", f"2025-01-{day}T09:00", "--dose", "0.5mg/kg")
        shown = run_json("course", "show", pid)
        assert [v["status"] for v in shown["progress"]["visits"]] == ["given"] * 3
        assert shown["risk"]["n_sessions"] == 3
        assert shown["risk"]["cumulative_mg"] == 108.0  # 3 x 36 mg
        booking = run_json("course", "book", pid)
        # 10 days after 10 Jan has passed, so as soon as possible: today.
        assert (booking["rule"], booking["due_on"]) == ("interval", dt.date.today().isoformat())
        assert "course 1 closed" in run("course", "close", pid)
        fails("course", "book", pid, fragments=("no active course",))

    def test_a_course_cannot_start_in_the_future(self):
        pid = add_patient()
        fails("course", "start", pid, "--date", "2999-01-06", fragments=("--date", "in the future"))
        fails("course", "show", pid, fragments=("no course yet",))

    def test_forecast_rule_needs_a_forecast(self):
        pid = add_patient()
        run("course", "start", pid, "--date", "2025-01-06", "--maintenance", "forecast")
        run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg")
        fails("course", "book", pid, fragments=("run `ketamine-ptsd forecast",))


def test_forecast_json_keys_and_dates():
    """One infusion, scores before and after it: the forecast gives curves by instrument and day,
    the day the improvement is lost and a maintenance date that is that many days after the dose."""
    pid = add_patient()
    run("course", "start", pid, "--date", "2025-01-06", "--days", "0", "--maintenance", "forecast")
    run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg")
    run("assess", "record", pid, "pcl5", PCL5_ALL_2, "--date", "2025-01-05")
    run("assess", "record", pid, "pcl5", ",".join(["1"] * 20), "--date", "2025-01-07T09:00")
    run("assess", "record", pid, "pcl5", ",".join(["1"] * 10 + ["2"] * 10), "--date", "2025-01-13T09:00")
    data = run_json("forecast", pid, "--horizon-days", "42")
    for key in ("median", "band_low", "band_high"):
        assert set(data[key]) >= {"pcl5", "pcl5_b", "pcl5_c", "pcl5_d", "pcl5_e", "madrs"}
        assert sorted(int(d) for d in data[key]["pcl5"]) == list(range(43))
    assert all(data["band_low"]["pcl5"][d] <= data["median"]["pcl5"][d] <= data["band_high"]["pcl5"][d]
               for d in data["median"]["pcl5"])
    assert data["median"]["pcl5"]["0"] == pytest.approx(40, abs=1)
    assert data["first_dose_at"].startswith("2025-01-06T09:00")
    day = data["recommended_maintenance_day"]
    # Maintenance is booked by the day a (default 20 %) quantile of the courses has lost the
    # response, rounded down: an integer day after the dose, no later than the median loss day.
    assert isinstance(day, int) and 0 < day <= data["loss_of_response_day"]
    assert data["recommended_maintenance_date"] == (dt.date(2025, 1, 6) + dt.timedelta(days=day)).isoformat()
    # The booking follows the forecast's day; that date (January 2025) has passed, so it is
    # booked as soon as possible: today, never before the recommended date.
    booking = data["booking"]
    assert booking["rule"] == "forecast" and f"forecast recommends day {day} " in booking["reason"]
    assert f"({data['recommended_maintenance_date']}) has passed" in booking["reason"]
    assert booking["due_on"] > data["recommended_maintenance_date"]
    stored = run_json("patient", "show", pid)["latest_forecast"]
    assert stored["result"]["recommended_maintenance_date"] == data["recommended_maintenance_date"]


def test_forecast_no_save_writes_neither_forecast_nor_booking():
    """--no-save shows the booking the forecast would make and leaves the course as it was."""
    pid = add_patient()
    run("course", "start", pid, "--date", "2025-01-06", "--days", "0", "--maintenance", "forecast")
    run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg")
    run("assess", "record", pid, "pcl5", PCL5_ALL_2, "--date", "2025-01-05")
    before = run_json("course", "show", pid)["course"]
    data = run_json("forecast", pid, "--horizon-days", "28", "--no-save")
    assert data["booking"]["rule"] == "forecast" and "forecast_id" not in data
    after = run_json("course", "show", pid)["course"]
    assert after == before and after["maintenance_due_on"] is None
    assert run_json("patient", "show", pid)["latest_forecast"] is None


def test_export_nonmem():
    pid = add_patient()
    run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg", "--infusion-min", "40")
    run("assess", "record", pid, "madrs", "2,2,2,2,2,2,2,2,2,2", "--date", "2025-01-06T08:00")
    lines = run("export", "nonmem", pid).splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [(r["TIME"], r["EVID"], r["DV"]) for r in rows] == [("-1", "0", "20"), ("0", "1", ".")]
    assert (rows[1]["AMT"], rows[1]["RATE"]) == ("36", "54")  # 36 mg over 40 min = 54 mg/h


def test_model_export_sbml(tmp_path):
    out = run("model", "export-sbml", str(tmp_path / "model.xml"))
    assert "model.xml" in out
    assert "<sbml" in (tmp_path / "model.xml").read_text()[:500]


def test_model_compile_leaves_a_solver_in_the_cache(tmp_path):
    """In a process of its own (this one has its solver loaded already), with an empty cache."""
    env = {**os.environ, "KETAMINE_PTSD_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "from ketamine_ptsd.cli import main; main()", "model", "compile"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "solver ready" in done.stdout and str(tmp_path) in done.stdout
    assert list((tmp_path / "solvers").glob("dopri5_*.py"))


class TestDb:
    def test_status_backup_and_restore(self, tmp_path, monkeypatch):
        add_patient()
        status = run_json("db", "status")
        assert status["revision"] == status["head"]
        backup_file = tmp_path / "backup.json"
        # the patient and its audit entry
        assert f"schema {status['head']}, 2 rows" in run("db", "backup", str(backup_file))
        fails("db", "restore", str(backup_file), fragments=("not empty",))
        monkeypatch.setenv("KETAMINE_PTSD_DB", f"sqlite:///{tmp_path / 'restored.sqlite'}")
        run("db", "restore", str(backup_file), "--user", "dr_restore")
        assert [p["name"] for p in run_json("patient", "list")] == ["Test Patient"]
        assert run_json("db", "audit")[-1]["actor"] == "dr_restore"

    def test_an_unreachable_database_is_one_line(self, monkeypatch):
        monkeypatch.setenv("KETAMINE_PTSD_DB", "postgresql://nobody:secret@127.0.0.1:1/none")
        result = runner.invoke(APP, ["patient", "list"])
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            "error: the database at postgresql+psycopg://nobody:***@127.0.0.1:1/none cannot be used: OperationalError"]

    def test_upgrade_and_downgrade(self):
        from ketamine_ptsd.store import head_revision

        run("db", "upgrade")
        assert "schema 0001" in run("db", "downgrade", "0001", "--yes", "--user", "dr_it")
        fails("patient", "list", fragments=("db upgrade",))
        assert f"schema {head_revision()}" in run("db", "upgrade")
        fails("db", "upgrade", "77", fragments=("REVISION",))
        logged = [e for e in run_json("db", "audit") if e["action"] == "downgrade"]
        assert [(e["actor"], e["new_value"]) for e in logged] == [("dr_it", '{"revision": "0001"}')]

    @pytest.mark.parametrize("content, fragment", [
        (b'{"format": "ketamine-ptsd records backup", "name": "\xe9"}', "not UTF-8"),
        (None, "column weight_kg: str where the column holds a number"),
    ])
    def test_a_damaged_backup_is_refused_in_one_line(self, tmp_path, monkeypatch, content, fragment):
        add_patient()
        backup_file = tmp_path / "backup.json"
        run("db", "backup", str(backup_file))
        if content is None:
            document = json.loads(backup_file.read_text())
            document["tables"]["patients"][0]["weight_kg"] = "seventy"
            content = json.dumps(document).encode()
        backup_file.write_bytes(content)
        monkeypatch.setenv("KETAMINE_PTSD_DB", f"sqlite:///{tmp_path / 'empty.sqlite'}")
        fails("db", "restore", str(backup_file), fragments=(fragment,))

    def test_downgrade_asks_for_confirmation(self):
        from ketamine_ptsd.store import head_revision

        run("db", "upgrade")
        refused = runner.invoke(APP, ["db", "downgrade", "0001"], input="n\n")
        assert refused.exit_code == 2 and "not confirmed" in refused.stderr
        assert f"schema {head_revision()}" in run("db", "status")
        confirmed = runner.invoke(APP, ["db", "downgrade", "0001"], input="y\n")
        assert confirmed.exit_code == 0 and "schema 0001" in confirmed.stdout


def test_forecast_takes_the_patients_population_and_refuses_an_unknown_one():
    pid = add_patient()
    run("course", "start", pid, "--date", "2025-01-06", "--days", "0")
    run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg")
    run("assess", "record", pid, "pcl5", PCL5_ALL_2, "--date", "2025-01-05")
    fails("forecast", pid, "--population", "marines",
          fragments=("population", "civilian_ptsd", "veteran_ptsd_ad_failure", "trd", "ptsd_trd"))
    data = run_json("forecast", pid, "--horizon-days", "28", "--population", "trd", "--no-save")
    assert data["fit"]["population"] == "trd"
    # With the baseline score only, the treatment-resistant share is the population's (0.5 for TRD).
    from ketamine_ptsd.params import population_spec

    share = population_spec("trd")["resistant_fraction"]
    assert data["fit"]["phenotype_probability"]["treatment_resistant"] == pytest.approx(share)


class TestPatientPopulation:
    def test_set_on_add_changed_on_update_and_shown(self):
        pid = add_patient("--population", "veteran_ptsd_ad_failure")
        assert run_json("patient", "show", pid)["patient"]["population"] == "veteran_ptsd_ad_failure"
        assert "population veteran_ptsd_ad_failure" in run("patient", "show", pid)
        assert "population" in run("patient", "update", pid, "--population", "trd")
        assert run_json("patient", "show", pid)["patient"]["population"] == "trd"
        run("patient", "update", pid, "--population", "")  # back to the default
        assert run_json("patient", "show", pid)["patient"]["population"] is None
        assert "population civilian_ptsd (default)" in run("patient", "show", pid)

    @pytest.mark.parametrize("command", ["add", "update"])
    def test_an_unknown_population_is_refused_naming_the_allowed_ones(self, command):
        pid = add_patient()
        args = ("patient", "add", "--name", "Other") if command == "add" else ("patient", "update", pid)
        fails(*args, "--population", "veterans",
              fragments=("--population", "veterans", "civilian_ptsd, veteran_ptsd_ad_failure, trd, ptsd_trd"))
        assert [p["population"] for p in run_json("patient", "list")] == [None]

    def test_the_forecast_uses_the_stored_population_unless_one_is_named(self):
        from ketamine_ptsd.params import population_spec

        pid = add_patient("--population", "trd")
        run("course", "start", pid, "--date", "2025-01-06", "--days", "0")
        run("session", "record", pid, "--date", "2025-01-06T09:00", "--dose", "0.5mg/kg")
        run("assess", "record", pid, "pcl5", PCL5_ALL_2, "--date", "2025-01-05")
        stored = run_json("forecast", pid, "--horizon-days", "28", "--no-save")
        assert stored["fit"]["population"] == "trd"
        # The prior is TRD's, not only its name: its treatment-resistant share (0.5).
        assert stored["fit"]["phenotype_probability"]["treatment_resistant"] == \
            pytest.approx(population_spec("trd")["resistant_fraction"])
        named = run_json("forecast", pid, "--horizon-days", "28", "--no-save", "--population", "civilian_ptsd")
        assert named["fit"]["population"] == "civilian_ptsd"
        assert named["fit"]["phenotype_probability"]["treatment_resistant"] != \
            pytest.approx(population_spec("trd")["resistant_fraction"])
