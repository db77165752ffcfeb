"""The web app's two ways into SQLite: a read engine that cannot write, and writers of one
process queued on a lock."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text

from ketamine_ptsd.store import Records, connect, ensure_current
from ketamine_ptsd.store.records import DatabaseRefused
from ketamine_ptsd.web.database import QueuedRecords, read_engine, write_lock


@pytest.fixture
def engines(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'records.sqlite'}")
    ensure_current(engine)
    reader = read_engine(engine)
    yield engine, reader
    reader.dispose()
    engine.dispose()


def test_reads_see_committed_changes_and_cannot_write(engines):
    engine, reader = engines
    patient = Records(engine, "writer").add_patient(name="Read Me")
    assert Records(reader, "reader").patient(patient.id).name == "Read Me"
    with pytest.raises(DatabaseRefused, match="readonly"):
        Records(reader, "reader").add_patient(name="Never Stored")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM patients")).scalar_one() == 1


def test_other_databases_keep_their_engine():
    engine = create_engine("postgresql+psycopg://user@127.0.0.1:1/none")  # never connected
    assert read_engine(engine) is engine and write_lock(engine) is None


def test_writers_queue_on_the_lock(engines):
    engine, _ = engines
    lock = write_lock(engine)
    done = threading.Event()

    def write():
        QueuedRecords(engine, "queued", lock=lock).add_patient(name="Queued")
        done.set()

    with lock:
        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.3)  # held back while another writer holds the lock
    writer.join(10)
    assert done.is_set()
    threads = [threading.Thread(target=lambda i=i: QueuedRecords(engine, "t", lock=lock).add_patient(name=f"P{i}"))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(Records(engine, "check").patients()) == 9
