"""HTML forms in and out: what each form asks, and its fields turned into the API's
request models, so a form and a JSON call are checked by the same code.

An empty field means "not given" (``None``). A value the request model refuses becomes an
:class:`~ketamine_ptsd.errors.InputError` naming the form field and what is allowed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from ketamine_ptsd.care.whatif import BASELINE_FIELDS as BASELINE_LABELS
from ketamine_ptsd.clinic.instruments import CSSRS_QUESTIONS, SPECS
from ketamine_ptsd.clinic.monitoring import FIELDS
from ketamine_ptsd.clinic.screening import PatientScreeningInput
from ketamine_ptsd.errors import InputError

from .schemas import AssessmentRequest, Baseline, Protocol, WhatIfRequest

#: Protocol slots on the what-if form.
WHATIF_SLOTS = 4
T = typing.TypeVar("T", bound=BaseModel)


def web_error(exc: InputError, date_field: str = "date", rename: Mapping[str, str] | None = None) -> InputError:
    """``exc`` with its field named as the form or the API names it: the records' ``date``
    becomes ``date_field`` (``started_at``, ``administered_at`` ...), and a leading part in
    ``rename`` is replaced (``reading 1`` -> ``pre-dose reading``)."""
    head, _, rest = exc.field.partition(" ")
    field = date_field if head == "date" else head
    field = f"{field} {rest}" if rest else field
    for old, new in (rename or {}).items():
        if field == old or field.startswith(old + " "):
            field = new + field[len(old):]
            break
    return exc if field == exc.field else InputError(field, exc.message, exc.allowed)


def as_input_error(exc: ValidationError, prefix: str = "") -> InputError:
    """The first problem of a pydantic error, as an InputError naming the field."""
    err = exc.errors()[0]
    field = prefix + ".".join(str(p) for p in err["loc"]) if err["loc"] else prefix.rstrip(".") or "form"
    expected = (err.get("ctx") or {}).get("expected")
    return InputError(field, err["msg"], expected)


def validated(model: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """``model`` built from ``data``; a refusal becomes an InputError."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise as_input_error(exc, prefix) from None


def given(form: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The non-empty fields among ``names`` (stripped)."""
    out = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    return out


# ---------------------------------------------------------------------------- screening


def _choices(annotation: Any) -> tuple[str, ...] | None:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return tuple(args)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((c for a in args if (c := _choices(a))), None)
    return None


def screening_questions() -> list[dict[str, Any]]:
    """The screening questions in the order of the clinic's checklist, each with its kind:
    ``yes_no`` (yes / no / not assessed), ``choice``, ``number``, ``bp`` or ``medications``."""
    questions = []
    for name, info in PatientScreeningInput.model_fields.items():
        label = name.replace("_", " ")
        annotation = info.annotation
        if name == "bp_readings":
            kind, choices = "bp", None
        elif name == "medications":
            kind, choices = "medications", None
        elif bool in typing.get_args(annotation):
            kind, choices = "yes_no", None
        elif (choices := _choices(annotation)) is not None:
            kind = "choice"
        else:
            kind, choices = "number", None
        questions.append({"name": name, "label": label, "kind": kind, "choices": choices})
    return questions


def screening_answers(form: FormData) -> dict[str, Any]:
    """The screening form as the answers of :func:`ketamine_ptsd.clinic.screening.screen`
    (unanswered questions left out, so they count as not assessed; an unknown medication
    class is refused by the screening with the classes it knows)."""
    answers: dict[str, Any] = {}
    for q in screening_questions():
        name = q["name"]
        value = (form.get(name) or "").strip() if isinstance(form.get(name), str) else ""
        if q["kind"] == "yes_no" and value:
            answers[name] = {"yes": True, "no": False}.get(value, value)
        elif q["kind"] == "bp" and value:
            answers[name] = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        elif q["kind"] == "medications":
            if form.get("medications_reviewed"):
                answers[name] = form.getlist("medications")
        elif value:
            answers[name] = value
    return answers


# ---------------------------------------------------------------------------- sessions

#: The session-opening form's pre-dose reading (``pre_sbp`` ...), minutes before the dose in ``pre_time_min``.
PRE_DOSE_FIELDS = ("pre_time_min", *(f"pre_{f}" for f in FIELDS))


def session_opening(values: Mapping[str, str]) -> dict[str, Any]:
    """The session-opening form as a SessionRequest dict; the pre-dose fields, when any is
    filled, become the first reading (labelled pre_dose, default 5 minutes before the dose)."""
    data = {k: v for k, v in values.items() if not k.startswith("pre_")}
    reading = {k.removeprefix("pre_"): v for k, v in values.items() if k in PRE_DOSE_FIELDS}
    if set(reading) - {"time_min"}:
        data["readings"] = [{"time_min": "-5", "label": "pre_dose", **reading}]
    return data


# ---------------------------------------------------------------------------- instruments


def instrument_items(instrument: str) -> list[dict[str, Any]]:
    """The form fields of an instrument: name, label, allowed values."""
    spec = SPECS[instrument]
    if instrument == "cssrs":
        return [{"name": f"item_{i + 1}", "label": q, "values": (0, 1)} for i, q in enumerate(CSSRS_QUESTIONS)]
    lo, hi = spec.scale
    return [{"name": f"item_{i + 1}", "label": f"item {n}", "values": tuple(range(lo, hi + 1))}
            for i, n in enumerate(spec.numbers)]


def items_list(text: str, field: str) -> list[int | None]:
    """Comma-separated item answers (an empty place is a missing answer)."""
    out: list[int | None] = []
    for i, part in enumerate(text.split(","), start=1):
        part = part.strip()
        try:
            out.append(int(part) if part else None)
        except ValueError:
            raise InputError(f"{field} item {i}", f"{part!r} is not a whole number", "whole numbers, e.g. 2,1,0,3") \
                from None
    return out


def assessment_request(form: Mapping[str, Any], instrument: str) -> AssessmentRequest:
    """An instrument form as an :class:`AssessmentRequest` (blank items are missing)."""
    if instrument not in SPECS:
        raise InputError("instrument", f"unknown instrument {instrument!r}", ", ".join(SPECS))
    answers = []
    for item in instrument_items(instrument):
        text = form.get(item["name"])
        text = text.strip() if isinstance(text, str) else ""
        try:
            answers.append(int(text) if text else None)
        except ValueError:
            raise InputError(item["label"], f"{text!r} is not a whole number",
                             f"{min(item['values'])}-{max(item['values'])}") from None
    data = {"instrument": instrument, "answers": answers, "prorate": bool(form.get("prorate")),
            **given(form, ("administered_at",))}
    if instrument == "bprs_pos":
        data["convention"] = form.get("convention") or None
    return validated(AssessmentRequest, data)


# ---------------------------------------------------------------------------- what-if


#: The what-if form's protocol columns as the page labels them.
PROTOCOL_LABELS = {"name": "name", "product": "product", "route": "route", "dose": "dose",
                   "infusion_min": "infusion (min)", "induction_days": "induction days",
                   "maintenance_every_days": "maintenance every (days)",
                   "therapy_hours_after_dose": "therapy hours after each dose"}


def _days(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise InputError(field, f"cannot read {text!r}", "comma-separated day numbers, e.g. 0,2,4,7,9,11") from None


def _protocol_error(exc: InputError, row: int) -> InputError:
    """An error of one protocol row named as the page shows it: ``protocol 2: infusion (min)``
    (an induction day by its place: ``induction days, day 3``)."""
    name, _, index = exc.field.partition(".")
    label = PROTOCOL_LABELS.get(name, name)
    if index.isdigit():
        label += f", day {int(index) + 1}"
    return InputError(f"protocol {row}: {label}", exc.message, exc.allowed)


def whatif_request(form: Mapping[str, Any]) -> WhatIfRequest:
    """The what-if form (protocol slots ``p0_*`` .. ``p3_*``; a slot without days is unused)."""
    protocols = []
    for i in range(WHATIF_SLOTS):
        fields = given(form, [f"p{i}_{k}" for k in ("name", "product", "route", "dose", "infusion_min", "days",
                                                      "maintenance_every_days", "therapy_hours_after_dose")])
        if f"p{i}_days" not in fields:
            continue
        data = {k.removeprefix(f"p{i}_"): v for k, v in fields.items()}
        try:
            data["induction_days"] = _days(data.pop("days"), "induction_days")
            protocols.append(validated(Protocol, data))
        except InputError as exc:
            raise _protocol_error(exc, i + 1) from None
    if not protocols:
        raise InputError("protocols", "no protocol with induction days", "1-4 protocols")
    baseline = {k.removeprefix("baseline_"): v for k, v in given(form, BASELINE_FIELDS).items()}
    try:
        data = {"protocols": [p.model_dump() for p in protocols], **given(form, ("horizon_days",))}
        return validated(WhatIfRequest, {**data, "baseline": baseline} if baseline else data)
    except InputError as exc:
        name = exc.field.removeprefix("baseline.")
        if name in BASELINE_LABELS:
            raise InputError(f"baseline: {BASELINE_LABELS[name][0]}", exc.message, exc.allowed) from None
        raise


#: The what-if form's baseline fields.
BASELINE_FIELDS = tuple(f"baseline_{k}" for k in Baseline.model_fields)
