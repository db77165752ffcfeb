"""A separate writer process for the reliability tests (run as a script, not collected).

    python writer.py URL NAME stream        write PCL-5 assessments until killed
    python writer.py URL NAME count N       add N patients, each with a PCL-5, then exit

Each line ``ack PATIENT_ID ASSESSMENT_ID I`` is printed (and flushed) only after the commit
of write I returned: an acknowledged write. ``count`` mode first prints ``ready`` and waits
for a line on standard input, so two writers can be started together.
"""

from __future__ import annotations

import datetime as dt
import sys

from ketamine_ptsd.store import Records

FIRST = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def answers(i: int) -> list[int]:
    """PCL-5 answers that encode ``i`` (total ``i % 81``), so each write can be checked."""
    total = i % 81
    return [min(4, max(0, total - 4 * k)) for k in range(20)]


def main(url: str, name: str, mode: str, n: int = 0) -> None:
    with Records.open(url, actor=name) as records:
        if mode == "count":
            print("ready", flush=True)
            sys.stdin.readline()
            for i in range(n):
                patient = records.add_patient(name=f"{name}-{i}", mrn=f"{name}-{i}")
                a = records.record_assessment(patient.id, "pcl5", answers(i), FIRST + dt.timedelta(hours=i))
                print(f"ack {patient.id} {a.id} {i}", flush=True)
            return
        patient = records.add_patient(name=name)
        i = 0
        while True:
            a = records.record_assessment(patient.id, "pcl5", answers(i), FIRST + dt.timedelta(hours=i))
            print(f"ack {patient.id} {a.id} {i}", flush=True)
            i += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *(int(x) for x in sys.argv[4:]))
