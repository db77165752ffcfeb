"""Exceptions raised on bad input.

Every error names the offending field and what would have been allowed, so the
command line can print it as one clear line and exit with code 2.
"""

from __future__ import annotations


class KetaminePTSDError(Exception):
    """Base class of the project's own errors."""


class InputError(KetaminePTSDError, ValueError):
    """Bad input: names the field, the value given and what is allowed.

    Parameters
    ----------
    field:
        Name of the offending field as the user wrote it (``weight_kg``,
        ``--dose``, ``item 7``, ``arms[1].n`` ...).
    message:
        What is wrong, in words.
    allowed:
        The allowed values or range, in words (``"> 0 and <= 300 kg"``).
    """

    def __init__(self, field: str, message: str, allowed: str | None = None):
        self.field = field
        self.message = message
        self.allowed = allowed
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


# The architecture calls these ``ValidationError`` subclasses; keep that name too.
ValidationError = InputError
