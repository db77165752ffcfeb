"""What the benchmark scripts share: the name of this machine's CPU, its nominal peak and
the accuracy measure. The scripts are run as ``python benchmarks/NAME.py``, so this folder is on their
path."""

from __future__ import annotations

import os
import platform

import numpy as np


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` with its family and model numbers (else what
    ``platform`` knows). The numbers matter: virtual machines of one kind have reported the same
    name, "Intel(R) Xeon(R) Processor", for model 167 and model 207, whose figures differ by
    up to 2x."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = info.get("model name") or platform.processor()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']} model {info['model']})"
    return name


def peak_gflops() -> tuple[float, str]:
    """This machine's nominal double-precision peak (GFLOP/s over all cores) and how it was
    reckoned: cores x clock (``cpu MHz`` of ``/proc/cpuinfo``) x flop per cycle and core from the
    vector extensions: 32 with AVX-512 on Intel (two 512-bit FMA units) and on AMD Zen 5 (CPU
    family 26, EPYC: two FMA pipes of the full 512 bits; mobile Zen 5 has half), 16 with AVX-512
    on AMD Zen 4 (family 25: 512-bit instructions on two 256-bit FMA pipes) or with AVX2 and
    FMA, 8 otherwise.
    A nominal figure: turbo clocks and the number of FMA units of a given model differ."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        return float("nan"), "unknown (no /proc/cpuinfo)"
    flags = set(info.get("flags", "").split())
    vendor = info.get("vendor_id", "")
    mhz = float(info.get("cpu MHz", "nan"))
    if "avx512f" in flags:
        zen5_or_later = vendor == "AuthenticAMD" and int(info.get("cpu family", "0")) >= 26
        per_cycle = 32 if vendor == "GenuineIntel" or zen5_or_later else 16
    elif "avx2" in flags and "fma" in flags:
        per_cycle = 16
    else:
        per_cycle = 8
    cores = os.cpu_count() or 1
    how = f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} flop/cycle ({vendor}, " + (
        "AVX-512" if "avx512f" in flags else "AVX2+FMA" if per_cycle == 16 else "SSE") + ")"
    return cores * mhz / 1000 * per_cycle, how


def relative_difference(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per output (last axis of patients x times x outputs): the largest |got - ref| over
    patients and times, each as a fraction of that patient's largest |ref| over the course."""
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    return np.max(np.abs(got - ref) / np.where(scale > 0, scale, 1.0), axis=(0, 1))
