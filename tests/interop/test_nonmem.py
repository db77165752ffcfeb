"""A course as NONMEM-style CSV: the dosing records of dosing.py plus scores as EVID 0 records."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from ketamine_ptsd.calibration.individual import Observation
from ketamine_ptsd.dosing import induction_series, single_dose
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.interop.nonmem import course_records, read_nonmem_csv

REGIMEN = induction_series(days=[0, 2])
SCORES = [
    Observation(0.0, "pcl5", 50, {"B": 13, "C": 6, "D": 17, "E": 14}),
    Observation(24.0, "madrs", 21),
    Observation(72.0, "caps5", 30),
]


def table(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), na_values=".")


def test_columns_and_record_types():
    df = table(course_records(REGIMEN, SCORES, 80.0, 12))
    assert list(df.columns) == ["ID", "TIME", "AMT", "RATE", "EVID", "CMT", "DRUG", "DV", "MDV", "DVID", "WT",
                                "INSTRUMENT"]
    assert (df["ID"] == 12).all() and (df["WT"] == 80).all()
    doses = df[df["EVID"] == 1]
    assert list(doses["TIME"]) == [0, 48] and list(doses["AMT"]) == [40, 40]     # 0.5 mg/kg x 80 kg
    assert list(doses["RATE"]) == pytest.approx([60, 60])                        # over 40 min
    assert doses["DV"].isna().all() and (doses["MDV"] == 1).all()
    scores = df[df["EVID"] == 0]
    assert (scores["MDV"] == 0).all() and scores["AMT"].isna().all()
    assert list(zip(scores["INSTRUMENT"], scores["DVID"], scores["DV"])) == [
        ("pcl5", 1, 50), ("pcl5_b", 2, 13), ("pcl5_c", 3, 6), ("pcl5_d", 4, 17), ("pcl5_e", 5, 14),
        ("madrs", 7, 21), ("caps5", 6, 30)]


def test_records_are_in_time_order_with_a_score_before_the_dose_of_its_visit():
    df = table(course_records(REGIMEN, SCORES, 80.0, 12))
    assert list(df["TIME"]) == sorted(df["TIME"])
    assert list(df["EVID"][df["TIME"] == 0]) == [0, 0, 0, 0, 0, 1]


def test_dosing_records_read_back_into_the_same_doses():
    regimen = single_dose(56, per_kg=False, route="intranasal", product="esketamine")
    (back,) = read_nonmem_csv(course_records(regimen, [], 70.0, 3)).values()
    assert [(d.time_h, d.amount, d.route, d.product) for d in back.doses] == [
        (0.0, 56.0, regimen.doses[0].route, regimen.doses[0].product)]


@pytest.mark.parametrize("kwargs, field", [
    (dict(patient_id="P-7"), "patient_id"),
    (dict(weight_kg=-3), "weight_kg"),
    (dict(observations=[(0, "pcl5", 40)]), "observations[0]"),
])
def test_bad_input_is_refused(kwargs, field):
    args = dict(regimen=REGIMEN, observations=SCORES, weight_kg=80.0, patient_id=1) | kwargs
    with pytest.raises(InputError) as err:
        course_records(**args)
    assert err.value.field == field
