"""Change over time: the outcome rules (response, remission, reliable change) of an
instrument applied to a baseline and a current total."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ketamine_ptsd.clinic.settings import Rule, resolve
from ketamine_ptsd.errors import InputError

from .items import NEGATIVE, POSITIVE, _is_number
from .specs import SPECS


@dataclass(frozen=True)
class OutcomeResult:
    """One outcome rule applied to a baseline/current pair; ``met`` None = not evaluable."""

    rule: str
    description: str
    met: bool | None
    citation: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"rule": self.rule, "description": self.description, "met": self.met,
                "citation": self.citation}


@dataclass(frozen=True)
class ChangeResult:
    """Change from baseline: ``delta = baseline - current`` (positive = improvement)."""

    instrument: str
    baseline: float
    current: float
    delta: float
    percent_reduction: float | None
    outcomes: tuple[OutcomeResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"instrument": self.instrument, "baseline": self.baseline,
                "current": self.current, "delta": self.delta,
                "percent_reduction": self.percent_reduction,
                "outcomes": [o.to_dict() for o in self.outcomes]}

    def met(self, rule: str) -> bool | None:
        """Whether the outcome rule with this short name (e.g. ``"response"``) was met."""
        for outcome in self.outcomes:
            if outcome.rule.rsplit(".", 1)[-1] == rule:
                return outcome.met
        raise KeyError(f"no outcome rule {rule!r} for {self.instrument}")


OUTCOME_RULES = {
    "pcl5": ("reliable_change", "clinically_meaningful_change", "strict_reliable_change",
             "strict_endpoint"),
    "caps5": ("response", "reliable_change", "meaningful_change", "strict_endpoint",
              "remission"),
    "madrs": ("response", "remission", "remission_alt"),
    "phq9": ("response", "remission"),
}


def _number(name: str, value: Any, lo: float, hi: float) -> Fraction:
    if isinstance(value, bool) or not _is_number(value) or math.isnan(value):
        raise InputError(name, f"{value!r} is not a number", f"{lo}-{hi}")
    if not lo <= value <= hi:
        raise InputError(name, f"{value} is outside the scale", f"{lo}-{hi}")
    return Fraction(value)


def meets_response(
    baseline: float,
    current: float,
    *,
    percent_reduction: float | None = None,
    absolute_reduction: float | None = None,
) -> bool | None:
    """Generic response rule: ``percent_reduction >= X`` or ``absolute_reduction >= Y``.

    Criteria left as None are not used; at least one is required. Arithmetic is exact
    (60 -> 42 is exactly a 30 % reduction). A percent criterion cannot be evaluated for a
    baseline of 0; returns None when no given criterion can be evaluated.
    """
    if percent_reduction is None and absolute_reduction is None:
        raise InputError("rule", "no criterion given",
                         "percent_reduction and/or absolute_reduction")
    b, c = Fraction(baseline), Fraction(current)
    results = []
    if absolute_reduction is not None:
        results.append(b - c >= Fraction(str(absolute_reduction)))
    if percent_reduction is not None and b > 0:
        results.append((b - c) * 100 >= Fraction(str(percent_reduction)) * b)
    return any(results) if results else None


def _outcome(rule: Rule, b: Fraction, c: Fraction, current_diagnosis: str | None
             ) -> OutcomeResult:
    p = rule.params
    name = rule.key
    if "percent_reduction" in p or "absolute_reduction" in p:
        met = meets_response(b, c, percent_reduction=p.get("percent_reduction"),
                             absolute_reduction=p.get("absolute_reduction"))
        parts = []
        if "percent_reduction" in p:
            parts.append(f">= {p['percent_reduction']} % reduction")
        if "absolute_reduction" in p:
            parts.append(f">= {p['absolute_reduction']}-point reduction")
        return OutcomeResult(name, " or ".join(parts), met, rule.citation)
    if "at_or_below" in p:
        met, text = c <= Fraction(str(p["at_or_below"])), f"score <= {p['at_or_below']}"
    else:
        met, text = c < Fraction(str(p["below"])), f"score < {p['below']}"
    if p.get("requires_loss_of_diagnosis"):
        text = "no longer meets diagnosis and " + text
        lost = {NEGATIVE: True, POSITIVE: False}.get(current_diagnosis or "")
        met = False if (lost is False or not met) else (None if lost is None else True)
    return OutcomeResult(name, text, met, rule.citation)


def assess_change(
    instrument: str,
    baseline: float,
    current: float,
    *,
    current_diagnosis: str | None = None,
    settings: Any = None,
) -> ChangeResult:
    """Apply every outcome rule of ``instrument`` (pcl5, caps5, madrs, phq9) to two totals.

    PCL-5: reliable (>= 5), clinically meaningful (>= 10), strict RCI (>= 15, Marx 2022),
    endpoint <= 28. CAPS-5: response >= 30 % (Feder 2021), reliable >= 13, meaningful
    >= 10, endpoint <= 8, remission (loss of diagnosis and <= 11; pass
    ``current_diagnosis`` = "positive"/"negative" or it is not evaluable). MADRS: response
    >= 50 %, remission <= 12, alternative remission < 10. PHQ-9: response >= 50 %,
    remission < 5. All values come from the settings.
    """
    s = resolve(settings)
    if instrument not in OUTCOME_RULES:
        raise InputError("instrument", f"no change rules for {instrument!r}",
                         ", ".join(OUTCOME_RULES))
    top = SPECS[instrument].max_total
    b = _number("baseline", baseline, 0, top)
    c = _number("current", current, 0, top)
    outcomes = tuple(_outcome(s[f"{instrument}.{r}"], b, c, current_diagnosis)
                     for r in OUTCOME_RULES[instrument])
    percent = float((b - c) * 100 / b) if b > 0 else None
    return ChangeResult(instrument, float(b), float(c), float(b - c), percent, outcomes)
