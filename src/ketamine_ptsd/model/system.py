"""The assembled model: one right-hand side and one output function over the layers, the
mapping of a regimen onto events, and the :class:`Model` value that engines integrate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dosing import Dose, Product, Regimen, Route, administrations
from ..errors import InputError
from ..params import ParameterTable, model_table, pk_table
from . import layout as L
from ._jit import FASTMATH, njit
from .acute import acute_rhs, cadss, sedation, vitals
from .cascade import (
    cascade_rhs,
    glutamate_rise,
    nmda_occupancy,
    plasticity,
    plasticity_of_flux,
    synaptic_density,
)
from .derived import derive, prepare_all
from .pk import (
    midazolam_ng_ml,
    pk_rhs,
    r_ketamine_ng_ml,
    r_norketamine_ng_ml,
    s_ketamine_ng_ml,
    s_norketamine_ng_ml,
)
from .symptoms import madrs_score, ptsd_scores, symptom_rhs, treatment_drives

# The model's numba functions are deliberately not cached one by one: numba keys a cache on
# the file of the cached function only, so a change in ``layout`` would leave stale copies.
# The engine caches its compiled kernel, keyed on the hash of every model source file.
# The parts of ``rhs`` (``pk_rhs``, ``acute_rhs``, ``cascade_rhs``, ``symptom_rhs``) are inlined
# (``inline="always"``) so that ``rhs`` is a leaf: compiled code that passes an array on to a
# further compiled call takes an atomic reference count on it, and those counts were a third of
# a course's time (measured with perf). Keep new parts of ``rhs`` inlined too.

#: Event kinds of the event table.
JUMP, RATE = 0, 1


__all__ = ["FASTMATH", "MODEL", "Model", "derive", "observe", "rhs"]


@njit
def rhs(t, y, p, u, dy):
    """dy/dt of the whole model at time ``t`` (h) for state ``y``, working vector ``p``
    (parameters and derived constants, see ``derived``) and piecewise-constant inputs ``u``."""
    pk_rhs(y, p, u, dy)
    acute_rhs(y, p, dy)
    s_nk = s_norketamine_ng_ml(y, p)
    r_nk = r_norketamine_ng_ml(y, p)
    occupancy = nmda_occupancy(y, p, s_nk, r_nk)
    formation = cascade_rhs(y, p, occupancy, dy)
    symptom_rhs(y, p, u, plasticity_of_flux(formation, p), dy)


@njit
def observe(y, p, out, need):
    """The outputs (``layout.OUTPUT_NAMES``) for state ``y``: every output ``k`` with
    ``need[k]`` true is written (others of its group may be too). Each group is computed, and
    its states read, only when one of its outputs is needed, so the solver interpolates only
    the states that the requested outputs read (``engine.dependencies``)."""
    if need[L.Y_KET] or need[L.Y_SKET] or need[L.Y_RKET]:
        s_ket = s_ketamine_ng_ml(y, p)
        r_ket = r_ketamine_ng_ml(y, p)
        out[L.Y_KET] = s_ket + r_ket
        out[L.Y_SKET] = s_ket
        out[L.Y_RKET] = r_ket
    occupancy_group = need[L.Y_OCC] or need[L.Y_GLU]
    vitals_group = need[L.Y_SBP] or need[L.Y_DBP] or need[L.Y_HR]
    s_nk = 0.0
    r_nk = 0.0
    if need[L.Y_NK] or occupancy_group or vitals_group:
        s_nk = s_norketamine_ng_ml(y, p)
        r_nk = r_norketamine_ng_ml(y, p)
        out[L.Y_NK] = s_nk + r_nk
    if need[L.Y_CE]:
        out[L.Y_CE] = max(y[L.X_CES], 0.0) + max(y[L.X_CER], 0.0)
    if need[L.Y_MDZ] or need[L.Y_SED]:
        mdz = midazolam_ng_ml(y, p)
        out[L.Y_MDZ] = mdz
        if need[L.Y_SED]:
            out[L.Y_SED] = sedation(mdz, p)
    if occupancy_group:
        occupancy = nmda_occupancy(y, p, s_nk, r_nk)
        out[L.Y_OCC] = occupancy
        out[L.Y_GLU] = 1.0 + glutamate_rise(y, p, occupancy)
    if need[L.Y_MTOR]:
        out[L.Y_MTOR] = max(y[L.X_MTOR], 0.0)
    if need[L.Y_BDNF]:
        out[L.Y_BDNF] = max(y[L.X_BDNF], 0.0)
    if need[L.Y_SYN]:
        out[L.Y_SYN] = synaptic_density(y, p)
    if need[L.Y_PLAST]:
        out[L.Y_PLAST] = plasticity(y, p)
    if need[L.Y_CADSS]:
        out[L.Y_CADSS] = cadss(y, p)
    if vitals_group:
        sbp, dbp, hr = vitals(y, p, s_nk)
        out[L.Y_SBP] = sbp
        out[L.Y_DBP] = dbp
        out[L.Y_HR] = hr
    ptsd = (need[L.Y_PCL5] or need[L.Y_PCL5_B] or need[L.Y_PCL5_C] or need[L.Y_PCL5_D] or need[L.Y_PCL5_E]
            or need[L.Y_CAPS5] or need[L.Y_IESR])
    if ptsd or need[L.Y_MADRS]:
        drive_ptsd, drive_dep, therapy, expectancy, oral_ad, sens = treatment_drives(y, p)
        if ptsd:
            ptsd_scores(p, drive_ptsd, therapy, expectancy, oral_ad, out, L.Y_PCL5, L.Y_PCL5_B, L.Y_PCL5_C, L.Y_PCL5_D,
                        L.Y_PCL5_E, L.Y_CAPS5, L.Y_IESR)
        if need[L.Y_MADRS]:
            out[L.Y_MADRS] = madrs_score(p, drive_dep, therapy, expectancy, oral_ad, sens)


@dataclass(frozen=True)
class EventTable:
    """Dose and session events shared by every patient of a simulation.

    The amount of event ``k`` for a patient of weight W is ``fixed[k] + per_kg[k] * W``;
    ``kind`` is JUMP (added to state ``index``) or RATE (added to input ``index``).
    """

    time_h: np.ndarray
    kind: np.ndarray
    index: np.ndarray
    fixed: np.ndarray
    per_kg: np.ndarray

    def __len__(self) -> int:
        return int(self.time_h.size)


def session_expectancy(dose: Dose, open_label: bool, table: ParameterTable | None = None) -> float:
    """Expectancy a session adds, by its context: the product and route given (ketamine,
    esketamine nasal spray, midazolam, saline IV, placebo nasal spray) and whether the
    treatment is open label."""
    table = table or model_table()
    spray = dose.route is Route.INTRANASAL
    if dose.product is Product.SALINE:
        key = "placebo_spray" if spray else "saline"
    elif dose.product is Product.MIDAZOLAM:
        key = "midazolam"
    else:
        key = "esketamine_spray" if spray else "ketamine"
    weight = table.value(f"session_expectancy_{key}")
    return weight * (table.value("open_label_expectancy") if open_label else 1.0)


def build_events(regimen: Regimen, table: ParameterTable | None = None) -> EventTable:
    """Map a regimen's administrations, therapy sessions and concomitant oral
    antidepressant onto model events; each session's expectancy weight comes from the model
    parameter table ``table`` (default: the packaged ``model.toml``), so a calibrated or
    overridden table reaches the sessions as it reaches the patients' parameters."""
    table = table or model_table()
    s_fraction = pk_table(regimen.pk_product).value("s_fraction")
    rows: list[tuple[float, int, int, float, float]] = []

    def rate(t, dur, index, fixed, per_kg):
        rows.append((t, RATE, index, fixed / dur, per_kg / dur))
        rows.append((t + dur, RATE, index, -fixed / dur, -per_kg / dur))

    jump_targets = {
        "depot_im": L.X_DEP_IM, "depot_nasal": L.X_DEP_NASAL, "depot_sl": L.X_DEP_SL,
        "depot_gut": L.X_DEP_GUT, "midazolam": L.X_MDZ,
    }
    rate_targets = {"iv": L.U_IV, "gut_rate": L.U_GUT, "midazolam_rate": L.U_MDZ}
    for dose in regimen.doses:
        rows.append((dose.time_h, JUMP, L.X_EXPECT_PENDING, session_expectancy(dose, regimen.open_label, table), 0.0))
    if regimen.oral_ad == "new":
        rows.append((0.0, RATE, L.U_ORAL_AD, 1.0, 0.0))
    for a in administrations(regimen):
        if a.target == "session":
            continue
        if a.target == "central":
            rows.append((a.time_h, JUMP, L.X_S1, a.fixed_mg * s_fraction, a.per_kg_mg * s_fraction))
            rows.append((a.time_h, JUMP, L.X_R1, a.fixed_mg * (1 - s_fraction),
                         a.per_kg_mg * (1 - s_fraction)))
        elif a.target in rate_targets:
            rate(a.time_h, a.duration_h, rate_targets[a.target], a.fixed_mg, a.per_kg_mg)
        else:
            rows.append((a.time_h, JUMP, jump_targets[a.target], a.fixed_mg, a.per_kg_mg))
    for s in regimen.therapy:
        rate(s.time_h, s.duration_h, L.U_THERAPY, s.duration_h, 0.0)
    rows.sort(key=lambda r: r[0])
    if not rows:
        empty = np.zeros(0)
        return EventTable(empty, np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty)
    t, kind, index, fixed, per_kg = (np.array(c) for c in zip(*rows))
    return EventTable(t.astype(np.float64), kind.astype(np.int64), index.astype(np.int64),
                      fixed.astype(np.float64), per_kg.astype(np.float64))


@dataclass(frozen=True)
class Model:
    """What an engine integrates: right-hand side, outputs and their layout.

    ``rhs(t, y, p, u, dy)`` and ``observe(y, p, out, need)`` are numba functions importable
    as ``module.rhs`` / ``module.observe``; their ``p`` is a patient's working vector, the
    parameters followed by the constants ``derive(p)`` writes (:meth:`prepare` makes them for
    a population); ``module.FASTMATH`` is the floating-point licence they are compiled under,
    which a solver compiled around them should share; ``source_files`` lets engines
    key compiled code on the model's source. ``stiffness_params`` name the parameters, most
    telling first, by which patients needing similar step sizes are found: the lockstep kernel
    groups patients in that order, since a group steps at its stiffest patient's pace.
    """

    name: str
    module: str
    state_names: tuple[str, ...]
    input_names: tuple[str, ...]
    param_names: tuple[str, ...]
    output_names: tuple[str, ...]
    output_units: dict
    source_files: tuple[Path, ...]
    stiffness_params: tuple[str, ...] = ()

    @property
    def rhs(self):
        return rhs

    @property
    def observe(self):
        return observe

    @property
    def derive(self):
        return derive

    def prepare(self, params: np.ndarray) -> np.ndarray:
        """Working vectors (N x (parameters + derived constants)) of patients ``params``
        (N x parameters), which ``rhs`` and ``observe`` read."""
        params = np.ascontiguousarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != len(self.param_names):
            raise InputError("params", f"need N x {len(self.param_names)} values, got shape {params.shape}",
                             "one row per patient, one column per layout.PARAM_NAMES")
        return prepare_all(params)

    def all_outputs(self) -> np.ndarray:
        """The ``need`` argument of ``observe`` that asks for every output."""
        return np.ones(len(self.output_names), dtype=np.bool_)

    def initial_state(self, n: int) -> np.ndarray:
        """Untreated baseline: no drug, cascade and symptoms at the patient's set-points."""
        return np.zeros((n, len(self.state_names)))

    def events(self, regimen: Regimen, table: ParameterTable | None = None) -> EventTable:
        """The event table of ``regimen`` under model parameter table ``table`` (default: the
        packaged one): the session expectancy weights are read from it."""
        return build_events(regimen, table)


_HERE = Path(__file__).resolve().parent
MODEL = Model(
    name="ketamine-ptsd",
    module=__name__,
    state_names=L.STATE_NAMES,
    input_names=L.INPUT_NAMES,
    param_names=L.PARAM_NAMES,
    output_names=L.OUTPUT_NAMES,
    output_units=L.OUTPUT_UNITS,
    source_files=tuple(sorted(_HERE.glob("*.py"))) + (_HERE.parent / "units.py",),
    # The effect-site rate ke0 is the fastest active process: over 2,000 virtual patients on
    # the induction series, log ke0 correlates 0.93 with the steps the per-patient kernel takes.
    stiffness_params=("ke0",),
)
