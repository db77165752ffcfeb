"""Migrations: the models and the migration scripts agree, and a database with records in it
upgrades and downgrades without losing them (on both backends)."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, insert, inspect, text

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records, connect, current_revision, downgrade, ensure_current, head_revision, upgrade
from ketamine_ptsd.store.models import Base

from .conftest import NOW

UTC = dt.UTC


@pytest.fixture
def engine(db_url):
    engine = connect(db_url)
    yield engine
    engine.dispose()


def test_models_match_the_migrations(engine):
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def _course_columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("courses")}


def _insert_0001_records(engine) -> None:
    """Records as the code of revision 0001 wrote them (its own columns, plain SQL)."""
    meta = MetaData()
    created = dt.datetime(2025, 1, 6, 8, tzinfo=UTC)
    with engine.begin() as connection:
        meta.reflect(connection)
        t = meta.tables
        connection.execute(insert(t["patients"]), [{"id": 1, "name": "P", "sex": "male", "weight_kg": 80.0,
                                                    "created_at": created}])
        connection.execute(insert(t["courses"]), [{
            "id": 1, "patient_id": 1, "started_on": dt.date(2025, 1, 6), "product": "racemic",
            "route": "iv_infusion", "dose_amount": 0.5, "dose_per_kg": True, "infusion_min": 40.0,
            "induction_days": [0, 2, 4, 7, 9, 11], "status": "active", "created_at": created}])
        connection.execute(insert(t["sessions"]), [{
            "id": 1, "course_id": 1, "started_at": dt.datetime(2025, 1, 6, 9, tzinfo=UTC), "product": "racemic",
            "route": "iv_infusion", "dose_amount": 0.5, "dose_per_kg": True, "dose_mg": 40.0, "weight_kg": 80.0,
            "infusion_min": 40.0, "created_at": created}])
        connection.execute(insert(t["vitals"]), [{"id": 1, "session_id": 1, "minutes": 0.0, "label": "pre_dose",
                                                  "sbp": 120.0, "dbp": 80.0}])
        connection.execute(insert(t["assessments"]), [{
            "id": 1, "patient_id": 1, "instrument": "pcl5", "administered_at": dt.datetime(2025, 1, 5, tzinfo=UTC),
            "items": [3] * 20, "total": 60.0, "clusters": {"B": 15, "C": 6, "D": 21, "E": 18}, "prorated": False,
            "result": {}, "source": "entry", "created_at": created}])
        connection.execute(insert(t["audit_log"]), [{
            "at": created, "actor": "clinician_a", "action": "insert", "table_name": "patients", "record_id": "1",
            "field": "*", "new_value": "{}"}])
        if connection.dialect.name == "postgresql":
            for name in ("patients", "courses", "sessions", "vitals", "assessments"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1)"))


def test_upgrade_with_records_in_it_and_back(engine):
    upgrade(engine, "0001")
    _insert_0001_records(engine)

    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"maintenance_rule", "maintenance_due_on"} <= _course_columns(engine)
    new = Records(engine, "clinician_b", now=lambda: NOW)
    assert new.patient(1).weight_kg == 80.0
    assert [x.dose_mg for x in new.sessions(1)] == [40.0]
    assert new.session_details(1)["vitals"][0]["sbp"] == 120
    assert new.assessments(1)[0].clusters == {"B": 15, "C": 6, "D": 21, "E": 18}
    course, _, _ = new.course_state(1)
    assert (course.induction_days, course.maintenance_rule, course.maintenance_due_on) == \
           ([0, 2, 4, 7, 9, 11], None, None)
    assert [e.actor for e in new.audit_trail()] == ["clinician_a"]
    # The new features work on the old records.
    new.book_maintenance(1, rule="interval", every_days=14)
    new.save_forecast(1, {"loss_of_response_day": 20.0}, dt.datetime(2025, 1, 6, 9, tzinfo=UTC), 84)
    new.record_session(1, started_at=dt.datetime(2025, 1, 8, 9, tzinfo=UTC), dose="0.5mg/kg")

    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "maintenance_rule" not in _course_columns(engine)
    assert "forecasts" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name, weight_kg FROM patients")).all() == [("P", 80.0)]
        assert connection.execute(text("SELECT id, dose_mg FROM sessions ORDER BY id")).all() == [(1, 40.0), (2, 40.0)]
        assert connection.execute(text("SELECT total FROM assessments")).scalar() == 60.0
        assert connection.execute(text("SELECT count(*) FROM vitals")).scalar() == 1

    # ... and up again: the records survive the round trip.
    upgrade(engine)
    assert [s.id for s in Records(engine, "c").sessions(1)] == [1, 2]


def test_downgrade_to_base_removes_every_table(engine):
    upgrade(engine)
    downgrade(engine, "base")
    assert [t for t in inspect(engine).get_table_names() if t != "alembic_version"] == []


def test_a_new_database_is_created_an_old_one_is_not_upgraded_silently(engine):
    ensure_current(engine)
    assert current_revision(engine) == head_revision()
    downgrade(engine, "0001")
    with pytest.raises(InputError, match="db upgrade"):
        ensure_current(engine)
    assert current_revision(engine) == "0001"


def test_a_foreign_database_is_refused(engine):
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE something_else (x INTEGER)"))
    with pytest.raises(InputError, match="not a ketamine-ptsd records database"):
        ensure_current(engine)


def test_unknown_revision(engine):
    with pytest.raises(InputError, match="REVISION"):
        upgrade(engine, "9999")


def _patient_columns(engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("patients")}


def test_patient_population_up_and_down(engine):
    upgrade(engine, "0004")
    _insert_0001_records(engine)
    assert "population" not in _patient_columns(engine)

    upgrade(engine, "0005")
    records = Records(engine, "clinician_b", now=lambda: NOW)
    # An existing patient has none stored: the default population.
    assert records.patient(1).population is None
    records.update_patient(1, population="veteran_ptsd_ad_failure")
    assert records.patient(1).population == "veteran_ptsd_ad_failure"

    downgrade(engine, "0004")
    assert "population" not in _patient_columns(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name, weight_kg FROM patients")).all() == [("P", 80.0)]
    upgrade(engine)
    assert Records(engine, "c").patient(1).population is None
