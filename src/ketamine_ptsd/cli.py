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
from typer.core import TyperCommand, TyperGroup

from . import cost
from .dosing import Route
from .errors import InputError

NOTICE = "Research and decision-support software, not a medical device."

#: Commands and command groups loaded only when run: name -> (module, function or Typer app).
#: The trial commands import the simulator (numba, scipy, pandas), the records and web ones the
#: database layer, the clinic ones numpy; ``--help`` needs none of them.
LAZY_COMMANDS = {
    "clinic": ("cli_clinic", "app"),
    "trial": ("cli_trial", "trial"), "sensitivity": ("cli_trial", "sensitivity"),
    "patient": ("cli_records", "patient_app"), "session": ("cli_records", "session_app"),
    "assess": ("cli_records", "assess_app"), "course": ("cli_records", "course_app"),
    "export": ("cli_records", "export_app"), "model": ("cli_records", "model_app"),
    "db": ("cli_records", "db_app"), "forecast": ("cli_records", "forecast"),
    "serve": ("cli_web", "serve"), "user": ("cli_web", "user_app"),
    "plan": ("cli_plan", "app"),
}


def _lazy_help(name: str) -> str:
    """The help of a lazy command, read from its module's source without importing it: a
    function's docstring, or the help text given to a Typer app."""
    import ast
    from importlib.util import find_spec

    module, attr = LAZY_COMMANDS[name]
    source = Path(find_spec(f"{__package__}.{module}").origin).read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return ast.get_docstring(node) or ""
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)
                and isinstance(node.value, ast.Call)):
            given = [*node.value.args[:1], *(k.value for k in node.value.keywords if k.arg == "help")]
            return next((_literal_text(v) for v in given if _literal_text(v)), "")
    return ""


def _literal_text(node) -> str:
    """The text of a string literal; of an f-string, its literal parts (the listing is a summary)."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant)).strip()
    return ""


class _LazyGroup(TyperGroup):
    """The command group, loading the commands of ``LAZY_COMMANDS`` only when one is run (the
    help lists them from their source)."""

    _listing = False

    def list_commands(self, ctx):
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx, cmd_name):
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            if self._listing:
                return TyperCommand(name=cmd_name, help=_lazy_help(cmd_name))
            import importlib

            module, attr = LAZY_COMMANDS[cmd_name]
            target = getattr(importlib.import_module(f".{module}", __package__), attr)
            if isinstance(target, typer.Typer):
                command = typer.main.get_group(target)
                command.name = cmd_name
            else:
                single = typer.Typer()
                single.command(cmd_name)(target)
                command = typer.main.get_command(single)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx, formatter):
        self._listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=_LazyGroup,
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


class OralAdOption(str, Enum):
    none = "none"
    stable = "stable"
    new = "new"


#: The routes a command offers: :class:`~ketamine_ptsd.dosing.Route`'s, by their names.
RouteOption = Enum("RouteOption", {r.value: r.value for r in Route}, type=str)


class PrecisionOption(str, Enum):
    float32 = "float32"
    float64 = "float64"


class KernelOption(str, Enum):
    lanes = "lanes"
    patient = "patient"
    lockstep = "lockstep"
    auto = "auto"


class FormatOption(str, Enum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


DEFAULT_DOSE = {Route.IV_INFUSION.value: "0.5mg/kg", Route.IV_BOLUS.value: "0.2mg/kg", Route.IM.value: "0.5mg/kg",
                Route.INTRANASAL.value: "56mg"}


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
    outputs: Annotated[Optional[str], typer.Option(help="outputs to compute and store, comma-separated, e.g. "
                                                   "pcl5_total,madrs (default: all)")] = None,
    precision: Annotated[PrecisionOption, typer.Option(help="stored values: float32 (7 digits, inside the "
                                                       "solver's tolerance) or float64")] = PrecisionOption.float32,
    yes: Annotated[bool, typer.Option("--yes", help="run even when the estimate exceeds the limits")] = False,
    max_gib: Annotated[float, typer.Option(help="refuse (without --yes) runs estimated to write more than this "
                                           "many GiB")] = cost.DEFAULT_MAX_GIB,
    max_minutes: Annotated[float, typer.Option(help="refuse (without --yes) runs estimated to take more than "
                                               "this many minutes of CPU")] = cost.DEFAULT_MAX_MINUTES,
    population_name: Annotated[Optional[str], typer.Option(
        "--population", help="named population of params/populations.toml (civilian_ptsd, "
        "veteran_ptsd_ad_failure, trd, ptsd_trd; default civilian_ptsd)")] = None,
    oral_ad: Annotated[OralAdOption, typer.Option(
        help="concomitant oral antidepressant: none, stable (taken throughout) or new (started on day 0)")]
        = OralAdOption.none,
    kernel: Annotated[KernelOption, typer.Option(
        help="how patients are integrated: lanes (16 at a time in SIMD lanes, each with its own steps: the "
             "same results as patient to the last bit, faster where outputs are few), patient (each alone), "
             "lockstep (16 at a time sharing their steps: about twice the engine's throughput with outputs "
             "every 15 min, less for the whole command, where writing files costs as much; a course may move "
             "within the tolerance with its group) or auto (lockstep from two groups of patients). With lanes "
             "and patient, a course never depends on the others simulated")]
        = KernelOption.lanes,
):
    """Simulate a regimen: dose -> concentration -> cascade -> symptoms -> vitals.

    Writes OUT/trajectory.<format> (long format), OUT/metadata.json and OUT/report.html. The
    size and CPU time are estimated first; a run over the limits is refused unless --yes. The
    files are written chunk by chunk into a temporary folder beside OUT and moved into place at
    the end, so an interrupted run leaves nothing.
    """
    import signal

    import numpy as np

    from .dosing import Protocol
    from .files import prepare_output, staged_folder
    from .model import MODEL
    from .simulation import output_count, select_outputs
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
    for flag, value in (("--max-gib", max_gib), ("--max-minutes", max_minutes)):
        if not value > 0:
            raise InputError(flag, f"must be a positive number, got {value}", "> 0")
    with _as_flag("days", "--days"), _as_flag("therapy_days", "--therapy-days"):
        regimen = Protocol(_days(days, "--days"), amount, per_kg, route.value, drug.value, infusion_min,
                           therapy_days=_days(therapy_days, "--therapy-days")).regimen()
    regimen = regimen.with_context(oral_ad=oral_ad.value)
    n_times = output_count(horizon_days, dt_min)
    with _as_flag("outputs", "--outputs"):
        names, _ = select_outputs(MODEL, None if outputs is None else
                                  [x.strip() for x in outputs.split(",") if x.strip()])
    estimate = cost.estimate(n or 1, horizon_days, n_times, len(names), format.value, precision.value)
    over = cost.over_limits(estimate, max_gib, max_minutes, _free_bytes(out))
    if over and not yes:
        raise InputError("size", f"refused: {estimate.describe()}; that is {' and '.join(over)}",
                         "smaller --n, --horizon-days, --outputs or a larger --dt-min; or --yes to run it anyway")
    from .params import population_spec

    with _as_flag("population", "--population"):
        population_spec(population_name)  # an unknown name is refused before anything is written
    staged = prepare_output(out, "--out")
    # SIGTERM, like Ctrl-C, stops the run and removes the temporary folder.
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        with staged_folder(out, "--out", staged) as folder:
            written, table = _simulate_into(folder, regimen, n, seed, weight_kg, population_name, names,
                                            horizon_days, dt_min, format.value, precision.value, estimate,
                                            kernel.value)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    table_view = Table(title=f"{n or 1} patient(s), {drug.value} {route.value} {dose_text} on days {days}")
    table_view.add_column("measure")
    for col in table.columns:
        table_view.add_column(str(col), justify="right")
    for name, row in table.rows:
        table_view.add_row(name, *[("-" if v != v else f"{v:.3g}") for v in row])
    console.print(table_view)
    console.print(f"wrote {out / written.name} and {out / 'report.html'}")
    console.print(NOTICE)


def _simulate_into(folder: Path, regimen, n, seed, weight_kg, population_name, names, horizon_days, dt_min, fmt,
                   precision, estimate, kernel):
    """Run the simulation chunk by chunk into ``folder``: trajectory, metadata and report.
    Returns the trajectory file and the summary table."""
    from rich.progress import Progress

    from .engine import NumbaEngine
    from .population import Population
    from .report.figures import band_variables
    from .report.html import summary_table, write_report
    from .report.summary import summarise
    from .simulation import ChunkedRun, output_times

    if n is None:
        population = Population.typical(population=population_name, weight_kg=weight_kg)
    else:
        population = Population.virtual(n, seed, population=population_name, weight_kg=weight_kg)
    run = ChunkedRun(regimen, population, engine=NumbaEngine(kernel=kernel), times=output_times(horizon_days, dt_min),
                     outputs=names)
    show = len(population) >= 2000 or estimate.cpu_s > 10
    if show:
        err_console.print(f"estimate: {estimate.describe()}", highlight=False)
    with Progress(console=err_console, transient=True, disable=not show) as progress:
        task = progress.add_task("simulating patients", total=len(population))
        files = run.write(folder, fmt, precision, progress=lambda k: progress.advance(task, k),
                          summarise=summarise, band_names=band_variables(run.names))
    for w in files.metadata["warnings"]:
        err_console.print(f"[yellow]warning:[/] outside the validated range: {w}")
    table = summary_table(summary=files.summary)
    write_report(files.sample, folder / "report.html", table=table, bands_from=files.sample_note)
    return files.path, table


def _free_bytes(out: Path) -> int | None:
    """Free space on the file system ``out`` would be written to (None if unknown)."""
    import shutil

    for p in (out.absolute(), *out.absolute().parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


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
    session (readings every 15 min for 4 h) in a virtual population, as a monitor records it
    (session-to-session variability, cuff and rater noise)."""
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
    population = Population.virtual(n, seed)
    traj = run_simulation(regimen, population, times=times,
                          outputs=["sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss"])
    # What the monitor records: session-to-session variability, the procedure's own rise
    # and cuff or rater noise on every reading (model.readings), not the model's true curve.
    from .model.readings import observe_session_readings

    post = times > 0
    recorded = observe_session_readings(
        population.ids, seed, np.zeros(times.size, dtype=np.int64), post, sbp=traj["sbp_mmhg"],
        dbp=traj["dbp_mmhg"], sbp0=population.covariates["sbp_mmhg"], dbp0=population.covariates["dbp_mmhg"],
        cadss=traj["cadss"])
    sessions = traj.to_pandas()
    for name, values in (("sbp_mmhg", recorded.sbp), ("dbp_mmhg", recorded.dbp), ("cadss", recorded.cadss)):
        sessions[name] = values.reshape(-1)
    rates = alert_rates(sessions, product=drug.value,
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
    from .calibration.report import write_validation_report
    from .calibration.validation import format_value, run_validation
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
    jacobian_only: bool = typer.Option(False, "--jacobian-only", help="do not refit: compute the Jacobian of the "
                                       "training residuals at the current values and the uncertainty it gives"),
    uncertainty_out: Path = typer.Option(Path("calibration-uncertainty.toml"),
                                         help="where to write each calibrated quantity's uncertainty"),
):
    """Fit the calibrated parameters to the training targets (role = "train"; scipy
    least_squares) and write the table, each fitted entry marked "calibrated to <target id>",
    and each quantity's uncertainty from the Jacobian at the solution."""
    from rich.progress import Progress

    from .calibration.fit import CALIBRATED, jacobian_at, write_table, write_uncertainty
    from .calibration.fit import calibrate as run_calibration
    from .calibration.scenarios import Settings

    if n_per_arm < 1:
        raise InputError("--n-per-arm", f"must be at least 1, got {n_per_arm}", ">= 1")
    settings = Settings(n_per_arm=n_per_arm, seed=seed, bp_n_per_arm=n_per_arm)
    if jacobian_only:
        with Progress(console=err_console) as progress:
            task = progress.add_task("Jacobian", total=len(CALIBRATED) + 2)
            result = jacobian_at(settings=settings, progress=lambda k, cost: progress.update(task, completed=k))
        note = (f"Uncertainty of the calibrated quantities: forward-difference Jacobian (step 0.05 in log space) of\n"
                f"the training residuals at the packaged values, {n_per_arm} virtual patients per arm, seed {seed},\n"
                f"without refitting (`ketamine-ptsd calibrate --jacobian-only`).")
        write_uncertainty(result, uncertainty_out, note)
        console.print_json(data=result)
        console.print(f"wrote {uncertainty_out}")
        return
    with Progress(console=err_console) as progress:
        task = progress.add_task("calibrating", total=max_evaluations)

        def step(k, cost):
            progress.update(task, completed=k, description=f"calibrating (sum of squares {cost:.3g})")

        table, summary = run_calibration(settings=settings, max_nfev=max_evaluations, progress=step)
    write_table(table, out)
    write_uncertainty(summary["uncertainty"], uncertainty_out,
                      f"Uncertainty of the calibrated quantities from the Jacobian of the least-squares fit at its\n"
                      f"solution, {n_per_arm} virtual patients per arm, seed {seed}.")
    console.print_json(data=summary)
    console.print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: turns bad input into one line on stderr and exit code 2."""
    # One BLAS thread unless the user says otherwise (read when numpy, and scipy with its own
    # OpenBLAS, are first imported, which no command has done before this). Our BLAS work is on
    # small matrices; each OpenBLAS pool thread spins for about 0.1 s of CPU when it starts and
    # after every call (its THREAD_TIMEOUT), on the core numba's threads integrate on: 0.2 to
    # 0.5 s of a 4,000-patient simulate's 5 s (docs/benchmarks.md, "One BLAS thread").
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        rc = app(args=argv, prog_name="ketamine-ptsd", standalone_mode=False)
    except InputError as exc:
        from .cli_clinic import cli_error  # the one table of flags; loaded only on an error

        err_console.print(f"error: {cli_error(exc)}", highlight=False, soft_wrap=True)
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
