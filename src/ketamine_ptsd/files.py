"""Reading the user's input files, with one clear error naming the file on failure."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import InputError


def read_toml(path: str | os.PathLike[str], field: str, expected: str) -> dict[str, Any]:
    """Parse the TOML file at ``path``; an unreadable or invalid file is an InputError
    naming ``field``, with ``expected`` describing what the file should be."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(field, f"cannot read {p.name}: {exc.strerror}", "a readable TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(field, f"{p.name} is not valid TOML ({exc})", expected) from None


def write_atomic(path: str | os.PathLike[str], content: str | bytes) -> Path:
    """Write ``content`` to ``path`` under a temporary name first, then rename it into place,
    so a failure never leaves a half-written file; returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    return path
