"""Backups: a restore gives back every row exactly, never overwrites records, and is all or
nothing (on both backends, and across them)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import MetaData, select

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records, backup, connect, ensure_current, head_revision, restore
from ketamine_ptsd.store.migrate import is_empty

from .conftest import NOW

UTC = dt.UTC


def _utc(value):
    # SQLite keeps UTC without a zone, PostgreSQL with one: compare the instants.
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def dump(engine) -> dict[str, list[dict]]:
    """Every row of every table, as the database driver returns it."""
    meta = MetaData()
    with engine.connect() as connection:
        meta.reflect(connection)
        return {name: [{k: _utc(v) for k, v in r.items()}
                       for r in connection.execute(select(t).order_by(*t.primary_key.columns)).mappings()]
                for name, t in meta.tables.items() if name != "alembic_version"}


def fill(records: Records) -> Records:
    p = records.add_patient(name="Ünïcode Name", mrn="A1", birth_date=dt.date(1970, 5, 6), weight_kg=64.5)
    records.start_course(p.id, started_on=dt.date(2025, 1, 6), maintenance_rule="forecast")
    records.record_session(p.id, started_at=dt.datetime(2025, 1, 6, 9, 15, tzinfo=UTC), dose="0.5mg/kg",
                           readings=[{"time_min": 0, "label": "pre_dose", "sbp": 121, "dbp": 79, "hr": 66}],
                           events=[("early_visit_request", None)])
    records.record_assessment(p.id, "pcl5", [1, 2, 3, 4] * 5, dt.datetime(2025, 1, 5, 8, tzinfo=UTC))
    records.record_screening(p.id, {"product": "racemic"}, dt.date(2025, 1, 2))
    records.add_user("admin", "admin", "long enough")
    records.save_forecast(p.id, {"median": {"pcl5": {"0": 50.5}}}, dt.datetime(2025, 1, 6, 9, 15, tzinfo=UTC), 84)
    return records


@pytest.fixture
def filled(records):
    return fill(records)


def check_restored(source, target) -> None:
    original, restored = dump(source), dump(target)
    original_audit, restored_audit = original.pop("audit_log"), restored.pop("audit_log")
    assert restored == original
    assert restored_audit[:-1] == original_audit
    assert (restored_audit[-1]["action"], restored_audit[-1]["actor"]) == ("restore", "restorer")
    # New records continue after the restored ids.
    assert Records(target, "x").add_patient(name="next").id == 2


def test_backup_of_this_backend_restores_exactly_into_sqlite(filled, tmp_path):
    path = tmp_path / "backup.json"
    summary = backup(filled.engine, path)
    assert (summary["revision"], summary["rows"]["patients"], summary["rows"]["vitals"]) == (head_revision(), 1, 1)
    target = connect(f"sqlite:///{tmp_path / 'restored.sqlite'}")
    try:
        restore(target, path, actor="restorer")
        check_restored(filled.engine, target)
    finally:
        target.dispose()


def test_sqlite_backup_restores_exactly_into_this_backend(db_url, tmp_path):
    source = connect(f"sqlite:///{tmp_path / 'source.sqlite'}")
    target = connect(db_url)
    try:
        ensure_current(source)
        fill(Records(source, "tester", now=lambda: NOW))
        backup(source, tmp_path / "backup.json")
        restore(target, tmp_path / "backup.json", actor="restorer")
        check_restored(source, target)
    finally:
        source.dispose()
        target.dispose()


def test_restore_never_overwrites_records(filled, tmp_path):
    path = tmp_path / "backup.json"
    backup(filled.engine, path)
    before = dump(filled.engine)
    with pytest.raises(InputError, match="not empty"):
        restore(filled.engine, path, actor="x")
    assert dump(filled.engine) == before


@pytest.mark.parametrize("mangle, message", [
    (lambda d: "not json", "not JSON"),
    (lambda d: {**d, "format": "other"}, "not a records backup"),
    (lambda d: {**d, "revision": "9999"}, "unknown schema revision"),
    (lambda d: {**d, "tables": {**d["tables"], "patients": [{"id": 1, "shoe_size": 44}]}}, "shoe_size"),
    (lambda d: {**d, "tables": {**d["tables"], "patients": [{**d["tables"]["patients"][0], "weight_kg": "heavy"}]}},
     "table patients row 1 column weight_kg: str where the column holds a number"),
    (lambda d: {**d, "tables": {**d["tables"], "patients": [{**d["tables"]["patients"][0], "id": "one"}]}},
     "column id: str where the column holds a whole number"),
    (lambda d: {**d, "tables": {**d["tables"], "sessions": [{**d["tables"]["sessions"][0], "started_at": 0}]}},
     "column started_at: int where the column holds an ISO date and time"),
    (lambda d: {**d, "tables": {**d["tables"], "sessions": [{**d["tables"]["sessions"][0], "dose_per_kg": 1}]}},
     "column dose_per_kg: int where the column holds true or false"),
    (lambda d: {**d, "tables": {**d["tables"], "patients": {"id": 1}}}, "not a list of rows"),
])
def test_a_bad_backup_is_refused_and_leaves_the_database_empty(filled, tmp_path, mangle, message):
    path = tmp_path / "backup.json"
    backup(filled.engine, path)
    document = mangle(json.loads(path.read_text()))
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    target = connect(f"sqlite:///{tmp_path / 'target.sqlite'}")
    try:
        with pytest.raises(InputError, match=message):
            restore(target, path, actor="x")
        assert is_empty(target)
    finally:
        target.dispose()


def test_restore_is_all_or_nothing(filled, tmp_path):
    """A row that breaks a constraint half-way through leaves nothing behind."""
    path = tmp_path / "backup.json"
    backup(filled.engine, path)
    document = json.loads(path.read_text())
    document["tables"]["assessments"][0]["patient_id"] = 999  # no such patient
    path.write_text(json.dumps(document))
    target = connect(f"sqlite:///{tmp_path / 'target.sqlite'}")
    try:
        with pytest.raises(InputError, match="refer to records missing|do not fit"):
            restore(target, path, actor="x")
        assert is_empty(target)
        ensure_current(target)
        assert Records(target, "x", now=lambda: NOW).patients() == []
    finally:
        target.dispose()


def test_a_backup_that_is_not_utf8_is_refused_in_one_line(filled, tmp_path):
    path = tmp_path / "backup.json"
    backup(filled.engine, path)
    path.write_bytes(path.read_bytes().replace("Ünïcode".encode(), "Ünïcode".encode("latin-1")))
    target = connect(f"sqlite:///{tmp_path / 'target.sqlite'}")
    try:
        with pytest.raises(InputError, match="is not UTF-8 text"):
            restore(target, path, actor="x")
        assert is_empty(target)
    finally:
        target.dispose()
