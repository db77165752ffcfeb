"""The flop ceiling of this machine's cores, measured: how many double-precision flops one
core does per second of its CPU time when it does nothing but independent multiply-adds, at
each vector width it has (128, 256 and, with AVX-512, 512 bits).

Why measure it: the nominal peak (cores x clock x flop per cycle, ``common.peak_gflops``)
depends on how many FMA units of each width a core has, which the CPU's flags do not say.
Intel CPUs with AVX-512 have one 512-bit FMA unit (client cores such as Ice Lake, Tiger
Lake and Rocket Lake, and some Xeon Scalable SKUs) or two (most Xeon Scalable parts); AMD
Zen 4 runs 512-bit instructions on two 256-bit pipes, Zen 5 server parts on two 512-bit
ones. With one 512-bit unit, 512-bit code is no faster than 256-bit code and the nominal
peak is half the figure two units give. The clock a virtual machine reports is the nominal
one, not the one the core runs at. GROMACS settles the first question the same way, by
timing (``identifyavx512fmaunits.cpp``: a loop of 512-bit FMAs alone against one with
shuffles that only a second FMA port slows down).

The kernel is LLVM IR compiled here by llvmlite (numba's code generator) for this CPU: a
loop whose body is 12 independent chains ``x = x * m + b`` of one vector type each, the
multiply and add allowed to fuse; 12 chains cover an FMA latency of up to 6 cycles on two
pipes, so the loop is bound by FMA throughput, not latency. Flops counted: 2 per element per
chain per iteration. Timed with ``time.thread_time`` (the calling thread's CPU time), the best
of several repeats.

Usage::

    python benchmarks/ceiling.py [--seconds 0.2] [--repeats 5] [--json FILE]

It prints the ceiling per core at each width, then the whole machine's with every core
running the best width at once (wall clock).

A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import time

CHAINS = 12
MULTIPLIER = 0.999_9
ADDEND = 1e-4  # the chains tend to ADDEND / (1 - MULTIPLIER) = 1, far from overflow and subnormals


def kernel_ir(lanes: int, chains: int = CHAINS) -> str:
    """LLVM IR of ``double fma_chains(i64 n, double seed)``: ``n`` (at least 1) iterations of
    ``chains`` independent vector recurrences ``x = x * MULTIPLIER + ADDEND`` with ``lanes``
    doubles each, chain c starting from ``seed + c / 1000``; returns the sum of every lane of
    every chain, so nothing can be left out."""
    vt = f"<{lanes} x double>"

    def splat(value: float) -> str:
        return "<" + ", ".join([f"double {value!r}"] * lanes) + ">"

    lines = ["define double @fma_chains(i64 %n, double %seed) #0 {",
             "entry:",
             f"  %s1 = insertelement {vt} undef, double %seed, i32 0",
             f"  %s = shufflevector {vt} %s1, {vt} undef, <{lanes} x i32> zeroinitializer"]
    lines += [f"  %x0_{c} = fadd {vt} %s, {splat(c / 1000)}" for c in range(chains)]
    lines += ["  br label %loop", "loop:", "  %i = phi i64 [0, %entry], [%i1, %loop]"]
    lines += [f"  %x{c} = phi {vt} [%x0_{c}, %entry], [%y{c}, %loop]" for c in range(chains)]
    for c in range(chains):
        lines.append(f"  %p{c} = fmul contract {vt} %x{c}, {splat(MULTIPLIER)}")
        lines.append(f"  %y{c} = fadd contract {vt} %p{c}, {splat(ADDEND)}")
    lines += ["  %i1 = add i64 %i, 1", "  %more = icmp ult i64 %i1, %n",
              "  br i1 %more, label %loop, label %done", "done:"]
    total = "%y0"
    for c in range(1, chains):
        lines.append(f"  %t{c} = fadd {vt} {total}, %y{c}")
        total = f"%t{c}"
    lines.append(f"  %e0 = extractelement {vt} {total}, i32 0")
    acc = "%e0"
    for lane in range(1, lanes):
        lines.append(f"  %e{lane} = extractelement {vt} {total}, i32 {lane}")
        lines.append(f"  %r{lane} = fadd double {acc}, %e{lane}")
        acc = f"%r{lane}"
    lines += [f"  ret double {acc}", "}",
              # 512-bit types stay whole on CPUs whose tuning prefers 256-bit vectors.
              f'attributes #0 = {{ "min-legal-vector-width"="{64 * lanes}" "prefer-vector-width"="{64 * lanes}" }}']
    return "\n".join(lines) + "\n"


def reference(n: int, seed: float, lanes: int, chains: int = CHAINS) -> float:
    """What ``fma_chains`` returns, in Python (every lane of a chain holds the same value)."""
    total = 0.0
    for c in range(chains):
        x = seed + c / 1000
        for _ in range(n):
            x = x * MULTIPLIER + ADDEND
        total += x
    return total * lanes


class Kernel:
    """``fma_chains`` for one vector width, compiled for this CPU. ``assembly`` is the machine
    code as text, so a caller can see which registers it uses."""

    def __init__(self, lanes: int):
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        self.machine = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                                    features=llvm.get_host_cpu_features().flatten(), opt=3)
        module = llvm.parse_assembly(kernel_ir(lanes))
        module.verify()
        self.lanes = lanes
        self.assembly = self.machine.emit_assembly(module)
        self._engine = llvm.create_mcjit_compiler(module, self.machine)
        self._engine.finalize_object()
        address = self._engine.get_function_address("fma_chains")
        self._fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_double)(address)

    def __call__(self, n: int, seed: float) -> float:
        """Run ``n`` (at least 1) iterations from ``seed``; the code lives as long as this object."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        return self._fn(n, seed)

    def flops(self, n: int) -> int:
        return 2 * self.lanes * CHAINS * n


def widths() -> list[int]:
    """The vector widths (doubles per vector) this CPU runs natively: 2 everywhere on x86-64
    and AArch64, 4 with AVX, 8 with AVX-512."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    out = [2]
    if features.get("avx"):
        out.append(4)
    if features.get("avx512f"):
        out.append(8)
    return out


def measure(seconds: float = 0.2, repeats: int = 5) -> dict:
    """GFLOP/s of one core (per second of this thread's CPU time) at each vector width, the
    best of ``repeats`` runs of about ``seconds`` each, and the highest of them."""
    import llvmlite.binding as llvm

    by_width = {}
    for lanes in widths():
        kernel = Kernel(lanes)
        n = _iterations(kernel, seconds)
        best = min(_timed(kernel, n) for _ in range(repeats))
        by_width[64 * lanes] = kernel.flops(n) / best / 1e9
    return {"cpu_host_name": llvm.get_host_cpu_name(), "gflops_per_core_by_bits": by_width,
            "gflops_per_core": max(by_width.values()), "chains": CHAINS,
            "method": "independent multiply-add chains in LLVM IR compiled for this CPU, thread CPU time"}


def measure_machine(threads: int, lanes: int, seconds: float = 0.2) -> float:
    """GFLOP/s of the whole machine in wall-clock time: ``threads`` threads running the
    ``lanes``-wide kernel at once for about ``seconds`` each (ctypes lets go of the GIL during
    the call, so they run in parallel). Tells whether a virtual machine's vCPUs are cores of
    their own or hyperthreads sharing one core's FMA units."""
    import threading

    kernel = Kernel(lanes)  # its code keeps no state: every thread runs the same function
    n = _iterations(kernel, seconds)
    workers = [threading.Thread(target=kernel, args=(n, 0.5)) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * kernel.flops(n) / (time.perf_counter() - start) / 1e9


def _iterations(kernel: Kernel, seconds: float) -> int:
    """Iterations for a run of about ``seconds`` of CPU time: the loop grown fourfold until one
    run takes a tenth of that, then scaled by the rate it showed."""
    n = 1_000
    while (took := _timed(kernel, n)) <= seconds / 10:
        n *= 4
    return max(1, int(n * seconds / took))


def _timed(kernel: Kernel, n: int) -> float:
    start = time.thread_time()
    kernel(n, 0.5)
    return time.thread_time() - start


def main(argv=None) -> None:
    from common import cpu_name, peak_gflops

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.2, help="CPU seconds per timed run (0.01 to 10)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per width, the best kept (1 to 50)")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    if not 0.01 <= args.seconds <= 10:
        parser.error(f"--seconds must be from 0.01 to 10, got {args.seconds}")
    if not 1 <= args.repeats <= 50:
        parser.error(f"--repeats must be from 1 to 50, got {args.repeats}")
    result = measure(args.seconds, args.repeats)
    nominal, how = peak_gflops()
    cores = os.cpu_count() or 1
    result.update(cpu=cpu_name(), nominal_gflops_per_core=nominal / cores, nominal_reckoned=how)
    print(f"{result['cpu']} (LLVM: {result['cpu_host_name']})")
    for bits, gflops in result["gflops_per_core_by_bits"].items():
        print(f"  {bits:>3}-bit multiply-adds: {gflops:6.1f} GFLOP/s per core")
    best_lanes = max(result["gflops_per_core_by_bits"], key=result["gflops_per_core_by_bits"].get) // 64
    result["machine_gflops_all_cores"] = measure_machine(cores, best_lanes, args.seconds)
    print(f"  measured ceiling {result['gflops_per_core']:.1f} GFLOP/s per core, "
          f"{result['machine_gflops_all_cores']:.1f} on all {cores} cores at once (wall clock); "
          f"nominal {nominal / cores:.1f} per core ({how})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
