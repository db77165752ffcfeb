"""A whole virtual study, from the spec to the files: simulate the trial, compute its
endpoints (and power when asked), then write the HTML report and ``endpoints.json``.

It sits in the report layer because it writes the report: it calls down into
:mod:`ketamine_ptsd.trials` for the simulation and the numbers. The front ends (the
``trial`` command) only parse their options, open a Dask client and progress bars, and
print what this returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Engine
from ..files import write_atomic
from ..trials.endpoints import endpoints
from ..trials.power import check_has_control, power
from ..trials.run import DEFAULT_CHUNK, TrialResult, run_trial
from ..trials.spec import TrialSpec
from .trial_report import write_trial_report

#: ``progress(label, total)``: a context manager yielding a callable that receives how much
#: work has just finished (patients, or trials for power).
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class Study:
    """A simulated trial, its endpoints (with ``power`` when asked) and the files written
    (report first, then ``endpoints.json``; empty when no folder was given)."""

    result: TrialResult
    endpoints: dict
    written: list[Path] = field(default_factory=list)


def conduct(spec: TrialSpec, folder: Path | None = None, client=None, chunk_size: int = DEFAULT_CHUNK,
            power_trials: int = 0, progress: ProgressFactory | None = None,
            engine: Engine | str | None = None) -> Study:
    """Run ``spec`` (on ``client`` when given), compute its endpoints, add power from
    ``power_trials`` repeats (0: none) and write ``report.html`` and ``endpoints.json`` into
    ``folder`` (created if missing; None: nothing written). ``engine`` integrates the
    patients (an :class:`~ketamine_ptsd.engine.Engine` or its name; None: numba)."""
    if power_trials:
        check_has_control(spec)
    def bar(label: str, total: int):
        return nullcontext(None) if progress is None else progress(label, total)

    with bar("simulating patients", sum(spec.arm_sizes())) as advance:
        result = run_trial(spec, client=client, chunk_size=chunk_size, progress=advance, engine=engine)
    e = endpoints(result)
    if power_trials:
        with bar("power: simulating trials", power_trials) as advance:
            e["power"] = power(spec, n_trials=power_trials, client=client, progress=advance, engine=engine)
    written: list[Path] = []
    if folder is not None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # The report (figures and all) first: if it fails, no endpoints file is left without it.
        report = write_trial_report(result, e, folder / "report.html")
        written = [write_atomic(folder / "endpoints.json", json.dumps(e, indent=1)), report]
    return Study(result, e, written)
