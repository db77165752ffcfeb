"""No committed record is lost: a writer killed with SIGKILL mid-stream, and two writers at once
(SQLite in WAL mode, PostgreSQL transactions)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from ketamine_ptsd.store import Records, connect, ensure_current

from .writer import answers

WRITER = Path(__file__).with_name("writer.py")
TIMEOUT_S = 120


def start_writer(url: str, name: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(WRITER), url, name, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def read_line(process: subprocess.Popen) -> str:
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail(f"writer stopped: {process.stderr.read()[-2000:]}")
    return line.strip()


def parse_ack(line: str) -> tuple[int, int, int]:
    word, patient_id, assessment_id, i = line.split()
    assert word == "ack"
    return int(patient_id), int(assessment_id), int(i)


def assert_database_sound(records: Records) -> None:
    """Every stored assessment has its audit entry (row and log committed together), and
    SQLite's own check finds no damage."""
    with records.engine.connect() as connection:
        stored = {str(i) for i in connection.execute(text("SELECT id FROM assessments")).scalars()}
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    audited = {e.record_id for e in records.audit_trail("assessments") if e.action == "insert"}
    assert audited == stored


@pytest.fixture
def schema(db_url):
    """The database with its schema created, so the writers only write."""
    engine = connect(db_url)
    ensure_current(engine)
    engine.dispose()
    return db_url


def test_sigkill_mid_stream_loses_no_acknowledged_write(schema):
    writer = start_writer(schema, "killed", "stream")
    try:
        acks = [parse_ack(read_line(writer)) for _ in range(40)]
    finally:
        # The writer is still writing: the kill lands in the middle of the stream.
        writer.send_signal(signal.SIGKILL)
        writer.wait(TIMEOUT_S)
    assert writer.returncode == -signal.SIGKILL

    with Records.open(schema, actor="checker") as records:
        patient_id = acks[0][0]
        stored = {a.id: a for a in records.assessments(patient_id)}
        for _, assessment_id, i in acks:
            assert stored[assessment_id].items == answers(i)
            assert stored[assessment_id].total == i % 81
        assert len(stored) >= len(acks)
        assert_database_sound(records)
        # The database takes new writes after the crash.
        assert records.record_assessment(patient_id, "madrs", [1] * 10, records.now()).total == 10


def test_two_writers_at_once_lose_and_corrupt_nothing(schema):
    n = 15
    writers = [start_writer(schema, name, "count", str(n)) for name in ("left", "right")]
    try:
        for w in writers:
            assert read_line(w) == "ready"
        for w in writers:
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [w.communicate(timeout=TIMEOUT_S) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
    for w, (_, err) in zip(writers, outputs, strict=True):
        assert w.returncode == 0, err[-2000:]
    acks = {name: [parse_ack(line) for line in out.splitlines()] for name, (out, _) in
            zip(("left", "right"), outputs, strict=True)}
    assert [len(a) for a in acks.values()] == [n, n]

    with Records.open(schema, actor="checker") as records:
        patients = {p.id: p for p in records.patients()}
        assert len(patients) == 2 * n
        for name, lines in acks.items():
            for patient_id, assessment_id, i in lines:
                assert (patients[patient_id].name, patients[patient_id].mrn) == (f"{name}-{i}", f"{name}-{i}")
                (assessment,) = records.assessments(patient_id)
                assert (assessment.id, assessment.items) == (assessment_id, answers(i))
        actors = [e.actor for e in records.audit_trail("patients")]
        assert sorted(actors) == ["left"] * n + ["right"] * n
        assert_database_sound(records)
