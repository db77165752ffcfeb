"""Validation against the published targets: every quantity, its simulated value, its band
and pass/fail, plus the report ``docs/validation.md`` with curves against published points."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np

from ..params import ParameterTable, model_table, population_names, population_spec
from .scenarios import DEFINITIONS, Settings, compute_quantities

META_KEYS = {"id", "role", "what", "scenario", "unit", "source", "value", "values", "low", "high", "n", "note",
             "baseline_madrs"}
#: Keys of a quantity's table that describe it rather than give a value to check.
DESCRIPTIVE = {"note", "definition", "tolerance"}


@dataclass(frozen=True)
class Band:
    """Accepted band of one quantity; ``low``/``high`` None means open on that side."""

    id: str
    target: str
    what: str
    source: str
    value: object = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class TargetResult:
    id: str
    status: str
    simulated: object
    low: object
    high: object
    value: object = None
    unit: str = ""
    target: str = ""
    what: str = ""
    source: str = ""
    definition: str = ""
    role: str = ""

    def to_dict(self) -> dict:
        """The JSON entry of ``validate --json``."""
        sim = self.simulated
        if isinstance(sim, float) and not math.isfinite(sim):
            sim = None
        return {"id": self.id, "target": self.target, "status": self.status, "simulated": sim,
                "published": self.value, "low": self.low, "high": self.high, "role": self.role}

    def full(self) -> dict:
        return asdict(self)


def format_value(value, missing: str = "") -> str:
    """A simulated value or band edge as shown in tables (4 significant digits)."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def load_targets() -> list[dict]:
    """The project's copy of the targets (``calibration/targets.toml``)."""
    text = resources.files(__package__).joinpath("targets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["target"]


def bands(targets: list[dict] | None = None) -> list[Band]:
    """Flatten the targets into one band per checked quantity."""
    out = []
    for t in targets or load_targets():
        common = {"target": t["id"], "what": t["what"], "source": t["source"]}
        unit = t.get("unit", "")
        if "values" in t:
            low, high = t.get("low", {}), t.get("high", {})
            for key, value in t["values"].items():
                lo = low.get(key, value if not low else None)
                hi = high.get(key, value if not high else None)
                out.append(Band(f"{t['id']}.{key}", value=value, low=lo, high=hi, unit=unit, **common))
            continue
        if "value" in t:
            out.append(Band(f"{t['id']}.value", value=t["value"], low=t.get("low"), high=t.get("high"),
                            unit=unit, **common))
        for key, spec in t.items():
            if key in META_KEYS:
                continue
            if isinstance(spec, bool):
                out.append(Band(f"{t['id']}.{key}", value=spec, note="must be true" if spec else "must be false",
                                **common))
            elif isinstance(spec, str):
                # A stated relation (e.g. an order of doses): checked as true or false.
                out.append(Band(f"{t['id']}.{key}", value=True, note=spec, **common))
            elif isinstance(spec, dict) and not ({"value", "low", "high", "low_fraction_of_peak"} & set(spec)):
                out.extend(_per_arm_bands(f"{t['id']}.{key}", spec, common))
            elif isinstance(spec, dict):
                low = spec.get("low", spec.get("low_fraction_of_peak"))
                out.append(Band(f"{t['id']}.{key}", value=spec.get("value"), low=low, high=spec.get("high"),
                                note=spec.get("definition", spec.get("note", "")), **common))
            elif isinstance(spec, list):
                out.append(Band(f"{t['id']}.{key}", value=",".join(spec), note="must include every listed item",
                                **common))
    return out


def _per_arm_bands(prefix: str, spec: dict, common: dict) -> list[Band]:
    """Bands of a quantity given per arm or dose: ``{arm = value, ..., tolerance = t}`` (band
    value +- t) or ``{arm = value, arm_low = l, arm_high = h}`` (either edge may be absent)."""
    note = spec.get("note", "")
    tolerance = spec.get("tolerance")
    arms = []
    for key in spec:
        if key in DESCRIPTIVE:
            continue
        arm = key.removesuffix("_low").removesuffix("_high")
        if arm not in arms:
            arms.append(arm)
    out = []
    for arm in arms:
        value = spec.get(arm)
        if tolerance is not None and value is not None:
            low, high = value - tolerance, value + tolerance
        else:
            low, high = spec.get(f"{arm}_low"), spec.get(f"{arm}_high")
        out.append(Band(f"{prefix}.{arm}", value=value, low=low, high=high, note=note, **common))
    return out


def check(band: Band, simulated) -> str:
    """pass / fail / not_modelled for one quantity."""
    if simulated is None:
        return "not_modelled"
    if isinstance(band.value, bool):
        return "pass" if isinstance(simulated, (bool, np.bool_)) and bool(simulated) == band.value else "fail"
    if isinstance(band.value, str):
        have = set(str(simulated).split(",")) - {""}
        return "pass" if set(band.value.split(",")) <= have else "fail"
    if not isinstance(simulated, (int, float)) or not math.isfinite(simulated):
        return "fail"
    if band.low is None and band.high is None:
        return "pass" if math.isclose(simulated, band.value, rel_tol=1e-9) else "fail"
    if band.low == band.high:
        # A point target (IV bioavailability 1.0): equal within the 0.1 % of AUC quadrature.
        return "pass" if math.isclose(simulated, band.low, rel_tol=1e-3) else "fail"
    if band.low is not None and simulated < band.low:
        return "fail"
    if band.high is not None and simulated > band.high:
        return "fail"
    return "pass"


FITTED, PREDICTED = "fitted", "predicted (not fitted)"
#: Roles of a target in calibration (``role`` in targets.toml): fitted by ``calibrate``, or
#: held out of the fit.
TRAIN, TEST = "train", "test"


def target_roles() -> dict[str, str]:
    """``role`` of every target (``train`` or ``test``) by target id."""
    roles = {}
    for t in load_targets():
        role = t.get("role")
        if role not in (TRAIN, TEST):
            raise ValueError(f"target {t['id']}: role must be {TRAIN!r} or {TEST!r}, got {role!r}")
        roles[t["id"]] = role
    return roles


def fitted_targets(params: ParameterTable | None = None) -> set[str]:
    """Ids of the targets that ``calibrate`` fits (``role = "train"``) or that some parameter
    (``calibrated_to`` of the model table) or some population (``calibrated_to`` of
    ``params/populations.toml``) was set to by hand."""
    texts = [p.calibrated_to or "" for p in (params or model_table())]
    texts += [str(population_spec(name).get("calibrated_to", "")) for name in population_names()]
    roles = target_roles()
    named = {i for i in roles if any(re.search(rf"(?<![\w.]){re.escape(i)}(?![\w])", text) for text in texts)}
    return named | {i for i, role in roles.items() if role == TRAIN}


def run_validation(params: ParameterTable | None = None, settings: Settings = Settings()) -> list[TargetResult]:
    """Simulate every target scenario and check each quantity against its band; each
    result says whether its target was fitted or is a prediction."""
    quantities = compute_quantities(params, settings)
    fitted = fitted_targets(params)
    results = []
    for b in bands():
        sim = quantities.get(b.id)
        results.append(TargetResult(
            id=b.id, status=check(b, sim), simulated=sim, low=b.low, high=b.high, value=b.value,
            unit=b.unit, target=b.target, what=b.what, source=b.source,
            definition=b.note or DEFINITIONS.get(b.target, ""),
            role=FITTED if b.target in fitted else PREDICTED,
        ))
    return results
