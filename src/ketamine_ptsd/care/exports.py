"""A patient's records in the formats other tools read: a FHIR R4 bundle (assessments as
QuestionnaireResponses, vital signs as Observations) and NONMEM-style CSV of the current
course (doses and observed scores). The formats themselves are in :mod:`ketamine_ptsd.interop`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.interop.fhir import bundle, questionnaire_response, vitals_observations
from ketamine_ptsd.interop.nonmem import course_records
from ketamine_ptsd.store.records import Records

from .forecast import course_inputs


def patient_fhir_bundle(records: Records, patient_id: Any) -> dict[str, Any]:
    """Every assessment and vital-sign reading of the patient as one FHIR R4 Bundle (a
    JSON-ready dict; LOINC codes where the instrument has them)."""
    patient = records.patient(patient_id)
    pid = str(patient.id)
    # The answers as given (a.items), not the points of a result (DAST-10 reverses item 3).
    resources = [questionnaire_response({**a.result, "items": a.items}, pid, a.administered_at)
                 for a in records.assessments(pid)]
    for s in records.sessions(pid):
        for v in records.session_details(s.id)["vitals"]:
            when = s.started_at + dt.timedelta(minutes=v["minutes"])
            resources += vitals_observations(pid, when, v["sbp"], v["dbp"], v["hr"], v["spo2"])
    return bundle(resources)


def patient_nonmem_csv(records: Records, patient_id: Any) -> str:
    """The patient's current course as NONMEM-style CSV text: the doses given (no planned
    ones) and the observed scores, TIME in hours from the first dose. The patient needs a
    recorded weight (``weight_kg``), on the record or on a session."""
    inputs = course_inputs(records, patient_id, include_planned=False)
    if inputs.weight_kg is None:
        raise InputError("weight_kg", "no weight recorded for the patient",
                         "a weight in kg on the patient's record or a session")
    return course_records(inputs.regimen, inputs.observations, inputs.weight_kg, str(inputs.patient.id))
