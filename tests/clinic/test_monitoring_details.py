"""What the session monitor hands on: the JSON of a session (alerts with their message,
source and tag, discharge, readings, peak values), the REMS prefill in corner cases (clock past
midnight, the reading nearest 40 min, no labelled pre-discharge reading, unmeasured BP) and the
JSON of population alert rates. Found missing by mutation testing (docs/testing.md)."""

from __future__ import annotations

import pandas as pd
import pytest

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.monitoring import alert_rates, monitor_session
from ketamine_ptsd.clinic.settings import default_settings

CALM = {"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98, "cadss": 0, "moaas": 5}


def reading(t, **values):
    return {"time_min": t, **CALM, **values}


def test_session_json_has_every_part():
    rows = [reading(-5, label="pre_dose"), reading(15, spo2=90), reading(40, cadss=6),
            {"time_min": 120, "sbp": 124, "dbp": 80, "hr": 72, "cadss": 1, "moaas": 5}]
    r = monitor_session(rows, product="esketamine")
    d = r.to_dict()
    assert set(d) == {"product", "route", "alerts", "highest_severity", "discharge", "peak", "pre_dose", "readings",
                      "thresholds", "notice"}
    assert (d["product"], d["route"], d["notice"]) == ("esketamine", "intranasal", NOT_A_MEDICAL_DEVICE)
    assert d["highest_severity"] == "stop"
    spo2 = next(a for a in d["alerts"] if a["code"] == "spo2_low")
    rule = default_settings()["monitoring.spo2_low"]
    assert spo2 == {"time_min": 15, "code": "spo2_low", "severity": "stop",
                    "message": "SpO2 90 % < 92 %: check airway and breathing", "source": rule.source, "tag": rule.tag}
    assert d["readings"][0] == {"time_min": -5, "label": "pre_dose", **CALM}
    assert d["readings"][-1] == {"time_min": 120, "label": "", "sbp": 124, "dbp": 80, "hr": 72, "spo2": None,
                                 "cadss": 1, "moaas": 5}
    discharge = d["discharge"]
    assert set(discharge) == {"ready", "ready_time_min", "min_observation_until_min", "unmet", "manual_checks",
                              "criteria_met_min", "serious_events", "events_reviewed"}
    # The SpO2 90 % at 15 min is a stop-level alert: discharge waits for the documented clinician
    # review (discharge.serious_events), although the measured criteria are met from 120 min.
    assert discharge["ready"] is False and discharge["ready_time_min"] is None
    assert discharge["unmet"] == ["clinician review of the serious event(s) documented: spo2_low at 15 min"]
    assert discharge["criteria_met_min"] == 120 and discharge["serious_events"] == ["spo2_low at 15 min"]
    assert discharge["events_reviewed"] is False
    assert discharge["min_observation_until_min"] == 120 and discharge["manual_checks"]
    reviewed = monitor_session(rows, product="esketamine", events_reviewed=True).to_dict()["discharge"]
    assert reviewed["ready"] is True and reviewed["ready_time_min"] == 120 and reviewed["unmet"] == []
    assert reviewed["events_reviewed"] is True and reviewed["serious_events"] == ["spo2_low at 15 min"]
    assert d["peak"]["spo2_min"] == 90 and d["peak"]["cadss"] == 6
    assert d["pre_dose"]["sbp"] == 120


def test_a_calm_session_has_no_highest_severity():
    r = monitor_session([reading(-5), reading(40), reading(120)], product="esketamine")
    assert r.alerts == () and r.highest_severity is None and r.to_dict()["highest_severity"] is None


@pytest.mark.parametrize("start, minutes, clock", [("23:30", 125, "01:35"), ("09:05", 120, "11:05"),
                                                   ("00:00", 119.6, "02:00")])
def test_rems_clock_times_wrap_past_midnight(start, minutes, clock):
    r = monitor_session([reading(-5), reading(40), reading(minutes)], product="esketamine", start_clock=start,
                        dose_mg=56)
    form = r.rems_form()
    assert form["first_device_time"] == start
    assert form["end_of_monitoring_time"] == clock and form["total_monitoring_min"] == minutes
    assert form["dose"] == "56 mg"
    assert form["form"] == "SPRAVATO REMS Patient Monitoring Form (prefill)"
    assert form["note"] == "Prefill only: complete and submit the official form within 7 days."


def test_rems_bp_readings_are_the_nearest_to_40_min_and_the_last_before_discharge():
    r = monitor_session([reading(-10, sbp=130, dbp=85), reading(-5, sbp=132, dbp=86), reading(30, sbp=150, dbp=95),
                         reading(45, sbp=145, dbp=93), reading(90, sbp=128, dbp=84),
                         {"time_min": 120, "hr": 70}], product="esketamine")
    form = r.rems_form()
    assert form["bp_pre_dose"] == "132/86"          # the last reading at or before the dose
    assert form["bp_40_min"] == "145/93"            # 45 min is nearer to 40 than 30 min
    assert form["bp_pre_discharge"] == "128/84"     # no labelled one: the last post-dose BP
    assert form["dose"] is None and form["first_device_time"] is None and form["ready_to_leave_time"] is None
    nearer_before = monitor_session([reading(-5), reading(35, sbp=150, dbp=95), reading(50, sbp=140, dbp=90),
                                     reading(120)], product="esketamine").rems_form()
    assert nearer_before["bp_40_min"] == "150/95"


def test_rems_without_any_blood_pressure():
    r = monitor_session([{"time_min": -5, "hr": 70}, {"time_min": 40, "hr": 72}], product="esketamine")
    form = r.rems_form()
    assert form["bp_pre_dose"] is None and form["bp_40_min"] is None and form["bp_pre_discharge"] is None


def test_population_rates_json():
    rows = [("a", 0, 150, 95, 75, 0), ("a", 0.67, 192, 104, 75, 6), ("a", 2, 140, 88, 75, 0),
            ("b", 0, 118, 76, 70, 0), ("b", 0.67, 128, 82, 70, 2), ("b", 2, 120, 78, 70, 0)]
    df = pd.DataFrame(rows, columns=["id", "time_h", "sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss"])
    d = alert_rates(df).to_dict()
    assert set(d) == {"n_sessions", "rules", "ready_at_min_observation", "never_ready", "median_ready_time_min",
                      "discharge_fields"}
    assert d["n_sessions"] == 2 and d["never_ready"] == 0
    assert d["discharge_fields"] == ["sbp", "dbp", "hr", "cadss"]
    # Both sessions are ready at 2 h, the minimum observation of esketamine.
    assert d["ready_at_min_observation"] == 1.0 and d["median_ready_time_min"] == 120
    stop = d["rules"]["pause_stop"]
    rule = default_settings()["monitoring.pause_stop"]
    assert stop == {"fired": 1, "evaluable": 2, "rate": 0.5, "severity": "stop", "citation": rule.citation}
    spo2 = default_settings()["monitoring.spo2_low"]
    assert d["rules"]["spo2_low"] == {"fired": 0, "evaluable": 0, "rate": None, "severity": "stop",
                                      "citation": spo2.citation}
