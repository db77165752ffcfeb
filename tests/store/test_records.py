"""The records service: what is stored, what is computed, and what is refused (on both backends)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import traceback

import pytest
from sqlalchemy import MetaData, func, select

from ketamine_ptsd.errors import InputError, RecordNotFound
from ketamine_ptsd.store.models import Patient
from ketamine_ptsd.store.records import DatabaseRefused

from .conftest import NOW

UTC = dt.UTC
DSM_MINIMAL = [2, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]  # items 1, 6, 8, 9, 15, 16 = 2


def at(day: int, hour: int = 9, month: int = 1) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, 0, tzinfo=UTC)


def row_counts(records) -> dict[str, int]:
    meta = MetaData()
    with records.engine.connect() as connection:
        meta.reflect(connection)
        return {name: connection.scalar(select(func.count()).select_from(table))
                for name, table in meta.tables.items()}


@pytest.fixture
def patient(records):
    return records.add_patient(name="Test Patient", mrn="MRN-1", sex="female", weight_kg=72.0,
                               birth_date=dt.date(1985, 4, 2))


class TestPatients:
    def test_add_then_read_back(self, records, patient):
        again = records.patient(patient.id)
        assert (again.name, again.mrn, again.sex, again.weight_kg) == ("Test Patient", "MRN-1", "female", 72.0)
        assert again.birth_date == dt.date(1985, 4, 2)
        assert [p.id for p in records.patients()] == [patient.id]

    def test_every_change_is_audited_with_old_and_new_value(self, records, patient):
        records.update_patient(patient.id, weight_kg=75.5)
        entries = records.audit_trail("patients", patient.id)
        assert [(e.action, e.field) for e in entries] == [("insert", "*"), ("update", "weight_kg")]
        update = entries[-1]
        assert (json.loads(update.old_value), json.loads(update.new_value)) == (72.0, 75.5)
        assert update.actor == "tester"
        assert json.loads(entries[0].new_value)["mrn"] == "MRN-1"

    def test_record_number_is_unique(self, records, patient):
        before = row_counts(records)
        with pytest.raises(InputError, match="^mrn"):
            records.add_patient(name="Other", mrn="MRN-1")
        assert row_counts(records) == before

    @pytest.mark.parametrize("field, value", [("weight_kg", 3.0), ("height_cm", 400.0), ("sex", "x"),
                                              ("birth_date", dt.date(2026, 1, 1))])
    def test_implausible_details_are_refused(self, records, field, value):
        with pytest.raises(InputError) as info:
            records.add_patient(name="Implausible", **{field: value})
        assert info.value.allowed
        assert row_counts(records)["patients"] == 0

    @pytest.mark.parametrize("name", [None, "", "   "])
    def test_a_patient_needs_a_name(self, records, name):
        with pytest.raises(InputError, match="pseudonym"):
            records.add_patient(name=name, sex="female")
        assert row_counts(records)["patients"] == 0
        assert records.add_patient(name="Blue Heron", pseudonym=True).pseudonym is True

    def test_population_is_stored_checked_and_audited(self, records, patient):
        assert patient.population is None  # the default population
        assert records.add_patient(name="Veteran", population="veteran_ptsd_ad_failure").population == \
            "veteran_ptsd_ad_failure"
        records.update_patient(patient.id, population="trd")
        update = records.audit_trail("patients", patient.id)[-1]
        assert (update.field, update.old_value, json.loads(update.new_value)) == ("population", None, "trd")
        with pytest.raises(InputError) as info:
            records.update_patient(patient.id, population="veterans")
        assert info.value.field == "population"
        assert "civilian_ptsd, veteran_ptsd_ad_failure, trd, ptsd_trd" in info.value.allowed
        assert records.patient(patient.id).population == "trd"
        records.update_patient(patient.id, population="")  # back to the default
        assert records.patient(patient.id).population is None

    def test_unknown_patient(self, records):
        with pytest.raises(InputError, match="no patient with id 99"):
            records.patient(99)


class TestAssessments:
    def test_scored_by_the_instrument(self, records, patient):
        a = records.record_assessment(patient.id, "pcl5", [4] * 20, at(5))
        assert a.total == 80
        assert a.clusters == {"B": 20, "C": 8, "D": 28, "E": 24}
        b = records.record_assessment(patient.id, "pcl5", DSM_MINIMAL, at(6))
        assert b.total == 12
        assert b.result["dsm5_symptom_rule"] == "positive"
        assert b.result["cut_point_result"] == "negative"
        assert b.result["probable_ptsd"] == b.result["provisional_diagnosis"] == "negative"
        assert [x.id for x in records.assessments(patient.id)] == [a.id, b.id]

    def test_stored_time_is_the_moment_given(self, records, patient):
        local = dt.datetime(2025, 1, 5, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        a = records.record_assessment(patient.id, "madrs", [3] * 10, local)
        assert records.assessments(patient.id)[0].administered_at == local
        assert a.total == 30

    @pytest.mark.parametrize("instrument, answers, when, field", [
        ("pcl5", [2] * 19 + [5], at(5), "item 20"),
        ("pcl5", [2] * 19, at(5), "items"),
        ("madrs", [3] * 10, NOW + dt.timedelta(minutes=1), "date"),
        ("madrs", [3] * 10, dt.datetime(1984, 1, 1, tzinfo=UTC), "date"),
        ("nosuch", [1], at(5), "instrument"),
    ])
    def test_bad_input_changes_nothing(self, records, patient, instrument, answers, when, field):
        before = row_counts(records)
        with pytest.raises(InputError) as info:
            records.record_assessment(patient.id, instrument, answers, when)
        assert field in info.value.field
        assert row_counts(records) == before

    def test_unknown_patient_changes_nothing(self, records, patient):
        before = row_counts(records)
        with pytest.raises(RecordNotFound, match="patient_id"):
            records.record_assessment(patient.id + 1, "pcl5", [1] * 20, at(5))
        assert row_counts(records) == before

    def test_same_instrument_at_the_same_moment_is_a_double_entry(self, records, patient):
        records.record_assessment(patient.id, "pcl5", [1] * 20, at(5))
        with pytest.raises(InputError, match="already recorded"):
            records.record_assessment(patient.id, "pcl5", [2] * 20, at(5))

    def test_import_is_all_or_nothing(self, records, patient):
        before = row_counts(records)
        with pytest.raises(InputError, match="response 2 PCL-5 item 1"):
            records.import_assessments(patient.id, [("pcl5", [1] * 20, at(5)), ("pcl5", [9] + [1] * 19, at(6))])
        assert row_counts(records) == before
        stored = records.import_assessments(patient.id, [("pcl5", [1] * 20, at(5)), ("madrs", [2] * 10, at(6))])
        assert [(a.instrument, a.total, a.source) for a in stored] == [("pcl5", 20, "fhir"), ("madrs", 20, "fhir")]


class TestSessions:
    def test_weight_based_dose_in_mg(self, records, patient):
        s = records.record_session(patient.id, started_at=at(6), dose="0.5mg/kg")
        assert s.dose_mg == pytest.approx(36.0)  # 0.5 mg/kg x 72 kg
        assert (s.product, s.route, s.infusion_min) == ("racemic", "iv_infusion", 40.0)

    def test_first_session_starts_a_course_with_the_default_plan(self, records, patient):
        s = records.record_session(patient.id, started_at=at(6), dose="0.5mg/kg")
        course, sessions, state = records.course_state(patient.id)
        assert s.course_id == course.id
        assert course.induction_days == [0, 2, 4, 7, 9, 11]
        assert course.started_on == dt.date(2025, 1, 6)
        assert [x.id for x in sessions] == [s.id]
        assert state.visits[0].status == "given"

    def test_readings_are_monitored_and_kept(self, records, patient):
        readings = [{"time_min": -5, "label": "pre_dose", "sbp": 150, "dbp": 95, "hr": 70},
                    {"time_min": 40, "sbp": 160, "dbp": 96, "hr": 80}]
        s = records.record_session(patient.id, started_at=at(6), dose="56mg", route="intranasal",
                                   product="esketamine", lot="L1", readings=readings,
                                   events=[("adverse_event", "nausea")])
        details = records.session_details(s.id)
        assert [(v["minutes"], v["sbp"], v["dbp"]) for v in details["vitals"]] == [(-5, 150, 95), (40, 160, 96)]
        codes = {a["code"] for a in details["monitoring"]["report"]["alerts"]}
        assert "pre_dose_review" in codes  # pre-dose 150/95 > 140/90: review (clinical rules test vector)
        form = details["monitoring"]["rems_form"]
        assert (form["dose"], form["lot_number"], form["bp_pre_dose"], form["bp_40_min"]) == \
               ("56 mg", "L1", "150/95", "160/96")
        assert [(e["kind"], e["detail"]) for e in details["events"]] == [("adverse_event", "nausea")]

    @pytest.mark.parametrize("kwargs, field", [
        ({"dose": "0.5 mg per kg"}, "dose"),
        ({"dose": "5000mg"}, "dose"),
        ({"dose": "56mg", "route": "rectal"}, "route"),
        ({"dose": "2mg", "product": "midazolam"}, "product"),
        ({"dose": "56mg", "events": [("sneeze", None)]}, "events"),
        ({"dose": "0.5mg/kg", "readings": [{"time_min": 0, "sbp": 80, "dbp": 120}]}, "dbp"),
        ({"dose": "0.5mg/kg", "started_at": NOW + dt.timedelta(hours=1)}, "date"),
    ])
    def test_bad_input_changes_nothing(self, records, patient, kwargs, field):
        before = row_counts(records)
        kwargs = {"started_at": at(6), **kwargs}
        with pytest.raises(InputError) as info:
            records.record_session(patient.id, **kwargs)
        assert field in info.value.field
        assert row_counts(records) == before

    def test_same_moment_twice_is_a_double_entry(self, records, patient):
        records.record_session(patient.id, started_at=at(6), dose="35mg")
        before = row_counts(records)
        with pytest.raises(InputError, match="already recorded"):
            records.record_session(patient.id, started_at=at(6), dose="40mg")
        assert row_counts(records) == before

    def test_one_product_per_course(self, records, patient):
        records.record_session(patient.id, started_at=at(6), dose="0.5mg/kg")
        before = row_counts(records)
        with pytest.raises(InputError, match="active course is racemic"):
            records.record_session(patient.id, started_at=at(8), dose="56mg", route="intranasal",
                                   product="esketamine")
        assert row_counts(records) == before
        assert records.record_session(patient.id, started_at=at(8), dose="35mg", route="im").route == "im"

    def test_weight_needed_for_a_per_kg_dose(self, records):
        p = records.add_patient(name="no weight")
        with pytest.raises(InputError, match="^weight_kg"):
            records.record_session(p.id, started_at=at(6), dose="0.5mg/kg")
        assert records.record_session(p.id, started_at=at(6), dose="0.5mg/kg", weight_kg=80).dose_mg == 40


class TestCourses:
    def test_plan_progress_and_interval_booking(self, records, patient):
        # Plan: 20, 22, 24, 27 Feb, 1 and 3 Mar; today is 3 Mar.
        records.start_course(patient.id, started_on=dt.date(2025, 2, 20), days=(0, 2, 4, 7, 9, 11),
                             maintenance_rule="interval", every_days=21)
        for month, day in ((2, 20), (2, 22), (2, 24), (2, 25), (3, 2)):
            records.record_session(patient.id, started_at=at(day, month=month), dose="0.5mg/kg")
        _, _, state = records.course_state(patient.id)
        assert [(v.status, v.given_on and v.given_on.day) for v in state.visits] == [
            ("given", 20), ("given", 22), ("given", 24), ("missed", None), ("given", 2), ("due", None)]
        assert state.extra == (dt.date(2025, 2, 25),)
        assert state.next_due == dt.date(2025, 3, 3)
        booking = records.book_maintenance(patient.id)
        # The induction is not over, so the interval counts from its last planned session.
        assert booking.due_on == dt.date(2025, 3, 24)
        course, _, _ = records.course_state(patient.id)
        assert course.maintenance_due_on == booking.due_on
        assert [e.field for e in records.audit_trail("courses")][-2:] == ["maintenance_due_on", "maintenance_reason"]

    def test_one_active_course_at_a_time(self, records, patient):
        records.start_course(patient.id, started_on=dt.date(2025, 1, 6))
        with pytest.raises(InputError, match="active course"):
            records.start_course(patient.id, started_on=dt.date(2025, 2, 6))
        records.close_course(patient.id, dt.date(2025, 2, 1))
        assert records.start_course(patient.id, started_on=dt.date(2025, 2, 6)).status == "active"

    def test_forecast_rule_books_the_recommended_day(self, records, patient):
        records.start_course(patient.id, started_on=dt.date(2025, 1, 6), maintenance_rule="forecast")
        records.record_session(patient.id, started_at=at(6), dose="0.5mg/kg")
        booking = records.book_maintenance(patient.id, forecast={"recommended_maintenance_day": 70.2},
                                           first_dose=at(6))
        assert booking.due_on == dt.date(2025, 3, 17)  # 6 Jan 09:00 UTC + 70.2 days

    def test_bad_plan_is_refused(self, records, patient):
        with pytest.raises(InputError, match="days"):
            records.start_course(patient.id, started_on=dt.date(2025, 1, 6), days=(0, 4, 2))
        assert records.audit_trail("courses") == []


@pytest.mark.parametrize("row", [{"sex": "nonsense"}, {"sex": "male", "mrn": "MRN-1"}])
def test_database_errors_do_not_carry_patient_data(records, patient, row):
    """A write the database itself refuses (past the service's checks) is reported without the values."""
    with pytest.raises(DatabaseRefused) as info, records.transaction() as session:
        session.add(Patient(name="Secret Name", created_at=NOW, **row))
    assert info.value.conflict
    text = "".join(traceback.format_exception(info.value))
    assert "Secret Name" not in text
    assert "MRN-1" not in text
    assert row_counts(records)["patients"] == 1


class TestScreeningAndUsers:
    def test_screening_decision_is_stored_with_the_answers(self, records, patient):
        answers = {"product": "esketamine", "aneurysmal_vascular_disease": True}
        s = records.record_screening(patient.id, answers, dt.date(2025, 1, 2))
        assert s.decision == "not_eligible"
        assert s.answers["age_years"] == pytest.approx(39.8, abs=0.1)  # filled in from the birth date
        assert "aneurysmal_vascular_disease" in [r["code"] for r in s.result["reasons"]]

    def test_age_comes_from_the_birth_date(self, records, patient):
        # born 1985-04-02: 39.8 years on 2025-01-02; an answer within a year is replaced
        s = records.record_screening(patient.id, {"age_years": 39, "pregnant": True}, dt.date(2025, 1, 2))
        assert s.answers["age_years"] == pytest.approx(39.8, abs=0.1)

    @pytest.mark.parametrize("age", [67, 38.7, 40.8])
    def test_age_contradicting_the_birth_date_is_refused(self, records, patient, age):
        before = row_counts(records)["screenings"]
        with pytest.raises(InputError) as err:
            records.record_screening(patient.id, {"age_years": age}, dt.date(2025, 1, 2))
        assert err.value.field == "age_years" and "1985-04-02" in str(err.value)
        assert row_counts(records)["screenings"] == before

    def test_passwords_are_hashed_and_checked(self, records):
        user = records.add_user("dr_lee", "clinician", "correct horse")
        assert "correct horse" not in user.password_hash
        assert records.authenticate("dr_lee", "correct horse").role == "clinician"
        assert records.authenticate("dr_lee", "wrong password") is None
        with pytest.raises(InputError, match="role"):
            records.add_user("x", "superuser", "12345678")
        with pytest.raises(InputError, match="already taken"):
            records.add_user("dr_lee", "readonly", "12345678")


def test_forecast_is_kept_as_computed(records, patient):
    result = {"loss_of_response_day": 30.5, "median": {"pcl5": {"0": 50.0, "7": 31.2}}}
    stored = records.save_forecast(patient.id, result, at(6), 84)
    latest = records.latest_forecast(patient.id)
    assert latest.id == stored.id
    assert latest.result == result
    assert latest.first_dose_at == at(6)
    logged = json.loads(records.audit_trail("forecasts", stored.id)[0].new_value)
    assert logged["result"] == result


def test_a_long_forecast_is_logged_as_its_digest(records, patient):
    curve = {str(day): 50.0 - day / 10 for day in range(400)}
    stored = records.save_forecast(patient.id, {"median": {"pcl5": curve}}, at(6), 400)
    logged = json.loads(records.audit_trail("forecasts", stored.id)[0].new_value)
    text = json.dumps(records.latest_forecast(patient.id).result, sort_keys=True, ensure_ascii=False)
    assert logged["result"] == {"sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text)}
    assert logged["horizon_days"] == 400
