"""FHIR R4 resources for the clinic records: instrument responses as QuestionnaireResponse,
vital signs as Observation, and a Bundle to carry them.

Validated with the R4B models of ``fhir.resources`` (version 8 ships R5 as its default
and R4B, the R4 errata release with the same QuestionnaireResponse, Observation and
Bundle, under ``fhir.resources.R4B``).

Coding:

* a QuestionnaireResponse names its instrument by the LOINC panel where the clinic
  instrument knows it (``http://loinc.org/q/<panel>``, the LOINC form convention) and
  otherwise by ``urn:ketamine-ptsd:instrument:<id>``; each item's ``linkId`` is its LOINC
  code where known and otherwise its published item number; the total is one more item
  (linkId its LOINC code, or ``total``); unanswered items are left out;
* vital signs follow the FHIR vital-signs profiles: blood pressure as a panel (LOINC
  85354-9) with systolic (8480-6) and diastolic (8462-4) components in mm[Hg], heart rate
  8867-4 in /min, oxygen saturation 2708-6 with the pulse-oximetry code 59408-5 in %.

Research and decision-support software, not a medical device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from ..clinic.instruments import SPECS
from ..clinic.settings import load_settings
from ..errors import InputError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOINC_FORM = "http://loinc.org/q/"
LOCAL_FORM = "urn:ketamine-ptsd:instrument:"
TOTAL_LINK = "total"
RESPONSE_STATUSES = ("in-progress", "completed", "amended", "entered-in-error", "stopped")
VITAL_SIGNS_CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs", "display": "Vital Signs"}]}
#: Vital signs: LOINC codes, display, UCUM unit and the FHIR vital-signs profile.
VITALS = {
    "bp": ("85354-9", "Blood pressure panel with all children optional", None, "bp"),
    "sbp": ("8480-6", "Systolic blood pressure", "mm[Hg]", None),
    "dbp": ("8462-4", "Diastolic blood pressure", "mm[Hg]", None),
    "hr": ("8867-4", "Heart rate", "/min", "heartrate"),
    "spo2": ("2708-6", "Oxygen saturation in Arterial blood", "%", "oxygensat"),
}
PULSE_OXIMETRY = ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
#: Which plausibility bound of the clinic settings (``input.limits``) checks each vital sign.
VITAL_LIMITS = {"sbp": "sbp_mmhg", "dbp": "dbp_mmhg", "hr": "hr_bpm", "spo2": "spo2_pct"}


def _fhir_datetime(when: datetime, field: str) -> str:
    """ISO 8601 with a time zone, as FHIR requires when a time is given (naive = UTC)."""
    if not isinstance(when, datetime):
        raise InputError(field, f"not a date and time: {when!r}", "a datetime")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat()


def _as_datetime(value) -> datetime:
    """A FHIR dateTime as read by fhir.resources (a date, or a datetime without a zone) as an
    aware datetime (UTC where no zone was given)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _validated(model, resource: dict, what: str) -> Any:
    """``resource`` checked against a fhir.resources model; errors name the first field."""
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise InputError(f"{what}.{where}" if where else what, error["msg"], f"a valid FHIR R4 {what}") from None


def _reference(patient_id: str) -> dict:
    patient_id = str(patient_id).strip()
    if not patient_id:
        raise InputError("patient_id", "empty", "the patient's id")
    return {"reference": f"Patient/{patient_id}"}


def _link_ids(spec) -> list[str]:
    codes = list(spec.loinc_items) or [None] * spec.n_items
    return [code or str(number) for code, number in zip(codes, spec.numbers)]


def questionnaire_response(result: Mapping[str, Any], patient_id: str, authored: datetime) -> dict:
    """A FHIR QuestionnaireResponse (JSON dict) of a clinic instrument result's ``to_dict()``.

    ``authored`` is when the instrument was completed (a naive datetime is taken as UTC).
    """
    instrument = result.get("instrument")
    if instrument not in SPECS:
        raise InputError("instrument", f"unknown instrument {instrument!r}", ", ".join(SPECS))
    spec = SPECS[instrument]
    values = list(result.get("items") or [])
    if len(values) != spec.n_items:
        raise InputError("items", f"{spec.name} needs {spec.n_items} item values, got {len(values)}",
                         f"{spec.n_items} values")
    items = []
    for link_id, number, value in zip(_link_ids(spec), spec.numbers, values):
        if value is None:
            continue
        answer = {"valueBoolean": value} if isinstance(value, bool) else {"valueInteger": int(value)}
        items.append({"linkId": link_id, "text": f"{spec.name} item {number}", "answer": [answer]})
    if result.get("total") is not None:
        items.append({"linkId": spec.loinc_total or TOTAL_LINK, "text": f"{spec.name} total score",
                      "answer": [{"valueInteger": int(result["total"])}]})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": LOINC_FORM + spec.loinc_panel if spec.loinc_panel else LOCAL_FORM + spec.id,
        "status": "completed",
        "subject": _reference(patient_id),
        "authored": _fhir_datetime(authored, "authored"),
        "item": items,
    }
    _validated(QuestionnaireResponse, resource, "QuestionnaireResponse")
    return resource


def _instrument_of(questionnaire: str | None):
    for spec in SPECS.values():
        if questionnaire in (LOCAL_FORM + spec.id, LOINC_FORM + (spec.loinc_panel or "-")):
            return spec
    known = sorted({LOCAL_FORM + s.id for s in SPECS.values()} | {LOINC_FORM + s.loinc_panel for s in SPECS.values()
                                                                   if s.loinc_panel})
    raise InputError("QuestionnaireResponse.questionnaire", f"unknown questionnaire {questionnaire!r}",
                     ", ".join(known))


def read_questionnaire_response(resource: Mapping[str, Any]) -> tuple[str, list[int | None], datetime]:
    """Instrument id, item values (None where unanswered) and authored time of a FHIR
    QuestionnaireResponse written by :func:`questionnaire_response` or coded the same way.

    A malformed resource raises InputError naming the field; the caller scores the items
    with the clinic instrument, which checks each value against the published scale.
    """
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "QuestionnaireResponse":
        raise InputError("resourceType", "not a QuestionnaireResponse", "QuestionnaireResponse")
    model = _validated(QuestionnaireResponse, dict(resource), "QuestionnaireResponse")
    if model.status not in RESPONSE_STATUSES:
        raise InputError("QuestionnaireResponse.status", f"unknown status {model.status!r}",
                         ", ".join(RESPONSE_STATUSES))
    if model.authored is None:
        raise InputError("QuestionnaireResponse.authored", "missing", "when the instrument was completed")
    spec = _instrument_of(model.questionnaire)
    positions = {link: i for i, link in enumerate(_link_ids(spec))}
    positions.update({str(number): i for i, number in enumerate(spec.numbers)})
    values: list[int | None] = [None] * spec.n_items
    seen = set()
    for item in model.item or []:
        where = f"QuestionnaireResponse.item[linkId={item.linkId}]"
        if item.linkId in (spec.loinc_total, TOTAL_LINK):
            continue
        if item.linkId not in positions:
            raise InputError(where, "unknown linkId", f"{spec.name} item numbers or LOINC codes")
        if item.linkId in seen or values[positions[item.linkId]] is not None:
            raise InputError(where, "item answered twice", "one answer per item")
        seen.add(item.linkId)
        answers = item.answer or []
        if len(answers) > 1:
            raise InputError(where, f"{len(answers)} answers", "one answer")
        if not answers:
            continue
        answer = answers[0]
        value = answer.valueInteger if answer.valueInteger is not None else answer.valueBoolean
        if value is None:
            raise InputError(where, "no integer or boolean answer", "valueInteger (or valueBoolean for yes/no items)")
        values[positions[item.linkId]] = int(value)
    return spec.id, values, _as_datetime(model.authored)


def _quantity(value: float, unit: str) -> dict:
    return {"value": float(value), "unit": unit, "system": UCUM, "code": unit}


def _code(key: str) -> dict:
    code, display, _, _ = VITALS[key]
    out = {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}
    if key == "spo2":
        out["coding"].append({"system": LOINC, "code": PULSE_OXIMETRY[0], "display": PULSE_OXIMETRY[1]})
    return out


def _observation(key: str, patient_id: str, when: str, profiled: bool = True) -> dict:
    out = {"resourceType": "Observation", "status": "final", "category": [VITAL_SIGNS_CATEGORY],
           "code": _code(key), "subject": _reference(patient_id), "effectiveDateTime": when}
    profile = VITALS[key][3]
    if profile and profiled:
        out["meta"] = {"profile": [f"http://hl7.org/fhir/StructureDefinition/{profile}"]}
    return out


def _checked_vitals(given: dict[str, Any]) -> dict[str, float | None]:
    """Vital signs as numbers inside the clinic's plausibility bounds (settings ``input.limits``)."""
    limits = load_settings().rule("input.limits")
    out: dict[str, float | None] = {}
    for key, value in given.items():
        if value is None:
            out[key] = None
            continue
        low, high = limits[VITAL_LIMITS[key]]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(key, f"not a number: {value!r}", f"{low:g} to {high:g}") from None
        if not low <= number <= high:
            raise InputError(key, f"{number:g} is outside the plausible range", f"{low:g} to {high:g}")
        out[key] = number
    if all(v is None for v in out.values()):
        raise InputError("vitals", "no value given", "one or more of sbp, dbp, hr, spo2")
    return out


def vitals_observations(patient_id: str, when: datetime, sbp: float | None = None, dbp: float | None = None,
                        hr: float | None = None, spo2: float | None = None) -> list[dict]:
    """Vital signs as FHIR Observations (JSON dicts): a blood-pressure panel when either
    pressure is given (the vital-signs ``bp`` profile when both are), heart rate and
    oxygen saturation. Pressures in mmHg, heart rate in beats/min, SpO2 in %. Values
    outside the clinic's plausibility bounds (settings ``input.limits``) are refused."""
    given = _checked_vitals({"sbp": sbp, "dbp": dbp, "hr": hr, "spo2": spo2})
    at = _fhir_datetime(when, "when")
    out = []
    if given["sbp"] is not None or given["dbp"] is not None:
        panel = _observation("bp", patient_id, at, profiled=given["sbp"] is not None and given["dbp"] is not None)
        panel["component"] = [{"code": _code(k), "valueQuantity": _quantity(given[k], VITALS[k][2])}
                              for k in ("sbp", "dbp") if given[k] is not None]
        out.append(panel)
    for key in ("hr", "spo2"):
        if given[key] is not None:
            observation = _observation(key, patient_id, at)
            observation["valueQuantity"] = _quantity(given[key], VITALS[key][2])
            out.append(observation)
    for observation in out:
        _validated(Observation, observation, "Observation")
    return out


def read_vitals(resource: Mapping[str, Any]) -> dict[str, Any]:
    """``{"when": datetime, "sbp"|"dbp"|"hr"|"spo2": value}`` from a vital-signs Observation
    coded as :func:`vitals_observations` codes them (LOINC codes, UCUM units)."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Observation":
        raise InputError("resourceType", "not an Observation", "Observation")
    model = _validated(Observation, dict(resource), "Observation")
    if model.effectiveDateTime is None:
        raise InputError("Observation.effectiveDateTime", "missing", "when the vital signs were taken")
    by_code = {VITALS[k][0]: k for k in VITALS} | {PULSE_OXIMETRY[0]: "spo2"}

    def kind(concept, where):
        codes = [c.code for c in concept.coding or [] if c.system == LOINC and c.code in by_code]
        if not codes:
            raise InputError(where, "no LOINC vital-sign code", ", ".join(sorted(by_code)))
        return by_code[codes[0]]

    def value(quantity, key, where):
        unit = VITALS[key][2]
        if quantity is None or quantity.value is None:
            raise InputError(where, "no valueQuantity", f"a value in {unit}")
        if quantity.code != unit:
            raise InputError(where, f"unit {quantity.code!r}", f"UCUM {unit}")
        return float(quantity.value)

    out: dict[str, Any] = {"when": model.effectiveDateTime}
    key = kind(model.code, "Observation.code")
    if key == "bp":
        for i, component in enumerate(model.component or []):
            part = kind(component.code, f"Observation.component[{i}].code")
            out[part] = value(component.valueQuantity, part, f"Observation.component[{i}].valueQuantity")
    else:
        out[key] = value(model.valueQuantity, key, "Observation.valueQuantity")
    measured = _checked_vitals({k: v for k, v in out.items() if k != "when"})
    return {"when": _as_datetime(model.effectiveDateTime), **measured}


def bundle(resources: Iterable[Mapping[str, Any]]) -> dict:
    """A FHIR Bundle of type ``collection`` holding ``resources``."""
    resource = {"resourceType": "Bundle", "type": "collection",
                "entry": [{"resource": dict(r)} for r in resources]}
    _validated(Bundle, resource, "Bundle")
    return resource
