"""What the benchmark scripts share: the name of this machine's CPU and the accuracy
measure. The scripts are run as ``python benchmarks/NAME.py``, so this folder is on their
path."""

from __future__ import annotations

import platform

import numpy as np


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        name = ""
    return name or platform.processor()


def relative_difference(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per output (last axis of patients x times x outputs): the largest |got - ref| over
    patients and times, each as a fraction of that patient's largest |ref| over the course."""
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    return np.max(np.abs(got - ref) / np.where(scale > 0, scale, 1.0), axis=(0, 1))
