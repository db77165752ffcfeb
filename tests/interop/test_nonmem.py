"""NONMEM-style records, all in interop/nonmem.py: the dosing records (written, read back,
bad input named by line), and a course as CSV (the dosing records plus scores as EVID 0
records)."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from ketamine_ptsd import dosing
from ketamine_ptsd.calibration.individual import Observation
from ketamine_ptsd.dosing import Dose, Product, Regimen, Route, induction_series, single_dose
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.interop.nonmem import course_records, from_nonmem, nonmem_csv, read_nonmem_csv, to_nonmem

REGIMEN = induction_series(days=[0, 2])
SCORES = [
    Observation(0.0, "pcl5", 50, {"B": 13, "C": 6, "D": 17, "E": 14}),
    Observation(24.0, "madrs", 21),
    Observation(72.0, "caps5", 30),
]


def field_of(call) -> str:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field in str(err.value)  # the message names the field too
    return err.value.field


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


# --------------------------------------------------------------------------- dosing records

def test_nonmem_records_live_only_in_interop():
    """The record layout is defined once: dosing.py keeps the doses, interop/ their NONMEM form."""
    assert not [name for name in vars(dosing) if "nonmem" in name.lower()]



def test_to_nonmem_records_by_hand():
    regimen = Regimen((
        Dose(0.0, 0.5, "iv_infusion", per_kg=True),              # 40 mg over 40 min at 80 kg
        Dose(24.0, 0.2, "iv_bolus", per_kg=True),                # 16 mg
        Dose(48.0, 0.5, "im", per_kg=True),                      # 40 mg
        Dose(72.0, 50.0, "intranasal"),
        Dose(96.0, 25.0, "sublingual"),
        Dose(120.0, 100.0, "oral"),
        Dose(144.0, 30.0, "iv_infusion", duration_h=2.0),
        Dose(168.0, 0.045, "iv_infusion", "midazolam", per_kg=True),
        Dose(192.0, 1.0, "iv_infusion", "saline"),
    ))
    rows = to_nonmem(regimen, weight_kg=80.0, patient_id=7)
    expected = [  # TIME, AMT, RATE, CMT, DRUG
        (0.0, 40.0, 60.0, 1, 1), (24.0, 16.0, 0.0, 1, 1), (48.0, 40.0, 0.0, 2, 1), (72.0, 50.0, 0.0, 3, 1),
        (96.0, 25.0, 0.0, 4, 1), (120.0, 100.0, 0.0, 5, 1), (144.0, 30.0, 15.0, 1, 1),
        (168.0, 3.6, 5.4, 1, 3), (192.0, 1.0, 1.5, 1, 4),
    ]
    assert len(rows) == len(expected)
    for row, (time, amt, rate, cmt, drug) in zip(rows, expected, strict=True):
        assert row["ID"] == 7 and row["EVID"] == 1
        assert (row["TIME"], row["CMT"], row["DRUG"]) == (time, cmt, drug)
        assert row["AMT"] == pytest.approx(amt, rel=1e-14)
        assert row["RATE"] == pytest.approx(rate, rel=1e-14)
    esk = to_nonmem(Regimen((Dose(0.0, 56.0, "intranasal", "esketamine"),)))
    assert (esk[0]["AMT"], esk[0]["CMT"], esk[0]["DRUG"]) == (56.0, 3, 2)


def test_nonmem_csv_text():
    text = nonmem_csv(induction_series([0, 2]), weight_kg=80.0)
    assert text.splitlines() == ["ID,TIME,AMT,RATE,EVID,CMT,DRUG", "1,0,40,60,1,1,1", "1,48,40,60,1,1,1"]


@pytest.mark.parametrize("weight", [80.0, 73.3])
def test_nonmem_round_trip(weight):
    regimen = Regimen((
        Dose(0.0, 0.5, "iv_infusion", per_kg=True), Dose(24.0, 0.2, "iv_bolus", per_kg=True),
        Dose(48.0, 0.5, "im", per_kg=True), Dose(72.0, 40.0, "intranasal"), Dose(96.0, 25.0, "sublingual"),
        Dose(120.0, 100.0, "oral"), Dose(144.0, 30.0, "iv_infusion", duration_h=1.7),
        Dose(168.0, 0.045, "iv_infusion", "midazolam", per_kg=True),
    ))
    back = read_nonmem_csv(nonmem_csv(regimen, weight_kg=weight, patient_id=3))
    assert list(back) == [3]
    got = back[3].doses
    assert len(got) == len(regimen.doses)
    for a, b in zip(got, regimen.doses, strict=True):
        assert (a.time_h, a.route, a.product, a.per_kg) == (b.time_h, b.route, b.product, False)
        assert a.amount == pytest.approx(b.amount_mg(weight), rel=1e-9)
        if b.duration_h is None:
            assert a.duration_h is None
        else:
            assert a.duration_h == pytest.approx(b.duration_h, rel=1e-9)
    # And a second trip changes nothing.
    again = read_nonmem_csv(nonmem_csv(back[3], weight_kg=weight, patient_id=3))[3]
    assert again.doses == back[3].doses


def test_from_nonmem_several_ids_observations_and_defaults():
    rows = [
        {"ID": "2", "TIME": "0", "AMT": "56", "EVID": "1", "CMT": "3", "DRUG": "2"},
        {"ID": "1", "TIME": "0", "AMT": "35", "RATE": "52.5", "EVID": "1", "CMT": "1"},
        {"ID": "1", "TIME": "1", "AMT": "0", "EVID": "0", "CMT": "1"},  # an observation
        {"ID": "1", "TIME": "48", "AMT": "20", "RATE": "0", "EVID": "1", "CMT": "1"},
    ]
    out = from_nonmem(rows)
    assert sorted(out) == [1, 2]
    d1, d2 = out[1].doses
    assert (d1.route, d1.product, d1.amount, d1.duration_h) == (Route.IV_INFUSION, Product.RACEMIC, 35.0,
                                                                pytest.approx(2 / 3))
    assert (d2.route, d2.time_h, d2.duration_h) == (Route.IV_BOLUS, 48.0, None)
    assert out[2].doses[0].product is Product.ESKETAMINE and out[2].doses[0].route is Route.INTRANASAL


@pytest.mark.parametrize("text,field", [
    ("ID,TIME,AMT\n1,0,10\n1,abc,10\n", "line 3"),
    ("ID,TIME\n1,0\n", "line 2"),
    ("ID,TIME,AMT,CMT\n1,0,10,9\n", "line 2 CMT"),
    ("ID,TIME,AMT,DRUG\n1,0,10,7\n", "line 2 DRUG"),
    ("ID,TIME,AMT\n1,0,-5\n", "dose"),
])
def test_bad_nonmem_input_names_the_line(text, field):
    assert field_of(lambda: read_nonmem_csv(text)) == field


def test_nonmem_weight_is_validated():
    assert field_of(lambda: to_nonmem(induction_series(), weight_kg=0.0)) == "weight_kg"
    assert field_of(lambda: to_nonmem(induction_series(), weight_kg=math.nan)) == "weight_kg"
