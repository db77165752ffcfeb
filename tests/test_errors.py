"""The library's errors, and the command line's words for their fields."""

from __future__ import annotations

import pytest

from ketamine_ptsd.cli_clinic import FLAGS, cli_error, cli_fields
from ketamine_ptsd.clinic.dose_plan import plan_racemic
from ketamine_ptsd.errors import InputError, RecordNotFound


def test_record_not_found_is_an_input_error():
    err = RecordNotFound("patient_id", "no patient with id 7", "an id listed by `patient list`")
    assert isinstance(err, InputError) and isinstance(err, ValueError)
    assert err.field == "patient_id" and str(err).startswith("patient_id: no patient with id 7")


def test_the_library_names_fields_and_the_cli_maps_them_to_flags():
    with pytest.raises(InputError) as err:
        plan_racemic(weight_kg=25, dose_mg_per_kg=0.5)
    assert err.value.field == "weight_kg"
    assert cli_error(err.value).field == "--weight-kg" and cli_error(err.value).allowed == err.value.allowed
    with pytest.raises(InputError, match=r"^--weight-kg: "), cli_fields():
        plan_racemic(weight_kg=25, dose_mg_per_kg=0.5)


def test_a_settings_key_maps_by_its_first_word_and_unknown_fields_stay():
    assert cli_error(InputError("settings pcl5.cut_point", "bad")).field == "--settings pcl5.cut_point"
    unmapped = InputError("item 7", "bad")
    assert cli_error(unmapped) is unmapped


def test_every_flag_is_a_flag_or_an_argument():
    for field, flag in FLAGS.items():
        assert flag.startswith("--") or flag.isupper(), field
