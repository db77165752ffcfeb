"""Doses, regimens and route rules: validation, builders, device rules (NONMEM records:
tests/interop/test_nonmem.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ketamine_ptsd import (
    Dose,
    Product,
    Regimen,
    Route,
    TherapySession,
    induction_series,
    single_dose,
    with_maintenance,
    with_therapy,
)
from ketamine_ptsd.dosing import administrations
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model import layout as L

NAN = float("nan")
INF = float("inf")
MIN = 1.0 / 60.0


def field_of(call) -> str:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field in str(err.value)  # the message names the field too
    return err.value.field


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("amount", [-1.0, 0.0, NAN, INF, -INF, "abc", None])
def test_bad_dose_amount_names_dose(amount):
    assert field_of(lambda: Dose(0.0, amount)) == "dose"


@pytest.mark.parametrize("time_h", [-1.0, NAN, INF, "later"])
def test_bad_dose_time_names_time(time_h):
    assert field_of(lambda: Dose(time_h, 1.0)) == "time_h"


def test_unknown_route_and_drug():
    assert field_of(lambda: Dose(0.0, 1.0, route="rectal")) == "route"
    assert field_of(lambda: Dose(0.0, 1.0, product="arketamine")) == "drug"
    assert field_of(lambda: single_dose(route="inhaled")) == "route"
    assert field_of(lambda: induction_series(product="ketamine-hcl")) == "drug"


def test_route_not_modelled_for_the_product():
    # Midazolam (the active placebo) is only modelled as an IV infusion.
    assert field_of(lambda: Dose(0.0, 1.0, route="intranasal", product="midazolam")) == "route"


@pytest.mark.parametrize("duration", [0.0, -0.5, NAN])
def test_zero_or_bad_infusion_length(duration):
    assert field_of(lambda: Dose(0.0, 1.0, "iv_infusion", duration_h=duration)) == "infusion_min"
    assert field_of(lambda: single_dose(duration_min=duration)) == "infusion_min"


def test_duration_only_for_infusions():
    assert field_of(lambda: Dose(0.0, 1.0, "im", duration_h=0.5)) == "infusion_min"


@pytest.mark.parametrize("days", [[3, 1], [0, 2, 2], [0, 4, 3], [], [-1, 2], [0, NAN]])
def test_days_out_of_order_or_bad(days):
    assert field_of(lambda: induction_series(days)) == "days"


def test_therapy_days_out_of_order():
    assert field_of(lambda: with_therapy(induction_series(), [3, 1])) == "therapy_days"
    assert field_of(lambda: TherapySession(-2.0)) == "therapy time_h"
    assert field_of(lambda: TherapySession(0.0, 0.0)) == "therapy duration_h"


def test_one_ketamine_product_per_regimen():
    mixed = (Dose(0.0, 0.5, per_kg=True), Dose(48.0, 56.0, "intranasal", "esketamine"))
    assert field_of(lambda: Regimen(mixed)) == "drug"
    # Controls may accompany either product.
    with_control = Regimen((Dose(0.0, 56.0, "intranasal", "esketamine"), Dose(48.0, 1.0, product="saline")))
    assert with_control.ketamine_product is Product.ESKETAMINE
    assert with_control.pk_product == "esketamine"


@pytest.mark.parametrize("amount", [50.0, 14.0, 27.9, 100.0])
def test_esketamine_spray_must_be_whole_devices(amount):
    assert field_of(lambda: administrations(Regimen((Dose(0.0, amount, "intranasal", "esketamine"),)))) == "dose"


def test_maintenance_validation():
    assert field_of(lambda: with_maintenance(induction_series(), 0, 14, 28)) == "every_days"
    assert field_of(lambda: with_maintenance(induction_series(), 7, -1, 28)) == "from_day"
    assert field_of(lambda: with_maintenance(Regimen(), 7, 14, 28)) == "dose"


# --------------------------------------------------------------------------- builders


def test_single_dose_defaults():
    (dose,) = single_dose().doses
    assert (dose.time_h, dose.amount, dose.per_kg) == (0.0, 0.5, True)
    assert dose.route is Route.IV_INFUSION and dose.product is Product.RACEMIC
    assert dose.duration_h == pytest.approx(40 * MIN, rel=1e-15)
    assert dose.amount_mg(80.0) == 40.0
    assert single_dose(20.0, per_kg=False, route="iv_bolus").doses[0].duration_h is None
    assert single_dose(duration_min=100).doses[0].duration_h == pytest.approx(100 / 60)


def test_induction_series_default_is_feder_2021():
    regimen = induction_series()
    assert [d.time_h for d in regimen.doses] == [0.0, 48.0, 96.0, 168.0, 216.0, 264.0]
    for d in regimen.doses:
        assert (d.amount, d.per_kg, d.route, d.product) == (0.5, True, Route.IV_INFUSION, Product.RACEMIC)
        assert d.duration_h == pytest.approx(2 / 3, rel=1e-15)
    assert regimen.end_h == pytest.approx(264 + 2 / 3)
    assert regimen.therapy == ()


def test_induction_series_other_days_and_product():
    regimen = induction_series([1, 3.5], amount=56, per_kg=False, route="intranasal", product="esketamine")
    assert [d.time_h for d in regimen.doses] == [24.0, 84.0]
    assert all(d.amount == 56 and not d.per_kg and d.duration_h is None for d in regimen.doses)


def test_with_maintenance_adds_doses_inclusive_of_the_last_day():
    regimen = with_maintenance(induction_series(), every_days=7, from_day=18, until_day=39)
    assert [d.time_h / 24 for d in regimen.doses] == [0, 2, 4, 7, 9, 11, 18, 25, 32, 39]
    assert regimen.doses[-1] == Dose(39 * 24.0, 0.5, per_kg=True)
    short = with_maintenance(induction_series(), every_days=7, from_day=18, until_day=38)
    assert [d.time_h / 24 for d in short.doses][6:] == [18, 25, 32]
    template = Dose(0.0, 0.3, "im", per_kg=True)
    im = with_maintenance(induction_series(), 14, 21, 49, dose=template)
    assert [(d.time_h, d.route) for d in im.doses[6:]] == [(504.0, Route.IM), (840.0, Route.IM), (1176.0, Route.IM)]
    assert with_maintenance(induction_series(), 7, 30, 20).doses == induction_series().doses


def test_with_therapy_sessions():
    regimen = with_therapy(induction_series(), [1, 3, 5], hours_after_dose=2.0)
    assert [(s.time_h, s.duration_h) for s in regimen.therapy] == [(26.0, 1.5), (74.0, 1.5), (122.0, 1.5)]
    assert regimen.doses == induction_series().doses
    more = with_therapy(regimen, [0.5], duration_h=1.0)
    assert [s.time_h for s in more.therapy] == [12.0, 26.0, 74.0, 122.0]
    assert more.therapy[0].duration_h == 1.0


def test_regimen_sorts_and_adds():
    a = Regimen((Dose(48.0, 1.0), Dose(0.0, 2.0)))
    assert [d.time_h for d in a.doses] == [0.0, 48.0]
    b = Regimen((Dose(24.0, 3.0),), (TherapySession(30.0),))
    both = a + b
    assert [d.time_h for d in both.doses] == [0.0, 24.0, 48.0]
    assert [s.time_h for s in both.therapy] == [30.0]
    assert both.end_h == pytest.approx(48.0 + 2 / 3)
    assert Regimen().end_h == 0.0 and Regimen().ketamine_product is None


def test_regimens_are_immutable():
    regimen = induction_series()
    with pytest.raises(AttributeError):
        regimen.doses = ()
    with pytest.raises(AttributeError):
        regimen.doses[0].amount = 5.0


# --------------------------------------------------------------------------- route rules


def test_esketamine_56mg_is_two_devices_five_minutes_apart():
    """Perez-Ruixo 2021: nasal fraction 0.54 for the first 28-mg device, x0.62 for each
    further one; the rest is swallowed, zero-order over 0.53 h (SPRAVATO: 5 min apart)."""
    adm = administrations(Regimen((Dose(1.0, 56.0, "intranasal", "esketamine"),)))
    nasal = [a for a in adm if a.target == "depot_nasal"]
    swallowed = [a for a in adm if a.target == "gut_rate"]
    assert [a.time_h for a in nasal] == pytest.approx([1.0, 1.0 + 5 * MIN])
    assert [a.fixed_mg for a in nasal] == pytest.approx([28 * 0.54, 28 * 0.54 * 0.62], rel=1e-14)
    assert [a.fixed_mg for a in swallowed] == pytest.approx([28 * 0.46, 28 * (1 - 0.3348)], rel=1e-14)
    assert all(a.duration_h == 0.53 for a in swallowed)
    assert [a.time_h for a in swallowed] == pytest.approx([1.0, 1.0 + 5 * MIN])
    assert sum(a.fixed_mg for a in nasal + swallowed) == pytest.approx(56.0, rel=1e-14)
    assert [a.target for a in adm].count("session") == 1


def test_esketamine_84mg_is_three_devices():
    adm = administrations(Regimen((Dose(0.0, 84.0, "intranasal", "esketamine"),)))
    nasal = [a for a in adm if a.target == "depot_nasal"]
    assert [a.time_h for a in nasal] == pytest.approx([0.0, 5 * MIN, 10 * MIN])
    assert [a.fixed_mg for a in nasal] == pytest.approx([28 * 0.54 * 0.62**k for k in range(3)], rel=1e-14)


def test_esketamine_nasal_events_in_the_model():
    ev = MODEL.events(Regimen((Dose(0.0, 56.0, "intranasal", "esketamine"),)))
    nasal = [(t, a) for t, k, i, a in zip(ev.time_h, ev.kind, ev.index, ev.fixed, strict=True)
             if k == 0 and i == L.X_DEP_NASAL]
    np.testing.assert_allclose(nasal, [(0.0, 15.12), (5 * MIN, 9.3744)], rtol=1e-12)
    gut = sorted((t, a) for t, k, i, a in zip(ev.time_h, ev.kind, ev.index, ev.fixed, strict=True)
                 if k == 1 and i == L.U_GUT)
    rate1, rate2 = 28 * 0.46 / 0.53, 28 * (1 - 0.3348) / 0.53
    expected = sorted([(0.0, rate1), (0.53, -rate1), (5 * MIN, rate2), (5 * MIN + 0.53, -rate2)])
    np.testing.assert_allclose(gut, expected, rtol=1e-12)
    assert np.all(ev.per_kg == 0.0)


def test_route_bioavailability_and_targets():
    def one(route, product="racemic", amount=10.0, per_kg=False):
        return [a for a in administrations(Regimen((Dose(0.0, amount, route, product, per_kg),)))
                if a.target != "session"]

    (im,) = one("im", per_kg=True)
    assert (im.target, im.fixed_mg, im.per_kg_mg) == ("depot_im", 0.0, pytest.approx(0.93 * 10.0))
    (bolus,) = one("iv_bolus")
    assert (bolus.target, bolus.fixed_mg) == ("central", 10.0)
    (inf,) = one("iv_infusion")
    assert (inf.target, inf.fixed_mg, inf.duration_h) == ("iv", 10.0, pytest.approx(40 * MIN))
    sl = {a.target: a.fixed_mg for a in one("sublingual")}
    assert sl == pytest.approx({"depot_sl": 1.25, "depot_gut": 8.75})
    oral = one("oral", "esketamine")
    assert [(a.target, a.fixed_mg, a.duration_h) for a in oral] == [("gut_rate", 10.0, 0.32)]
    racemic_nasal = {a.target: a.fixed_mg for a in one("intranasal", amount=50.0)}
    assert racemic_nasal == pytest.approx({"depot_nasal": 50 * 0.3125, "gut_rate": 50 * 0.6875})


def test_controls():
    adm = administrations(Regimen((Dose(0.0, 0.045, "iv_infusion", "midazolam", per_kg=True),
                                   Dose(48.0, 1.0, "iv_infusion", "saline"))))
    assert [(a.target, a.time_h) for a in adm] == [("session", 0.0), ("midazolam_rate", 0.0), ("session", 48.0)]
    assert adm[1].per_kg_mg == pytest.approx(0.045)


def test_with_maintenance_edges():
    """From day 0 is allowed; a window of one day gives one dose; the default template is the
    regimen's last dose (not the first or second-to-last); the therapy and name are kept; a
    day already dosed is not dosed twice. Found missing by mutation testing."""
    mixed = Regimen((Dose(0.0, 0.5, per_kg=True), Dose(24.0, 0.4, "im", per_kg=True),
                     Dose(48.0, 0.3, "iv_bolus", per_kg=True)), name="mixed")
    mixed = with_therapy(mixed, [1])
    same_day = with_maintenance(mixed, every_days=7, from_day=9, until_day=9)
    assert [(d.time_h, d.amount, d.route) for d in same_day.doses[3:]] == [(216.0, 0.3, Route.IV_BOLUS)]
    assert same_day.name == "mixed" and same_day.therapy == mixed.therapy
    from_zero = with_maintenance(Regimen((Dose(24.0, 0.5, per_kg=True),)), every_days=1, from_day=0, until_day=2)
    assert [d.time_h for d in from_zero.doses] == [0.0, 24.0, 48.0]
    assert field_of(lambda: with_maintenance(mixed, 7, 9, -1)) == "until_day"
