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
        Name of the offending field in the library's terms (``weight_kg``, ``dose``,
        ``item 7``, ``arms[1].n`` ...); each front end shows it in its own words (the
        command line maps it to its flags in ``cli_clinic.FLAGS``).
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


class RecordNotFound(InputError):
    """No record with the id given (a patient, a session, a course ...). An InputError, since
    the id is the caller's input: code that catches InputError keeps working, and front ends
    that tell "not found" apart (the web app's 404) catch this one.

    ``field`` names the id in the library's terms (``patient_id``, ``session_id``).
    """


# The architecture calls these ``ValidationError`` subclasses; keep that name too.
ValidationError = InputError
