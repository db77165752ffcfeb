"""``ketamine-ptsd trial`` and ``ketamine-ptsd sensitivity``: virtual trials and the
sensitivity of their endpoints, in this process or on a Dask cluster.

Both are plain functions with Typer options, mounted as top-level commands by ``cli.py``.
Bad input raises :class:`~ketamine_ptsd.errors.InputError` before anything is written; the
entry point prints it as one line and exits with code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .cli_clinic import in_cli_words
from .errors import InputError
from .trials import BUILTIN, DEFAULT_CHUNK, NOTICE, TrialSpec, builtin_spec, builtin_spec_text, load_spec

console = Console()
err_console = Console(stderr=True)

DEFAULT_TRIAL_OUT = Path("ketamine-ptsd-trial")
DEFAULT_SENSITIVITY_OUT = Path("ketamine-ptsd-sensitivity")
BUILTIN_HELP = f"a built-in trial: {', '.join(BUILTIN)}"
WORKERS_HELP = "run on a local Dask cluster of N single-threaded worker processes"
SCHEDULER_HELP = "run on the Dask cluster at this address, e.g. tcp://10.0.0.5:8786 (workers with --nthreads 1)"


def _resolve_spec(spec: Path | None, builtin: str | None, default: str | None = None) -> TrialSpec:
    if spec is not None and builtin:
        raise InputError("--builtin", "give a spec file or --builtin, not both", "one of them")
    if spec is not None:
        return load_spec(spec)
    if builtin or default:
        return builtin_spec(builtin or default)
    raise InputError("SPEC", "no trial given", f"a TOML spec file, or --builtin {'/'.join(BUILTIN)}")


def _check_out(out: Path | None) -> None:
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("--out", f"{out} exists and is not a folder", "a folder (created if missing)")


def _fmt(value, pattern: str = "{:.3g}", missing: str = "-") -> str:
    return missing if value is None else pattern.format(value)


def _summary(e: dict) -> None:
    arms = Table(title=f"{e['title'] or e['trial']}: {e['design']}, seed {e['seed']}")
    for col in ("arm", "n", "responders", "remission", "median days to loss of response",
                f"{e['primary']['instrument']} change, day {e['primary']['day']:g}"):
        arms.add_column(col, justify="left" if col == "arm" else "right")
    day = f"{e['primary']['day']:g}"
    for name, a in e["arms"].items():
        arms.add_row(name, str(a["n"]), _fmt(a["responder_rate"], "{:.1%}"), _fmt(a["remission_rate"], "{:.1%}"),
                     _fmt(a["median_days_to_loss_of_response"], "{:g}", "not reached"),
                     _fmt(a["mean_change_from_baseline"][e["primary"]["instrument"]][day], "{:.2f}"))
    console.print(arms)
    if not e["comparisons"]:
        return
    comp = Table(title=f"against {e['control']} (arm minus control)")
    for col in ("arm", "difference", f"{1 - e['primary']['alpha']:.0%} interval", "p", "Cohen's d", "method"):
        comp.add_column(col, justify="left" if col in ("arm", "method") else "right")
    for name, c in e["comparisons"].items():
        interval = "-" if c["ci_low"] is None else f"{c['ci_low']:.2f} to {c['ci_high']:.2f}"
        comp.add_row(name, _fmt(c["difference"], "{:.2f}"), interval, _fmt(c["p_value"]),
                     _fmt(c["effect_size_d"], "{:.2f}"), c["method"])
    console.print(comp)
    if "power" in e:
        for name, p in e["power"]["by_arm"].items():
            console.print(f"power of {name} at {e['power']['n_per_arm']} per arm: {p['power']:.1%} "
                          f"(+- {p['standard_error']:.1%}, {e['power']['trials']} trials)")


@in_cli_words
def trial(
    spec: Optional[Path] = typer.Argument(None, help="trial specification (TOML); see --builtin NAME --print-spec"),
    builtin: Optional[str] = typer.Option(None, "--builtin", help=BUILTIN_HELP),
    print_spec: bool = typer.Option(False, "--print-spec", help="print the built-in spec as TOML and stop"),
    n_per_arm: Optional[int] = typer.Option(None, "--n-per-arm", help="patients in every arm (overrides the spec)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed (overrides the spec)"),
    as_json: bool = typer.Option(False, "--json", help="print the endpoints JSON on standard output"),
    out: Optional[Path] = typer.Option(None, "--out", help=f"folder for endpoints.json and report.html (default "
                                       f"{DEFAULT_TRIAL_OUT}; with --json, files only when given)"),
    workers: Optional[int] = typer.Option(None, "--workers", help=WORKERS_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
    chunk_size: int = typer.Option(DEFAULT_CHUNK, "--chunk-size", help="patients per unit of work"),
    power_trials: int = typer.Option(0, "--power-trials", help="also estimate power from this many simulated "
                                     "trials with new seeds"),
):
    """Run a virtual randomised trial: endpoints as JSON, an HTML report and a summary.

    Same seed, same numbers: in one process, on --workers N or on --scheduler ADDRESS.
    """
    from .distributed import check_cluster_options, dask_client, progress_bar
    from .report.study import conduct

    if print_spec:
        if spec is not None or not builtin:
            raise InputError("--print-spec", "prints a built-in spec", f"--builtin {'/'.join(BUILTIN)}")
        typer.echo(builtin_spec_text(builtin), nl=False)
        return
    the_spec = _resolve_spec(spec, builtin).with_overrides(n_per_arm, seed)
    check_cluster_options(workers, scheduler)
    if chunk_size < 1:
        raise InputError("--chunk-size", f"must be at least 1, got {chunk_size}", ">= 1")
    if power_trials < 0:
        raise InputError("--power-trials", f"must be 0 (off) or more, got {power_trials}", ">= 0")
    folder = out if (out is not None or as_json) else DEFAULT_TRIAL_OUT
    _check_out(folder)
    with dask_client(workers, scheduler) as client:
        study = conduct(the_spec, folder, client, chunk_size, power_trials,
                        lambda label, total: progress_bar(label, total, err_console))
    e, written = study.endpoints, study.written
    if as_json:
        typer.echo(json.dumps(e, indent=1))
        return
    _summary(e)
    for w in e["warnings"]:
        err_console.print(f"[yellow]warning:[/] {w}")
    if written:
        console.print(f"wrote {written[0]} and {written[1]}")
    console.print(NOTICE)


@in_cli_words
def sensitivity(
    spec: Optional[Path] = typer.Argument(None, help="trial specification (TOML); default --builtin feder2021"),
    builtin: Optional[str] = typer.Option(None, "--builtin", help=BUILTIN_HELP),
    method: str = typer.Option("sobol", "--method", help="sobol or morris"),
    parameter: Optional[list[str]] = typer.Option(None, "--parameter", "-p", help="NAME=LOW:HIGH, a parameter of "
                                                  "params/model.toml and its range (repeat; default: the values "
                                                  "calibrated to Feder 2021, +-25 %)"),
    output: Optional[list[str]] = typer.Option(None, "--output", "-o", help="METRIC or METRIC:ARM (repeat; "
                                               "default responder_rate and median_days_to_loss_of_response)"),
    samples: int = typer.Option(32, "--samples", help="Sobol base samples (a power of 2) or Morris trajectories"),
    n_per_arm: int = typer.Option(200, "--n-per-arm", help="patients per arm of every simulated trial"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed of the trials and of the sampling"),
    as_json: bool = typer.Option(False, "--json", help="print the indices JSON on standard output"),
    out: Optional[Path] = typer.Option(None, "--out", help=f"folder for sensitivity.json and sensitivity.png "
                                       f"(default {DEFAULT_SENSITIVITY_OUT}; with --json, only when given)"),
    workers: Optional[int] = typer.Option(None, "--workers", help=WORKERS_HELP),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
):
    """Sobol or Morris sensitivity (SALib) of trial endpoints to model parameters, one virtual
    trial per sample, with a plot of the indices."""
    from .distributed import check_cluster_options, dask_client, progress_bar
    from .sensitivity import (
        MORRIS_LEVELS,
        check_samples,
        default_parameters,
        parse_output,
        parse_parameter,
        run_sensitivity,
        write_outputs,
    )

    the_spec = _resolve_spec(spec, builtin, default="feder2021").with_overrides(n_per_arm, seed)
    ranges = [parse_parameter(p) for p in parameter] if parameter else default_parameters()
    outputs = [parse_output(o, the_spec) for o in (output or ["responder_rate", "median_days_to_loss_of_response"])]
    check_samples(method, samples)
    check_cluster_options(workers, scheduler)
    folder = out if (out is not None or as_json) else DEFAULT_SENSITIVITY_OUT
    _check_out(folder)
    trials = samples * (len(ranges) + (2 if method == "sobol" else 1))
    with dask_client(workers, scheduler) as client, progress_bar("sensitivity: simulating trials", trials,
                                                                  err_console) as advance:
        result = run_sensitivity(the_spec, ranges, outputs, method, samples, the_spec.trial.seed,
                                 client=client, progress=advance)
    data = result.to_dict()
    written = write_outputs(result, folder) if folder is not None else []
    if as_json:
        typer.echo(json.dumps(data, indent=1))
        return
    keys = ("S1", "ST") if method == "sobol" else ("mu_star", "sigma")
    table = Table(title=f"{method} indices, {data['evaluations']} trials of {n_per_arm} per arm"
                  + ("" if method == "sobol" else f" ({MORRIS_LEVELS} levels)"))
    table.add_column("output")
    table.add_column("parameter")
    for k in keys:
        table.add_column(k, justify="right")
    for label, idx in data["indices"].items():
        if idx is None:
            table.add_row(label, "-", *["-" for _ in keys])
            continue
        for name, values in idx.items():
            table.add_row(label, name, *[_fmt(values[k]) for k in keys])
    console.print(table)
    for w in data["warnings"]:
        err_console.print(f"[yellow]warning:[/] {w}")
    if written:
        console.print(f"wrote {written[0]} and {written[1]}")
    console.print(NOTICE)
