"""What the benchmark scripts share: the name of this machine's CPU, its nominal peak (the
measured one is ``ceiling.py``'s) and the accuracy measure. The scripts are run as
``python benchmarks/NAME.py``, so this folder is on their path."""

from __future__ import annotations

import os
import platform

import numpy as np


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` with its family and model numbers (else what
    ``platform`` knows). The numbers matter: virtual machines of one kind have reported the same
    name, "Intel(R) Xeon(R) Processor", for model 167 and model 207, whose figures differ by
    up to 2x."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']} model {info['model']})"
    return name


#: Intel CPU models (family 6) with AVX-512 and ONE 512-bit FMA unit per core: 16 double-precision
#: flop per cycle at any vector width, since 256-bit code already fills the two 256-bit FMA
#: ports. Client cores, whose 512-bit FMA is ports 0 and 1 fused, with no second unit on port 5:
#: Cannon Lake (102), Ice Lake client (125, 126), Tiger Lake (140, 141), Rocket Lake (167; also
#: sold as Xeon E-2300). Sources: Intel 64 and IA-32 Architectures Optimization Reference
#: Manual, the Ice Lake client microarchitecture (Sunny Cove: 512-bit FMA on ports 0 and 1
#: fused, no FMA on port 5; Rocket Lake's Cypress Cove is Sunny Cove on 14 nm); Intel ARK's
#: "# of AVX-512 FMA Units" (2 on most Xeon Scalable SKUs, 1 on some); GROMACS's
#: identifyavx512fmaunits.cpp, which times the difference. On model 167 our lockstep kernel
#: built for 512-bit vectors ran no faster than at 256 (docs/benchmarks.md).
ONE_512_BIT_FMA_INTEL_MODELS = {102: "Cannon Lake", 125: "Ice Lake client", 126: "Ice Lake client",
                                140: "Tiger Lake", 141: "Tiger Lake", 167: "Rocket Lake"}
#: Skylake-SP, Cascade Lake and Cooper Lake (model 85) have one or two by SKU (ARK, above).
SKU_DEPENDENT_INTEL_MODELS = {85: "Skylake-SP / Cascade Lake / Cooper Lake"}


def _cpuinfo() -> dict:
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def flop_per_cycle(info: dict) -> tuple[int, str]:
    """Double-precision flop per cycle and core of the CPU that ``/proc/cpuinfo``'s first block
    (``info``) describes, and what the figure rests on: 32 with two 512-bit FMA units (Intel
    AVX-512 parts other than those of ``ONE_512_BIT_FMA_INTEL_MODELS``; AMD Zen 5, CPU family
    26, EPYC: two FMA pipes of the full 512 bits; mobile Zen 5 has half), 16 with one 512-bit
    unit or two 256-bit ones (those Intel models; AMD Zen 4, family 25, which runs 512-bit
    instructions on two 256-bit pipes; AVX2 with FMA), 8 otherwise."""
    flags = set(info.get("flags", "").split())
    vendor = info.get("vendor_id", "")
    family, model = int(info.get("cpu family", "0") or 0), int(info.get("model", "0") or 0)
    if "avx512f" in flags:
        if vendor == "GenuineIntel" and family == 6 and model in ONE_512_BIT_FMA_INTEL_MODELS:
            return 16, f"AVX-512, one 512-bit FMA unit ({ONE_512_BIT_FMA_INTEL_MODELS[model]})"
        if vendor == "GenuineIntel" and family == 6 and model in SKU_DEPENDENT_INTEL_MODELS:
            return 32, (f"AVX-512, two 512-bit FMA units assumed ({SKU_DEPENDENT_INTEL_MODELS[model]}: one or two "
                        "by SKU; the measured ceiling settles it)")
        if vendor == "GenuineIntel":
            return 32, "AVX-512, two 512-bit FMA units"
        if vendor == "AuthenticAMD" and family >= 26:
            return 32, "AVX-512, two 512-bit FMA pipes (Zen 5)"
        return 16, "AVX-512 on two 256-bit FMA pipes" if vendor == "AuthenticAMD" else "AVX-512"
    if "avx2" in flags and "fma" in flags:
        return 16, "AVX2+FMA"
    return 8, "SSE"


def peak_gflops() -> tuple[float, str]:
    """This machine's nominal double-precision peak (GFLOP/s over all cores) and how it was
    reckoned: cores x clock (``cpu MHz`` of ``/proc/cpuinfo``) x ``flop_per_cycle``.
    A nominal figure: the clock a virtual machine reports is the nominal one, not the one its
    cores run at (``ceiling.py`` measures what a core does)."""
    info = _cpuinfo()
    if not info:
        return float("nan"), "unknown (no /proc/cpuinfo)"
    per_cycle, what = flop_per_cycle(info)
    mhz = float(info.get("cpu MHz", "nan"))
    cores = os.cpu_count() or 1
    how = f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} flop/cycle ({info.get('vendor_id', '')}, {what})"
    return cores * mhz / 1000 * per_cycle, how


def relative_difference(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per output (last axis of patients x times x outputs): the largest |got - ref| over
    patients and times, each as a fraction of that patient's largest |ref| over the course."""
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    return np.max(np.abs(got - ref) / np.where(scale > 0, scale, 1.0), axis=(0, 1))
