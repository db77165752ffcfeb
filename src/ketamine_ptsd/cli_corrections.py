"""Corrections of the records from the command line: a reading, a session or an
assessment corrected, or withdrawn as entered in error (``session correct``,
``session correct-reading``, ``session withdraw``, ``assess correct``, ``assess withdraw``).
The old values stay with the reason (``store.corrections``); :mod:`.cli_records` registers
these commands on its ``session`` and ``assess`` groups."""

from __future__ import annotations

from typing import Any

import typer

from ketamine_ptsd.cli_clinic import RECORD_FLAGS, guarded_with, number, parse_items
from ketamine_ptsd.cli_store import USER_OPTION, open_records
from ketamine_ptsd.store import corrections

guarded = guarded_with(RECORD_FLAGS)

REASON_OPTION = typer.Option(..., "--reason", help="why the record is corrected or withdrawn (kept with it)")


def _correction_done(correction: Any) -> None:
    what = {"vitals": "reading", "sessions": "session", "assessments": "assessment"}[correction.table_name]
    done = "corrected" if correction.kind == "correct" else "withdrew"
    typer.echo(f"{done} {what} {correction.record_id} (correction {correction.id})")


@guarded
def session_correct_reading(
    reading_id: int = typer.Argument(..., metavar="READING_ID", help="a reading's id (`session show`)"),
    reason: str = REASON_OPTION,
    time_min: str | None = typer.Option(None, help="minutes from the dose"),
    sbp: str | None = typer.Option(None, help="mmHg"), dbp: str | None = typer.Option(None, help="mmHg"),
    hr: str | None = typer.Option(None, help="bpm"), spo2: str | None = typer.Option(None, help="%"),
    cadss: str | None = typer.Option(None, help="CADSS total 0-92"),
    moaas: str | None = typer.Option(None, help="MOAA/S 0-5"),
    user: str | None = USER_OPTION,
) -> None:
    """Correct a reading (the values given); the old values are kept with the reason, and
    the session's alerts are judged again."""
    given = {"time_min": time_min, "sbp": sbp, "dbp": dbp, "hr": hr, "spo2": spo2, "cadss": cadss, "moaas": moaas}
    changes = {k: number(f"--{k.replace('_', '-')}", v, "a number") for k, v in given.items() if v is not None}
    with open_records(user) as records:
        _correction_done(corrections.correct_reading(records, reading_id, changes, reason))


@guarded
def session_correct(
    session_id: int = typer.Argument(..., metavar="SESSION_ID"),
    reason: str = REASON_OPTION,
    weight_kg: str | None = typer.Option(None, help="kg (a mg/kg dose in mg follows)"),
    infusion_min: str | None = typer.Option(None, help="infusion length, minutes"),
    lot: str | None = typer.Option(None, help="lot number"),
    note: str | None = typer.Option(None, help="free text"),
    user: str | None = USER_OPTION,
) -> None:
    """Correct a session's weight, infusion length, lot or note, with the reason."""
    changes: dict[str, Any] = {k: v for k, v in (("lot", lot), ("note", note)) if v is not None}
    if weight_kg is not None:
        changes["weight_kg"] = number("--weight-kg", weight_kg, "kg")
    if infusion_min is not None:
        changes["infusion_min"] = number("--infusion-min", infusion_min, "minutes")
    with open_records(user) as records:
        _correction_done(corrections.correct_session(records, session_id, changes, reason))


@guarded
def session_withdraw(
    record_id: int = typer.Argument(..., metavar="ID", help="the session's id, or with --reading a reading's"),
    reason: str = REASON_OPTION,
    reading: bool = typer.Option(False, "--reading", help="withdraw the reading ID, not a session"),
    user: str | None = USER_OPTION,
) -> None:
    """Withdraw a session (or with --reading one reading) recorded in error: kept, marked,
    no longer counted anywhere."""
    with open_records(user) as records:
        _correction_done(corrections.withdraw(records, "reading" if reading else "session", record_id, reason))


@guarded
def assess_correct(
    assessment_id: int = typer.Argument(..., metavar="ASSESSMENT_ID", help="an id listed by `assess list`"),
    answers: str = typer.Argument(..., help="the corrected item scores, comma-separated, as for `assess record`"),
    reason: str = REASON_OPTION,
    user: str | None = USER_OPTION,
) -> None:
    """Correct an assessment's answers (scored again); the old ones are kept with the reason."""
    with open_records(user) as records:
        _correction_done(corrections.correct_assessment(records, assessment_id, parse_items(answers, "answers"),
                                                        reason))


@guarded
def assess_withdraw(
    assessment_id: int = typer.Argument(..., metavar="ASSESSMENT_ID"),
    reason: str = REASON_OPTION,
    user: str | None = USER_OPTION,
) -> None:
    """Withdraw an assessment entered in error: kept, marked, no longer counted."""
    with open_records(user) as records:
        _correction_done(corrections.withdraw(records, "assessment", assessment_id, reason))


#: The commands of the ``session`` group (name -> function), in the order it lists them.
SESSION_CORRECTIONS = {"correct-reading": session_correct_reading, "correct": session_correct,
                       "withdraw": session_withdraw}
#: The commands of the ``assess`` group.
ASSESS_CORRECTIONS = {"correct": assess_correct, "withdraw": assess_withdraw}
