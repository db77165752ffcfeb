"""Where a key of a TOML trial specification is written (line numbers by dotted path) and
how a pydantic validation error is turned into words: the field, the message, what is allowed."""

from __future__ import annotations

import re
from typing import get_args, get_origin

from pydantic import BaseModel


def key_lines(text: str) -> dict[str, int]:
    """Line number of every table and key of a TOML text, by dotted path (``arms[1].dose``)."""
    lines: dict[str, int] = {}
    arrays: dict[str, int] = {}
    table = ""
    name = r"[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*"

    def resolve(path: str) -> str:
        parts = [p.strip() for p in path.split(".")]
        out = []
        for p in parts:
            out.append(p)
            joined = ".".join(out)
            if joined in arrays:
                out = [f"{joined}[{arrays[joined] - 1}]"]
        return ".".join(out)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if m := re.match(rf"^\[\[\s*({name})\s*\]\]", line):
            key = ".".join(p.strip() for p in m.group(1).split("."))
            arrays[key] = arrays.get(key, 0) + 1
            table = resolve(key)
            lines[table] = number
        elif m := re.match(rf"^\[\s*({name})\s*\]", line):
            table = resolve(m.group(1))
            lines[table] = number
        elif m := re.match(rf"^({name})\s*=(.*)$", line):
            key = ".".join(p.strip() for p in m.group(1).split("."))
            path = f"{table}.{key}" if table else key
            lines[path] = number
            for inner in re.findall(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", m.group(2)):
                lines[f"{path}.{inner}"] = number
    return lines


def loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def allowed_text(error: dict) -> str | None:
    ctx = error.get("ctx") or {}
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    bounds = [f"{words[k]} {ctx[k]}" for k in ("ge", "gt", "le", "lt") if k in ctx]
    if bounds:
        return " and ".join(bounds)
    if "expected" in ctx:
        return str(ctx["expected"])
    if "min_length" in ctx:
        return f"at least {ctx['min_length']} entries"
    return None


def fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Names of the keys allowed in the table at ``loc`` of ``model`` (for an unknown-key error)."""
    cls = model
    keyed = False  # the previous part was a table of named tables ([outcomes.madrs]): skip the name
    for part in loc:
        if isinstance(part, int) or cls is None:
            continue
        if keyed:
            keyed = False
            continue
        if part not in cls.model_fields:
            cls = None
            break
        ann = cls.model_fields[part].annotation
        keyed = get_origin(ann) is dict
        candidates = [ann, *get_args(ann)]
        for a in list(candidates):
            candidates += list(get_args(a))
        cls = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return sorted(cls.model_fields) if cls is not None else []



def validation_error(error: dict, model: type[BaseModel], where) -> tuple[str, str, str | None]:
    """The first error of a pydantic ``ValidationError`` as (where, message, allowed), with
    ``where(path)`` placing the dotted path of the field (file and line)."""
    loc = tuple(error["loc"])
    path = where(loc_path(loc))
    if error["type"] == "extra_forbidden":
        return path, "unknown key", ", ".join(fields_at(model, loc[:-1])) or None
    if error["type"] == "missing":
        return path, "required key missing", None
    if error["type"] == "literal_error":
        return path, f"unknown value {error['input']!r}", allowed_text(error)
    allowed = allowed_text(error)
    return path, (f"out of range: {error['input']!r}" if allowed and "ctx" in error else error["msg"]), allowed


def place(lines: dict[str, int], label: str, path: str) -> str:
    """``path`` (``arms[1].dose``) with the spec's ``label`` and the line it, or the nearest
    table above it, is on."""
    probe = path
    while probe and probe not in lines:
        shorter = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
        probe = "" if shorter == probe else shorter
    line = lines.get(probe)
    return f"{label} line {line}, {path}" if line else f"{label}, {path}"
