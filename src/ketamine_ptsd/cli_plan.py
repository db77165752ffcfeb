"""``ketamine-ptsd plan``: the personal planner on a recorded patient, the search for
schedules on a virtual population and strategies compared on virtual patients. Thin: it
parses options, calls ``ketamine_ptsd.planning`` (and ``care.forecast``), prints."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Maintenance planning: the next session for one patient, schedules for a population, "
                       "strategies compared in silico. Decision support, not a prescription.")


def _target(text: str) -> float:
    from ketamine_ptsd.planning.patient import check_target

    try:
        return check_target(text)
    except InputError as exc:
        raise InputError("--target-probability", exc.message, exc.allowed) from None


@app.command("patient")
def patient(
    patient_id: str = typer.Argument(..., metavar="PATIENT_ID"),
    target_probability: str = typer.Option("0.8", help="keep the probability of staying in response at or "
                                           "above this (0.5 to 0.99)"),
    horizon_days: str | None = typer.Option(None, help="forecast to this many days from the first dose "
                                            "(default: 84 days past the last dose or score)"),
    population: str | None = typer.Option(None, "--population", help="the population whose prior the forecast "
                                          "uses: civilian_ptsd, veteran_ptsd_ad_failure, trd or ptsd_trd "
                                          "(params/populations.toml); default: the one stored with the patient "
                                          "(patient update --population), else civilian_ptsd"),
    save: bool = typer.Option(True, "--save/--no-save", help="keep the forecast, its plan and the "
                              "maintenance booking in the records; --no-save writes nothing"),
    samples: bool = typer.Option(False, "--samples", help="with --json: the forecast's samples the date was "
                                 "computed from (weights and the rule's instrument per draw and day)"),
    as_json: bool = typer.Option(False, "--json", help="print the plan as JSON"),
    user: str | None = typer.Option(None, "--user", help="who makes the change, for the audit trail"),
) -> None:
    """The latest date for the next session that keeps the probability of staying in
    response at or above the target, with the forecast band with and without that session;
    booked through the course when it books maintenance by forecast."""
    from ketamine_ptsd.calibration.individual import N_DRAWS, population_name
    from ketamine_ptsd.care.forecast import plan_patient
    from ketamine_ptsd.cli_clinic import number
    from ketamine_ptsd.cli_records import print_forecast_basis
    from ketamine_ptsd.cli_store import console, emit, new_table, open_records

    target = _target(target_probability)
    horizon = number("--horizon-days", horizon_days, "days")
    population_name(population)  # an unknown name is refused before anything is read
    with open_records(user) as records, Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("forecasting, then planning the next session", total=N_DRAWS)
        result = plan_patient(records, patient_id, target_probability=target, horizon_days=horizon, save=save,
                              with_samples=samples and as_json, progress=lambda k: bar.advance(task, k),
                              population=population)
    if as_json:
        emit(result)
        return
    out = console()
    print_forecast_basis(out, result, result["forecast"]["probability_of_response"])
    day = result["next_session_day"]
    if day is None:
        out.print(f"next session: not due within {result['horizon_days']:g} days of the first dose "
                  f"(probability of staying in response stays at or above {result['target_probability']:.0%})")
    else:
        out.print(f"next session: by {result['next_session_date']} (day {day}, {result['status']}); probability "
                  f"in response that day {result['probability_at_session']:.0%}, target "
                  f"{result['target_probability']:.0%}")
    if result["booking"]:
        verb = "booked" if "forecast_id" in result else "would book (not saved, nothing booked)"
        out.print(f"{verb}: {result['booking']['due_on']} ({result['booking']['reason']})")
    without, with_ = result["without_session"], result["with_session"]
    table = new_table(f"{result['instrument']}: median and 80 % band without and with the session",
                   "day", "without", "band", "P(in response)", "with", "band", "P(in response)")
    for d in sorted(int(k) for k in without["median"]):
        if d % 7 and d != day:
            continue
        key = str(d) if str(d) in without["median"] else d
        row = [str(d), f"{without['median'][key]:.1f}", f"{without['band_low'][key]:.1f}-"
               f"{without['band_high'][key]:.1f}", f"{without['probability_in_response'][key]:.0%}"]
        if with_:
            row += [f"{with_['median'][key]:.1f}", f"{with_['band_low'][key]:.1f}-{with_['band_high'][key]:.1f}",
                    f"{with_['probability_in_response'][key]:.0%}"]
        table.add_row(*row)
    out.print(table)
    for warning in result["forecast"]["outside_validated_range"] + result["warnings"]:
        out.print(f"[yellow]warning:[/] {warning}")
    out.print(NOT_A_MEDICAL_DEVICE)



WORKERS_HELP = "run on a local Dask cluster of this many single-threaded workers"
SCHEDULER_HELP = "run on the Dask cluster at this address, e.g. tcp://10.0.0.5:8786 (workers with --nthreads 1)"


@app.command("population")
def population(
    spec_path: Path = typer.Argument(..., metavar="SPEC.toml", help="planning specification (docs/planning.md)"),
    out: Path = typer.Option(Path("plan-population"), "--out", help="folder for pareto.json and pareto.html"),
    workers: int | None = typer.Option(None, "--workers", help=WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
) -> None:
    """Search induction schedules, maintenance intervals or symptom-triggered rules, therapy
    timing and dose on a virtual population for two objectives (NSGA-II); writes the Pareto
    front as JSON and an HTML plot. Same seed, same front, on any number of workers."""
    from ketamine_ptsd.distributed import check_cluster_options, dask_client, progress_bar
    from ketamine_ptsd.planning.search import search_schedules, write_outputs
    from ketamine_ptsd.planning.spec import load_plan_spec
    from ketamine_ptsd.planning.strategies import tasks_for

    check_cluster_options(workers, scheduler)
    spec = load_plan_spec(spec_path)
    chunks = len(tasks_for(spec.setting(search=True), _any_schedule(), spec.plan.chunk))
    with dask_client(workers, scheduler) as client, progress_bar("searching schedules",
                                                                 spec.search.trials * chunks) as advance:
        result = search_schedules(spec, client, advance)
    paths = write_outputs(result, out)
    console = Console(highlight=False, soft_wrap=True)
    cost, benefit = result["objectives"]["minimise"], result["objectives"]["maximise"]
    console.print(f"{len(result['front'])} Pareto-optimal schedules of {len(result['candidates'])} "
                  f"({result['n_patients']} virtual patients, {result['horizon_days']} days, seed {result['seed']}; "
                  f"{result['wall_seconds']:g} s)")
    for point in result["front"]:
        c, b = point["objectives"][cost], point["objectives"][benefit]
        console.print(f"  {cost} {c['mean']:.1f} [{c['ci_low']:.1f}, {c['ci_high']:.1f}]  {benefit} "
                      f"{b['mean']:.3g} [{b['ci_low']:.3g}, {b['ci_high']:.3g}]  {_words(point['schedule'])}")
    console.print("wrote " + ", ".join(str(p) for p in paths))
    console.print(NOT_A_MEDICAL_DEVICE)


def _any_schedule():
    from ketamine_ptsd.planning.strategies import Schedule

    return Schedule()


def _words(schedule: dict) -> str:
    text = (f"{schedule['induction_sessions']} sessions at {schedule['sessions_per_week']}/week, "
            f"{schedule['dose_mg_per_kg']:g} mg/kg; {schedule['maintenance']}")
    if schedule["maintenance"] == "interval":
        text += f" every {schedule['interval_days']:g} days"
    elif schedule["maintenance"] in ("triggered", "forecast"):
        text += f", assessed every {schedule['visit_every_days']} days"
    if schedule.get("therapy_hours_after_dose") is not None:
        text += f"; therapy {schedule['therapy_hours_after_dose']:g} h after each dose"
    return text


@app.command("evaluate")
def evaluate(
    spec_path: Path = typer.Argument(..., metavar="SPEC.toml", help="planning specification with [[strategies]]"),
    out: Path | None = typer.Option(None, "--out", help="write the comparison as JSON to this file"),
    workers: int | None = typer.Option(None, "--workers", help=WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
) -> None:
    """Compare maintenance strategies (fixed interval, forecast-guided, symptom-triggered)
    on the same virtual patients with known truth, observed with instrument error: sessions,
    days in response and relapses per patient-year, with paired differences and 95 % CIs."""
    import json

    from ketamine_ptsd.distributed import check_cluster_options, dask_client, progress_bar
    from ketamine_ptsd.files import write_atomic
    from ketamine_ptsd.planning.evaluate import MEASURES, evaluate_strategies
    from ketamine_ptsd.planning.spec import load_plan_spec
    from ketamine_ptsd.planning.strategies import tasks_for

    check_cluster_options(workers, scheduler)
    spec = load_plan_spec(spec_path)
    chunks = len(tasks_for(spec.setting(), _any_schedule(), spec.plan.chunk))
    with dask_client(workers, scheduler) as client, progress_bar("evaluating strategies",
                                                                 len(spec.strategies) * chunks) as advance:
        result = evaluate_strategies(spec, client, advance)
    if out is not None:
        write_atomic(out, json.dumps(result, indent=2))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"{result['name']}: {result['n_patients']} virtual patients, {result['horizon_days']} days "
                        "(means per patient-year, 95 % CI)", title_justify="left")
    table.add_column("strategy")
    for m in MEASURES:
        table.add_column(m)
    for name, row in result["strategies"].items():
        table.add_row(name, *(f"{row[m]['mean']:.3g} [{row[m]['ci_low']:.3g}, {row[m]['ci_high']:.3g}]"
                              for m in MEASURES))
    for name, row in result["differences"].items():
        table.add_row(name, *(f"{row[m]['mean']:+.3g} [{row[m]['ci_low']:+.3g}, {row[m]['ci_high']:+.3g}]"
                              for m in MEASURES))
    console.print(table)
    console.print("run time (s): " + ", ".join(f"{k} {v:g}" for k, v in result["wall_seconds"].items()))
    console.print(NOT_A_MEDICAL_DEVICE)
