"""The lane kernels: lane code generated from the model's source, patients stepped together in
SIMD lanes (lockstep), and patients in SIMD lanes each with its own steps (lanes).

The lane functions are held to the model's own compiled ``rhs`` and ``observe`` (the scalar
code the per-patient kernel runs), the generated ``exp`` to ``numpy.exp`` in units in the last
place, the compiled lane code to packed (SIMD) arithmetic, and the lockstep solver to the
DOP853 reference and to the per-patient kernel.
"""

from __future__ import annotations

import math
import platform
import re

import numpy as np
import pytest

from ketamine_ptsd import Population, induction_series, simulate
from ketamine_ptsd.engine import NumbaEngine, ScipyEngine
from ketamine_ptsd.engine import lanes as lane_gen
from ketamine_ptsd.engine.numba_engine import LANES, WORK_COUNTS, kernel, lockstep_order
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.model import MODEL
from ketamine_ptsd.model.system import FASTMATH, observe, rhs

N_STATES, N_INPUTS, N_OUTPUTS = len(MODEL.state_names), len(MODEL.input_names), len(MODEL.output_names)
OUTPUTS = ["ketamine_ng_ml", "norketamine_ng_ml", "cadss", "sbp_mmhg", "plasticity", "pcl5_total", "madrs"]


def compiled(source: str) -> dict:
    """Generated lane source compiled here, uncached, so that its machine code can be read."""
    namespace = {"FASTMATH": FASTMATH}
    exec(compile(source.replace("cache=True", "cache=False"), "<lanes>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def lane_functions():
    return compiled(lane_gen.lane_source(MODEL, LANES).source)


@pytest.fixture(scope="module")
def patients():
    regimen = induction_series()
    return MODEL.prepare(Population.virtual(LANES, seed=5).parameters(regimen.pk_product, None))


def by_lane(rows: np.ndarray) -> np.ndarray:
    """Per-patient rows as one lane array (variable-major, lane-minor)."""
    return np.ascontiguousarray(np.asarray(rows, dtype=np.float64).T).ravel()


def test_lane_rhs_equals_the_model_rhs(lane_functions, patients):
    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.uniform(-0.2, 3.0, (LANES, N_STATES))
        y[:, rng.integers(0, N_STATES, 5)] = 0.0  # exact zeros take the shortcuts of max and power
        u = rng.uniform(0.0, 2.0, (LANES, N_INPUTS))
        expected = np.zeros((LANES, N_STATES))
        for lane in range(LANES):
            rhs(0.0, y[lane], patients[lane], u[lane], expected[lane])
        got = np.zeros(N_STATES * LANES)
        lane_functions["rhs_lanes"](0.0, by_lane(y), by_lane(patients), by_lane(u), got, LANES)
        np.testing.assert_allclose(got.reshape(N_STATES, LANES).T, expected, rtol=1e-13, atol=1e-300)


def test_lane_outputs_equal_the_model_outputs(lane_functions, patients):
    rng = np.random.default_rng(4)
    y = rng.uniform(0.0, 2.0, (LANES, N_STATES))
    cases = [np.ones(N_OUTPUTS, np.bool_)] + [np.arange(N_OUTPUTS) == k for k in range(N_OUTPUTS)]
    for need in cases:
        expected = np.full((LANES, N_OUTPUTS), np.nan)
        for lane in range(LANES):
            observe(y[lane], patients[lane], expected[lane], need)
        got = np.full(N_OUTPUTS * LANES, np.nan)
        lane_functions["observe_lanes"](by_lane(y), by_lane(patients), got, need, LANES)
        got = got.reshape(N_OUTPUTS, LANES).T
        np.testing.assert_allclose(got[:, need], expected[:, need], rtol=2e-15, atol=1e-300)


def test_block_outputs_equal_the_outputs_time_by_time(lane_functions, patients):
    """``observe_block_lanes`` on several output times' states (rows of states x LANES) gives
    each time's outputs of ``observe_lanes`` to the last bit, and leaves rows past ``nt`` alone."""
    rng = np.random.default_rng(5)
    times = 5
    states = [by_lane(rng.uniform(0.0, 2.0, (LANES, N_STATES))) for _ in range(times)]
    for need in (np.ones(N_OUTPUTS, np.bool_), np.arange(N_OUTPUTS) == MODEL.output_names.index("pcl5_total")):
        got = np.full((times + 1) * N_OUTPUTS * LANES, -7.0)
        lane_functions["observe_block_lanes"](np.concatenate(states + [np.ones(N_STATES * LANES)]),
                                              by_lane(patients), got, need, LANES, times)
        got = got.reshape(times + 1, N_OUTPUTS, LANES)
        for tt in range(times):
            expected = np.full(N_OUTPUTS * LANES, -7.0)
            lane_functions["observe_lanes"](states[tt], by_lane(patients), expected, need, LANES)
            expected = expected.reshape(N_OUTPUTS, LANES)
            np.testing.assert_array_equal(got[tt][need], expected[need])
        assert np.all(got[times] == -7.0)


def one_lane_function(tape, result, arguments: str, fastmath: str = "set(FASTMATH)"):
    """The traced ``tape`` compiled as ``f(<arguments>, OUT, nl)`` writing ``result`` per lane."""
    body = "".join(f"        {line}\n" for line in tape.lines)
    source = (f"LANES = 1\n{lane_gen._PREAMBLE}\n@njit(fastmath={fastmath})\ndef f({arguments}, OUT, nl):\n"
              f"    for l in range(nl):\n{body}        OUT[l] = {result.name}\n")
    return compiled(source)["f"]


def test_generated_exp_is_within_two_units_in_the_last_place():
    tape = lane_gen.Tape()
    x = lane_gen._Loads(tape, "Y", "y")[0]
    # compiled as observe_lanes is, without reassociation
    lane_exp = one_lane_function(tape, lane_gen._exp(tape, x), "Y", "set(FASTMATH) - {'reassoc'}")

    def run(values):
        values = np.asarray(values, dtype=np.float64)
        out = np.empty_like(values)
        # LANES = 1: every value is its own lane array of one variable
        for i in range(values.size):
            one = np.empty(1)
            lane_exp(values[i:i + 1], one, 1)
            out[i] = one[0]
        return out

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-30.0, 5.0, 4000), rng.uniform(-708.0, 709.0, 2000),
                        np.linspace(-1.0, 1.0, 201), [0.0, -0.0, 709.7, -708.3, math.log(2.0) / 2]])
    got, ref = run(x), np.exp(x)
    ulps = np.abs(got - ref) / np.spacing(ref)
    assert ulps.max() <= 2.0, f"{ulps.max():.1f} ulp at x = {x[ulps.argmax()]!r}"
    special = run([np.nan, np.inf, -np.inf, 710.0, -709.0, -800.0])
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == 0.0
    assert special[3] == np.inf and special[4] == 0.0 and special[5] == 0.0


PACKED = re.compile(r"\bv(?:add|sub|mul|div|max|min|fn?madd\w*|fn?msub\w*)pd\b")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="reads x86 machine code")
def test_lane_code_is_vectorised(lane_functions, patients):
    """LLVM's loop vectoriser turned the generated loops into packed double-precision
    arithmetic (it would leave them scalar if, say, a call or an unprovable alias were in the
    way; then this count is a handful at most)."""
    y, u = np.ones(N_STATES * LANES), np.zeros(N_INPUTS * LANES)
    need = np.zeros(N_OUTPUTS, np.bool_)
    need[MODEL.output_names.index("pcl5_total")] = True
    lane_functions["rhs_lanes"](0.0, y, by_lane(patients), u, np.zeros(N_STATES * LANES), LANES)
    lane_functions["observe_lanes"](y, by_lane(patients), np.zeros(N_OUTPUTS * LANES), need, LANES)
    lane_functions["observe_block_lanes"](np.ones(2 * N_STATES * LANES), by_lane(patients),
                                          np.zeros(2 * N_OUTPUTS * LANES), need, LANES, 2)
    for name, least in (("rhs_lanes", 100), ("observe_lanes", 100), ("observe_block_lanes", 100)):
        asm = "\n".join(lane_functions[name].inspect_asm().values())
        packed = len(PACKED.findall(asm))
        assert packed >= least, f"{name}: {packed} packed double-precision instructions"


def test_power_of_a_parameter_exponent_is_exact_for_whole_exponents():
    tape = lane_gen.Tape()
    x = lane_gen._Loads(tape, "Y", "y")[0]
    h = lane_gen._Loads(tape, "P", "p", is_param=True)[0]
    lane_power = one_lane_function(tape, lane_gen._power(tape, x, h), "Y, P")
    assert tape.power_exponents == {0}
    out = np.empty(1)
    for base in (0.0, 0.37, 1.0, 1.9):
        for exponent in range(32):
            lane_power(np.array([base]), np.array([float(exponent)]), out, 1)
            assert out[0] == pytest.approx(base ** exponent, rel=1e-14, abs=0.0), (base, exponent)


def test_power_of_a_fractional_exponent_is_within_1e14_and_takes_the_ieee_special_cases():
    """Outputs' exponents not known to be whole (the CADSS Hill coefficient) are exp(h log x),
    with log written out too; checked against Python's power, which is the C library's."""
    tape = lane_gen.Tape(whole_powers=frozenset())
    x = lane_gen._Loads(tape, "Y", "y")[0]
    h = lane_gen._Loads(tape, "P", "p", is_param=True)[0]
    # compiled as observe_lanes is, without reassociation
    lane_power = one_lane_function(tape, lane_gen._power(tape, x, h), "Y, P", "set(FASTMATH) - {'reassoc'}")
    assert tape.power_exponents == set()
    out = np.empty(1)

    def run(base, exponent):
        lane_power(np.array([base]), np.array([exponent]), out, 1)
        return out[0]

    rng = np.random.default_rng(7)
    bases = np.concatenate([np.exp(rng.uniform(-30.0, 30.0, 3000)), np.linspace(1e-3, 3.0, 500),
                            [5e-324, 1e-310, 2.2250738585072014e-308, 1.4142135623730951, 0.7071067811865476]])
    exponents = rng.uniform(0.3, 4.0, bases.size)
    worst = 0.0
    for base, exponent in zip(bases, exponents):
        ref = base ** exponent
        if abs(exponent * math.log(base)) <= 40.0 and ref > 0.0:
            worst = max(worst, abs(run(base, exponent) - ref) / ref)
    assert worst <= 1e-14, worst
    # The compiled power's exact shortcuts, and IEEE's answers where log has none.
    for base in (0.37, 1.9, 3.0):
        for exponent, ref in ((1.0, base), (2.0, base * base), (4.0, (base * base) ** 2), (0.0, 1.0)):
            assert run(base, exponent) == ref, (base, exponent)
        assert run(base, 12.0) == pytest.approx(base ** 12, rel=1e-15)
    assert run(1.0, 7.3) == 1.0 and run(0.0, 1.5) == 0.0 and run(0.0, 0.0) == 1.0
    assert run(0.0, -1.5) == math.inf and run(math.inf, 1.5) == math.inf and run(math.inf, -1.5) == 0.0
    assert math.isnan(run(math.nan, 1.5)) and run(math.nan, 0.0) == 1.0 and math.isnan(run(-2.0, 1.5))


def test_lane_code_calls_no_model_function():
    """Every call is traced away: a call left in a lane loop keeps that loop scalar."""
    source = lane_gen.lane_source(MODEL, LANES).source
    body = source.split("def rhs_lanes", 1)[1]
    called = set(re.findall(r"\b([A-Za-z_][\w.]*)\(", body))
    assert called <= {"rhs_lanes", "observe_lanes", "observe_block_lanes", "range", "max", "min", "abs", "_floor",
                      "_pow2", "_bits", "_double", "njit", "set"}, called


def test_model_code_that_branches_on_values_is_refused():
    tape = lane_gen.Tape()
    x = lane_gen._Loads(tape, "Y", "y")[0]
    with pytest.raises(TypeError, match="branch"):
        if x > 0.0:
            pass


# -- the solver ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def course():
    regimen = induction_series()
    times = np.unique(np.concatenate([np.arange(0.0, 24.0 * 28 + 1, 2.0), np.arange(0.0, 2.0, 0.1)]))
    return regimen, times


def relative_error(got, ref):
    """Largest |got - ref| per output over patients and times, relative to the output's
    largest magnitude for that patient (outputs that stay below 1e-9 are skipped)."""
    scale = np.max(np.abs(ref), axis=1, keepdims=True)
    ok = np.broadcast_to(scale > 1e-9, ref.shape)
    return float(np.max(np.where(ok, np.abs(got - ref) / np.where(scale > 0, scale, 1.0), 0.0)))


@pytest.mark.parametrize("kernel_name", ["lockstep", "lanes"])
def test_lane_kernels_within_1e4_of_the_dop853_reference(course, kernel_name):
    regimen, times = course
    population = Population.virtual(5, seed=11)
    ref = simulate(regimen, population, engine=ScipyEngine(method="DOP853", rtol=1e-12, atol=1e-14), times=times,
                   outputs=OUTPUTS)
    got = simulate(regimen, population, engine=NumbaEngine(kernel=kernel_name), times=times, outputs=OUTPUTS)
    assert np.all(got.steps > 0)
    assert relative_error(got.values, ref.values) < 1e-4


def test_lockstep_agrees_with_the_per_patient_kernel_over_several_groups(course):
    regimen, times = course
    population = Population.virtual(2 * LANES + 5, seed=2)  # two full groups and a partial one
    one = simulate(regimen, population, engine=NumbaEngine(kernel="patient"), times=times, outputs=OUTPUTS)
    lock = simulate(regimen, population, engine=NumbaEngine(kernel="lockstep"), times=times, outputs=OUTPUTS)
    assert np.all(np.isfinite(lock.values))
    assert relative_error(lock.values, one.values) < 2e-4
    # A group steps at its hardest patient's pace: never fewer steps than the group's easiest.
    assert lock.steps.mean() >= one.steps.mean()


def test_lockstep_reports_the_work_of_each_patients_group(course):
    regimen, times = course
    params = Population.virtual(LANES + 3, seed=5).parameters(regimen.pk_product, None)
    events = MODEL.events(regimen)
    sel = np.array([MODEL.output_names.index("pcl5_total")])
    work = np.zeros((params.shape[0], len(WORK_COUNTS)), np.int64)
    _, steps = NumbaEngine(kernel="lockstep").solve(MODEL, params, events, times, sel, work=work)
    accepted, rejected, rhs_calls, dense = work.T
    np.testing.assert_array_equal(accepted, steps)
    assert np.all(rejected >= 0)
    # Six evaluations per attempted step (the seventh stage is the next step's first), two at
    # the start of each of the regimen's segments, one after each step that flushed a state.
    assert np.all(rhs_calls >= 6 * (accepted + rejected) + 2)
    assert np.all(rhs_calls <= 6 * (accepted + rejected) + 2 * (len(events) + 1) + accepted)
    # One dense-output pass per accepted step with an output time in it: at most every step,
    # at least once per output time's step where outputs are sparser than steps.
    assert np.all((dense > 0) & (dense <= accepted))
    # Patients of one group report the same counts; another kernel reports none.
    assert len({tuple(row) for row in work}) <= 2
    NumbaEngine(kernel="patient").solve(MODEL, params, events, times, sel, work=work)
    assert np.all(work == -1)
    with pytest.raises(InputError, match="work"):
        NumbaEngine(kernel="lockstep").solve(MODEL, params, events, times, sel,
                                             work=np.zeros((2, len(WORK_COUNTS)), np.int64))


def test_the_error_scales_reciprocal_is_chosen_by_cpu():
    from ketamine_ptsd.engine.numba_engine import kernel_cpu_name, single_precision_reciprocal

    # Measured: a double division is cheaper on a Zen 3, no dearer on a Zen 4; single precision
    # on the Intel Xeon, and on any CPU not measured.
    assert not single_precision_reciprocal("znver3")
    assert not single_precision_reciprocal("znver4")
    assert single_precision_reciprocal("rocketlake")
    assert single_precision_reciprocal("sapphirerapids")
    assert single_precision_reciprocal("znver2")
    with open(kernel(MODEL).__file__, encoding="utf-8") as fh:
        assert f"SINGLE_RECIPROCAL = {single_precision_reciprocal(kernel_cpu_name())!r}" in fh.read()


def test_groups_follow_the_stiffness_order(patients):
    column = MODEL.param_names.index(MODEL.stiffness_params[0])
    order = lockstep_order(MODEL, patients)
    assert sorted(order.tolist()) == list(range(len(patients)))
    assert np.all(np.diff(patients[order, column]) >= 0)


@pytest.mark.parametrize("kernel_name", ["lockstep", "lanes"])
def test_fractional_power_exponent_falls_back_to_the_per_patient_kernel(course, kernel_name):
    regimen, times = course
    params = Population.virtual(LANES + 2, seed=3).parameters(regimen.pk_product, None)
    params[1, MODEL.param_names.index("drive_hill")] = 4.5
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("pcl5_total")])
    one, steps_one = NumbaEngine(kernel="patient").solve(MODEL, params, events, times, sel)
    lock, steps_lock = NumbaEngine(kernel=kernel_name).solve(MODEL, params, events, times, sel)
    np.testing.assert_array_equal(lock, one)
    np.testing.assert_array_equal(steps_lock, steps_one)


@pytest.mark.parametrize("kernel_name", ["lockstep", "lanes"])
def test_a_failed_patient_is_nan_from_its_failure_on(course, kernel_name):
    """A patient past ``max_steps`` gets -1 steps and NaN from that output time on, as in the
    per-patient kernel: the lockstep kernel integrates a failed group again one patient at a
    time (so the values are the per-patient kernel's), and in the lane kernel a lane whose
    patient failed takes the next patient."""
    regimen, times = course
    params = Population.virtual(LANES + 3, seed=4).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("ketamine_ng_ml")])
    one, steps_one = NumbaEngine(kernel="patient", max_steps=60).solve(MODEL, params, events, times, sel)
    got, steps_got = NumbaEngine(kernel=kernel_name, max_steps=60).solve(MODEL, params, events, times, sel)
    assert np.all(steps_one == -1)
    np.testing.assert_array_equal(steps_got, steps_one)
    if kernel_name == "lockstep":
        np.testing.assert_array_equal(got, one)  # NaN where the patient failed, equal elsewhere
    else:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(one))
        finite = np.isfinite(one)
        np.testing.assert_allclose(got[finite], one[finite], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("kernel_name", "tolerance"), [("lockstep", 2e-4), ("lanes", 1e-6)])
def test_lane_kernels_record_states_into_float32_in_any_layout(course, kernel_name, tolerance):
    regimen, times = course
    params = Population.virtual(LANES + 1, seed=6).parameters(regimen.pk_product, None)
    events = MODEL.events(regimen)
    sel = np.array([MODEL.state_names.index(s) for s in ("s_central_mg", "bdnf")])
    one, _ = NumbaEngine(kernel="patient").solve(MODEL, params, events, times, sel, record_states=True)
    buffer = np.full((sel.size, params.shape[0], times.size), np.nan, dtype=np.float32)
    out = buffer.transpose(1, 2, 0)
    got, steps = NumbaEngine(kernel=kernel_name).solve(MODEL, params, events, times, sel, record_states=True,
                                                        out=out)
    assert got is out and np.all(steps > 0)
    assert relative_error(out.astype(np.float64), one) < tolerance


def test_auto_integrates_small_populations_per_patient(course):
    regimen, times = course
    params = Population.virtual(LANES, seed=7).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("madrs")])
    one, _ = NumbaEngine(kernel="patient").solve(MODEL, params, events, times, sel)
    auto, _ = NumbaEngine(kernel="auto").solve(MODEL, params, events, times, sel)
    np.testing.assert_array_equal(auto, one)


def test_unknown_kernel_and_wrong_initial_states_are_refused(course):
    with pytest.raises(InputError, match="kernel"):
        NumbaEngine(kernel="simd")
    regimen, times = course
    params = Population.virtual(3, seed=1).parameters(regimen.pk_product, None)
    with pytest.raises(InputError, match="y0"):
        NumbaEngine(kernel="lockstep").solve(MODEL, params, MODEL.events(regimen), times, np.array([0]),
                                             y0=np.zeros((3, N_STATES - 2)))


def test_the_command_line_offers_the_engine_s_kernels():
    """The same kernels, and the same default, as the engine (the command line restates them
    so that it starts without importing numpy)."""
    import inspect

    from ketamine_ptsd.cli import KernelOption, simulate
    from ketamine_ptsd.engine.numba_engine import KERNELS

    assert tuple(k.value for k in KernelOption) == KERNELS
    assert inspect.signature(simulate).parameters["kernel"].default.value == NumbaEngine().kernel


def test_the_compiled_module_names_the_whole_number_exponents():
    names = {MODEL.param_names[i] for i in kernel(MODEL).POWER_PARAMS}
    assert names == {"drive_hill", "drive_block_hill"}


def test_lockstep_results_do_not_depend_on_the_thread_count(course):
    """Groups are formed before the threads share them out, so one thread and all give the
    same courses to the last digit (unlike chunking, which changes the groups)."""
    import numba

    regimen, times = course
    population = Population.virtual(3 * LANES + 1, seed=8)
    many = simulate(regimen, population, engine=NumbaEngine(kernel="lockstep"), times=times, outputs=OUTPUTS)
    try:
        one = simulate(regimen, population, engine=NumbaEngine(kernel="lockstep", threads=1), times=times,
                       outputs=OUTPUTS)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(one.values, many.values)
    np.testing.assert_array_equal(one.steps, many.steps)


def test_dense_output_ranges_cover_each_requested_state_once():
    """The lockstep dense output runs over ranges of the lane arrays: consecutive states are
    merged into one range, and every lane of every requested state is covered exactly once."""
    runs = kernel(MODEL)._lane_runs
    L = LANES
    lo, hi = runs(np.array([4, 7, 23, 24, 25, 26, 28, 29], np.int64))
    assert lo.tolist() == [4 * L, 7 * L, 23 * L, 28 * L]
    assert hi.tolist() == [5 * L, 8 * L, 27 * L, 30 * L]
    for sel in ([0], [3, 1, 2], list(range(N_STATES))):
        lo, hi = runs(np.array(sel, np.int64))
        covered = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
        assert sorted(covered.tolist()) == sorted(s * L + l for s in sel for l in range(L))
    lo, hi = runs(np.array(range(N_STATES), np.int64))
    assert (lo.tolist(), hi.tolist()) == ([0], [N_STATES * L])


# -- the lane kernel with own steps (kernel="lanes") -----------------------------------------
# Each lane with its own time, step size, events and output times: held to the per-patient
# kernel (the same algorithm, rounded differently: nearly the same steps, results within a few
# times the tolerance) and to its own promise, that a patient's course, to the last bit, does
# not depend on the lane it runs in or on who runs beside it.


def test_lanes_are_the_per_patient_kernel_bit_for_bit(course):
    """The same algorithm as the per-patient kernel, with the same arithmetic: the generated
    right-hand side rounds as the model's (neither is compiled with reassociation), the error
    norm divides and sums in the same order, the controller calls the same ``pow`` and outputs
    come from the same ``observe``. So every patient's outputs and accepted steps are the
    per-patient kernel's to the last bit. More patients than a block's lanes, so that lanes
    take a next patient when theirs is done; outputs and the recorded states."""
    regimen, times = course
    population = Population.virtual(3 * LANES + 5, seed=2)
    one = simulate(regimen, population, engine=NumbaEngine(kernel="patient"), times=times, outputs=OUTPUTS)
    own = simulate(regimen, population, engine=NumbaEngine(kernel="lanes"), times=times, outputs=OUTPUTS)
    assert np.all(np.isfinite(own.values)) and np.all(own.steps > 0)
    np.testing.assert_array_equal(own.steps, one.steps)
    np.testing.assert_array_equal(own.values, one.values)
    params = population.parameters(regimen.pk_product, None)
    events, states = MODEL.events(regimen), np.arange(N_STATES)
    recorded_one, _ = NumbaEngine(kernel="patient").solve(MODEL, params, events, times, states, record_states=True)
    recorded_own, _ = NumbaEngine(kernel="lanes").solve(MODEL, params, events, times, states, record_states=True)
    np.testing.assert_array_equal(recorded_own, recorded_one)


def test_a_trial_s_endpoints_are_the_same_with_the_lane_kernel():
    """Feder 2021 (ketamine against midazolam, CAPS-5 with measurement error), every arm's
    patients and every endpoint: the same to the last bit with either kernel."""
    from ketamine_ptsd.trials import builtin_spec, endpoints, run_trial

    spec = builtin_spec("feder2021").with_overrides(n_per_arm=2 * LANES + 3)
    one = run_trial(spec, engine=NumbaEngine(kernel="patient"))
    own = run_trial(spec, engine=NumbaEngine(kernel="lanes"))
    assert endpoints(own) == endpoints(one)
    for arm_one, arm_own in zip(one.arms, own.arms, strict=True):
        np.testing.assert_array_equal(arm_own.visits, arm_one.visits)
        np.testing.assert_array_equal(arm_own.course, arm_one.course)


def test_a_course_does_not_depend_on_its_lane_or_its_neighbours(course):
    """Each patient alone, and the same patients shuffled among others: bit for bit equal."""
    regimen, times = course
    params = Population.virtual(2 * LANES + 3, seed=9).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index(o) for o in OUTPUTS])
    engine = NumbaEngine(kernel="lanes")
    together, steps = engine.solve(MODEL, params, events, times, sel)
    order = np.random.default_rng(1).permutation(params.shape[0])
    shuffled, steps_shuffled = engine.solve(MODEL, params[order], events, times, sel)
    np.testing.assert_array_equal(shuffled, together[order])
    np.testing.assert_array_equal(steps_shuffled, steps[order])
    for r in (0, 17, params.shape[0] - 1):
        alone, steps_alone = engine.solve(MODEL, params[r:r + 1], events, times, sel)
        np.testing.assert_array_equal(alone[0], together[r])
        assert steps_alone[0] == steps[r]


def test_lane_outputs_are_the_model_s_observe_of_its_states(course):
    """A lane's outputs come from the model's own compiled ``observe``, one patient at a time
    (only the lanes with an output due pay for one): bit for bit ``observe`` (compiled, as in
    the kernel, without reassociation) of the states the same kernel records at those times."""
    import numba

    regimen, times = course
    params = Population.virtual(LANES + 3, seed=4).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index(o) for o in OUTPUTS])
    engine = NumbaEngine(kernel="lanes")
    outputs, steps = engine.solve(MODEL, params, events, times, sel)
    states, steps_recording = engine.solve(MODEL, params, events, times, np.arange(N_STATES), record_states=True)
    np.testing.assert_array_equal(steps_recording, steps)
    observe_as_kernel = numba.njit(fastmath=set(FASTMATH) - {"reassoc"})(observe.py_func)
    prepared = MODEL.prepare(params)
    need = np.zeros(N_OUTPUTS, np.bool_)
    need[sel] = True
    expected = np.empty_like(outputs)
    values = np.zeros(N_OUTPUTS)
    for r in range(params.shape[0]):
        for k in range(times.size):
            observe_as_kernel(np.ascontiguousarray(states[r, k]), prepared[r], values, need)
            expected[r, k] = values[sel]
    assert np.all(np.isfinite(outputs))
    np.testing.assert_array_equal(outputs, expected)


def test_lanes_over_several_blocks_and_threads(course):
    """More patients than one block, on one thread and on all: the same courses."""
    import numba

    regimen, _ = course
    times = np.arange(0.0, 24.0 * 14 + 1, 24.0)
    n = kernel(MODEL).LANE_BLOCK + 7
    params = Population.virtual(n, seed=12).parameters(regimen.pk_product, None)
    events, sel = MODEL.events(regimen), np.array([MODEL.output_names.index("pcl5_total")])
    many, steps_many = NumbaEngine(kernel="lanes").solve(MODEL, params, events, times, sel)
    try:
        one, steps_one = NumbaEngine(kernel="lanes", threads=1).solve(MODEL, params, events, times, sel)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.all(steps_many > 0) and np.all(np.isfinite(many))
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(steps_one, steps_many)
    alone, steps_alone = NumbaEngine(kernel="lanes").solve(MODEL, params[n - 1:], events, times, sel)
    np.testing.assert_array_equal(alone[0], many[n - 1])


def test_the_controller_s_inverse_fifth_root_is_within_a_few_units_of_the_exact_root():
    """The step-size controller's x ** -0.2, which every kernel takes in the same arithmetic
    (scalar code and SIMD lanes round it alike, unlike a call of the library ``pow`` per lane):
    within 4e-16 of the exact fifth root (40 decimal digits) over the error norms a controller
    meets and far beyond, every remainder of the binary exponent by 5, and ``pow``'s infinity
    and NaN. (``pow`` itself is x ** -0.2000000000000000111, 8e-15 away at 2^-1000.)"""
    from decimal import Decimal, localcontext

    root = kernel(MODEL)._inverse_fifth_root
    rng = np.random.default_rng(11)
    xs = np.concatenate([10.0 ** rng.uniform(-300, 300, 1500), 10.0 ** rng.uniform(-8, 4, 1500),
                         np.ldexp(1.0, np.arange(-1000, 1001, 7)),
                         np.nextafter(np.ldexp(1.0, np.arange(-60, 61)), 0.0)])
    with localcontext() as ctx:
        ctx.prec = 40
        worst = max(abs(Decimal(root(float(x))) / (Decimal(float(x)) ** Decimal("-0.2")) - 1) for x in xs)
    assert worst < Decimal("4e-16")
    assert root(math.inf) == 0.0
    assert math.isnan(root(math.nan))
