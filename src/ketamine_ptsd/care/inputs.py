"""A patient's record as the model's inputs: the one rule that turns the records (weight,
birth date, the scores given before the first dose) into the covariates of
:meth:`ketamine_ptsd.Population.virtual`.

The pre-treatment baseline is what the patient was before ketamine: the latest complete
PCL-5 and CAPS-5 clusters and MADRS total given before the first dose of the current
course (after it the scores show the treatment, not the baseline). The model then clips
each covariate into its validated range (:data:`ketamine_ptsd.population.COVARIATE_BOUNDS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ketamine_ptsd.population import COVARIATE_BOUNDS
from ketamine_ptsd.store import Records

#: Instruments whose cluster sums are covariates, and the covariate name of each cluster.
CLUSTER_COVARIATES = {"pcl5": "pcl5_{}", "caps5": "caps5_{}"}


def first_dose_at(records: Records, patient_id: Any) -> Any:
    """The first dose of the patient's current (active, else latest) course, or None."""
    courses = records.summary(patient_id)["courses"]
    active = [c for c in courses if c["status"] == "active"] or courses[-1:]
    starts = [s["started_at"] for c in active for s in c["sessions"]]
    return min(starts) if starts else None


def pretreatment_baseline(records: Records, patient_id: Any) -> dict[str, Any]:
    """The model covariates of the patient before treatment: weight, age, and the latest
    complete PCL-5 and CAPS-5 clusters and MADRS total given before the first dose of the
    current course. Without a dose yet, the latest scores. Returns ``covariates`` (as
    measured), ``first_dose_at`` and ``sources`` (instrument -> when, total)."""
    patient = records.patient(patient_id)
    first = first_dose_at(records, patient_id)
    covariates: dict[str, float] = {}
    sources: dict[str, dict[str, Any]] = {}
    if patient.weight_kg is not None:
        covariates["weight_kg"] = patient.weight_kg
    if patient.birth_date is not None:
        covariates["age_years"] = (records.now().astimezone().date() - patient.birth_date).days / 365.25
    for a in records.assessments(patient.id):
        if first is not None and a.administered_at.isoformat() >= first:
            continue
        if a.instrument in CLUSTER_COVARIATES and a.clusters and None not in a.clusters.values():
            for cluster, value in a.clusters.items():
                covariates[CLUSTER_COVARIATES[a.instrument].format(cluster.lower())] = float(value)
        elif not (a.instrument == "madrs" and a.total is not None):
            continue
        else:
            covariates["madrs"] = float(a.total)
        sources[a.instrument] = {"administered_at": a.administered_at.isoformat(), "total": a.total}
    return {"covariates": covariates, "first_dose_at": first, "sources": sources}


def model_covariates(covariates: dict[str, float]) -> dict[str, float]:
    """Each covariate clipped into the model's covariate range."""
    return {k: float(np.clip(v, *COVARIATE_BOUNDS[k])) for k, v in covariates.items()}


def patient_covariates(records: Records, patient_id: Any) -> dict[str, float]:
    """The model covariates of the patient's pre-treatment baseline (:func:`pretreatment_baseline`)."""
    return model_covariates(pretreatment_baseline(records, patient_id)["covariates"])
