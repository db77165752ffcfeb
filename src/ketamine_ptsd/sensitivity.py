"""Global sensitivity analysis of trial endpoints to model parameters (SALib: Sobol or Morris).

Each sample of the parameters is one whole virtual trial (a spec, usually a built-in one,
with the sample's values in the model table), run here or on a Dask cluster. All samples
share the trial's seed (common random numbers), so the indices measure the parameters and
not the chance of which patients were drawn. Research software, not medical advice.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .calibration.fit import CALIBRATED
from .distributed import map_tasks
from .errors import InputError
from .files import write_atomic
from .params import ParameterTable, model_table
from .trials import TrialSpec, compare, loss_of_response, remission_rate, responder_rate, run_trial

#: Trial outputs an analysis can study, each computed for one arm (``NAME:ARM``; default the
#: first arm that is not the control).
OUTPUTS = ("responder_rate", "remission_rate", "median_days_to_loss_of_response", "difference", "effect_size_d")
METHODS = ("sobol", "morris")
#: Morris grid levels (Morris 1991; 4 is SALib's and the usual default).
MORRIS_LEVELS = 4
#: Half-width of the default parameter ranges, as a fraction of the calibrated value.
DEFAULT_SPREAD = 0.25
#: Default parameters: the typical values calibrated to the Feder 2021 trial target.
DEFAULT_PARAMETERS = tuple(dict.fromkeys(c.name for c in CALIBRATED
                                         if not c.iiv and "clinical.feder2021_six_infusions" in c.targets))


@dataclass(frozen=True)
class ParameterRange:
    """A model parameter (``params/model.toml``) varied uniformly over ``[low, high]`` (its unit)."""

    name: str
    low: float
    high: float

    def __post_init__(self):
        names = model_table().names
        if self.name not in names:
            raise InputError("parameter", f"unknown parameter {self.name!r}", "a parameter of params/model.toml, "
                             f"e.g. {', '.join(DEFAULT_PARAMETERS)}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise InputError("parameter", f"{self.name}: need finite LOW < HIGH, got {self.low:g}:{self.high:g}",
                             "NAME=LOW:HIGH with LOW < HIGH")


def parse_parameter(text: str) -> ParameterRange:
    """``NAME=LOW:HIGH`` (for instance ``structural_gain=2:5``)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_]+)\s*=\s*([^:]+):(.+)", text)
    if not match:
        raise InputError("parameter", f"cannot read {text!r}", "NAME=LOW:HIGH, e.g. labile_tau=150:250")
    try:
        low, high = float(match.group(2)), float(match.group(3))
    except ValueError:
        raise InputError("parameter", f"cannot read the range of {text!r}", "NAME=LOW:HIGH with numbers") from None
    return ParameterRange(match.group(1), low, high)


def default_parameters(params: ParameterTable | None = None) -> list[ParameterRange]:
    """:data:`DEFAULT_PARAMETERS`, each over its value +- :data:`DEFAULT_SPREAD` (fractions
    are kept below 1)."""
    params = params or model_table()
    out = []
    for name in DEFAULT_PARAMETERS:
        v = params.value(name)
        high = v * (1 + DEFAULT_SPREAD)
        out.append(ParameterRange(name, v * (1 - DEFAULT_SPREAD), min(high, 0.99) if "fraction" in name else high))
    return out


@dataclass(frozen=True)
class OutputSpec:
    """Output ``metric`` of arm ``arm``."""

    metric: str
    arm: str

    @property
    def label(self) -> str:
        return f"{self.metric}:{self.arm}"


def parse_output(text: str, spec: TrialSpec) -> OutputSpec:
    """``METRIC`` or ``METRIC:ARM`` (metric one of :data:`OUTPUTS`)."""
    metric, _, arm = text.partition(":")
    metric = metric.strip()
    # A single-arm trial has no control and nothing compared with it.
    compared = [a for a in spec.arm_names if a != spec.trial.control] if spec.trial.control else []
    arm = arm.strip() or (compared or spec.arm_names)[0]
    if metric not in OUTPUTS:
        raise InputError("output", f"unknown output {metric!r}", ", ".join(OUTPUTS))
    allowed = compared if metric in ("difference", "effect_size_d") else spec.arm_names
    if arm not in allowed:
        raise InputError("output", f"no arm {arm!r} for {metric}",
                         ", ".join(allowed) or "a trial with a control arm")
    return OutputSpec(metric, arm)


def trial_outputs(result, outputs: Sequence[OutputSpec]) -> list[float]:
    """The values of ``outputs`` in one trial result (NaN where undefined)."""
    values = []
    for out in outputs:
        if out.metric == "responder_rate":
            values.append(responder_rate(result, out.arm))
        elif out.metric == "remission_rate":
            values.append(remission_rate(result, out.arm))
        elif out.metric == "median_days_to_loss_of_response":
            values.append(loss_of_response(result, out.arm).median)
        else:
            values.append(getattr(compare(result, out.arm), out.metric))
    return values


@dataclass(frozen=True)
class SampleTask:
    """One parameter sample: the trial to run and the parameter values to put in the table."""

    spec: TrialSpec
    names: tuple[str, ...]
    values: tuple[float, ...]
    outputs: tuple[OutputSpec, ...]
    base: ParameterTable | None = None
    threads: int | None = None


def evaluate_sample(task: SampleTask) -> list[float]:
    """Run the trial of ``task`` with its parameter values; return its outputs."""
    params = (task.base or model_table()).replace(**dict(zip(task.names, task.values)))
    return trial_outputs(run_trial(task.spec, params, threads=task.threads), task.outputs)


@dataclass(frozen=True)
class SensitivityResult:
    """The samples, the outputs and the indices of each output (None where an output was
    undefined in some sample, e.g. a median not reached)."""

    method: str
    parameters: tuple[ParameterRange, ...]
    outputs: tuple[OutputSpec, ...]
    samples: np.ndarray
    values: np.ndarray
    indices: dict
    seed: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """JSON-ready: method, parameters and ranges, indices per output, warnings."""
        return {
            "method": self.method,
            "parameters": {p.name: [p.low, p.high] for p in self.parameters},
            "outputs": [o.label for o in self.outputs],
            "evaluations": int(self.samples.shape[0]),
            "seed": self.seed,
            "indices": self.indices,
            "warnings": list(self.warnings),
            "definition": ("Sobol: first-order (S1) and total (ST) indices with 95 % intervals, Saltelli sampling"
                           if self.method == "sobol" else
                           f"Morris elementary effects on a {MORRIS_LEVELS}-level grid: mu_star (mean |effect|, "
                           "with 95 % interval) and sigma (spread: interactions or non-linearity)"),
            "notice": "Research software, not a medical device; sensitivity of simulated endpoints only.",
        }


def _problem(parameters: Sequence[ParameterRange]) -> dict:
    return {"num_vars": len(parameters), "names": [p.name for p in parameters],
            "bounds": [[p.low, p.high] for p in parameters]}


def check_samples(method: str, samples: int) -> None:
    """Reject an unknown method, or a sample count SALib cannot use."""
    if method not in METHODS:
        raise InputError("method", f"unknown method {method!r}", ", ".join(METHODS))
    if method == "sobol" and (samples < 2 or samples & (samples - 1)):
        raise InputError("samples", f"Sobol sampling needs a power of 2, got {samples}", "2, 4, 8, ... e.g. 64")
    if method == "morris" and samples < 2:
        raise InputError("samples", f"Morris needs at least 2 trajectories, got {samples}", ">= 2")


def run_sensitivity(spec: TrialSpec, parameters: Sequence[ParameterRange], outputs: Sequence[OutputSpec],
                    method: str = "sobol", samples: int = 64, seed: int = 0, base: ParameterTable | None = None,
                    client=None, progress: Callable[[int], None] | None = None) -> SensitivityResult:
    """Sample ``parameters`` (Sobol: ``samples`` x (D + 2) trials; Morris: ``samples``
    trajectories, x (D + 1)), run the trial ``spec`` for each sample (here, or on ``client``'s
    Dask cluster) and compute the indices of every output. ``seed`` drives the sampling;
    ``progress`` receives 1 per finished trial."""
    from SALib.analyze import morris, sobol
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    check_samples(method, samples)
    if not parameters:
        raise InputError("parameter", "no parameter to vary", "one or more NAME=LOW:HIGH")
    names = [p.name for p in parameters]
    if len(set(names)) < len(names):
        raise InputError("parameter", "a parameter is given twice", "each parameter once")
    spec.check()
    problem = _problem(parameters)
    if method == "sobol":
        X = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    else:
        X = morris_sample.sample(problem, samples, num_levels=MORRIS_LEVELS, seed=seed)
    threads = 1 if client is not None else None
    tasks = [SampleTask(spec, tuple(names), tuple(float(v) for v in row), tuple(outputs), base, threads) for row in X]
    done = None if progress is None else (lambda i: progress(1))
    Y = np.array(map_tasks(evaluate_sample, tasks, client, done), dtype=float).reshape(len(tasks), len(outputs))
    indices, notes = {}, []
    for k, out in enumerate(outputs):
        y = Y[:, k]
        if not np.all(np.isfinite(y)):
            notes.append(f"{out.label} is undefined in {int(np.sum(~np.isfinite(y)))} of {y.size} trials "
                         "(for instance a median not reached): no indices")
            indices[out.label] = None
            continue
        if method == "sobol":
            s = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
            keys = ("S1", "S1_conf", "ST", "ST_conf")
        else:
            s = morris.analyze(problem, X, y, num_levels=MORRIS_LEVELS, seed=seed)
            keys = ("mu", "mu_star", "sigma", "mu_star_conf")
        indices[out.label] = {name: {key: _number(s[key][i]) for key in keys} for i, name in enumerate(names)}
    return SensitivityResult(method, tuple(parameters), tuple(outputs), X, Y, indices, seed, tuple(notes))


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def indices_figure(result: SensitivityResult) -> bytes:
    """Bar charts of the indices, one panel per output (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs = [o for o in result.outputs if result.indices.get(o.label)]
    n = max(len(outputs), 1)
    fig, axes = plt.subplots(n, 1, figsize=(8, 3.2 * n), squeeze=False)
    names = [p.name for p in result.parameters]
    x = np.arange(len(names))
    bars = (("S1", "S1_conf", "first order S1"), ("ST", "ST_conf", "total ST")) if result.method == "sobol" else \
        (("mu_star", "mu_star_conf", "mu* (mean |elementary effect|)"), ("sigma", None, "sigma"))
    for ax, out in zip(axes[:, 0], outputs):
        idx = result.indices[out.label]
        for k, (key, conf, label) in enumerate(bars):
            values = [idx[p][key] or 0.0 for p in names]
            err = [idx[p][conf] or 0.0 for p in names] if conf else None
            ax.bar(x + (k - 0.5) * 0.38, values, 0.38, yerr=err, capsize=3, label=label)
        ax.set_xticks(x, names, rotation=15, fontsize=8)
        ax.set_title(f"{out.label}: {result.method} indices", loc="left", fontsize=10)
        ax.axhline(0, color="k", lw=0.6)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    if not outputs:
        axes[0, 0].text(0.5, 0.5, "no output had indices", ha="center")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_outputs(result: SensitivityResult, folder: str | Path) -> list[Path]:
    """Write ``sensitivity.json`` (the indices) and ``sensitivity.png`` (their plot) into
    ``folder`` (created if missing); returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_atomic(folder / "sensitivity.json", json.dumps(result.to_dict(), indent=1)),
            write_atomic(folder / "sensitivity.png", indices_figure(result))]
