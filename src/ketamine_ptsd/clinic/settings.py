"""Thresholds of the clinic toolkit: loading, validation and local overrides.

Every number the clinic modules compare against lives in ``clinic/data/settings.toml``,
next to its source and evidence tag (V verified, M background knowledge, U uncertain).
A table that has ``source`` and ``tag`` is a *rule*; its other keys are parameters.

A clinic overrides rules with a partial copy of that file or a nested dict, e.g.
``{"pcl5": {"cut_point": {"at_or_above": 31}}}``, or with dotted keys
``{"pcl5.cut_point.at_or_above": 31}``. Unknown keys and type changes are rejected so
that a typo cannot silently leave the default in force.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.files import read_toml

TAGS = ("V", "M", "U")
# Severity words the clinic modules understand; checked so a typo cannot disable a rule.
SEVERITIES = ("note", "notable", "review", "hold", "stop", "hard_stop")
_META = ("source", "tag", "note")
_SETTINGS_FIELD = "settings"


@dataclass(frozen=True)
class Rule:
    """One rule of the settings file: its parameters, source, evidence tag and note."""

    key: str
    params: Mapping[str, Any]
    source: str
    tag: str
    note: str = ""
    overridden: bool = False

    def __getitem__(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise KeyError(f"rule {self.key} has no parameter {name!r}") from None

    @property
    def citation(self) -> str:
        """Source and tag in one line, marking local overrides."""
        text = f"{self.source} [{self.tag}]"
        if self.overridden:
            text += " (overridden locally)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Parameters plus provenance, for JSON export."""
        return {
            **{k: _plain(v) for k, v in self.params.items()},
            "source": self.source,
            "tag": self.tag,
            "note": self.note,
            "overridden": self.overridden,
        }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class Settings:
    """All rules, addressed by dotted key (``"pcl5.cut_point"``)."""

    def __init__(self, rules: Mapping[str, Rule]):
        self._rules = MappingProxyType(dict(rules))

    def rule(self, key: str) -> Rule:
        """The rule at ``key``; a missing key is a programming error (KeyError)."""
        try:
            return self._rules[key]
        except KeyError:
            raise KeyError(f"no rule {key!r} in settings") from None

    __getitem__ = rule

    def children(self, prefix: str) -> dict[str, Rule]:
        """Rules exactly one level below ``prefix``, keyed by their last name part."""
        head = prefix + "."
        return {
            key[len(head):]: rule
            for key, rule in self._rules.items()
            if key.startswith(head) and "." not in key[len(head):]
        }

    def keys(self) -> list[str]:
        """Dotted keys of every rule, in file order."""
        return list(self._rules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __contains__(self, key: object) -> bool:
        return key in self._rules

    @property
    def overridden_keys(self) -> list[str]:
        """Keys of the rules changed by a local override."""
        return [k for k, r in self._rules.items() if r.overridden]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Flat ``{dotted key: rule as dict}`` export."""
        return {k: r.to_dict() for k, r in self._rules.items()}


def _walk(tree: Mapping[str, Any], prefix: str, out: dict[str, dict[str, Any]]) -> None:
    if "source" in tree or "tag" in tree:
        out[prefix] = dict(tree)
        return
    for name, value in tree.items():
        key = f"{prefix}.{name}" if prefix else name
        if not isinstance(value, Mapping):
            raise TypeError(f"settings: {key} is a value outside a rule (needs source and tag)")
        _walk(value, key, out)


def _make_rule(key: str, table: Mapping[str, Any], overridden: bool = False) -> Rule:
    source, tag = table.get("source"), table.get("tag")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"settings: rule {key} has no source")
    if tag not in TAGS:
        raise ValueError(f"settings: rule {key} has tag {tag!r}, expected one of {TAGS}")
    params = {}
    for name, value in table.items():
        if name in _META:
            continue
        if isinstance(value, Mapping):
            raise TypeError(f"settings: rule {key} contains a sub-table {name!r}")
        params[name] = tuple(value) if isinstance(value, list) else value
    return Rule(
        key=key,
        params=MappingProxyType(params),
        source=source,
        tag=tag,
        note=str(table.get("note", "")),
        overridden=overridden,
    )


@lru_cache(maxsize=4)
def packaged_table(name: str) -> dict[str, Any]:
    """A TOML file shipped in ``clinic/data`` (``settings`` or ``regulatory``), parsed.

    This and the override reader are the only file access in the clinic package.
    """
    text = resources.files("ketamine_ptsd.clinic").joinpath(f"data/{name}.toml").read_text(
        encoding="utf-8"
    )
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def _default_tables() -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    _walk(packaged_table("settings"), "", tables)
    return tables


@lru_cache(maxsize=1)
def default_settings() -> Settings:
    """The packaged defaults (cached; Settings objects are immutable)."""
    return Settings({k: _make_rule(k, t) for k, t in _default_tables().items()})


def _same_kind(default: Any, new: Any) -> bool:
    if isinstance(default, bool) or isinstance(new, bool):
        return isinstance(default, bool) and isinstance(new, bool)
    if isinstance(default, (int, float)):
        return isinstance(new, (int, float))
    if isinstance(default, (list, tuple)):
        if not isinstance(new, (list, tuple)):
            return False
        return not default or all(_same_kind(default[0], v) for v in new)
    return isinstance(new, type(default))


def _kind_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list" + (f" of {_kind_name(value[0])}s" if value else "")
    return "a string"


def _flatten_override(override: Mapping[str, Any], tables: Mapping[str, Any]) -> dict:
    """Turn nested or dotted override keys into ``{rule key: {param: value}}``."""
    changes: dict[str, dict[str, Any]] = {}

    def place(path: list[str], value: Any) -> None:
        for cut in range(len(path) - 1, 0, -1):
            key = ".".join(path[:cut])
            if key in tables:
                rest = path[cut:]
                if len(rest) != 1:
                    break
                changes.setdefault(key, {})[rest[0]] = value
                return
        key = ".".join(path)
        if isinstance(value, Mapping) and (
            key in tables or any(t.startswith(key + ".") for t in tables)
        ):
            for name, sub in value.items():
                place(path + str(name).split("."), sub)
            return
        raise InputError(
            f"{_SETTINGS_FIELD} {key}",
            "unknown setting",
            "a rule parameter named in clinic/data/settings.toml, e.g. pcl5.cut_point.at_or_above",
        )

    for name, value in override.items():
        place(str(name).split("."), value)
    return changes


def load_settings(
    override: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> Settings:
    """Defaults, with an optional override dict or TOML file applied on top.

    Raises InputError naming the offending key for unknown keys, wrong value types
    and unknown evidence tags.
    """
    if override is None:
        return default_settings()
    if not isinstance(override, Mapping):
        override = read_toml(override, _SETTINGS_FIELD, "TOML in the layout of clinic/data/settings.toml")
    tables = _default_tables()
    rules = dict(default_settings()._rules)
    for key, params in _flatten_override(override, tables).items():
        merged = dict(tables[key])
        for name, value in params.items():
            field = f"{_SETTINGS_FIELD} {key}.{name}"
            if name not in merged:
                raise InputError(field, "unknown parameter",
                                 ", ".join(n for n in merged if n not in _META) or "none")
            if name == "tag" and value not in TAGS:
                raise InputError(field, f"unknown evidence tag {value!r}", "V, M or U")
            if name.startswith("severity") and value not in SEVERITIES:
                raise InputError(field, f"unknown severity {value!r}", ", ".join(SEVERITIES))
            if name not in _META and not _same_kind(merged[name], value):
                raise InputError(field, f"{value!r} has the wrong type",
                                 _kind_name(merged[name]))
            merged[name] = value
        rules[key] = _make_rule(key, merged, overridden=True)
    return Settings(rules)


def resolve(settings: Settings | Mapping[str, Any] | str | os.PathLike[str] | None) -> Settings:
    """Accept a Settings object, an override (dict or file) or None for the defaults."""
    return settings if isinstance(settings, Settings) else load_settings(settings)


class RuleLog:
    """Collects flags, notes and the thresholds (with their citations) a result used."""

    def __init__(self) -> None:
        self.flags: list[str] = []
        self.notes: list[str] = []
        self.thresholds: dict[str, str] = {}

    def flag(self, code: str, text: str) -> None:
        self.flags.append(code)
        self.notes.append(f"{code}: {text}")

    def use(self, rule: Rule) -> Rule:
        self.thresholds[rule.key] = rule.citation
        return rule

    def common(self) -> dict[str, Any]:
        """The flags, notes and thresholds as keyword arguments of a result."""
        return {"flags": tuple(self.flags), "notes": tuple(self.notes),
                "thresholds": dict(self.thresholds)}
