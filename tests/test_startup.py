"""Start-up: the help and the clinic and records commands do not import the simulator's heavy
libraries (numba, scipy, pandas); only the commands that simulate do. Checked in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numba", "scipy", "pandas")

RUN_CLI = """
import contextlib, io, json, sys
from ketamine_ptsd.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    rc = main({args!r})
print(json.dumps({{"rc": rc, "out": out.getvalue(), "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def run_fresh(code: str) -> dict:
    import json

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ["--help"],
    ["clinic", "--help"],
    ["clinic", "score", "pcl5", ",".join(["2"] * 20)],
    ["patient", "--help"],
])
def test_light_commands_do_not_import_the_simulator(args):
    result = run_fresh(RUN_CLI.format(args=args, heavy=HEAVY))
    assert result["rc"] == 0
    assert result["heavy"] == []


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_simulate_imports_neither_pandas_nor_matplotlib(tmp_path, fmt):
    """The simulate path writes through Arrow and draws its SVG figure itself: pandas (and the
    pyarrow.compute it pulls in) and matplotlib would be a third of a small run's CPU."""
    args = ["simulate", "--n", "3", "--horizon-days", "1", "--format", fmt, "--out", str(tmp_path / fmt)]
    result = run_fresh(RUN_CLI.format(args=args, heavy=("pandas", "matplotlib", "pyarrow.compute")))
    assert result["rc"] == 0
    assert result["heavy"] == []
    assert (tmp_path / fmt / f"trajectory.{fmt}").is_file()


@pytest.mark.parametrize(("preset", "expected"), [(None, "1"), ("3", "3")])
def test_the_command_line_asks_for_one_blas_thread_unless_told(preset, expected):
    """Set before numpy is first imported, so OpenBLAS starts no idle threads that spin."""
    import json
    import os

    code = ("import os, sys, json\nfrom ketamine_ptsd.cli import main\n"
            "before = 'numpy' in sys.modules\nrc = main(['clinic', 'score', 'pcl5', '" + ",".join(["2"] * 20) + "'])\n"
            "print(json.dumps({'rc': rc, 'before': before, 'value': os.environ.get('OPENBLAS_NUM_THREADS')}))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "before": False, "value": expected}


def test_help_lists_the_commands_loaded_on_demand():
    result = run_fresh(RUN_CLI.format(args=["--help"], heavy=HEAVY))
    for command in ("simulate", "trial", "sensitivity", "clinic", "patient"):
        assert command in result["out"]
    assert "Run a virtual randomised trial" in result["out"] and "Clinic toolkit" in result["out"]


def test_a_simulating_command_still_loads_and_runs():
    result = run_fresh(RUN_CLI.format(args=["trial", "--help"], heavy=HEAVY))
    assert result["rc"] == 0 and "--builtin" in result["out"]


def test_importing_the_clinic_package_is_light():
    code = ("import sys, json, ketamine_ptsd.clinic, ketamine_ptsd\n"
            f"print(json.dumps({{'heavy': [m for m in {HEAVY!r} if m in sys.modules], "
            "'version': ketamine_ptsd.__version__}))")
    result = run_fresh(code)
    assert result["heavy"] == [] and result["version"]


def test_package_root_names_load_on_first_use():
    code = ("import sys, json, ketamine_ptsd\n"
            "light = 'numba' not in sys.modules\n"
            "sim = ketamine_ptsd.simulate\n"
            "print(json.dumps({'light': light, 'loaded': 'numba' in sys.modules, 'name': sim.__name__, "
            "'all': sorted(ketamine_ptsd.__all__)}))")
    result = run_fresh(code)
    assert result["light"] and result["loaded"] and result["name"] == "simulate"
    assert {"simulate", "Population", "Trajectory", "induction_series", "__version__"} <= set(result["all"])
