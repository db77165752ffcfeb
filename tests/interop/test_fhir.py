"""FHIR R4 (R4B models of fhir.resources): instrument responses and vital signs out and back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from ketamine_ptsd.clinic.instruments import score_caps5, score_madrs, score_pcl5, score_phq9
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.interop.fhir import (
    bundle,
    questionnaire_response,
    read_questionnaire_response,
    read_vitals,
    vitals_observations,
)

WHEN = datetime(2024, 3, 5, 9, 30, tzinfo=timezone(timedelta(hours=1)))
PCL5_ITEMS = [1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, None]


def answers(resource):
    return {item["linkId"]: item["answer"][0] for item in resource["item"]}


@pytest.mark.parametrize("result", [
    score_pcl5(PCL5_ITEMS),
    score_phq9([0, 1, 2, 3, 0, 1, 2, 3, 1]),
    score_madrs([1, 2, 3, 4, 5, 6, 0, 1, 2, 3]),
    score_caps5([2] * 20),
], ids=["pcl5", "phq9", "madrs", "caps5"])
def test_instrument_response_goes_out_and_comes_back(result):
    resource = questionnaire_response(result.to_dict(), "42", WHEN)
    QuestionnaireResponse.model_validate(resource)
    assert resource["subject"] == {"reference": "Patient/42"}
    instrument, items, authored = read_questionnaire_response(resource)
    assert instrument == result.instrument
    assert items == list(result.items)
    assert authored == WHEN


def test_loinc_codes_name_the_form_its_items_and_its_total():
    resource = questionnaire_response(score_phq9([0, 1, 2, 3, 0, 1, 2, 3, 1]).to_dict(), "7", WHEN)
    assert resource["questionnaire"] == "http://loinc.org/q/44249-1"
    coded = answers(resource)
    assert coded["44250-9"] == {"valueInteger": 0}      # PHQ-9 item 1
    assert coded["44260-8"] == {"valueInteger": 1}      # item 9
    assert coded["44261-6"] == {"valueInteger": 13}     # total score
    pcl5 = questionnaire_response(score_pcl5(PCL5_ITEMS).to_dict(), "7", WHEN)
    assert pcl5["questionnaire"] == "http://loinc.org/q/101697-1"
    assert answers(pcl5)["101699-7"] == {"valueInteger": 4}   # PCL-5 item 9, the one verified item code


def test_unanswered_items_are_left_out_and_no_total_is_invented():
    resource = questionnaire_response(score_pcl5(PCL5_ITEMS).to_dict(), "7", WHEN)
    assert "20" not in answers(resource)
    assert "101698-9" not in answers(resource)


def test_an_instrument_without_loinc_codes_uses_a_local_form_and_item_numbers():
    resource = questionnaire_response(score_madrs([1, 2, 3, 4, 5, 6, 0, 1, 2, 3]).to_dict(), "7", WHEN)
    assert resource["questionnaire"] == "urn:ketamine-ptsd:instrument:madrs"
    assert answers(resource)["10"] == {"valueInteger": 3}
    assert answers(resource)["total"] == {"valueInteger": 27}


def test_a_naive_time_is_read_as_utc():
    resource = questionnaire_response(score_pcl5(PCL5_ITEMS).to_dict(), "7", datetime(2024, 3, 5, 9, 30))
    assert read_questionnaire_response(resource)[2] == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)


def _pcl5_resource():
    return questionnaire_response(score_pcl5(PCL5_ITEMS).to_dict(), "7", WHEN)


def _broken(change):
    resource = copy.deepcopy(_pcl5_resource())
    change(resource)
    return resource


@pytest.mark.parametrize("resource, field", [
    ({"resourceType": "Observation"}, "resourceType"),
    (_broken(lambda r: r.pop("authored")), "QuestionnaireResponse.authored"),
    (_broken(lambda r: r.update(authored="last Tuesday")), "QuestionnaireResponse.authored"),
    (_broken(lambda r: r.update(status="finished")), "QuestionnaireResponse.status"),
    (_broken(lambda r: r.update(questionnaire="http://loinc.org/q/00000-0")), "QuestionnaireResponse.questionnaire"),
    (_broken(lambda r: r.update(colour="blue")), "QuestionnaireResponse.colour"),
    (_broken(lambda r: r["item"][0].pop("linkId")), "QuestionnaireResponse.item.0.linkId"),
    (_broken(lambda r: r["item"][0].update(linkId="99")), "QuestionnaireResponse.item[linkId=99]"),
    (_broken(lambda r: r["item"].append(copy.deepcopy(r["item"][0]))), "QuestionnaireResponse.item[linkId=1]"),
    (_broken(lambda r: r["item"][0].update(answer=[{"valueString": "often"}])), "QuestionnaireResponse.item[linkId=1]"),
    (_broken(lambda r: r["item"][0].update(answer=[{"valueInteger": "x"}])),
     "QuestionnaireResponse.item.0.answer.0.valueInteger"),
])
def test_malformed_responses_are_refused_naming_the_field(resource, field):
    with pytest.raises(InputError) as err:
        read_questionnaire_response(resource)
    assert err.value.field == field


def test_vital_signs_follow_the_vital_signs_profiles():
    bp, hr, spo2 = vitals_observations("42", WHEN, sbp=132, dbp=84, hr=71, spo2=97)
    for resource in (bp, hr, spo2):
        Observation.model_validate(resource)
        assert resource["category"][0]["coding"][0]["code"] == "vital-signs"
        assert resource["effectiveDateTime"] == "2024-03-05T09:30:00+01:00"
    assert bp["code"]["coding"][0]["code"] == "85354-9"
    assert bp["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert parts["8480-6"]["value"] == 132 and parts["8462-4"]["value"] == 84
    assert parts["8480-6"]["code"] == "mm[Hg]" and parts["8480-6"]["system"] == "http://unitsofmeasure.org"
    assert hr["code"]["coding"][0]["code"] == "8867-4" and hr["valueQuantity"]["code"] == "/min"
    assert {c["code"] for c in spo2["code"]["coding"]} == {"2708-6", "59408-5"}
    assert spo2["valueQuantity"] == {"value": 97.0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}


def test_one_pressure_alone_is_a_panel_without_the_bp_profile():
    (bp,) = vitals_observations("42", WHEN, sbp=120)
    assert "meta" not in bp and len(bp["component"]) == 1


def test_vital_signs_come_back():
    resources = vitals_observations("42", WHEN, sbp=132, dbp=84, hr=71, spo2=97)
    read = [read_vitals(r) for r in resources]
    assert read[0] == {"when": WHEN, "sbp": 132.0, "dbp": 84.0}
    assert read[1]["hr"] == 71.0 and read[2]["spo2"] == 97.0


@pytest.mark.parametrize("kwargs, field", [
    (dict(sbp=400), "sbp"),
    (dict(hr="fast"), "hr"),
    (dict(spo2=101), "spo2"),
    (dict(), "vitals"),
])
def test_implausible_vital_signs_are_refused(kwargs, field):
    with pytest.raises(InputError) as err:
        vitals_observations("42", WHEN, **kwargs)
    assert err.value.field == field


def test_an_observation_in_the_wrong_unit_is_refused():
    (hr,) = vitals_observations("42", WHEN, hr=71)
    hr["valueQuantity"]["code"] = "Hz"
    with pytest.raises(InputError) as err:
        read_vitals(hr)
    assert err.value.field == "Observation.valueQuantity"


def test_bundle_collects_resources_and_refuses_a_broken_one():
    resources = [_pcl5_resource(), *vitals_observations("42", WHEN, sbp=132, dbp=84)]
    out = bundle(resources)
    Bundle.model_validate(out)
    assert out["type"] == "collection" and [e["resource"] for e in out["entry"]] == resources
    with pytest.raises(InputError):
        bundle([{"resourceType": "Observation", "status": "final"}])
