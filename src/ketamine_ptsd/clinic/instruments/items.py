"""Item validation and the scoring rules instruments share: totals with proration,
cluster sums, best/worst-case classification with missing items, severity bands."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from ketamine_ptsd.clinic.settings import Rule, RuleLog, Settings
from ketamine_ptsd.errors import InputError

from .specs import InstrumentSpec

POSITIVE, NEGATIVE, INDETERMINATE = "positive", "negative", "indeterminate"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _coerce_item(label: str, value: Any, allowed: Sequence[int], allowed_text: str) -> int | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool) or not _is_number(value):
        raise InputError(label, f"{value!r} is not an integer item score", allowed_text)
    if value != int(value):
        raise InputError(label, f"{value!r} is not an integer", allowed_text)
    if int(value) not in allowed:
        raise InputError(label, f"{int(value)} is outside the scale", allowed_text)
    return int(value)


def _is_number(value: Any) -> bool:
    # numpy integers and floats register as numbers.Real, so numpy need not be imported.
    return isinstance(value, numbers.Real)


def _as_list(items: Any, what: str) -> list[Any]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InputError(what, f"expected a sequence of item values, got {type(items).__name__}",
                         "a list of integers (None for a missing item)")
    return list(items)


def _validate(
    spec: InstrumentSpec,
    items: Any,
    scale: tuple[int, int] | None = None,
    allowed_by_item: Mapping[int, Sequence[int]] | None = None,
) -> tuple[int | None, ...]:
    values = _as_list(items, "items")
    lo, hi = scale or spec.scale
    if len(values) != spec.n_items:
        raise InputError(
            "items",
            f"{spec.name} needs {spec.n_items} item values, got {len(values)}",
            f"exactly {spec.n_items} values, integers {lo}-{hi} (empty/None = missing)",
        )
    out = []
    for number, value in zip(spec.numbers, values, strict=True):
        allowed = (spec.item_options if allowed_by_item is None else allowed_by_item).get(number, range(lo, hi + 1))
        text = (f"integer {lo}-{hi}" if list(allowed) == list(range(lo, hi + 1))
                else "one of " + ", ".join(map(str, allowed)))
        out.append(_coerce_item(f"{spec.name} item {number}", value, allowed, text))
    return tuple(out)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _total(
    spec: InstrumentSpec,
    values: Sequence[int | None],
    prorate: bool,
    settings: Settings,
    b: RuleLog,
) -> tuple[int | None, bool]:
    answered = [v for v in values if v is not None]
    missing = len(values) - len(answered)
    if missing == 0:
        return sum(answered), False
    missing_items = [n for n, v in zip(spec.numbers, values, strict=True) if v is None]
    b.flag("incomplete", f"{missing} item(s) missing ({_list(missing_items)}); no total"
           if not prorate else f"{missing} item(s) missing ({_list(missing_items)})")
    if not prorate:
        return None, False
    rule = b.use(settings["proration.max_missing"])
    limit = rule[spec.id]
    if missing > limit:
        b.flag("not_prorated", f"{missing} missing > {limit} allowed for proration; no total")
        return None, False
    total = _round_half_up(Fraction(sum(answered) * len(values), len(answered)))
    b.flag("prorated", f"total estimated by person-mean proration from {len(answered)} items")
    return total, True


def _list(numbers: Iterable[int]) -> str:
    return "item " + ", ".join(map(str, numbers))


def _cluster_sums(spec: InstrumentSpec, values: Sequence[int | None]) -> dict[str, int | None]:
    index = {n: i for i, n in enumerate(spec.numbers)}
    out: dict[str, int | None] = {}
    for name, members in spec.clusters.items():
        vals = [values[index[n]] for n in members]
        out[name] = None if any(v is None for v in vals) else sum(vals)
    return out


def _tri(best: bool, worst: bool) -> str:
    if best and worst:
        return POSITIVE
    if not best and not worst:
        return NEGATIVE
    return INDETERMINATE


def _tri_and(*states: str) -> str:
    if NEGATIVE in states:
        return NEGATIVE
    return POSITIVE if all(s == POSITIVE for s in states) else INDETERMINATE


def _bool_state(value: bool | None) -> str:
    return INDETERMINATE if value is None else (POSITIVE if value else NEGATIVE)


def _symptom_rule(
    spec: InstrumentSpec, values: Sequence[int | None], rule: Rule, endorse_key: str
) -> str:
    """DSM-5 symptom-count rule, evaluated with missing items at best and worst case."""
    threshold = rule[endorse_key]
    minimums = {c: rule[f"min_{c.lower()}"] for c in ("B", "C", "D", "E")}
    index = {n: i for i, n in enumerate(spec.numbers)}

    def meets(fill: int) -> bool:
        filled = [fill if v is None else v for v in values]
        return all(
            sum(filled[index[n]] >= threshold for n in spec.clusters[c]) >= minimums[c]
            for c in minimums
        )

    return _tri(meets(spec.scale[1]), meets(spec.scale[0]))


def _threshold_state(
    values: Sequence[int | None], total: int | None, scale: tuple[int, int],
    passes: Callable[[float], bool],
) -> str:
    """Classify a total against a cut-off; bounds decide when items are missing."""
    if total is not None:
        return POSITIVE if passes(total) else NEGATIVE
    answered = sum(v for v in values if v is not None)
    n_missing = sum(v is None for v in values)
    return _tri(passes(answered + n_missing * scale[1]), passes(answered + n_missing * scale[0]))


def _band(total: int | None, rule: Rule) -> str | None:
    if total is None:
        return None
    for label, upper in zip(rule["labels"], rule["upper"], strict=True):
        if total <= upper:
            return label
    raise ValueError(f"{rule.key}: total {total} above the last band")


def _loinc(spec: InstrumentSpec) -> dict[str, Any]:
    return {"panel": spec.loinc_panel, "total": spec.loinc_total,
            "items": list(spec.loinc_items) or None}


def _optional_bool(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InputError(name, f"{value!r} is not yes/no", "true, false or None (not assessed)")


def _extra_items(name: str, values: Sequence[Any] | None, numbers: tuple[int, ...]
                 ) -> tuple[int | None, ...]:
    if values is None:
        return (None,) * len(numbers)
    vals = _as_list(values, f"{name} items {numbers[0]}-{numbers[-1]}")
    if len(vals) != len(numbers):
        raise InputError(f"{name} items {', '.join(map(str, numbers))}",
                         f"expected {len(numbers)} values, got {len(vals)}",
                         f"{len(numbers)} integers 0-4")
    return tuple(_coerce_item(f"{name} item {n}", v, range(5), "integer 0-4")
                 for n, v in zip(numbers, vals, strict=True))


def _any_at_least(values: Sequence[int | None], threshold: int) -> str:
    best = any((4 if v is None else v) >= threshold for v in values)
    worst = any((0 if v is None else v) >= threshold for v in values)
    return _tri(best, worst)


def _yes_no(label: str, value: Any) -> bool | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if _is_number(value) and value in (0, 1):
        return bool(value)
    raise InputError(label, f"{value!r} is not a yes/no answer", "yes (1), no (0) or empty")
