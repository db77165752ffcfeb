"""Course logic (``clinic/course.py``, pure): the induction plan, sessions against it,
maintenance booking, and the regimen the model sees."""

from __future__ import annotations

import datetime as dt

import pytest

from ketamine_ptsd.clinic.course import (
    ForecastRule,
    InductionPlan,
    IntervalRule,
    book_maintenance,
    course_regimen,
    day_to_date,
    progress,
)
from ketamine_ptsd.errors import InputError

D = dt.date
UTC = dt.UTC


def plan(**kwargs) -> InductionPlan:
    return InductionPlan(D(2025, 3, 3), **kwargs)  # a Monday


class TestPlan:
    def test_default_is_the_feder_2021_series(self):
        assert plan().dates() == (D(2025, 3, 3), D(2025, 3, 5), D(2025, 3, 7), D(2025, 3, 10), D(2025, 3, 12),
                                  D(2025, 3, 14))

    @pytest.mark.parametrize("kwargs, field", [({"days": (0, 3, 3)}, "days"), ({"days": ()}, "days"),
                                               ({"route": "rectal"}, "route"), ({"dose_amount": -1}, "dose")])
    def test_bad_plans(self, kwargs, field):
        with pytest.raises(InputError) as info:
            plan(**kwargs)
        assert info.value.field == field


class TestProgress:
    def test_given_missed_due_upcoming_and_extra(self):
        state = progress(plan(), [D(2025, 3, 3), D(2025, 3, 6), D(2025, 3, 8)], today=D(2025, 3, 11))
        assert [(v.status, v.given_on) for v in state.visits] == [
            ("given", D(2025, 3, 3)), ("given", D(2025, 3, 6)), ("given", D(2025, 3, 8)),
            ("due", None), ("due", None), ("upcoming", None)]
        assert state.extra == ()
        assert state.next_due == D(2025, 3, 10)
        assert not state.induction_complete

    def test_a_session_counts_once(self):
        state = progress(plan(days=(0, 1)), [D(2025, 3, 3)], today=D(2025, 3, 10))
        assert [v.status for v in state.visits] == ["given", "missed"]

    def test_window_zero_is_exact_dates(self):
        state = progress(plan(), [D(2025, 3, 4)], today=D(2025, 3, 20), window_days=0)
        assert state.visits[0].status == "missed"
        assert state.extra == (D(2025, 3, 4),)
        assert state.induction_complete


class TestMaintenance:
    def test_interval_after_the_last_session_once_induction_is_over(self):
        dates = [D(2025, 3, 3), D(2025, 3, 5), D(2025, 3, 7), D(2025, 3, 10), D(2025, 3, 12), D(2025, 3, 14),
                 D(2025, 3, 20)]
        state = progress(plan(), dates, today=D(2025, 3, 21))
        booking = book_maintenance(state, IntervalRule())
        assert (booking.due_on, booking.rule) == (D(2025, 4, 3), "interval")  # 20 Mar + 14 days
        assert "SPRAVATO" in booking.source

    def test_interval_waits_for_the_planned_induction(self):
        state = progress(plan(), [D(2025, 3, 3)], today=D(2025, 3, 4))
        assert book_maintenance(state, IntervalRule(7)).due_on == D(2025, 3, 21)  # 14 Mar + 7

    def test_a_past_date_becomes_today(self):
        state = progress(plan(days=(0,)), [D(2025, 3, 3)], today=D(2025, 6, 1))
        booking = book_maintenance(state, IntervalRule(14))
        assert booking.due_on == D(2025, 6, 1)
        assert "passed" in booking.reason

    def test_forecast_day_becomes_a_date(self):
        state = progress(plan(days=(0,)), [D(2025, 3, 3)], today=D(2025, 3, 4))
        first = dt.datetime(2025, 3, 3, 23, 0, tzinfo=UTC)
        booking = book_maintenance(state, ForecastRule(), first_dose=first, recommended_day=20.1)
        assert booking.due_on == day_to_date(first, 20.1, UTC) == D(2025, 3, 24)  # 3 Mar 23:00 + 20.1 d

    def test_no_loss_forecast_books_nothing(self):
        state = progress(plan(days=(0,)), [D(2025, 3, 3)], today=D(2025, 3, 4))
        booking = book_maintenance(state, ForecastRule(), first_dose=dt.datetime(2025, 3, 3, tzinfo=UTC),
                                   recommended_day=None, horizon_days=84)
        assert booking.due_on is None
        assert "84 days" in booking.reason

    @pytest.mark.parametrize("every", [0, -3, float("nan"), "14"])
    def test_bad_interval(self, every):
        with pytest.raises(InputError, match="every_days"):
            IntervalRule(every)


class TestRegimen:
    def test_hours_from_the_first_dose(self):
        sessions = [
            {"started_at": dt.datetime(2025, 3, 5, 10, 0, tzinfo=UTC), "dose_amount": 0.5, "dose_per_kg": True,
             "route": "iv_infusion", "product": "racemic", "infusion_min": 60.0},
            {"started_at": dt.datetime(2025, 3, 3, 9, 30, tzinfo=UTC), "dose_amount": 35.0, "dose_per_kg": False,
             "route": "im", "product": "racemic", "infusion_min": None},
        ]
        regimen, origin = course_regimen(sessions)
        assert origin == dt.datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
        assert [d.time_h for d in regimen.doses] == [0.0, 48.5]
        assert [(d.route.value, d.amount, d.per_kg) for d in regimen.doses] == [("im", 35.0, False),
                                                                               ("iv_infusion", 0.5, True)]
        assert regimen.doses[1].duration_h == 1.0

    def test_planned_sessions_still_to_come_are_added(self):
        given = [{"started_at": dt.datetime(2025, 3, 3, 9, 0, tzinfo=UTC), "dose_amount": 0.5, "dose_per_kg": True,
                  "route": "iv_infusion", "product": "racemic", "infusion_min": 40.0}]
        regimen, origin = course_regimen(given, plan(), now=dt.datetime(2025, 3, 6, 12, 0, tzinfo=UTC))
        # Day 2 (5 Mar) was not given and has passed; days 4, 7, 9, 11 are still to come at 09:00.
        assert [d.time_h / 24 for d in regimen.doses] == [0, 4, 7, 9, 11]

    def test_no_sessions(self):
        regimen, origin = course_regimen([])
        assert (regimen.doses, origin) == ((), None)
