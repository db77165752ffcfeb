"""The model as SBML Level 3 Version 2 (python-libsbml), for systems-biology tools.

The exported file is the right-hand side of ``model/`` for one patient, written out of the
model's own equations: the numba functions ``rhs`` and ``observe`` are run once on symbols
instead of numbers (their pure-Python originals, with ``max``, ``min`` and ``math`` bound to
symbolic versions by :func:`ketamine_ptsd.engine.plain.plain_functions`, which the JAX engine
shares), so the SBML cannot drift from the equations the engine integrates.

What the file holds (SBML ids):

* every state of ``layout.STATE_NAMES`` as a parameter with a rate rule, starting at the
  untreated baseline 0 (``mtor`` and ``bdnf`` are ``mtor_state`` and ``bdnf_state``, since
  the outputs of the same name are the states clipped at 0);
* every model parameter with its value for this patient (weight-scaled clearances and
  volumes included), its unit and source in the SBML notes; the patient covariates of
  ``layout.PATIENT_NAMES`` carry the prefix ``patient_`` (``patient_weight_kg``,
  ``patient_pcl5_b`` ...), since several share a name with an output;
* every output of ``layout.OUTPUT_NAMES`` (``ketamine_ng_ml``, ``pcl5_total`` ...) as an
  assignment rule;
* the regimen, mapped by the model's own event table, as SBML events: bolus amounts,
  depot amounts and session markers add to a state at their time, and the infusion and
  therapy inputs (``iv_rate_mg_h`` ...), piecewise constant in time, are set to their new
  level at each start and end.

Time is in hours, amounts in mg (absolute, for this patient's weight), concentrations in
ng/mL. The inputs change at events rather than as piecewise functions of time, so a
solver restarts at each break instead of stepping across a jump of the right-hand side.
``max`` and ``min`` of the equations are MathML ``max`` and ``min`` (Level 3 Version 2):
written as ``piecewise`` they made libRoadRunner 2.10's CVODE stall where the clip of the
glutamate surge, ``max(drive - adaptation, 0)``, opens at the start of a second infusion.
With ``max`` it follows the engine at its default relative tolerance (1e-6) but stalls at
the same point at 1e-7 and tighter. The engine sets states below ``flush_below`` to zero;
a comparison with this file uses ``flush_below=0``.
Research and decision-support software, not a medical device.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import libsbml
import numpy as np

from ..dosing import Regimen
from ..engine.plain import plain_functions
from ..errors import InputError
from ..model import MODEL
from ..model.layout import DERIVED_NAMES
from ..model.system import JUMP, RATE
from ..params import model_table, patient_table, pk_table
from ..population import Population

#: States whose names are also output names get this suffix in the SBML file.
STATE_CLASH_SUFFIX = "_state"
#: Patient covariates get this prefix (several are also output names).
PATIENT_PREFIX = "patient_"


class _Expr:
    """A formula in SBML Level 3 infix syntax, built by running the model on symbols."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __bool__(self):
        raise TypeError("the model branches on a state or parameter value; it cannot be exported as one formula")

    def __neg__(self):
        return _Expr(f"(-{self.text})")

    def __pos__(self):
        return self

    def __add__(self, other):
        return _combine(self, "+", other)

    def __radd__(self, other):
        return _combine(other, "+", self)

    def __sub__(self, other):
        return _combine(self, "-", other)

    def __rsub__(self, other):
        return _combine(other, "-", self)

    def __mul__(self, other):
        return _combine(self, "*", other)

    def __rmul__(self, other):
        return _combine(other, "*", self)

    def __truediv__(self, other):
        return _combine(self, "/", other)

    def __rtruediv__(self, other):
        return _combine(other, "/", self)

    def __pow__(self, other):
        return _combine(self, "^", other)

    def __rpow__(self, other):
        return _combine(other, "^", self)


def _text(x) -> str:
    if isinstance(x, _Expr):
        return x.text
    value = float(x)
    if not np.isfinite(value):
        raise ValueError(f"non-finite constant {value} in the model equations")
    return f"({value!r})" if value < 0 else repr(value)


def _combine(a, op: str, b):
    """``a op b`` with the identities that keep the formulas short (x+0, x*1, 0*x, x/1)."""
    a_num, b_num = not isinstance(a, _Expr), not isinstance(b, _Expr)
    if op == "+" and (a_num and a == 0.0 or b_num and b == 0.0):
        return b if a_num and a == 0.0 else a
    if op == "-" and b_num and b == 0.0:
        return a
    if op == "-" and a_num and a == 0.0:
        return -b
    if op == "*" and (a_num and a == 0.0 or b_num and b == 0.0):
        return 0.0
    if op == "*" and (a_num and a == 1.0 or b_num and b == 1.0):
        return b if a_num and a == 1.0 else a
    if op == "/" and b_num and b == 1.0:
        return a
    return _Expr(f"({_text(a)} {op} {_text(b)})")


def _max(a, b):
    if not isinstance(a, _Expr) and not isinstance(b, _Expr):
        return max(a, b)
    return _Expr(f"max({_text(a)}, {_text(b)})")


def _min(a, b):
    if not isinstance(a, _Expr) and not isinstance(b, _Expr):
        return min(a, b)
    return _Expr(f"min({_text(a)}, {_text(b)})")


def _unary(name, numeric):
    def apply(x):
        return numeric(x) if not isinstance(x, _Expr) else _Expr(f"{name}({x.text})")
    return apply


_SYMBOLIC_MATH = types.SimpleNamespace(exp=_unary("exp", np.exp), log=_unary("ln", np.log),
                                       sqrt=_unary("sqrt", np.sqrt))


def sbml_ids(model=MODEL) -> dict[str, dict[str, str]]:
    """SBML id of every state, parameter, input and output: ``{kind: {name: id}}``."""
    outputs = set(model.output_names)
    return {
        "state": {n: n + STATE_CLASH_SUFFIX if n in outputs else n for n in model.state_names},
        "parameter": {n: PATIENT_PREFIX + n if n in patient_table() else n for n in model.param_names},
        "input": {n: n for n in model.input_names},
        "output": {n: n for n in model.output_names},
    }


def _equations(model, ids) -> tuple[list, list]:
    """Rate of every state and value of every output, as formulas."""
    # Without the solver-side drive floor (model.cascade.DRIVE_FLOOR), as without the flush.
    plain = plain_functions(model.module, max=_max, min=_min, math=_SYMBOLIC_MATH, DRIVE_FLOOR=0.0)
    y = [_Expr(ids["state"][n]) for n in model.state_names]
    # The working vector: the parameters, then the derived constants as formulas of them
    # (written into every formula that uses one, so the SBML has no hidden quantities).
    p: list = [_Expr(ids["parameter"][n]) for n in model.param_names] + [0.0] * len(DERIVED_NAMES)
    model.derive(p)  # plain Python: it runs on symbols as it is
    u = [_Expr(ids["input"][n]) for n in model.input_names]
    dy: list = [0.0] * len(y)
    out: list = [0.0] * len(model.output_names)
    plain.rhs(_Expr("time"), y, p, u, dy)
    plain.observe(y, p, out, [True] * len(out))
    return dy, out


def _parameter_vector(regimen: Regimen, params) -> np.ndarray:
    """One patient's parameter vector: the typical patient, with ``params`` applied."""
    typical = Population.typical().parameters(regimen.pk_product)[0]
    if params is None:
        return typical
    names = MODEL.param_names
    if isinstance(params, Mapping):
        vector = typical.copy()
        for name, value in params.items():
            if name not in names:
                raise InputError(f"params[{name!r}]", "no such model parameter", "a name of layout.PARAM_NAMES")
            vector[names.index(name)] = float(value)
    else:
        vector = np.asarray(params, dtype=float)
        if vector.shape != (len(names),):
            raise InputError("params", f"need {len(names)} values, got shape {vector.shape}",
                             "a mapping of names to values, or one value per layout.PARAM_NAMES")
    bad = [n for n, v in zip(names, vector) if not np.isfinite(v)]
    if bad:
        raise InputError(f"params[{bad[0]!r}]", "must be a finite number", "finite values")
    return vector


def _input_levels(times: np.ndarray, deltas: np.ndarray) -> dict[float, float]:
    """A piecewise-constant input from its step changes: ``{time: new level}`` at each
    change; levels below 1e-12 are zero, as in the engines."""
    level = 0.0
    levels = {}
    for t in np.unique(times):
        level += float(deltas[times == t].sum())
        if abs(level) < 1e-12:
            level = 0.0
        levels[float(t)] = level
    return levels


def _notes(text: str) -> str:
    return f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></body>'


def _check(status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise RuntimeError(f"libsbml could not set {what}: {libsbml.OperationReturnValue_toString(status)}")


def _math(formula: str, where: str):
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise RuntimeError(f"libsbml could not parse the formula of {where}: {libsbml.getLastParseL3Error()}")
    return ast


def _parameter(model, sid: str, value: float, constant: bool, name: str = "", notes: str = "") -> None:
    par = model.createParameter()
    _check(par.setId(sid), sid)
    _check(par.setValue(float(value)), f"{sid} value")
    _check(par.setConstant(constant), f"{sid} constant")
    if name:
        par.setName(name)
    if notes:
        _check(par.setNotes(_notes(notes)), f"{sid} notes")


def sbml_document(regimen: Regimen | None = None, params=None, model=MODEL) -> libsbml.SBMLDocument:
    """The SBML document of :func:`export_sbml` (not written)."""
    regimen = regimen or Regimen()
    vector = _parameter_vector(regimen, params)
    ids = sbml_ids(model)
    dy, out = _equations(model, ids)
    described = {}
    for table in (pk_table(regimen.pk_product), pk_table("midazolam"), model_table(), patient_table()):
        for entry in table:
            described[entry.name] = f"{entry.unit}; {entry.source}"

    doc = libsbml.SBMLDocument(3, 2)
    sbml = doc.createModel()
    sbml.setId("ketamine_ptsd")
    sbml.setName("ketamine-ptsd: ketamine therapy for PTSD, from dose to symptom score (one patient)")
    sbml.setNotes(_notes(
        "Exported by ketamine-ptsd. Time in hours, amounts in mg, concentrations in ng/mL. "
        f"Product: {regimen.pk_product}. Research and decision-support software, not a medical device."))
    hour = sbml.createUnitDefinition()
    hour.setId("hour")
    unit = hour.createUnit()
    unit.setKind(libsbml.UNIT_KIND_SECOND)
    unit.setExponent(1)
    unit.setScale(0)
    unit.setMultiplier(3600.0)
    sbml.setTimeUnits("hour")

    for name, value in zip(model.param_names, vector):
        _parameter(sbml, ids["parameter"][name], value, True, name, described.get(name, ""))
    events = model.events(regimen)
    y0 = model.initial_state(1)[0]
    for k, name in enumerate(model.state_names):
        sid = ids["state"][name]
        _parameter(sbml, sid, y0[k], False, name, "model state (layout.STATE_NAMES)")
        rule = sbml.createRateRule()
        _check(rule.setVariable(sid), f"rate rule of {sid}")
        _check(rule.setMath(_math(_text(dy[k]), f"d{sid}/dt")), f"rate of {sid}")
    for k, name in enumerate(model.output_names):
        sid = ids["output"][name]
        _parameter(sbml, sid, 0.0, False, name, model.output_units.get(name, ""))
        rule = sbml.createAssignmentRule()
        _check(rule.setVariable(sid), f"rule of {sid}")
        _check(rule.setMath(_math(_text(out[k]), sid)), f"value of {sid}")

    # One event per time: state jumps add to the state, inputs are set to their new level.
    weight = vector[model.param_names.index("weight_kg")]
    amounts = events.fixed + events.per_kg * weight
    changes: dict[float, dict[str, str]] = {}
    jumps = events.kind == JUMP
    for index in np.unique(events.index[jumps]):
        sid = ids["state"][model.state_names[index]]
        mine = jumps & (events.index == index)
        for t in np.unique(events.time_h[mine]):
            amount = float(amounts[mine & (events.time_h == t)].sum())
            changes.setdefault(float(t), {})[sid] = f"{sid} + {_text(amount)}"
    for k, name in enumerate(model.input_names):
        sid = ids["input"][name]
        mine = (events.kind == RATE) & (events.index == k)
        levels = _input_levels(events.time_h[mine], amounts[mine])
        _parameter(sbml, sid, 0.0, not levels, name, "input set by the regimen's events (piecewise constant in time)")
        for t, level in levels.items():
            changes.setdefault(t, {})[sid] = _text(level)
    for n, t in enumerate(sorted(changes)):
        event = sbml.createEvent()
        _check(event.setId(f"regimen_event_{n + 1}"), f"event at {t:g} h")
        event.setName(f"doses, infusions and sessions at {t:g} h")
        _check(event.setUseValuesFromTriggerTime(True), f"event at {t:g} h")
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        _check(trigger.setMath(_math(f"time >= {t!r}", f"trigger at {t:g} h")), f"trigger at {t:g} h")
        for sid, formula in changes[t].items():
            assignment = event.createEventAssignment()
            _check(assignment.setVariable(sid), f"event assignment of {sid}")
            _check(assignment.setMath(_math(formula, sid)), f"event assignment of {sid}")

    errors = [doc.getError(i) for i in range(doc.checkInternalConsistency())]
    serious = [e for e in errors if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if serious:
        raise RuntimeError("exported SBML is inconsistent: " + serious[0].getMessage())
    return doc


def export_sbml(path: str | os.PathLike, regimen: Regimen | None = None,
                params: Mapping[str, float] | Sequence[float] | None = None) -> Path:
    """Write the model for one patient as SBML Level 3 Version 2 and return the path.

    ``regimen`` adds its doses and therapy sessions (none: the untreated model, inputs 0).
    ``params`` is None for the typical 70-kg patient, a mapping of parameter names
    (``layout.PARAM_NAMES``) to values that replace the typical ones, or a whole parameter
    vector (a row of ``Population.parameters``). Weight scaling is already applied to the
    values written; dose amounts are in mg for this patient's ``weight_kg``. The file is
    written to a temporary name and moved into place, so a failure leaves nothing half-way.
    """
    path = Path(path)
    text = libsbml.writeSBMLToString(sbml_document(regimen, params))
    if not path.parent.is_dir():
        raise InputError("path", f"folder {path.parent} does not exist", "a path in an existing folder")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
