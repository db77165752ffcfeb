"""A patient's course as a NONMEM-style CSV, for pharmacometricians.

Dosing records come from :func:`to_nonmem` (``ID, TIME, AMT, RATE, EVID, CMT, DRUG``); each
scored instrument adds an observation record (EVID 0, MDV 0) with
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

This module is the one place for NONMEM records: the dosing-record layout
(``NONMEM_COLUMNS``, ``NONMEM_CMT``, ``NONMEM_DRUG``), its writers and readers
(``to_nonmem``, ``nonmem_csv``, ``from_nonmem``, ``read_nonmem_csv``) and the course records.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from ..calibration.individual import CLUSTERS, Observation
from ..dosing import Dose, Product, Regimen, Route, finite_positive
from ..errors import InputError

__all__ = ["COLUMNS", "DVID", "NONMEM_CMT", "NONMEM_COLUMNS", "NONMEM_DRUG", "course_records", "from_nonmem",
           "nonmem_csv", "read_nonmem_csv", "to_nonmem"]

#: NONMEM compartment numbers used by :func:`to_nonmem` / :func:`from_nonmem`.
NONMEM_CMT = {
    Route.IV_INFUSION: 1,
    Route.IV_BOLUS: 1,
    Route.IM: 2,
    Route.INTRANASAL: 3,
    Route.SUBLINGUAL: 4,
    Route.ORAL: 5,
}
#: NONMEM DRUG data item (an extra column; NONMEM itself has none).
NONMEM_DRUG = {Product.RACEMIC: 1, Product.ESKETAMINE: 2, Product.MIDAZOLAM: 3, Product.SALINE: 4}

NONMEM_COLUMNS = ("ID", "TIME", "AMT", "RATE", "EVID", "CMT", "DRUG")


def to_nonmem(regimen: Regimen, weight_kg: float = 70.0, patient_id: int = 1) -> list[dict]:
    """Dosing records in the NONMEM style (``ID, TIME, AMT, RATE, EVID, CMT`` plus ``DRUG``).

    TIME in h, AMT in mg (mg/kg doses multiplied by ``weight_kg``), RATE in mg/h for
    infusions and 0 otherwise, EVID 1, CMT by route (1 IV, 2 IM, 3 nasal, 4 sublingual,
    5 oral), DRUG 1 racemic, 2 esketamine, 3 midazolam, 4 saline.
    """
    weight_kg = finite_positive(weight_kg, "weight_kg")
    rows = []
    for d in regimen.doses:
        amt = d.amount_mg(weight_kg)
        rate = amt / d.duration_h if d.route is Route.IV_INFUSION else 0.0
        rows.append({"ID": patient_id, "TIME": d.time_h, "AMT": amt, "RATE": rate, "EVID": 1,
                     "CMT": NONMEM_CMT[d.route], "DRUG": NONMEM_DRUG[d.product]})
    return rows


def nonmem_csv(regimen: Regimen, weight_kg: float = 70.0, patient_id: int = 1) -> str:
    """:func:`to_nonmem` as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=NONMEM_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in to_nonmem(regimen, weight_kg, patient_id):
        writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def from_nonmem(rows: Iterable[dict]) -> dict[int, Regimen]:
    """Read NONMEM-style dosing records (dicts or CSV rows) into one regimen per ID.

    Rows with EVID other than 1 (observations) are skipped. A missing DRUG column means
    racemic ketamine. Amounts become fixed mg doses.
    """
    by_route = {1: None, 2: Route.IM, 3: Route.INTRANASAL, 4: Route.SUBLINGUAL, 5: Route.ORAL}
    by_drug = {v: k for k, v in NONMEM_DRUG.items()}
    doses: dict[int, list[Dose]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            evid = int(float(row.get("EVID", 1)))
            if evid != 1:
                continue
            pid = int(float(row["ID"]))
            time_h = float(row["TIME"])
            amt = float(row["AMT"])
            rate = float(row.get("RATE", 0) or 0)
            cmt = int(float(row.get("CMT", 1)))
            drug = int(float(row.get("DRUG", 1) or 1))
        except KeyError as exc:
            raise InputError(f"line {line}", f"missing column {exc.args[0]}", ", ".join(NONMEM_COLUMNS)) from None
        except ValueError:
            raise InputError(f"line {line}", "a field is not a number",
                             "numeric ID, TIME, AMT, RATE, EVID, CMT") from None
        if cmt not in by_route:
            raise InputError(f"line {line} CMT", f"unknown compartment {cmt}", "1-5")
        if drug not in by_drug:
            raise InputError(f"line {line} DRUG", f"unknown drug code {drug}", "1-4")
        route = by_route[cmt] or (Route.IV_INFUSION if rate > 0 else Route.IV_BOLUS)
        duration = amt / rate if route is Route.IV_INFUSION else None
        doses.setdefault(pid, []).append(Dose(time_h, amt, route, by_drug[drug], False, duration))
    return {pid: Regimen(tuple(ds)) for pid, ds in doses.items()}


def read_nonmem_csv(text: str) -> dict[int, Regimen]:
    """Parse NONMEM-style CSV text with :func:`from_nonmem`."""
    return from_nonmem(csv.DictReader(io.StringIO(text)))


# --------------------------------------------------------------------------- course records

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
