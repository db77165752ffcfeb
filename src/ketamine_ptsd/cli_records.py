"""The clinic records on the command line: patients, sessions, assessments, courses,
personal forecasts, exports and the database itself.

Typer apps mounted by ``cli.py``: ``patient``, ``session``, ``assess``, ``course``,
``export``, ``model`` and ``db``, plus the ``forecast`` command. The database is the one
named by the global ``--db`` option or ``KETAMINE_PTSD_DB`` (default: SQLite in the user's
data folder); every change is recorded in the audit trail under ``--user`` (or
``KETAMINE_PTSD_USER``, or the operating-system user).

Dates are ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` in local time (an explicit offset such as
``+01:00`` is honoured); a date alone means midnight at its start. The model counts hours
from the first dose of the course; forecasts print both days from the first dose and
calendar dates. Bad input prints one line, ``error: FIELD: problem (allowed: ...)``, and
exits with code 2 with nothing written.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress

from ketamine_ptsd.care.forecast import forecast_patient
from ketamine_ptsd.cli_clinic import (
    ANSWERS_HELP,
    INSTRUMENT_HELP,
    JSON_HELP,
    RECORD_FLAGS,
    guarded_with,
    instrument_spec,
    number,
    parse_answers,
    read_session_csv,
)
from ketamine_ptsd.cli_corrections import ASSESS_CORRECTIONS, SESSION_CORRECTIONS
from ketamine_ptsd.cli_store import (  # noqa: F401 (db_app: cli.py registers the sub-apps from here)
    USER_OPTION,
    console,
    db_app,
    emit,
    new_table,
    open_records,
    shown,
)
from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic.course import day_to_date
from ketamine_ptsd.clinic.instruments import MADRS, PCL5, SPECS
from ketamine_ptsd.dosing import DEFAULT_INDUCTION_DAYS, route_list
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.files import read_toml
from ketamine_ptsd.store.models import MAINTENANCE_RULES, SEXES
from ketamine_ptsd.store.records import SESSION_EVENT_KINDS

DATE_HELP = "YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time"

guarded = guarded_with(RECORD_FLAGS)


def _app(help_text: str) -> typer.Typer:
    return typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       help=help_text)


patient_app = _app("Patients: add, update, show, list, screen.")
session_app = _app("Dosing sessions: record (dose, vital signs, events), show.")
assess_app = _app("Assessments (PCL-5, CAPS-5, MADRS ...): record, import from FHIR, list.")
course_app = _app("Treatment courses: start (induction plan), show, book maintenance, close.")
export_app = _app("Export a patient's records: FHIR R4 bundle or NONMEM-style CSV.")
model_app = _app("The model: its compiled solver, and the model in exchange formats.")



def parse_when(text: str, field: str = "--date") -> dt.datetime:
    """``YYYY-MM-DD`` (midnight) or ``YYYY-MM-DDTHH:MM[:SS][+HH:MM]``; local time unless an
    offset is given. Returns a timezone-aware datetime."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(field, f"{text!r} is not a date", DATE_HELP) from None
    return value.astimezone() if value.tzinfo is None else value


def parse_day(text: str, field: str = "--date") -> dt.date:
    """A calendar date ``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(field, f"{text!r} is not a date", "YYYY-MM-DD") from None


def _days(text: str) -> tuple[float, ...]:
    try:
        days = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        days = (math.nan,)
    if not all(math.isfinite(d) for d in days):
        raise InputError("--days", f"cannot read {text!r}", "comma-separated day numbers, e.g. 0,2,4,7,9,11")
    return days


def _instrument(text: str) -> str:
    return instrument_spec(text).id


# ---------------------------------------------------------------------------
# patient
# ---------------------------------------------------------------------------

POPULATION_HELP = ("the patient's population, whose prior the forecast uses: civilian_ptsd (default), "
                   "veteran_ptsd_ad_failure, trd or ptsd_trd (params/populations.toml)")


@patient_app.command("add")
@guarded
def patient_add(
    name: str | None = typer.Option(None, help="name as the clinic writes it"),
    mrn: str | None = typer.Option(None, help="the clinic's own record number (unique)"),
    birth_date: str | None = typer.Option(None, help="YYYY-MM-DD"),
    sex: str = typer.Option("unknown", help=", ".join(SEXES)),
    weight_kg: str | None = typer.Option(None, help="body weight, kg"),
    height_cm: str | None = typer.Option(None, help="height, cm"),
    note: str | None = typer.Option(None, help="free text"),
    pseudonym: bool = typer.Option(False, "--pseudonym", help="the name is a pseudonym chosen by the clinic"),
    population: str | None = typer.Option(None, "--population", help=POPULATION_HELP),
    user: str | None = USER_OPTION,
) -> None:
    """Register a patient (a name, or a pseudonym with --pseudonym, is needed) and print the
    new patient's id (only the id, for scripts)."""
    with open_records(user) as records:
        patient = records.add_patient(
            name=name, mrn=mrn, sex=sex, note=note, pseudonym=pseudonym, population=population,
            birth_date=None if birth_date is None else parse_day(birth_date, "--birth-date"),
            weight_kg=number("--weight-kg", weight_kg, "kg"), height_cm=number("--height-cm", height_cm, "cm"))
    typer.echo(patient.id)


@patient_app.command("update")
@guarded
def patient_update(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    name: str | None = typer.Option(None),
    mrn: str | None = typer.Option(None),
    birth_date: str | None = typer.Option(None, help="YYYY-MM-DD"),
    sex: str | None = typer.Option(None, help=", ".join(SEXES)),
    weight_kg: str | None = typer.Option(None, help="kg"),
    height_cm: str | None = typer.Option(None, help="cm"),
    note: str | None = typer.Option(None),
    population: str | None = typer.Option(None, "--population", help=POPULATION_HELP + "; '' for the default"),
    user: str | None = USER_OPTION,
) -> None:
    """Change a patient's details (each change goes to the audit trail with old and new value)."""
    changes: dict[str, Any] = {k: v for k, v in (("name", name), ("mrn", mrn), ("sex", sex), ("note", note),
                                                 ("population", population)) if v is not None}
    if birth_date is not None:
        changes["birth_date"] = parse_day(birth_date, "--birth-date")
    if weight_kg is not None:
        changes["weight_kg"] = number("--weight-kg", weight_kg, "kg")
    if height_cm is not None:
        changes["height_cm"] = number("--height-cm", height_cm, "cm")
    if not changes:
        raise InputError("options", "nothing to change", "--name, --mrn, --birth-date, --sex, --weight-kg, "
                         "--height-cm, --note or --population")
    with open_records(user) as records:
        patient = records.update_patient(patient_id, **changes)
    typer.echo(f"patient {patient.id} updated: {', '.join(sorted(changes))}")


@patient_app.command("list")
@guarded
def patient_list(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the patients."""
    with open_records() as records:
        patients = records.patients()
    if as_json:
        emit([p.to_dict() for p in patients])
        return
    table = new_table(f"{len(patients)} patient(s)", "id", "name", "mrn", "sex", "birth date", "weight kg")
    for p in patients:
        table.add_row(str(p.id), shown(p.name), shown(p.mrn), p.sex, shown(p.birth_date), shown(p.weight_kg))
    console().print(table)


@patient_app.command("show")
@guarded
def patient_show(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Everything about one patient: details, screenings, courses and sessions, assessments,
    latest forecast."""
    with open_records() as records:
        data = records.summary(patient_id)
    if as_json:
        emit(data)
        return
    out = console()
    p = data["patient"]
    out.print(f"[bold]Patient {p['id']}[/bold] {p['name'] or ''} (mrn {shown(p['mrn'])}), {p['sex']}, born "
              f"{shown(p['birth_date'])}, {shown(p['weight_kg'])} kg, {shown(p['height_cm'])} cm; "
              f"population {p['population'] or 'civilian_ptsd (default)'}")
    for s in data["screenings"]:
        out.print(f"screening {s['screened_on']}: {s['decision']} ({s['product']})")
    for c in data["courses"]:
        unit = "mg/kg" if c["dose_per_kg"] else "mg"
        out.print(f"course {c['id']} ({c['status']}) from {c['started_on']}: {c['product']} {c['route']} "
                  f"{c['dose_amount']:g} {unit}; maintenance {shown(c['maintenance_due_on'])}")
        table = new_table("sessions", "id", "when", "dose mg", "route", "lot")
        for s in c["sessions"]:
            table.add_row(str(s["id"]), shown(dt.datetime.fromisoformat(s["started_at"])), shown(s["dose_mg"]),
                          s["route"], shown(s["lot"]))
        out.print(table)
    table = new_table("assessments", "id", "when", "instrument", "total", "clusters")
    for a in data["assessments"]:
        clusters = ", ".join(f"{k} {shown(v)}" for k, v in a["clusters"].items())
        table.add_row(str(a["id"]), shown(dt.datetime.fromisoformat(a["administered_at"])),
                      SPECS[a["instrument"]].name, shown(a["total"]), clusters)
    out.print(table)
    forecast = data["latest_forecast"]
    if forecast:
        r = forecast["result"]
        out.print(f"latest forecast ({forecast['created_at'][:10]}): loss of response "
                  f"{shown(r.get('loss_of_response_date'))}, "
                  f"maintenance {shown(r.get('recommended_maintenance_date'))}")


@patient_app.command("screen")
@guarded
def patient_screen(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    patient_file: Path = typer.Argument(..., metavar="PATIENT.toml", help="screening answers (as `clinic screen`)"),
    date: str | None = typer.Option(None, help="YYYY-MM-DD (default today)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    user: str | None = USER_OPTION,
) -> None:
    """Screen the patient (clinic screening rules) and keep answers and decision."""
    answers = read_toml(patient_file, "PATIENT.toml", "TOML as in examples/")
    with open_records(user) as records:
        screening = records.record_screening(patient_id, answers, None if date is None else parse_day(date))
    if as_json:
        emit(screening.to_dict())
        return
    out = console()
    out.print(f"screening {screening.id}: [bold]{screening.decision}[/bold] ({screening.product})")
    for r in screening.result["reasons"]:
        out.print(f"- {r['severity']}: {r['text']} [{r['source']}; {r['tag']}]")
    out.print(NOT_A_MEDICAL_DEVICE)


# ---------------------------------------------------------------------------
# session
# ---------------------------------------------------------------------------


def _bp_readings(values: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, text in enumerate(values, start=1):
        try:
            minute, bp = text.split(":", 1)
            sbp, dbp = bp.split("/", 1)
            out.append({"time_min": float(minute), "label": "pre_dose" if float(minute) <= 0 else "",
                        "sbp": float(sbp), "dbp": float(dbp)})
        except ValueError:
            raise InputError(f"--bp {i}", f"cannot read {text!r}", "MINUTES:SBP/DBP, e.g. 0:124/78 or 40:150/90") \
                from None
    return out


def _events(values: list[str]) -> list[tuple[str, str | None]]:
    out = []
    for text in values:
        kind, _, detail = text.partition(":")
        out.append((kind.strip(), detail.strip() or None))
    return out


@session_app.command("record")
@guarded
def session_record(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    date: str = typer.Option(..., help=f"start of the dose (infusion start, first device): {DATE_HELP}"),
    dose: str = typer.Option(..., help="as given, e.g. 0.5mg/kg or 56mg"),
    route: str | None = typer.Option(None, help=f"{route_list()} (default: the course's)"),
    drug: str | None = typer.Option(None, help="racemic or esketamine (default: the course's)"),
    infusion_min: str | None = typer.Option(None, help="infusion length, minutes (IV infusion)"),
    weight_kg: str | None = typer.Option(None, help="weight at the session, kg (default: the patient's)"),
    lot: str | None = typer.Option(None, help="lot number"),
    bp: list[str] = typer.Option([], "--bp", help="a blood pressure, MINUTES:SBP/DBP (minutes from the dose, "
                                 "<= 0 pre-dose); repeat the option"),
    readings: Path | None = typer.Option(None, metavar="SESSION.csv", help="all readings, as for `clinic monitor`"),
    event: list[str] = typer.Option([], "--event", help="KIND[:detail], KIND one of "
                                    + ", ".join(SESSION_EVENT_KINDS) + "; repeat the option"),
    concomitant: str = typer.Option("", help="medication classes: benzodiazepine, non_benzo_hypnotic, "
                                    "psychostimulant, maoi, opioid"),
    note: str | None = typer.Option(None, help="free text"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    user: str | None = USER_OPTION,
) -> None:
    """Record a dosing session (its dose, vital signs and events) against the active course.

    Without an active course one is started on this date with the default induction plan.
    Readings are checked by the session monitor; its alerts and discharge readiness are kept.
    """
    rows = (read_session_csv(readings) if readings else []) + _bp_readings(bp)
    with open_records(user) as records:
        record = records.record_session(
            patient_id, started_at=parse_when(date), dose=dose, route=route, product=drug,
            infusion_min=number("--infusion-min", infusion_min, "minutes"),
            weight_kg=number("--weight-kg", weight_kg, "kg"), lot=lot, note=note, readings=rows,
            events=_events(event), concomitant=[c.strip() for c in concomitant.split(",") if c.strip()])
        details = records.session_details(record.id)
    if as_json:
        emit(details)
        return
    out = console()
    out.print(f"session {record.id} recorded (course {record.course_id}): {record.dose_mg:g} mg "
              f"{record.product} {record.route}")
    monitoring = details["monitoring"]
    if monitoring:
        for a in monitoring["report"]["alerts"]:
            out.print(f"- {a['severity']}: {a['message']}")
        discharge = monitoring["report"]["discharge"]
        if discharge["ready"]:
            out.print(f"discharge criteria met at {discharge['ready_time_min']:g} min")
        else:
            out.print("discharge criteria not met by the last reading: " + "; ".join(discharge["unmet"]))
        out.print(NOT_A_MEDICAL_DEVICE)


@session_app.command("show")
@guarded
def session_show(session_id: int = typer.Argument(..., metavar="SESSION_ID")) -> None:
    """One session with its readings, events and monitoring result (JSON)."""
    with open_records() as records:
        emit(records.session_details(session_id))


# The corrections (cli_corrections), in the order the groups have always listed them.
for _name, _command in SESSION_CORRECTIONS.items():
    session_app.command(_name)(_command)
for _name, _command in ASSESS_CORRECTIONS.items():
    assess_app.command(_name)(_command)


@assess_app.command("record")
@guarded
def assess_record(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    instrument: str = typer.Argument(..., help=INSTRUMENT_HELP),
    answers: str = typer.Argument(..., help=ANSWERS_HELP),
    date: str = typer.Option(..., help=f"when it was administered: {DATE_HELP}"),
    prorate: bool = typer.Option(False, "--prorate", help="estimate the total when few items are missing"),
    caps_version: str | None = typer.Option(None, help="CAPS-5 past_month, past_week or worst_month"),
    bprs_convention: str | None = typer.Option(None, help="BPRS scoring: 0-6 or 1-7"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    user: str | None = USER_OPTION,
) -> None:
    """Score an instrument (clinic scoring rules) and keep the answers and the scores."""
    spec = instrument_spec(instrument)
    name = spec.id
    values = parse_answers(answers, spec)
    options: dict[str, Any] = {}
    if caps_version is not None:
        options["version"] = caps_version
    if bprs_convention is not None:
        options["convention"] = bprs_convention
    with open_records(user) as records:
        record = records.record_assessment(patient_id, name, values, parse_when(date), prorate=prorate, **options)
    if as_json:
        emit(record.to_dict())
        return
    out = console()
    clusters = ", ".join(f"{k} {shown(v)}" for k, v in record.clusters.items())
    out.print(f"assessment {record.id}: {spec.name} total {shown(record.total)}"
              + (f" ({clusters})" if clusters else ""))
    for note in record.result.get("notes", []):
        out.print(f"- {note}")
    out.print(NOT_A_MEDICAL_DEVICE)


@assess_app.command("import")
@guarded
def assess_import(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    file: Path = typer.Argument(..., metavar="FILE.json", help="a FHIR R4 QuestionnaireResponse or a Bundle of them"),
    reassign: bool = typer.Option(False, "--reassign", help="import responses whose subject is another patient "
                                  "into PATIENT_ID all the same"),
    user: str | None = USER_OPTION,
) -> None:
    """Import instrument responses from FHIR R4 (all or none); prints the new assessment ids.

    A response whose subject names another patient (``Patient/7`` imported into patient 3)
    is refused unless --reassign says it belongs to PATIENT_ID."""
    from ketamine_ptsd.interop.fhir import read_questionnaire_response

    try:
        resource = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError("FILE.json", f"cannot read {file.name}: {exc.strerror}", "a FHIR JSON file") from None
    except json.JSONDecodeError as exc:
        raise InputError("FILE.json", f"not JSON ({exc.msg})", "a FHIR R4 QuestionnaireResponse or Bundle") from None
    if not isinstance(resource, dict):
        raise InputError("FILE.json", "not a FHIR resource", "a QuestionnaireResponse or Bundle")
    if resource.get("resourceType") == "Bundle":
        entries = [e.get("resource") if isinstance(e, dict) else None for e in resource.get("entry") or []]
        responses = [r for r in entries if isinstance(r, dict) and r.get("resourceType") == "QuestionnaireResponse"]
    else:
        responses = [resource]
    if not responses:
        raise InputError("FILE.json", "no QuestionnaireResponse in the file", "one or more QuestionnaireResponses")
    expected = f"Patient/{str(patient_id).strip()}"
    for i, r in enumerate(responses, start=1):
        subject = r.get("subject") if isinstance(r.get("subject"), dict) else {}
        reference = subject.get("reference")
        if reference is not None and reference != expected and not reassign:
            raise InputError(f"response {i} subject", f"{reference!r} is not {expected}",
                             f"responses of {expected}, or --reassign to import them into {expected}")
    parsed = [read_questionnaire_response(r) for r in responses]
    with open_records(user) as records:
        stored = records.import_assessments(patient_id, parsed)
    typer.echo(" ".join(str(a.id) for a in stored))


@assess_app.command("list")
@guarded
def assess_list(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    instrument: str | None = typer.Option(None, help="only this instrument"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The patient's assessments in time order."""
    with open_records() as records:
        rows = records.assessments(patient_id, None if instrument is None else _instrument(instrument))
    if as_json:
        emit([a.to_dict() for a in rows])
        return
    table = new_table("assessments", "id", "when", "instrument", "total", "clusters", "source")
    for a in rows:
        table.add_row(str(a.id), shown(a.administered_at), SPECS[a.instrument].name, shown(a.total),
                      ", ".join(f"{k} {shown(v)}" for k, v in a.clusters.items()), a.source)
    console().print(table)


# ---------------------------------------------------------------------------
# course
# ---------------------------------------------------------------------------


@course_app.command("start")
@guarded
def course_start(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    date: str = typer.Option(..., help="first planned session, YYYY-MM-DD"),
    dose: str = typer.Option("0.5mg/kg", help="planned dose per session, e.g. 0.5mg/kg or 56mg"),
    route: str = typer.Option("iv_infusion", help=route_list()),
    drug: str = typer.Option("racemic", help="racemic or esketamine"),
    infusion_min: str | None = typer.Option(None, help="infusion length, minutes (default 40)"),
    days: str = typer.Option(",".join(f"{d:g}" for d in DEFAULT_INDUCTION_DAYS),
                             help="induction session days from the start (default Feder 2021)"),
    maintenance: str | None = typer.Option(None, help="how maintenance is booked: " + " or ".join(MAINTENANCE_RULES)),
    every_days: str | None = typer.Option(None, help="interval rule: days between maintenance sessions (default 14)"),
    user: str | None = USER_OPTION,
) -> None:
    """Start a course with its induction plan; prints the course id."""
    with open_records(user) as records:
        course = records.start_course(
            patient_id, started_on=parse_day(date), dose=dose, route=route, product=drug,
            infusion_min=number("--infusion-min", infusion_min, "minutes"), days=_days(days),
            maintenance_rule=maintenance, every_days=number("--every-days", every_days, "days"))
    typer.echo(course.id)


@course_app.command("show")
@guarded
def course_show(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The induction plan against the sessions given, the maintenance booking, and the
    long-term risk of the course (exposure, bladder screens, misuse signals)."""
    from ketamine_ptsd.care.course import course_overview

    with open_records() as records:
        overview = course_overview(records, patient_id)
    course, state, risk = overview["course"], overview["progress"], overview["risk"]
    data = {"course": course.to_dict(), "progress": state.to_dict(), "risk": risk.to_dict(),
            "notice": overview["notice"]}
    if as_json:
        emit(data)
        return
    out = console()
    out.print(f"[bold]course {course.id}[/bold] ({course.status}) from {course.started_on}: {course.product} "
              f"{course.route}")
    table = new_table("induction plan", "planned", "status", "given")
    for v in state.visits:
        table.add_row(v.planned_on.isoformat(), v.status, shown(v.given_on))
    out.print(table)
    if state.extra:
        out.print("other sessions: " + ", ".join(d.isoformat() for d in state.extra))
    out.print(f"next induction session: {shown(state.next_due)}; maintenance: {shown(course.maintenance_due_on)}"
              + (f" ({course.maintenance_reason})" if course.maintenance_reason else ""))
    for f in risk.flags:
        out.print(f"- {f.severity}: {f.text} [{f.source}; {f.tag}]")
    out.print(NOT_A_MEDICAL_DEVICE)


@course_app.command("book")
@guarded
def course_book(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    rule: str | None = typer.Option(None, help="interval or forecast (default: the course's rule, else interval)"),
    every_days: str | None = typer.Option(None, help="interval rule: days between sessions (default: the course's, "
                                          "else 14)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    user: str | None = USER_OPTION,
) -> None:
    """Book the next maintenance session by the interval rule or by the latest forecast."""
    with open_records(user) as records:
        course, _, _ = records.course_state(patient_id)
        forecast, first_dose = None, None
        if (rule or course.maintenance_rule) == "forecast":
            stored = records.latest_forecast(patient_id)
            if stored is None or stored.course_id != course.id:
                raise InputError("--rule", "no forecast of the current course",
                                 "run `ketamine-ptsd forecast PATIENT_ID` first")
            forecast, first_dose = stored.result, stored.first_dose_at
        booking = records.book_maintenance(patient_id, rule=rule, every_days=number("--every-days", every_days,
                                                                                      "days"),
                                           forecast=forecast, first_dose=first_dose)
    if as_json:
        emit(booking.to_dict())
        return
    console().print(f"maintenance: {shown(booking.due_on)} ({booking.rule}: {booking.reason})\n{NOT_A_MEDICAL_DEVICE}")


@course_app.command("close")
@guarded
def course_close(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    date: str | None = typer.Option(None, help="YYYY-MM-DD (default today)"),
    user: str | None = USER_OPTION,
) -> None:
    """Close the patient's active course."""
    with open_records(user) as records:
        course = records.close_course(patient_id, None if date is None else parse_day(date))
    typer.echo(f"course {course.id} closed on {course.closed_on}")


# ---------------------------------------------------------------------------
# forecast
# ---------------------------------------------------------------------------


def print_forecast_basis(out, result: dict, probability: float) -> None:
    """The lines a personal forecast or plan opens with: first dose, scores used, probability
    of response and the planned sessions it assumes."""
    population = (result.get("fit") or result.get("forecast", {}).get("fit") or {}).get("population")
    out.print(f"first dose {result['first_dose_at'][:16]}; {result['n_observations']} score(s) used; "
              f"probability of response {probability:.0%}" + (f"; prior: {population}" if population else ""))
    if result["planned_sessions_assumed"]:
        out.print("assumes the planned sessions on " + ", ".join(result["planned_sessions_assumed"]))


@guarded
def forecast(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    horizon_days: str | None = typer.Option(None, help="forecast to this many days from the first dose "
                                            "(default: 84 days past the last dose or score)"),
    loss_points: str | None = typer.Option(None, help="response is lost when the improvement from baseline falls "
                                           "below this many points (default: NCPTSD reliable change, 5 on PCL-5)"),
    loss_percent: str | None = typer.Option(None, help="... or below this percent reduction from baseline"),
    loss_instrument: str | None = typer.Option(None, help="pcl5 (default), caps5 or madrs"),
    population: str | None = typer.Option(None, "--population", help=POPULATION_HELP + "; overrides the patient's"),
    save: bool = typer.Option(True, "--save/--no-save", help="keep the forecast (and the maintenance "
                              "booking it makes) in the records; --no-save writes nothing"),
    as_json: bool = typer.Option(False, "--json", help="print JSON: loss_of_response_day, "
                                 "recommended_maintenance_date, median, band_low, band_high (by instrument and day)"),
    user: str | None = USER_OPTION,
) -> None:
    """Personal forecast of PCL-5 (by cluster), CAPS-5 and MADRS from the patient's own doses
    and scores: median and 80 % band, the day the improvement is lost and a recommended
    maintenance date, beside the population and covariate-only curves."""
    from ketamine_ptsd.calibration.individual import N_DRAWS, population_name

    population_name(population)  # an unknown name is refused before anything is read

    threshold: dict[str, Any] = {}
    if loss_instrument is not None:
        threshold["instrument"] = _instrument(loss_instrument)
    if loss_points is not None:
        threshold["absolute_reduction"] = number("--loss-points", loss_points, "points")
    if loss_percent is not None:
        threshold["percent_reduction"] = number("--loss-percent", loss_percent, "percent")
    horizon = number("--horizon-days", horizon_days, "days")
    with open_records(user) as records, Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("fitting, then simulating plausible courses", total=N_DRAWS)
        result = forecast_patient(records, patient_id, horizon_days=horizon, threshold=threshold or None,
                                  save=save, progress=lambda k: bar.advance(task, k), population=population)
    if as_json:
        emit(result)
        return
    out = console()
    print_forecast_basis(out, result, result["probability_of_response"])
    loss, book = result["loss_of_response_day"], result["recommended_maintenance_day"]
    out.print(f"loss of response: {result['loss_status']}"
              + ("" if loss is None else f", day {loss:g} ({result['loss_of_response_date']})"))
    out.print("recommended maintenance: " + ("-" if book is None else
                                             f"day {book:g} ({result['recommended_maintenance_date']})"))
    out.print(f"rule: {result['maintenance_rule']}")
    first = dt.datetime.fromisoformat(result["first_dose_at"])
    for instrument in (PCL5.id, MADRS.id):
        table = new_table(f"{SPECS[instrument].name}: this patient (median, 80 % band) beside the covariate-only and "
                       "population medians", "day", "date", "patient", "80 % band", "covariate-only", "population")
        low, high = result["band_low"][instrument], result["band_high"][instrument]
        prior, population = (result[k]["median"][instrument] for k in ("covariate_only", "population"))
        for day, value in result["median"][instrument].items():
            if int(day) % 7:
                continue
            table.add_row(day, day_to_date(first, int(day)).isoformat(), f"{value:.1f}",
                          f"{low[day]:.1f}-{high[day]:.1f}", f"{prior[day]:.1f}", f"{population[day]:.1f}")
        out.print(table)
    for warning in result["outside_validated_range"] + result["warnings"]:
        out.print(f"[yellow]warning:[/] {warning}")
    out.print(NOT_A_MEDICAL_DEVICE)


# ---------------------------------------------------------------------------
# export, model
# ---------------------------------------------------------------------------


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@export_app.command("fhir")
@guarded
def export_fhir(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    out: Path | None = typer.Option(None, help="write here instead of standard output"),
) -> None:
    """A FHIR R4 Bundle: each assessment as a QuestionnaireResponse (LOINC codes where they
    exist), each vital-sign reading as Observations."""
    from ketamine_ptsd.care.exports import patient_fhir_bundle

    with open_records() as records:
        data = patient_fhir_bundle(records, patient_id)
    _write(json.dumps(data, indent=2, ensure_ascii=False), out)


@export_app.command("nonmem")
@guarded
def export_nonmem(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    out: Path | None = typer.Option(None, help="write here instead of standard output"),
) -> None:
    """The current course as NONMEM-style CSV (doses and observed scores; TIME in hours from
    the first dose)."""
    from ketamine_ptsd.care.exports import patient_nonmem_csv

    with open_records() as records:
        text = patient_nonmem_csv(records, patient_id)
    _write(text, out)


@model_app.command("export-sbml")
@guarded
def model_export_sbml(file: Path = typer.Argument(..., metavar="FILE", help="the .xml file to write")) -> None:
    """The model as SBML (level 3), which libRoadRunner and other SBML tools simulate."""
    from ketamine_ptsd.interop.sbml import export_sbml

    typer.echo(f"wrote {export_sbml(file)}")


@model_app.command("compile")
@guarded
def model_compile() -> None:
    """Compile the solver now and cache it on disk, so that the first simulation does not wait
    for it (the Makefile does this at install)."""
    import time

    from ketamine_ptsd.engine.numba_engine import cache_dir
    from ketamine_ptsd.simulation import compile_solvers

    start = time.perf_counter()
    compile_solvers()
    typer.echo(f"solver ready in {time.perf_counter() - start:.1f} s (cached in {cache_dir() / 'solvers'})")
