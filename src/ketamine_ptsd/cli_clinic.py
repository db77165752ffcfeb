"""``ketamine-ptsd clinic``: the clinic toolkit on the command line.

All file reading and printing of the clinic toolkit happens here; the library in
``ketamine_ptsd.clinic`` is pure logic. Every command prints a readable table by default
and machine-readable JSON with ``--json``; ``--settings FILE`` overrides thresholds.
Bad input prints exactly one line, ``error: FIELD: problem (allowed: ...)``, to stderr
and exits with code 2, writing nothing to stdout.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.clinic import dose_plan as dp
from ketamine_ptsd.clinic import instruments as ins
from ketamine_ptsd.clinic.monitoring import FIELDS, monitor_session
from ketamine_ptsd.clinic.regulatory import (
    ROUTE_NAMES,
    as_of,
    consent_summary,
    regulatory_context,
    regulatory_status,
    review_note,
)
from ketamine_ptsd.clinic.risk import assess_course
from ketamine_ptsd.clinic.screening import screen as screen_patient
from ketamine_ptsd.clinic.settings import Settings, load_settings
from ketamine_ptsd.dosing import PRODUCT_ROUTES, Route, route_list
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.files import read_toml

#: The routes of each product for a help text, the default first.
PRODUCT_ROUTES_HELP = "; ".join(f"{route_list(routes, ' or ')} for {product}"
                                for product, routes in PRODUCT_ROUTES.items())

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Clinic toolkit: instruments, screening, dose plans, session monitoring, long-term "
         f"risk, regulatory status. {NOT_A_MEDICAL_DEVICE}",
)

F = TypeVar("F", bound=Callable[..., Any])
JSON_HELP = "print machine-readable JSON"
SETTINGS_HELP = "TOML file overriding thresholds (layout of clinic/data/settings.toml)"
#: What the instrument arguments accept, in help texts (read from the instrument specs).
INSTRUMENT_HELP = ", ".join(ins.SPECS)
ANSWERS_HELP = ("item scores in item order, comma-separated; an empty field is a missing item (yes/no for "
                + ", ".join(s.id for s in ins.SPECS.values() if s.yes_no) + ")")
YES = {"y", "yes", "1", "true"}
NO = {"n", "no", "0", "false"}


#: The one table from the library's field names (``InputError.field``) to what the command
#: line calls them: its flags and arguments. A field not listed is shown as the library
#: names it; ``settings pcl5.cut_point`` maps by its first word.
FLAGS = {
    "age_years": "--age",
    "bag_ml": "--bag-ml",
    "builtin": "--builtin",
    "chunk_size": "--chunk-size",
    "database": "--db",
    "dose": "--dose",
    "dt_min": "--dt-min",
    "height_cm": "--height-cm",
    "horizon_days": "--horizon-days",
    "infusion_min": "--infusion-min",
    "instrument": "INSTRUMENT",
    "method": "--method",
    "n_per_arm": "--n-per-arm",
    "n_trials": "--power-trials",
    "output": "--output",
    "parameter": "--parameter",
    "previous_dose_mg": "--previous-dose-mg",
    "product": "--product",
    "regimen": "--regimen",
    "rems_form": "--rems-form",
    "route": "--route",
    "samples": "--samples",
    "scheduler": "--scheduler",
    "seed": "--seed",
    "settings": "--settings",
    "sex": "--sex",
    "start_clock": "--start-clock",
    "vial_mg_per_ml": "--vial-mg-ml",
    "weight_kg": "--weight-kg",
    "weight_policy": "--weight-policy",
    "workers": "--workers",
}


#: The records commands (patients, courses, sessions, assessments) add their own flags, and
#: call the product ``--drug``.
RECORD_FLAGS = {
    **FLAGS,
    "birth_date": "--birth-date",
    "date": "--date",
    "events": "--event",
    "maintenance_rule": "--maintenance",
    "mrn": "--mrn",
    "name": "--name",
    "patient_id": "PATIENT_ID",
    "population": "--population",
    "product": "--drug",
    "prorate": "--prorate",
    "readings": "--readings",
    "rule": "--rule",
    "session_id": "SESSION_ID",
    "user": "--user",
}


def cli_error(exc: InputError, flags: dict[str, str] = FLAGS) -> InputError:
    """``exc`` with its field in command-line words (the same error when nothing maps)."""
    first, sep, rest = exc.field.partition(" ")
    if first not in flags:
        return exc
    return InputError(flags[first] + sep + rest, exc.message, exc.allowed)


@contextmanager
def cli_fields() -> Iterator[None]:
    """Re-raise a library InputError with its field in command-line words."""
    try:
        yield
    except InputError as exc:
        mapped = cli_error(exc)
        if mapped is exc:
            raise
        raise mapped from None


def in_cli_words(func: F) -> F:
    """Run ``func`` under :func:`cli_fields` (for commands whose errors the entry point prints)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cli_fields():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def guarded_with(flags: dict[str, str]) -> Callable[[F], F]:
    """:func:`guarded` for commands whose fields map through ``flags``."""

    def guard(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except InputError as exc:
                typer.echo(f"error: {cli_error(exc, flags)}", err=True)
                raise typer.Exit(2) from None

        return wrapper  # type: ignore[return-value]

    return guard


#: Turn an InputError into one line on stderr, its field in command-line words, and exit code 2.
guarded = guarded_with(FLAGS)


def _settings(path: str | None) -> Settings:
    return load_settings(path) if path else load_settings()


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _console() -> Console:
    # Created per call so output goes to the current stdout (also under test runners).
    return Console(highlight=False, soft_wrap=False)


def number(field: str, text: str | None, allowed: str = "a number") -> float | None:
    """``text`` as a finite number (None when empty); an InputError naming ``field`` otherwise."""
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(field, f"{text!r} is not a number", allowed) from None
    if not math.isfinite(value):
        raise InputError(field, f"{text!r} is not a finite number", allowed)
    return value


def _yes_no(field: str, text: str | None) -> bool | None:
    if text is None or text.strip() == "":
        return None
    value = text.strip().lower()
    if value in YES | NO:
        return value in YES
    raise InputError(field, f"{text!r} is not yes/no", "yes or no (y/n, 1/0)")


def parse_items(text: str, label: str, yes_no: bool = False,
           names: tuple[str, ...] = ()) -> list[Any]:
    """Comma-separated answers; an empty field is a missing answer.

    ``names`` labels the answers in error messages (C-SSRS Q1...); otherwise "item N".
    """
    out: list[Any] = []
    for i, raw in enumerate(text.split(","), start=1):
        if yes_no:
            name = names[i - 1] if i <= len(names) else f"item {i}"
            out.append(_yes_no(f"{label} {name}", raw))
            continue
        value = raw.strip()
        if value == "":
            out.append(None)
            continue
        try:
            out.append(int(value))
        except ValueError:
            try:
                out.append(float(value))
            except ValueError:
                out.append(value)
    # The scorer judges each value against its scale and names the item if it fails.
    return out


def instrument_spec(text: str) -> ins.InstrumentSpec:
    """The instrument named by the INSTRUMENT argument (an id or an alias such as pcl-5)."""
    return ins.spec_for(text)


def parse_answers(text: str, spec: ins.InstrumentSpec) -> list[Any]:
    """Comma-separated answers to ``spec`` (yes/no or named questions where it has them)."""
    return parse_items(text, spec.label, yes_no=spec.yes_no, names=spec.questions)


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        # fold, not truncate: a clinician must see the whole reason and source
        table.add_column(column, overflow="fold")
    return table


def _kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in rows:
        table.add_row(key, "-" if value is None else str(value))
    return table


# ---------------------------------------------------------------------------
# score
# ---------------------------------------------------------------------------

_SHOWN = ("total", "clusters", "dsm5_symptom_rule", "cut_point_result", "probable_ptsd",
          "methods_agree", "provisional_diagnosis", "symptom_rule",
          "criterion_g", "dissociative_subtype", "dissociation_score", "cadss6", "band",
          "major_depression_screen", "item9_flag", "subscale_means", "total_mean",
          "zero_based_total", "risk", "positive_screen", "prorated", "n_missing")


@app.command()
@guarded
def score(
    instrument: str = typer.Argument(..., help=INSTRUMENT_HELP),
    answers: str = typer.Argument(..., help=ANSWERS_HELP),
    prorate: bool = typer.Option(False, "--prorate", help="estimate the total when few items "
                                 "are missing (person-mean; marked prorated)"),
    baseline: str | None = typer.Option(None, help="baseline total: adds change and response "
                                        f"rules ({', '.join(ins.OUTCOME_RULES)})"),
    criterion_a: str | None = typer.Option(None, help="CAPS-5 criterion A met (yes/no)"),
    criterion_f: str | None = typer.Option(None, help="CAPS-5 duration > 1 month (yes/no)"),
    impairment: str | None = typer.Option(None, help="CAPS-5 items 23,24,25"),
    dissociation: str | None = typer.Option(None, help="CAPS-5 items 29,30"),
    caps_version: str = typer.Option("past_month", help="CAPS-5 past_month, past_week or "
                                     "worst_month"),
    bprs_convention: str | None = typer.Option(None, help="BPRS scoring: 0-6 or 1-7"),
    difficulty: str | None = typer.Option(None, help="PHQ-9 functional difficulty item (0-3)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    settings: str | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
) -> None:
    """Score an instrument from comma-separated item answers (clinic score pcl5 1,2,0,...)."""
    s = _settings(settings)
    spec = instrument_spec(instrument)
    name = spec.id
    values = parse_answers(answers, spec)
    kwargs: dict[str, Any] = {"settings": s}
    if spec.prorates:
        kwargs["prorate"] = prorate
    elif prorate:
        raise InputError("--prorate", f"no proration for {spec.name}", ", ".join(ins.PRORATABLE))
    if name == "caps5":
        kwargs.update(
            criterion_a=_yes_no("--criterion-a", criterion_a),
            criterion_f=_yes_no("--criterion-f", criterion_f),
            impairment_items=None if impairment is None else parse_items(impairment, "CAPS-5"),
            dissociation_items=None if dissociation is None else parse_items(dissociation, "CAPS-5"),
            version=caps_version,
        )
    if name == "bprs_pos":
        if bprs_convention is None:
            raise InputError("--bprs-convention", "state the BPRS scoring convention",
                             "0-6 or 1-7")
        kwargs["convention"] = bprs_convention
    if name == "phq9" and difficulty is not None:
        kwargs["difficulty"] = parse_items(difficulty, "PHQ-9")[0]
    result = ins.SCORERS[name](values, **kwargs)
    data = result.to_dict()
    if baseline is not None:
        if result.total is None:
            raise InputError("--baseline", "no total to compare (items missing)",
                             "complete answers, or --prorate")
        base = number("--baseline", baseline)
        diagnosis = result.provisional_diagnosis if name == "caps5" else None
        data["change"] = ins.assess_change(name, base, result.total,
                                           current_diagnosis=diagnosis, settings=s).to_dict()
    if as_json:
        _emit(data)
        return
    # For the PCL-5, provisional_diagnosis repeats probable_ptsd: show it once.
    rows = [(k, data[k]) for k in _SHOWN if k in data
            and not (k == "provisional_diagnosis" and "probable_ptsd" in data)]
    out = _console()
    out.print(_kv_table(f"{spec.name} ({spec.time_frame})", rows))
    for note in result.notes:
        out.print(f"- {note}")
    if "change" in data:
        ch = data["change"]
        pct = "n/a" if ch["percent_reduction"] is None else f"{ch['percent_reduction']:.1f} %"
        out.print(f"Change from {ch['baseline']:g}: {ch['delta']:+g} points reduction ({pct})")
        for o in ch["outcomes"]:
            met = {True: "met", False: "not met", None: "not evaluable"}[o["met"]]
            out.print(f"  {o['rule']}: {o['description']} -> {met}")
    out.print(NOT_A_MEDICAL_DEVICE)


# ---------------------------------------------------------------------------
# screen
# ---------------------------------------------------------------------------


@app.command()
@guarded
def screen(
    patient_file: Path = typer.Argument(..., metavar="PATIENT.toml",
                                        help="patient answers (see examples/)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    settings: str | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
) -> None:
    """Screen a patient for ketamine/esketamine: eligible, needs_review or not_eligible."""
    s = _settings(settings)
    result = screen_patient(read_toml(patient_file, "PATIENT.toml", "TOML as in examples/"), s)
    if as_json:
        _emit(result.to_dict())
        return
    out = _console()
    out.print(f"Decision: [bold]{result.decision}[/bold] ({result.product})")
    table = _table("severity", "code", "reason", "source [tag]")
    for r in result.reasons:
        text = r.text + (f" ({r.detail})" if r.detail else "")
        table.add_row(r.severity, r.code, text, f"{r.source} [{r.tag}]")
    if result.reasons:
        out.print(table)
    out.print(NOT_A_MEDICAL_DEVICE)


# ---------------------------------------------------------------------------
# dose-plan
# ---------------------------------------------------------------------------


@app.command("dose-plan")
@guarded
def dose_plan(
    dose: str = typer.Option(..., help="e.g. 0.5mg/kg or 35mg (racemic); 56mg (esketamine)"),
    product: str = typer.Option("racemic", help="racemic or esketamine"),
    route: str | None = typer.Option(None, help=PRODUCT_ROUTES_HELP),
    weight_kg: str | None = typer.Option(None, help="actual body weight, kg"),
    height_cm: str | None = typer.Option(None, help="height, cm (for BMI, ideal/adjusted)"),
    sex: str | None = typer.Option(None, help="male or female (ideal/adjusted weight)"),
    weight_policy: str = typer.Option("actual", help="actual, ideal or adjusted"),
    bag_ml: str | None = typer.Option(None, help="diluent bag volume, mL (default 100)"),
    infusion_min: str = typer.Option("40", help="infusion duration, minutes"),
    vial_mg_ml: str | None = typer.Option(None, help="vial strength 10, 50 or 100 mg/mL"),
    withdraw_equal_volume: bool = typer.Option(False, "--withdraw-equal-volume",
                                               help="remove diluent equal to the drug volume"),
    previous_dose_mg: str | None = typer.Option(None, help="esketamine: last session's dose"),
    regimen: str = typer.Option("trd", help="esketamine: trd or mdsi"),
    age: str | None = typer.Option(None, help="age in years (esketamine start dose)"),
    markdown: bool = typer.Option(False, "--markdown", help="print the plan as markdown"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    settings: str | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
) -> None:
    """Plan a dose: drawn volume, bag, pump rate (racemic) or devices (esketamine)."""
    s = _settings(settings)
    limits = s["input.limits"]
    weight = number("--weight-kg", weight_kg, "{}-{} kg".format(*limits["weight_kg"]))
    route = route or PRODUCT_ROUTES.get(product, (Route.IV_INFUSION.value,))[0]
    if product == "esketamine":
        kwargs: dict[str, Any] = {
            "previous_dose_mg": number("--previous-dose-mg", previous_dose_mg),
            "regimen": regimen, "age_years": number("--age", age), "weight_kg": weight}
    else:
        if weight is None and product == "racemic":
            raise InputError("--weight-kg", "required for racemic ketamine",
                             "{}-{} kg".format(*limits["weight_kg"]))
        kwargs = {
            "weight_kg": weight, "sex": sex,
            "height_cm": number("--height-cm", height_cm,
                                 "{}-{} cm".format(*limits["height_cm"])),
            "weight_policy": weight_policy, "vial_mg_per_ml": number("--vial-mg-ml",
                                                                      vial_mg_ml),
            "withdraw_equal_volume": withdraw_equal_volume,
        }
        if route == "iv_infusion":
            kwargs.update(bag_ml=number("--bag-ml", bag_ml, "volume in mL"),
                          infusion_min=number("--infusion-min", infusion_min, "minutes"))
        elif bag_ml is not None:
            raise InputError("--bag-ml", "no infusion bag for this route", "omit --bag-ml")
    plan = dp.plan(product, route, dose, settings=s, **kwargs)
    if as_json:
        _emit(plan.to_dict())
    elif markdown:
        typer.echo(plan.render_markdown())
    else:
        typer.echo(plan.render_text())


# ---------------------------------------------------------------------------
# monitor
# ---------------------------------------------------------------------------

SESSION_COLUMNS = ("time_min", "label", *FIELDS, "note")


def read_session_csv(path: Path) -> list[dict[str, Any]]:
    """Read SESSION.csv: header time_min,label,sbp,dbp,hr,spo2,cadss,moaas[,note]."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError("SESSION.csv", f"cannot read {path.name}: {exc.strerror}",
                         "a readable CSV file") from None
    reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in SESSION_COLUMNS]
    if unknown or "time_min" not in header:
        raise InputError(f"SESSION.csv column {unknown[0] if unknown else 'time_min'}",
                         "unknown column" if unknown else "missing column",
                         ", ".join(SESSION_COLUMNS))
    rows = []
    for n, raw in enumerate(reader, start=1):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            key, value = key.strip(), (value or "").strip()
            if key in ("label", "note"):
                row[key] = value
            else:
                row[key] = number(f"reading {n} {key}", value)
        rows.append(row)
    return rows


@app.command()
@guarded
def monitor(
    session_file: Path = typer.Argument(..., metavar="SESSION.csv",
                                        help="readings (see examples/)"),
    product: str = typer.Option("esketamine", help="esketamine or racemic"),
    route: str | None = typer.Option(None, help=PRODUCT_ROUTES_HELP),
    infusion_min: str | None = typer.Option(None, help="racemic IV infusion length, minutes"),
    dose_mg: str | None = typer.Option(None, help="dose given, mg"),
    lot: str | None = typer.Option(None, help="lot number (REMS form)"),
    start_clock: str | None = typer.Option(None, help="clock time of the dose, HH:MM"),
    concomitant: str = typer.Option("", help="current classes, comma-separated: "
                                    "benzodiazepine, non_benzo_hypnotic, psychostimulant, "
                                    "maoi, opioid"),
    respiratory_depression: bool = typer.Option(False, "--respiratory-depression",
                                                help="respiratory depression was observed"),
    event_reviewed: bool = typer.Option(False, "--event-reviewed",
                                        help="the clinician's review of every stop-level "
                                             "alert is documented (lets discharge proceed)"),
    rems_form: bool = typer.Option(False, "--rems-form",
                                   help="print the REMS patient monitoring form fields"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    settings: str | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
) -> None:
    """Check a session's readings: alerts with times, discharge readiness, REMS form."""
    s = _settings(settings)
    report = monitor_session(
        read_session_csv(session_file), product=product, route=route,
        infusion_min=number("--infusion-min", infusion_min),
        dose_mg=number("--dose-mg", dose_mg), lot=lot, start_clock=start_clock,
        concomitant=[c.strip() for c in concomitant.split(",") if c.strip()],
        respiratory_depression_reported=respiratory_depression,
        events_reviewed=event_reviewed, settings=s,
    )
    form = report.rems_form() if rems_form else None
    if as_json:
        data = report.to_dict()
        if form is not None:
            data["rems_form"] = form
        _emit(data)
        return
    out = _console()
    table = _table("min", "severity", "alert", "message", "tag", title="Alerts")
    for a in report.alerts:
        table.add_row("-" if a.time_min is None else f"{a.time_min:g}", a.severity, a.code,
                      a.message, a.tag)
    out.print(table if report.alerts else "No alerts.")
    d = report.discharge
    when = f"at {d.ready_time_min:g} min" if d.ready else "not yet"
    out.print(f"Discharge criteria met: {when} (minimum observation until "
              f"{d.min_observation_until_min:g} min)")
    if d.criteria_met_min is not None:
        out.print(f"Measured criteria met from {d.criteria_met_min:g} min "
                  "(without the minimum observation)")
    for item in d.unmet:
        out.print(f"  unmet: {item}")
    out.print("Confirm before discharge: " + "; ".join(d.manual_checks))
    if form is not None:
        out.print(_kv_table("SPRAVATO REMS patient monitoring form (prefill)",
                            list(form.items())))
    out.print(NOT_A_MEDICAL_DEVICE)


# ---------------------------------------------------------------------------
# course
# ---------------------------------------------------------------------------


@app.command()
@guarded
def course(
    course_file: Path = typer.Argument(..., metavar="COURSE.toml",
                                       help="sessions, bladder screens, events (see examples/)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    settings: str | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
) -> None:
    """Long-term risk over a course: exposure, bladder screens, misuse signals."""
    s = _settings(settings)
    data = read_toml(course_file, "COURSE.toml", "TOML as in examples/")
    unknown = set(data) - {"session", "bladder", "event", "dast10", "as_of"}
    if unknown:
        raise InputError(f"COURSE.toml {sorted(unknown)[0]}", "unknown key",
                         "session, bladder, event, dast10, as_of")
    report = assess_course(data.get("session", []), bladder=data.get("bladder", []),
                           events=data.get("event", []), dast10=data.get("dast10"),
                           as_of=data.get("as_of"), settings=s)
    if as_json:
        _emit(report.to_dict())
        return
    out = _console()
    per_kg = report.cumulative_mg_per_kg
    out.print(_kv_table("Course", [
        ("sessions", report.n_sessions),
        ("dates", f"{report.first_date} to {report.last_date}"),
        ("cumulative dose", f"{report.cumulative_mg:g} mg"
         + ("" if per_kg is None else f" ({per_kg:g} mg/kg)")),
        ("most sessions in 7 days", report.max_sessions_in_7_days),
        ("DAST-10", report.dast10_total),
    ]))
    table = _table("severity", "flag", "detail", "source [tag]")
    for f in report.flags:
        table.add_row(f.severity, f.code, f.text, f"{f.source} [{f.tag}]")
    out.print(table if report.flags else "No flags.")
    out.print(NOT_A_MEDICAL_DEVICE)


# ---------------------------------------------------------------------------
# regulatory, consent, settings
# ---------------------------------------------------------------------------


@app.command()
@guarded
def regulatory(
    product: str | None = typer.Option(None, help="racemic, esketamine or compounded"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Dated regulatory status per product and indication, with sources (as-of date first)."""
    rows = regulatory_status(product)
    context = regulatory_context() if product is None else ()
    if as_json:
        _emit({"as_of": as_of(), "review_note": review_note(),
               "status": [r.to_dict() for r in rows], "context": list(context)})
        return
    out = _console()
    out.print(f"Regulatory information as of {as_of()}. {review_note()}")
    table = _table("product", "indication", "where", "status", "date", "source [tag]",
                   title="Regulatory status")
    for r in rows:
        status = r.status + (f" ({r.expiry})" if r.expiry else "")
        table.add_row(r.product, r.indication, r.jurisdiction, status, r.date or "-",
                      f"{r.source} [{r.tag}]")
    out.print(table)
    for c in context:
        out.print(f"- {c['topic']} ({c['date']}): {c['text']} [{c['source']}; {c['tag']}]")
    out.print(NOT_A_MEDICAL_DEVICE)


@app.command()
@guarded
def consent(
    product: str = typer.Option(..., help="racemic, esketamine or compounded"),
    route: str = typer.Option(..., help=route_list(ROUTE_NAMES, " or ")),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Informed-consent summary: off-label status, evidence, risks with sources."""
    text = consent_summary(product, route)
    if as_json:
        _emit({"product": product, "route": route, "text": text})
    else:
        typer.echo(text, nl=False)


@app.command("settings")
@guarded
def show_settings(
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    settings: str | None = typer.Option(None, "--settings", help=SETTINGS_HELP),
) -> None:
    """List every threshold in force with its source and evidence tag."""
    s = _settings(settings)
    if as_json:
        _emit(s.to_dict())
        return
    table = _table("rule", "parameters", "tag", "source")
    for key in s:
        rule = s[key]
        params = ", ".join(f"{k}={v}" for k, v in rule.params.items() if k != "text")
        table.add_row(key + (" *" if rule.overridden else ""), params, rule.tag, rule.source)
    out = _console()
    out.print(table)
    out.print("* overridden locally")
