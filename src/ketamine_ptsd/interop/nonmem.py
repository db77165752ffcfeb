"""A patient's course as a NONMEM-style CSV, for pharmacometricians.

Dosing records come from :func:`ketamine_ptsd.dosing.to_nonmem` (``ID, TIME, AMT, RATE,
EVID, CMT, DRUG``); each scored instrument adds an observation record (EVID 0, MDV 0) with
the score in DV. Extra columns:

* ``DV``: the score (``.`` on dosing records);
* ``MDV``: 1 on dosing records, 0 on observations;
* ``DVID``: which score DV holds, 1 PCL-5 total, 2-5 PCL-5 clusters B-E, 6 CAPS-5 total,
  7 MADRS total (0 on dosing records);
* ``WT``: body weight in kg, on every record;
* ``INSTRUMENT``: DVID in words (a text column: drop it in ``$INPUT``).

TIME is in hours from the first dose (scores before it have negative times), AMT in mg,
RATE in mg/h. Records are in time order with observations before doses at the same time
(a score taken at a dosing visit is a pre-dose score). ``.`` marks a value that does not
apply. :func:`read_nonmem_csv` reads the dosing records back.

This module is where NONMEM records belong: import the dosing-record layout
(``NONMEM_COLUMNS``, ``NONMEM_CMT``, ``NONMEM_DRUG``) and its readers and writers
(``to_nonmem``, ``from_nonmem``, ``nonmem_csv``, ``read_nonmem_csv``) from here. Their
definitions still sit in :mod:`ketamine_ptsd.dosing` and move here with issue 16 item 2,
without a change for code that imports them from this module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ..calibration.individual import CLUSTERS, Observation
from ..dosing import (
    NONMEM_CMT,
    NONMEM_COLUMNS,
    NONMEM_DRUG,
    Regimen,
    from_nonmem,
    nonmem_csv,
    read_nonmem_csv,
    to_nonmem,
)
from ..errors import InputError

__all__ = ["COLUMNS", "DVID", "NONMEM_CMT", "NONMEM_COLUMNS", "NONMEM_DRUG", "course_records", "from_nonmem",
           "nonmem_csv", "read_nonmem_csv", "to_nonmem"]

COLUMNS = NONMEM_COLUMNS + ("DV", "MDV", "DVID", "WT", "INSTRUMENT")
#: DVID of each score.
DVID = {"pcl5": 1, **{f"pcl5_{c.lower()}": 2 + i for i, c in enumerate(CLUSTERS)}, "caps5": 6, "madrs": 7}
MISSING = "."


def _patient_number(patient_id) -> int:
    text = str(patient_id).strip()
    if not text.isdigit():
        raise InputError("patient_id", f"{patient_id!r} is not a whole number",
                         "a positive whole number (NONMEM IDs are numeric)")
    return int(text)


def _observation_rows(observations: Sequence[Observation], patient: int) -> list[dict]:
    rows = []
    for i, obs in enumerate(observations):
        if not isinstance(obs, Observation):
            raise InputError(f"observations[{i}]", "not an Observation", "Observation(time_h, instrument, total)")
        scores = {obs.instrument: obs.total}
        if obs.instrument == "pcl5" and obs.clusters:
            scores.update({f"pcl5_{c.lower()}": obs.clusters[c] for c in CLUSTERS})
        for name, value in scores.items():
            rows.append({"ID": patient, "TIME": obs.time_h, "AMT": MISSING, "RATE": MISSING, "EVID": 0,
                         "CMT": MISSING, "DRUG": MISSING, "DV": value, "MDV": 0, "DVID": DVID[name],
                         "INSTRUMENT": name})
    return rows


def course_records(regimen: Regimen, observations: Sequence[Observation], weight_kg: float, patient_id) -> str:
    """The course (doses of ``regimen`` for a patient of ``weight_kg``, and the scored
    ``observations``) as NONMEM-style CSV text; ``patient_id`` must be a whole number."""
    patient = _patient_number(patient_id)
    doses = [dict(row, DV=MISSING, MDV=1, DVID=0, INSTRUMENT="") for row in to_nonmem(regimen, weight_kg, patient)]
    rows = sorted(_observation_rows(observations, patient) + doses, key=lambda r: (r["TIME"], r["EVID"], r["DVID"]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        row["WT"] = float(weight_kg)
        writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()
