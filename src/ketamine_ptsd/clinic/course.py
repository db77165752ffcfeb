"""Treatment courses: the induction plan, the sessions given against it, and when to book
maintenance.

* An :class:`InductionPlan` is a start date, the dose days counted from it (default: Feder
  et al. 2021, days 0, 2, 4, 7, 9, 11) and the dose given at each.
* :func:`progress` matches the dates of the sessions actually given to the planned dates
  (a session within ``window_days`` of a planned date counts for it) and says which planned
  sessions were given, missed, are due or are still to come, and which sessions were extra
  (maintenance or off-plan).
* :func:`book_maintenance` books the next maintenance session by one of two rules: a fixed
  interval after the last session, or the day a personal forecast recommends, ahead of
  the day its forecast PCL-5 crosses the threshold of lost response.
* :func:`course_regimen` turns the sessions given, and the planned sessions not yet given,
  into a :class:`~ketamine_ptsd.dosing.Regimen` in hours from the first dose, for the model.

Pure logic: no I/O. Every default below is an argument a clinic can change, and each names
its source. Research and decision-support software, not a medical device: a booking is a
suggestion for the clinician, who decides.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ketamine_ptsd.clinic.risk import as_date
from ketamine_ptsd.dosing import DEFAULT_INDUCTION_DAYS, Dose, Regimen, induction_series
from ketamine_ptsd.errors import InputError

#: Default fixed maintenance interval, days. Source: SPRAVATO US label, TRD maintenance from
#: week 9 every 2 weeks (or weekly), the only regulated maintenance pattern [V]; for IV
#: racemic ketamine there is no evidence-based regimen, taper weekly -> every 2-4 weeks [M].
DEFAULT_INTERVAL_DAYS = 14.0
INTERVAL_SOURCE = ("SPRAVATO US PI: TRD maintenance from week 9 every 2 weeks or weekly [V]; "
                   "IV racemic: no evidence-based maintenance regimen, individualised taper [M]")
#: How far a session may fall from its planned date and still count for it, days. Design
#: decision [U]: clinics move sessions by a day for weekends and transport.
DEFAULT_WINDOW_DAYS = 1.0
FORECAST_SOURCE = "personal forecast of this patient (ketamine_ptsd.calibration.individual)"

GIVEN, MISSED, DUE, UPCOMING = "given", "missed", "due", "upcoming"


def _positive(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(field, f"{value!r} is not a positive number of days", "> 0 days")
    return float(value)


@dataclass(frozen=True)
class InductionPlan:
    """An induction series: ``start`` date, dose ``days`` from it, and the dose each time.

    ``dose_amount`` is in mg, or mg/kg when ``dose_per_kg``; ``infusion_min`` applies to
    IV infusions only. The plan is validated by building its regimen.
    """

    start: dt.date
    days: tuple[float, ...] = DEFAULT_INDUCTION_DAYS
    dose_amount: float = 0.5
    dose_per_kg: bool = True
    route: str = "iv_infusion"
    product: str = "racemic"
    infusion_min: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_date("start", self.start))
        object.__setattr__(self, "days", tuple(float(d) for d in self.days))
        self.regimen()

    def regimen(self) -> Regimen:
        """The planned doses in hours from ``start`` (midnight of the start date)."""
        return induction_series(self.days, self.dose_amount, self.dose_per_kg, self.route,
                                self.product, self.infusion_min if self.route == "iv_infusion" else None)

    def dates(self) -> tuple[dt.date, ...]:
        """The planned session dates."""
        return tuple(self.start + dt.timedelta(days=math.floor(d)) for d in self.days)


@dataclass(frozen=True)
class PlannedVisit:
    """One planned induction session and what became of it."""

    planned_on: dt.date
    status: str
    given_on: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"planned_on": self.planned_on.isoformat(), "status": self.status,
                "given_on": self.given_on and self.given_on.isoformat()}


@dataclass(frozen=True)
class CourseProgress:
    """The plan against the sessions given, as of ``today``."""

    today: dt.date
    visits: tuple[PlannedVisit, ...]
    extra: tuple[dt.date, ...]
    last_session: dt.date | None

    @property
    def induction_complete(self) -> bool:
        """True when no planned session is still due or to come."""
        return all(v.status in (GIVEN, MISSED) for v in self.visits)

    @property
    def next_due(self) -> dt.date | None:
        """The next planned session not yet given (None when the induction is over)."""
        return next((v.planned_on for v in self.visits if v.status in (DUE, UPCOMING)), None)

    @property
    def last_planned(self) -> dt.date:
        """The last planned induction date."""
        return self.visits[-1].planned_on

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"today": self.today.isoformat(), "visits": [v.to_dict() for v in self.visits],
                "extra": [d.isoformat() for d in self.extra],
                "last_session": self.last_session and self.last_session.isoformat(),
                "induction_complete": self.induction_complete,
                "next_due": self.next_due and self.next_due.isoformat()}


def progress(plan: InductionPlan, session_dates: Sequence[Any], today: Any,
             window_days: float = DEFAULT_WINDOW_DAYS) -> CourseProgress:
    """Match the sessions given (their dates) to the plan, as of ``today``.

    Each planned date takes the earliest unused session within ``window_days`` of it.
    A planned date with no session is ``missed`` once its window has passed, ``due`` while
    ``today`` is inside its window, and ``upcoming`` before. Unmatched sessions are extra.
    """
    today = as_date("today", today)
    if isinstance(window_days, bool) or not isinstance(window_days, (int, float)) or not 0 <= window_days < 7:
        raise InputError("window_days", f"{window_days!r} is not a window", "0 to < 7 days")
    given = sorted(as_date(f"sessions[{i}]", d) for i, d in enumerate(session_dates))
    unused = list(given)
    visits = []
    for planned in plan.dates():
        match = next((d for d in unused if abs((d - planned).days) <= window_days), None)
        if match is not None:
            unused.remove(match)
            visits.append(PlannedVisit(planned, GIVEN, match))
        elif (today - planned).days > window_days:
            visits.append(PlannedVisit(planned, MISSED))
        elif abs((today - planned).days) <= window_days:
            visits.append(PlannedVisit(planned, DUE))
        else:
            visits.append(PlannedVisit(planned, UPCOMING))
    return CourseProgress(today, tuple(visits), tuple(unused), given[-1] if given else None)


@dataclass(frozen=True)
class IntervalRule:
    """Maintenance every ``every_days`` after the last session (after the last planned
    induction session while induction sessions are still to come)."""

    every_days: float = DEFAULT_INTERVAL_DAYS

    def __post_init__(self) -> None:
        object.__setattr__(self, "every_days", _positive("every_days", self.every_days))


@dataclass(frozen=True)
class ForecastRule:
    """Maintenance on the day the patient's own forecast recommends, counted in days from
    the first dose; the forecast sets the threshold that defines loss of response."""


@dataclass(frozen=True)
class MaintenanceBooking:
    """The suggested next maintenance date (None: nothing to book yet) and why."""

    due_on: dt.date | None
    rule: str
    reason: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"due_on": self.due_on and self.due_on.isoformat(), "rule": self.rule,
                "reason": self.reason, "source": self.source}


def day_to_date(first_dose: dt.datetime, day: float, tz: dt.tzinfo | None = None) -> dt.date:
    """The calendar date (in ``tz``, default local time) ``day`` days after ``first_dose``."""
    moment = first_dose + dt.timedelta(days=float(day))
    return moment.astimezone(tz).date() if moment.tzinfo else moment.date()


def book_maintenance(
    state: CourseProgress,
    rule: IntervalRule | ForecastRule,
    *,
    first_dose: dt.datetime | None = None,
    recommended_day: float | None = None,
    horizon_days: float | None = None,
) -> MaintenanceBooking:
    """Book the next maintenance session under ``rule``.

    Interval: ``every_days`` after the last session, or after the last planned induction
    date while the induction is not over. Forecast: the date ``recommended_day`` days after ``first_dose`` (the
    forecast's ``recommended_maintenance_day``); None there means no loss of response is
    forecast within ``horizon_days``, so nothing is booked. A date already past becomes
    ``state.today``.
    """
    if isinstance(rule, IntervalRule):
        # While induction sessions are still to come, maintenance follows the last of them.
        pending = state.last_planned if not state.induction_complete else None
        anchor = max((d for d in (state.last_session, pending) if d is not None), default=state.last_planned)
        due = anchor + dt.timedelta(days=math.floor(rule.every_days))
        reason = f"{rule.every_days:g} days after {anchor.isoformat()}"
        return _not_past(state, due, "interval", reason, INTERVAL_SOURCE)
    if not isinstance(rule, ForecastRule):
        raise InputError("rule", f"unknown maintenance rule {rule!r}", "interval or forecast")
    if first_dose is None:
        return MaintenanceBooking(None, "forecast", "no session given yet: nothing to forecast from",
                                  FORECAST_SOURCE)
    if recommended_day is None:
        within = "" if horizon_days is None else f" within {horizon_days:g} days of the first dose"
        return MaintenanceBooking(None, "forecast", f"no loss of response forecast{within}; forecast "
                                  "again after the next assessment", FORECAST_SOURCE)
    due = day_to_date(first_dose, recommended_day)
    reason = f"forecast recommends day {recommended_day:g} after the first dose"
    if state.next_due is not None and due <= state.last_planned:
        reason += f" (planned induction sessions continue until {state.last_planned.isoformat()})"
    return _not_past(state, due, "forecast", reason, FORECAST_SOURCE)


def _not_past(state: CourseProgress, due: dt.date, rule: str, reason: str, source: str) -> MaintenanceBooking:
    if due < state.today:
        reason += f"; that date ({due.isoformat()}) has passed, so as soon as possible"
        due = state.today
    return MaintenanceBooking(due, rule, reason, source)


def course_regimen(
    sessions: Sequence[Any],
    plan: InductionPlan | None = None,
    now: dt.datetime | None = None,
) -> tuple[Regimen, dt.datetime | None]:
    """The doses given (and, with ``plan`` and ``now``, the planned ones still to come) as a
    regimen in hours from the first dose; also returns the first dose's time.

    ``sessions`` are objects or mappings with ``started_at`` (timezone-aware datetime),
    ``dose_amount``, ``dose_per_kg``, ``route``, ``product`` and ``infusion_min``. Planned
    sessions are included only for dates after the last session given and from ``now``
    on, at the time of day of the first dose; planned doses keep the plan's dose.
    """
    doses = sorted(sessions, key=lambda s: _get(s, "started_at"))
    times = [_get(s, "started_at") for s in doses]
    if plan is not None and now is not None:
        start_time = times[0].timetz() if times else dt.time(0, tzinfo=now.tzinfo)
        last_given = times[-1].date() if times else None
        for planned in plan.dates():
            moment = dt.datetime.combine(planned, start_time)
            if moment >= now and (last_given is None or planned > last_given):
                doses.append({"started_at": moment, "dose_amount": plan.dose_amount,
                              "dose_per_kg": plan.dose_per_kg, "route": plan.route,
                              "product": plan.product, "infusion_min": plan.infusion_min})
                times.append(moment)
    if not doses:
        return Regimen(), None
    origin = min(times)
    out = []
    for s, when in zip(doses, times, strict=True):
        minutes = _get(s, "infusion_min")
        out.append(Dose((when - origin).total_seconds() / 3600.0, _get(s, "dose_amount"), _get(s, "route"),
                        _get(s, "product"), bool(_get(s, "dose_per_kg")),
                        None if minutes is None or _get(s, "route") != "iv_infusion" else minutes / 60.0))
    return Regimen(tuple(out)), origin


def _get(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)

