"""What a simulation will cost, said before it runs: rows, bytes on disk and CPU time from the
population size, horizon, output grid and outputs, with rates measured on the machine the
project targets (``benchmarks/bench_simulate.py``; see ``docs/benchmarks.md``).

The figures are estimates: the CPU time of a course depends on the patient (stiffer courses
take more steps) and the size of Parquet on compression; they are meant to tell 10 seconds
from 10 hours and 100 MB from 100 GB, which is what a limit needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: CPU seconds of stepping per patient and simulated day: 0.39 ms per 56-day induction course
#: (the engine at N = 4,000, hourly outputs, minus the recording below; AMD EPYC Zen 4).
STEP_S_PER_DAY = 7.0e-6
#: CPU seconds per patient and output time to interpolate the state and compute every output
#: (0.22 µs: 15-min against hourly outputs, all 26 outputs, same machine).
RECORD_S_PER_TIME = 0.22e-6
#: CPU seconds per value to convert and write, by format (float32; float64 text is longer, see
#: BYTES_PER_VALUE): what a run of N = 4,000 spends beyond the engine and the one-patient
#: start-up, per value written (docs/benchmarks.md). Parquet: 1.45 s for 134.5 million values
#: at b3484ac (AMD EPYC), 0.85 to 1.09 s at 091b85f (Intel Xeon). CSV: 2.16 to 2.74 s at 091b85f
#: (Intel Xeon, the file written with O_DIRECT), 16 to 20 ns per value; 25 here, since through
#: the page cache (where the file system takes no O_DIRECT) the same file cost up to 2.2 s more.
#: JSON: 12 to 20 s at a35c624, its columns written to part files and joined.
WRITE_S_PER_VALUE = {"parquet": 11e-9, "csv": 25e-9, "json": 100e-9}
#: Bytes on disk per value: Parquet before compression (an upper bound), and the typical length
#: of a value in text with its separator (float32: up to 9 significant digits; float64: 17).
BYTES_PER_VALUE = {
    ("parquet", "float32"): 4, ("parquet", "float64"): 8,
    ("csv", "float32"): 11, ("csv", "float64"): 19,
    ("json", "float32"): 12, ("json", "float64"): 20,
}

#: Default limits above which the command line refuses without ``--yes``.
DEFAULT_MAX_GIB = 4.0
DEFAULT_MAX_MINUTES = 30.0


@dataclass(frozen=True)
class Estimate:
    """The size and cost of a run."""

    patients: int
    times: int
    outputs: int
    rows: int
    bytes: int
    cpu_s: float

    def describe(self) -> str:
        """One line: rows, bytes and CPU time."""
        who = f"{self.patients:,} patient{'s' if self.patients != 1 else ''}"
        return (f"{self.rows:,} rows ({who} x {self.times:,} times) of {self.outputs} "
                f"output(s), about {human_bytes(self.bytes)} on disk and {human_seconds(self.cpu_s)} of CPU")


def estimate(patients: int, horizon_days: float, times: int, outputs: int, fmt: str = "parquet",
             precision: str = "float32") -> Estimate:
    """The estimate for ``patients`` courses over ``horizon_days`` with ``times`` output times and
    ``outputs`` outputs each, written as ``fmt`` in ``precision``."""
    rows = patients * times
    id_bytes = 8 if fmt == "parquet" else len(str(patients)) + 1
    size = rows * (id_bytes + 8 + outputs * BYTES_PER_VALUE[(fmt, precision)])
    cpu = patients * (STEP_S_PER_DAY * horizon_days + times * RECORD_S_PER_TIME
                      + times * (outputs + 2) * WRITE_S_PER_VALUE[fmt])
    return Estimate(patients, times, outputs, rows, int(size), float(cpu))


def over_limits(est: Estimate, max_gib: float, max_minutes: float, free_bytes: int | None = None) -> list[str]:
    """What ``est`` exceeds, in words (empty: within the limits)."""
    over = []
    if est.bytes > max_gib * 2**30:
        over.append(f"more than the limit of {max_gib:g} GiB on disk")
    if est.cpu_s > max_minutes * 60:
        over.append(f"more than the limit of {max_minutes:g} min of CPU")
    if free_bytes is not None and est.bytes > free_bytes:
        over.append(f"more than the {human_bytes(free_bytes)} free where it would be written")
    return over


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"


def human_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "forever"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:,.0f} days"
