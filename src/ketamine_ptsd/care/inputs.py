"""A patient's record as the model's inputs: the one rule that turns the records (weight,
birth date, the scores given before the first dose) into the covariates of the model, used
by the personal forecast (:mod:`.forecast`) and the what-if comparison (:mod:`.whatif`).

The pre-treatment baseline is what the patient was before ketamine:

- scores: the latest complete PCL-5 and CAPS-5 clusters and MADRS total given at or before
  the first dose of the current course and at most :data:`BASELINE_LOOKBACK_DAYS` before
  it (after the first dose the scores show the treatment, not the baseline; older ones no
  longer describe the month before treatment). Without a dose yet, the same window ends now.
  Each value is clipped into the instrument's range (items x scale, from the instrument specs).
- weight: the latest weight recorded at a dosing session of the course, else the patient's.
- age: at the first dose (now without a dose yet).

The model then clips each covariate into its validated range
(:data:`ketamine_ptsd.population.COVARIATE_BOUNDS`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ketamine_ptsd.clinic.instruments import CAPS5, MADRS, PCL5
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records

#: Assessments this many days before the first dose still count as the baseline: the PCL-5
#: and CAPS-5 (past-month versions) ask about the past month (NCPTSD).
BASELINE_LOOKBACK_DAYS = 31.0
#: Instruments whose DSM-5 cluster sums are covariates (``pcl5_b`` ...).
CLUSTER_INSTRUMENTS = {spec.id: spec for spec in (PCL5, CAPS5)}
#: Instruments whose total is a covariate (named by the instrument id).
TOTAL_INSTRUMENTS = {MADRS.id: MADRS}


def _clip(value: float, items: int, scale: tuple[int, int]) -> float:
    """``value`` inside the range of a sum of ``items`` answers on ``scale``."""
    return float(min(max(value, scale[0] * items), scale[1] * items))


def baseline_covariates(assessments: Iterable[Any], *, first_dose: dt.datetime | None, now: dt.datetime,
                        weight_kg: float | None, birth_date: dt.date | None) -> dict[str, Any]:
    """The covariates of the pre-treatment baseline (module docstring) from record objects:
    ``assessments`` (with ``instrument``, ``administered_at``, ``total``, ``clusters``),
    the first dose of the current course (None: not given yet), the weight to use and the
    birth date. Returns ``covariates`` (scores clipped into the instrument's range),
    ``first_dose_at`` (ISO) and ``sources`` (instrument -> when, total)."""
    reference = first_dose if first_dose is not None else now
    earliest = reference - dt.timedelta(days=BASELINE_LOOKBACK_DAYS)
    covariates: dict[str, float] = {}
    sources: dict[str, dict[str, Any]] = {}
    if weight_kg is not None:
        covariates["weight_kg"] = float(weight_kg)
    if birth_date is not None:
        covariates["age_years"] = (reference.astimezone().date() - birth_date).days / 365.25
    for a in sorted(assessments, key=lambda a: a.administered_at):
        if not earliest <= a.administered_at <= reference:
            continue
        spec = CLUSTER_INSTRUMENTS.get(a.instrument)
        if spec is not None and a.clusters and None not in a.clusters.values():
            for cluster, items in spec.clusters.items():
                covariates[f"{spec.id}_{cluster.lower()}"] = _clip(float(a.clusters[cluster]), len(items), spec.scale)
        elif a.instrument in TOTAL_INSTRUMENTS and a.total is not None:
            spec = TOTAL_INSTRUMENTS[a.instrument]
            covariates[spec.id] = _clip(float(a.total), spec.n_items, spec.scale)
        else:
            continue
        sources[a.instrument] = {"administered_at": a.administered_at.isoformat(), "total": a.total}
    return {"covariates": covariates, "first_dose_at": None if first_dose is None else first_dose.isoformat(),
            "sources": sources}


def course_weight(sessions: Sequence[Any], patient_weight_kg: float | None) -> float | None:
    """The latest weight recorded at a dosing session, else the patient's weight."""
    weight = next((s.weight_kg for s in reversed(sessions) if s.weight_kg is not None), patient_weight_kg)
    return None if weight is None else float(weight)


def pretreatment_baseline(records: Records, patient_id: Any) -> dict[str, Any]:
    """:func:`baseline_covariates` of the patient's current (active, else latest) course, or
    of the patient alone before any course."""
    patient = records.patient(patient_id)
    try:
        snapshot = records.course_snapshot(patient.id)
    except InputError as exc:
        if exc.field != "patient_id":  # the patient exists, so: no course yet
            raise
        sessions, assessments, now = [], records.assessments(patient.id), records.now()
    else:
        sessions, assessments, now = snapshot.sessions, snapshot.assessments, snapshot.now
    first = min((s.started_at for s in sessions), default=None)
    return baseline_covariates(assessments, first_dose=first, now=now,
                               weight_kg=course_weight(sessions, patient.weight_kg), birth_date=patient.birth_date)


def model_covariates(covariates: dict[str, float]) -> dict[str, float]:
    """Each covariate clipped into the model's covariate range."""
    # Imported here: the population module loads the model (numba), which the record commands
    # that import this module must not pay for at start-up.
    from ketamine_ptsd.population import COVARIATE_BOUNDS

    return {k: float(np.clip(v, *COVARIATE_BOUNDS[k])) for k, v in covariates.items()}


def patient_covariates(records: Records, patient_id: Any) -> dict[str, float]:
    """The model covariates of the patient's pre-treatment baseline (:func:`pretreatment_baseline`)."""
    return model_covariates(pretreatment_baseline(records, patient_id)["covariates"])
