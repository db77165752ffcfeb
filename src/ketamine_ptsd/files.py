"""Reading the user's input files, with one clear error naming the file on failure, and writing
output folders whole or not at all."""

from __future__ import annotations

import os
import secrets
import shutil
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
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


def prepare_output(out: str | os.PathLike[str], field: str) -> tuple[Path, list[Path]]:
    """Check that folder ``out`` can be written, before any work is done: creates a temporary
    folder beside it (and the parents it lacks). Returns the temporary folder and the parents
    created, for :func:`staged_folder`; an unwritable place is an InputError naming ``field``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(field, f"{out} exists and is not a folder", "a folder to write into")
    created = []
    parent = out.absolute().parent
    for p in reversed([parent, *parent.parents]):
        if not p.exists():
            created.append(p)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        # Not mkdtemp: its folder is private (0700), and this one becomes the user's output.
        tmp = parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()
    except OSError as exc:
        _remove_created(created)
        raise InputError(field, f"cannot write to {out}: {exc.strerror or exc}", "a writable folder") from None
    return tmp, created


def _remove_created(created: list[Path]) -> None:
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            break


@contextmanager
def staged_folder(out: str | os.PathLike[str], field: str = "out", staged: tuple[Path, list[Path]] | None = None
                  ) -> Iterator[Path]:
    """Write a folder's files in a temporary folder beside it, moved into ``out`` only when the
    block ends normally: an error or an interrupt (KeyboardInterrupt included) removes the
    temporary folder and any parent made for it, so nothing is left half-written. ``staged`` is
    the result of an earlier :func:`prepare_output` (else it is called here)."""
    out = Path(out)
    tmp, created = staged or prepare_output(out, field)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_created(created)
        raise
    if not out.exists():
        os.replace(tmp, out)
        return
    for f in tmp.iterdir():
        os.replace(f, out / f.name)
    tmp.rmdir()
