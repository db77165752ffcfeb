"""Parameter tables: every number the equations use, with its unit, variability and source.

The tables are TOML data shipped with the package (``pk.toml``, ``routes.toml``,
``model.toml``, ``patient.toml``). A table is a frozen value; ``replace`` returns a new one,
as Pharmpy does with models.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from functools import cache
from importlib import resources

from ..errors import InputError

PRODUCTS = ("racemic", "esketamine")
SCALINGS = ("cl", "v", "none")


@dataclass(frozen=True)
class Parameter:
    """One model parameter.

    ``value`` is the typical value (70 kg for scaled entries) in ``unit``; ``iiv_cv`` the
    coefficient of variation of its log-normal between-patient variability; ``scaling``
    how it scales with weight (``cl``: (W/70)^0.75, ``v``: W/70, ``none``).
    """

    name: str
    value: float
    unit: str
    iiv_cv: float
    scaling: str
    source: str
    calibrated_to: str | None = None

    @property
    def omega(self) -> float:
        """Standard deviation of the log-normal eta that gives ``iiv_cv``."""
        return math.sqrt(math.log1p(self.iiv_cv**2)) if self.iiv_cv > 0 else 0.0


@dataclass(frozen=True)
class ParameterTable:
    """An immutable, ordered set of named parameters."""

    parameters: tuple[Parameter, ...]
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {p.name: i for i, p in enumerate(self.parameters)})

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self.parameters[self._index[name]]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}") from None

    def __iter__(self):
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def value(self, name: str) -> float:
        """Typical value of ``name``."""
        return self[name].value

    def replace(self, calibrated_to: Mapping[str, str] | None = None, iiv: Mapping[str, float] | None = None,
                **values: float) -> ParameterTable:
        """A new table with some typical values (or ``iiv`` coefficients of variation) changed.

        ``calibrated_to`` maps parameter names to the target id they were fitted to.
        """
        calibrated_to = calibrated_to or {}
        iiv = iiv or {}
        for name in list(values) + list(calibrated_to) + list(iiv):
            if name not in self._index:
                raise InputError(name, "no such parameter", ", ".join(self.names))
        new = []
        for p in self.parameters:
            if p.name in values or p.name in calibrated_to or p.name in iiv:
                p = dc_replace(
                    p,
                    value=float(values.get(p.name, p.value)),
                    iiv_cv=float(iiv.get(p.name, p.iiv_cv)),
                    calibrated_to=calibrated_to.get(p.name, p.calibrated_to),
                )
            new.append(p)
        return ParameterTable(tuple(new))

    def merged(self, other: ParameterTable) -> ParameterTable:
        """This table followed by ``other`` (names must not clash)."""
        clash = set(self.names) & set(other.names)
        if clash:
            raise ValueError(f"parameter names defined twice: {sorted(clash)}")
        return ParameterTable(self.parameters + other.parameters)

    def to_toml(self, group: str) -> str:
        """The table as TOML text in the layout of the packaged files."""
        lines = []
        for p in self.parameters:
            lines.append(f"[{group}.{p.name}]")
            lines.append(f"value = {p.value!r}")
            lines.append(f"unit = {_quote(p.unit)}")
            lines.append(f"iiv_cv = {p.iiv_cv!r}")
            lines.append(f"scaling = {_quote(p.scaling)}")
            lines.append(f"source = {_quote(p.source)}")
            if p.calibrated_to:
                lines.append(f"calibrated_to = {_quote(p.calibrated_to)}")
            lines.append("")
        return "\n".join(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_entries(entries: Mapping, where: str) -> tuple[Parameter, ...]:
    params = []
    for name, entry in entries.items():
        if not isinstance(entry, Mapping):
            continue
        for key in ("value", "unit", "source"):
            if key not in entry:
                raise ValueError(f"{where}.{name}: missing {key!r}")
        scaling = entry.get("scaling", "none")
        if scaling not in SCALINGS:
            raise ValueError(f"{where}.{name}: scaling {scaling!r} not one of {SCALINGS}")
        params.append(
            Parameter(
                name=name,
                value=float(entry["value"]),
                unit=str(entry["unit"]),
                iiv_cv=float(entry.get("iiv_cv", 0.0)),
                scaling=scaling,
                source=str(entry["source"]),
                calibrated_to=entry.get("calibrated_to"),
            )
        )
    return tuple(params)


@cache
def _read(filename: str) -> dict:
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return tomllib.loads(text)


def pk_table(product: str) -> ParameterTable:
    """Pharmacokinetic parameters of ``product`` (``racemic``, ``esketamine`` or ``midazolam``)."""
    data = _read("pk.toml")
    if product not in data:
        raise InputError("drug", f"unknown product {product!r}", ", ".join(PRODUCTS))
    return ParameterTable(_parse_entries(data[product], product))


def model_table(data: Mapping | None = None) -> ParameterTable:
    """Acute-effect, cascade and symptom parameters, in file order.

    ``data`` is a parsed file of the same layout (for instance from ``calibrate``); by
    default the packaged ``model.toml``.
    """
    data = data if data is not None else _read("model.toml")
    tables = [ParameterTable(_parse_entries(data[g], g)) for g in ("acute", "cascade", "symptoms")]
    out = tables[0]
    for t in tables[1:]:
        out = out.merged(t)
    return out


def patient_table() -> ParameterTable:
    """Default covariates of the typical patient."""
    return ParameterTable(_parse_entries(_read("patient.toml")["patient"], "patient"))


def route_rules() -> dict[str, dict[str, dict]]:
    """Route rules per product and route (see ``routes.toml``)."""
    return _read("routes.toml")


#: The population of ``Population.virtual`` and ``CovariateModel`` when none is named.
DEFAULT_POPULATION = "civilian_ptsd"


def population_names() -> tuple[str, ...]:
    """Names of the populations of ``populations.toml``."""
    return tuple(_read("populations.toml"))


def population_spec(name: str | None = None) -> dict:
    """The entry of population ``name`` in ``populations.toml`` (default
    :data:`DEFAULT_POPULATION`): description, source, female_fraction, resistant_fraction,
    covariates {name: {median, cv}} and phenotype {parameter: {factor, cv}}."""
    data = _read("populations.toml")
    name = name or DEFAULT_POPULATION
    if name not in data:
        raise InputError("population", f"unknown population {name!r}", ", ".join(data))
    return data[name]


def measurement_sd(name: str) -> tuple[float, str]:
    """Default SD (points) of the measurement error of one assessment of instrument
    ``name`` (``pcl5_total``, ``caps5_total``, ``madrs``, ``iesr_total``) and its source."""
    data = _read("measurement.toml")
    if name not in data:
        raise InputError("instrument", f"no default measurement error for {name!r}", ", ".join(data))
    return float(data[name]["sd"]), str(data[name]["source"])


def model_groups() -> dict[str, str]:
    """The section (``acute``, ``cascade`` or ``symptoms``) of each entry of ``model.toml``."""
    data = _read("model.toml")
    return {name: group for group in ("acute", "cascade", "symptoms") for name in data[group]}
