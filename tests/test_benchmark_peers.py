"""The peers benchmark's flop count (``benchmarks/bench_peers.py``): counted from the work the
lockstep kernel reports, over our engine's whole ``simulate`` calls and over its own ``solve``
calls. Nothing here times anything against a threshold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from pytest import approx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_peers  # noqa: E402

FLOPS = {"rhs": {"flops": 100}, "observe": {"flops": 10}, "states": 30, "dense_states": 8,
         "step_overhead_per_state": 67, "coefficients_per_dense_state": 48, "record_per_dense_state": 8}


def run(threads, **extra):
    return {"kind": "numba", "n": 10_000, "threads": threads, "kernel": "lockstep", "courses": 100, "wall_s": 1.0,
            "cpu_s": 2.0, "mean_steps": 10.0, **extra}


def test_flops_are_counted_from_the_kernels_work():
    work = {"accepted": 10.0, "rejected": 2.0, "rhs_calls": 80.0, "dense_passes": 9.0}
    results = [run(2, mean_work=work),
               run(1, mean_work=work, engine_cpu_s=1.0, measured_core_gflops_before_after=[40.0, 60.0])]
    out = bench_peers.summary(results, FLOPS, kernel="lockstep")
    records = 67 * 24 * 4 + 1  # every 15 min over 67 days, both ends
    assert bench_peers.course()[1].size == records
    # 80 evaluations x 100, 12 attempted steps x 30 states x 67, 9 dense passes x 8 x 48, and
    # per output time the outputs (10) and the interpolation of 8 states (8 x 8).
    expected = 80 * 100 + 12 * 30 * 67 + 9 * 8 * 48 + records * (10 + 64)
    assert out["flops_counted_by_kernel"] is True
    assert out["flops_per_course"] == expected
    # The earlier estimate: 10 accepted steps of 6 evaluations and every step's coefficients.
    assert out["flops_per_course_accepted_steps_estimate"] == 10 * (600 + 30 * 67 + 8 * 48) + records * 74
    # 100 courses in 2 s of CPU over the whole calls, 1 s in the engine's own calls.
    assert out["achieved_gflops_per_core"] == approx(expected * 50 / 1e9)
    assert out["engine_cpu_ms_per_course"] == approx(10.0)
    assert out["engine_gflops_per_core"] == approx(expected * 100 / 1e9)
    assert out["measured_core_gflops"] == 50.0
    assert out["engine_share_of_measured_core_peak"] == approx(expected * 100 / 1e9 / 50.0)
    assert "engine's own solve calls" in bench_peers.readable(out)


def test_without_work_counts_the_estimate_stands():
    out = bench_peers.summary([run(2), run(1)], FLOPS, kernel="lockstep")
    assert out["flops_counted_by_kernel"] is False
    assert out["flops_per_course"] == out["flops_per_course_accepted_steps_estimate"]
    assert "engine_gflops_per_core" not in out


def test_the_metered_engine_passes_the_work_counts_on():
    from ketamine_ptsd import Population, induction_series, simulate
    from ketamine_ptsd.engine import NumbaEngine

    engine = bench_peers.Metered(NumbaEngine(kernel="lockstep", chunk_size=3))
    traj = simulate(induction_series(), Population.virtual(5, 1), engine=engine, times=np.arange(0.0, 49.0, 0.5),
                    outputs=["pcl5_total"])
    work = np.concatenate(engine.work)
    assert work.shape == (5, 4)
    np.testing.assert_array_equal(work[:, 0], traj.steps)
    assert np.all(work[:, 2] >= 6 * (work[:, 0] + work[:, 1]))
    assert engine.cpu_s > 0
    assert traj.metadata["kernel"] == "lockstep"
