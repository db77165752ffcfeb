"""The ``ketamine-ptsd`` command. Thin: it parses options, calls the library, prints.

Bad input prints one line naming the field and what is allowed, and exits with code 2;
nothing is written.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer._click.exceptions import ClickException

from . import cli_plan, cli_records, cli_trial, cli_web
from .cli_clinic import app as clinic_app
from .errors import InputError

NOTICE = "Research and decision-support software, not a medical device."

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    help=f"A digital twin of ketamine therapy for PTSD, and a clinic toolkit. {NOTICE}",
)
console = Console()
err_console = Console(stderr=True)


class DrugOption(str, Enum):
    racemic = "racemic"
    esketamine = "esketamine"


class RouteOption(str, Enum):
    iv_infusion = "iv_infusion"
    iv_bolus = "iv_bolus"
    im = "im"
    intranasal = "intranasal"
    oral = "oral"
    sublingual = "sublingual"


class FormatOption(str, Enum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


DEFAULT_DOSE = {"iv_infusion": "0.5mg/kg", "iv_bolus": "0.2mg/kg", "im": "0.5mg/kg", "intranasal": "56mg"}


def _days(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise InputError(field, f"cannot read {text!r}", "comma-separated day numbers, e.g. 0,2,4,7,9,11") from None


@contextmanager
def _as_flag(field: str, flag: str):
    """Report a library error about ``field`` under the command-line flag the user typed."""
    try:
        yield
    except InputError as exc:
        if exc.field != field:
            raise
        raise InputError(flag, exc.message, exc.allowed) from None


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    db: Optional[str] = typer.Option(None, "--db", help="database URL of the clinic records (default: SQLite in "
                                     "the user's data folder; also KETAMINE_PTSD_DB)"),
    user: Optional[str] = typer.Option(None, "--user", help="who makes the changes, for the audit trail "
                                       "(default: KETAMINE_PTSD_USER, else the login name)"),
):
    """With no command, run the default simulation (the demo)."""
    if db:
        os.environ["KETAMINE_PTSD_DB"] = db
    if user:
        os.environ["KETAMINE_PTSD_USER"] = user
    if ctx.invoked_subcommand is None:
        simulate()


@app.command()
def simulate(
    drug: Annotated[DrugOption, typer.Option(help="racemic ketamine or esketamine")] = DrugOption.racemic,
    route: Annotated[RouteOption, typer.Option(help="route of administration")] = RouteOption.iv_infusion,
    dose: Annotated[Optional[str], typer.Option(help="dose per session, e.g. 0.5mg/kg or 56mg "
                                                "(default 0.5mg/kg IV/IM, 56mg intranasal)")] = None,
    infusion_min: Annotated[float, typer.Option(help="infusion length in minutes (iv_infusion)")] = 40.0,
    days: Annotated[str, typer.Option(help="dose days, comma-separated (day 0 = first dose)")] = "0,2,4,7,9,11",
    therapy_days: Annotated[str, typer.Option(help="psychotherapy session days, e.g. 1,3,5 "
                                                   "(24 h after a dose)")] = "",
    horizon_days: Annotated[float, typer.Option(help="simulated time in days")] = 56.0,
    dt_min: Annotated[float, typer.Option(help="output interval in minutes")] = 15.0,
    weight_kg: Annotated[float, typer.Option(help="body weight (kg) of the typical patient")] = 70.0,
    n: Annotated[Optional[int], typer.Option(help="number of virtual patients with variability "
                                             "(default: one typical patient)")] = None,
    seed: Annotated[int, typer.Option(help="random seed for virtual patients")] = 0,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("ketamine-ptsd-output"),
    format: Annotated[FormatOption, typer.Option("--format", help="trajectory file format")] = FormatOption.csv,
):
    """Simulate a regimen: dose -> concentration -> cascade -> symptoms -> vitals.

    Writes OUT/trajectory.<format> (long format), OUT/metadata.json and OUT/report.html.
    """
    import numpy as np

    from .dosing import induction_series, with_therapy
    from .population import Population
    from .report.html import summary_table, write_report
    from .simulation import output_times
    from .simulation import simulate as run_simulation
    from .units import parse_dose

    dose_text = dose or DEFAULT_DOSE.get(route.value)
    if dose_text is None:
        raise InputError("--dose", f"no default dose for {route.value}", "give one, e.g. --dose 100mg")
    amount, per_kg = parse_dose(dose_text)
    if not (np.isfinite(weight_kg) and weight_kg > 0):
        raise InputError("--weight-kg", f"must be a positive number, got {weight_kg}", "> 0 kg (validated 40-150)")
    if route is RouteOption.iv_infusion and not (np.isfinite(infusion_min) and infusion_min > 0):
        raise InputError("--infusion-min", f"an infusion needs a positive length, got {infusion_min}", "> 0 minutes")
    if n is not None and n < 1:
        raise InputError("--n", f"must be at least 1, got {n}", ">= 1")
    with _as_flag("days", "--days"):
        regimen = induction_series(
            _days(days, "--days"), amount, per_kg, route.value, drug.value,
            infusion_min if route is RouteOption.iv_infusion else None,
        )
    if therapy_days.strip():
        with _as_flag("therapy_days", "--therapy-days"):
            regimen = with_therapy(regimen, _days(therapy_days, "--therapy-days"))
    times = output_times(horizon_days, dt_min)
    if n is None:
        population = Population.typical(weight_kg=weight_kg)
    else:
        population = Population.virtual(n, seed, weight_kg=weight_kg)

    from rich.progress import Progress

    with Progress(console=err_console, transient=True, disable=len(population) < 2000) as progress:
        task = progress.add_task("simulating patients", total=len(population))
        traj = run_simulation(regimen, population, times=times,
                              progress=lambda k: progress.advance(task, k))
    for w in traj.warnings:
        err_console.print(f"[yellow]warning:[/] outside the validated range: {w}")
    path = traj.write(out, format.value)
    report = write_report(traj, out / "report.html")
    table = Table(title=f"{len(population)} patient(s), {drug.value} {route.value} {dose_text} on days {days}")
    frame = summary_table(traj)
    table.add_column("measure")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *[("-" if v != v else f"{v:.3g}") for v in row.values])
    console.print(table)
    console.print(f"wrote {path} and {report}")
    console.print(NOTICE)


@app.command("alert-rates")
def alert_rates_command(
    drug: DrugOption = typer.Option(DrugOption.esketamine, help="racemic ketamine or esketamine"),
    route: RouteOption = typer.Option(RouteOption.intranasal, help="route of administration"),
    dose: Optional[str] = typer.Option(None, help="dose, e.g. 56mg or 0.5mg/kg (default by route)"),
    infusion_min: float = typer.Option(40.0, help="infusion length in minutes (iv_infusion)"),
    n: int = typer.Option(1000, help="virtual patients"),
    seed: int = typer.Option(0, help="random seed"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
):
    """How often the session-monitoring rules would fire for a protocol, on one simulated
    session (readings every 15 min for 4 h) in a virtual population."""
    import numpy as np

    from .clinic.monitoring import alert_rates
    from .dosing import single_dose
    from .population import Population
    from .simulation import simulate as run_simulation
    from .units import parse_dose

    dose_text = dose or DEFAULT_DOSE.get(route.value)
    if dose_text is None:
        raise InputError("--dose", f"no default dose for {route.value}", "give one, e.g. --dose 100mg")
    if n < 1:
        raise InputError("--n", f"must be at least 1, got {n}", ">= 1")
    amount, per_kg = parse_dose(dose_text)
    regimen = single_dose(amount, per_kg, route.value, drug.value, 0.0,
                          infusion_min if route is RouteOption.iv_infusion else None)
    times = np.arange(0, 4 * 60 + 1, 15) / 60.0
    traj = run_simulation(regimen, Population.virtual(n, seed), times=times,
                          outputs=["sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss"])
    rates = alert_rates(traj.to_pandas(), product=drug.value,
                        route=route.value,
                        infusion_min=infusion_min if route is RouteOption.iv_infusion else None)
    if as_json:
        print(json.dumps(rates.to_dict(), indent=1))
        return
    table = Table(title=f"monitoring rules on {n} simulated sessions: {drug.value} {route.value} {dose_text}")
    table.add_column("rule")
    table.add_column("share of sessions", justify="right")
    for name, rate in rates.rules.items():
        d = rate.to_dict()
        share = d.get("rate")
        table.add_row(name, "-" if share is None else f"{100 * share:.1f} %")
    console.print(table)
    console.print(NOTICE)


@app.command()
def validate(
    as_json: bool = typer.Option(False, "--json", help="print the results as a JSON list"),
    docs: str = typer.Option("docs/validation.md", help="write the validation report here (empty to skip)"),
    params: Optional[Path] = typer.Option(None, help="a model parameter table to validate instead of the packaged "
                                          "one (as written by `calibrate --out`)"),
):
    """Run every literature target and show simulated value, band and pass/fail."""
    from .calibration.validation import format_value, run_validation, write_validation_report
    from .files import read_toml
    from .params import model_table

    table = model_table(read_toml(params, "--params", "a table as written by calibrate")) if params else None
    results = run_validation(table)
    if docs:
        write_validation_report(results, Path(docs), table)
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        table = Table(title="validation against published targets")
        for col in ("id", "status", "simulated", "low", "high"):
            table.add_column(col)
        for r in results:
            colour = {"pass": "green", "fail": "red"}.get(r.status, "yellow")
            cells = (format_value(v, "-") for v in (r.simulated, r.low, r.high))
            table.add_row(r.id, f"[{colour}]{r.status}[/]", *cells)
        console.print(table)
        counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "not_modelled")}
        console.print(f"{counts['pass']} pass, {counts['fail']} fail, {counts['not_modelled']} not modelled")


@app.command()
def calibrate(
    out: Path = typer.Option(Path("calibrated-model.toml"), help="where to write the calibrated parameter table"),
    n_per_arm: int = typer.Option(400, help="virtual patients per trial arm during the fit"),
    seed: int = typer.Option(20240607, help="seed of the virtual trials (fixed: the fit is reproducible)"),
    max_evaluations: int = typer.Option(60, help="largest number of objective evaluations"),
):
    """Fit the calibrated parameters to the targets (scipy least_squares) and write the table,
    each fitted entry marked "calibrated to <target id>"."""
    from rich.progress import Progress

    from .calibration.fit import calibrate as run_calibration
    from .calibration.fit import write_table
    from .calibration.scenarios import Settings

    if n_per_arm < 1:
        raise InputError("--n-per-arm", f"must be at least 1, got {n_per_arm}", ">= 1")
    with Progress(console=err_console) as progress:
        task = progress.add_task("calibrating", total=max_evaluations)

        def step(k, cost):
            progress.update(task, completed=k, description=f"calibrating (sum of squares {cost:.3g})")

        table, summary = run_calibration(settings=Settings(n_per_arm=n_per_arm, seed=seed),
                                         max_nfev=max_evaluations, progress=step)
    write_table(table, out)
    console.print_json(data=summary)
    console.print(f"wrote {out}")


app.add_typer(clinic_app, name="clinic", help="Clinic toolkit: instruments, screening, dose plans, "
              "session monitoring, regulatory status.")
app.command("trial")(cli_trial.trial)
app.command("sensitivity")(cli_trial.sensitivity)
for _name, _records_app in (("patient", cli_records.patient_app), ("session", cli_records.session_app),
                            ("assess", cli_records.assess_app), ("course", cli_records.course_app),
                            ("export", cli_records.export_app), ("model", cli_records.model_app),
                            ("db", cli_records.db_app)):
    app.add_typer(_records_app, name=_name)
app.command("forecast")(cli_records.forecast)
app.command("serve")(cli_web.serve)
app.add_typer(cli_web.user_app, name="user")
app.add_typer(cli_plan.app, name="plan")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: turns bad input into one line on stderr and exit code 2."""
    try:
        rc = app(args=argv, prog_name="ketamine-ptsd", standalone_mode=False)
    except InputError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return 2
    except ClickException as exc:
        # A value the option parser itself rejects (an unknown route, a missing argument):
        # one line, like every other bad input.
        err_console.print(f"error: {exc.format_message()}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Abort:
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    # Without standalone mode a command's own exit code (typer.Exit) comes back as the result.
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
