"""The benchmarks' flop ceiling: the measured one (``benchmarks/ceiling.py``) must do the
multiply-adds it counts, at the vector width it names, and the nominal one
(``benchmarks/common.py``) must reckon each CPU's FMA units as its vendor documents them.
Nothing here times anything against a threshold."""

from __future__ import annotations

import math
import platform
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ceiling  # noqa: E402
import common  # noqa: E402

X86 = platform.machine() in {"x86_64", "AMD64"}


@pytest.mark.parametrize("lanes", ceiling.widths())
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_the_kernel_computes_every_chain_it_counts(lanes, n):
    """The compiled loop returns the sum of all its chains after n iterations, as the
    recurrence gives it in Python: nothing was dropped or folded, so its flop count is work
    done. A kernel that skipped a chain, an iteration or a lane would be off by far more than
    rounding (one chain's value is about 1/12 of the sum)."""
    got = ceiling.Kernel(lanes)(n, 0.5)
    want = ceiling.reference(n, 0.5, lanes)
    assert math.isclose(got, want, rel_tol=1e-12), (got, want)
    assert ceiling.Kernel(lanes).flops(n) == 2 * lanes * ceiling.CHAINS * n


@pytest.mark.skipif(not X86, reason="x86 register names")
@pytest.mark.parametrize("lanes", ceiling.widths())
def test_the_kernel_runs_at_the_width_it_names(lanes):
    """The loop's arithmetic is on registers of the named width (xmm, ymm, zmm): in particular
    512-bit code stays 512-bit on CPUs whose compiler tuning prefers 256-bit vectors, which
    is the width the measurement is for."""
    kernel = ceiling.Kernel(lanes)
    register = {2: "xmm", 4: "ymm", 8: "zmm"}[lanes]
    arithmetic = re.findall(r"\tv?(?:fmadd\w*|mulpd|addpd)\s+(.*)", kernel.assembly)
    assert arithmetic, "no packed multiply-add in the kernel"
    assert all(register in operands for operands in arithmetic), arithmetic[:4]
    if common.flop_per_cycle(common._cpuinfo())[0] >= 16:  # a CPU with FMA: fused, not mul + add
        assert any("fmadd" in line for line in kernel.assembly.splitlines())


def test_measure_reports_each_width_and_the_best():
    result = ceiling.measure(seconds=0.02, repeats=1)
    by_width = result["gflops_per_core_by_bits"]
    assert sorted(by_width) == [64 * lanes for lanes in ceiling.widths()]
    assert all(math.isfinite(v) and v > 0 for v in by_width.values())
    assert result["gflops_per_core"] == max(by_width.values())


def cpu(flags, vendor, family, model):
    return {"flags": flags, "vendor_id": vendor, "cpu family": str(family), "model": str(model)}


AVX512 = "fma avx avx2 avx512f"


@pytest.mark.parametrize(("info", "per_cycle"), [
    # Rocket Lake (Xeon E-2300): one 512-bit FMA unit (Intel's optimization manual, ARK).
    (cpu(AVX512, "GenuineIntel", 6, 167), 16),
    # Ice Lake and Tiger Lake client cores: one.
    (cpu(AVX512, "GenuineIntel", 6, 126), 16),
    (cpu(AVX512, "GenuineIntel", 6, 140), 16),
    # Ice Lake SP, Sapphire Rapids, Emerald Rapids: two.
    (cpu(AVX512, "GenuineIntel", 6, 106), 32),
    (cpu(AVX512, "GenuineIntel", 6, 143), 32),
    (cpu(AVX512, "GenuineIntel", 6, 207), 32),
    # AMD Zen 4 (two 256-bit pipes) and Zen 5 EPYC (two 512-bit pipes).
    (cpu(AVX512, "AuthenticAMD", 25, 17), 16),
    (cpu(AVX512, "AuthenticAMD", 26, 2), 32),
    # AVX2 with FMA: two 256-bit FMA units; neither: SSE2's 2-wide add and multiply.
    (cpu("fma avx avx2", "GenuineIntel", 6, 85), 16),
    (cpu("sse2", "GenuineIntel", 6, 26), 8),
])
def test_nominal_flop_per_cycle_follows_the_fma_units(info, per_cycle):
    assert common.flop_per_cycle(info)[0] == per_cycle


def test_a_cpu_whose_fma_units_vary_by_sku_says_so():
    """Skylake-SP and Cascade Lake (model 85) have one or two 512-bit FMA units by SKU: the
    nominal figure takes two and says that the measured ceiling settles it."""
    per_cycle, what = common.flop_per_cycle(cpu(AVX512, "GenuineIntel", 6, 85))
    assert per_cycle == 32 and "by SKU" in what


def test_measure_machine_agrees_with_one_core_on_one_thread():
    """The machine-wide figure is flops over wall-clock time: with one thread it must be about
    what ``measure`` gives per core at that width (CPU time), not a multiple or a fraction of
    it (a wrong flop count per thread, or time taken in the wrong unit)."""
    lanes = ceiling.widths()[-1]
    one = ceiling.measure_machine(1, lanes, seconds=0.05)
    assert math.isfinite(one) and one > 0
    per_core = ceiling.measure(seconds=0.05, repeats=2)["gflops_per_core_by_bits"][64 * lanes]
    assert 0.5 < one / per_core < 2.0, (one, per_core)
