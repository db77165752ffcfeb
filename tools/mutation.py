"""Mutation testing of the core modules with mutmut, one module at a time.

Each module is mutated in its own scratch copy of the project (``build/mutation/<name>``)
with only the tests that guard it, so a run of one module takes minutes, not the whole
suite per mutant, and mutmut's results of one module are kept between runs (a rerun tests
only new or changed mutants). Usage::

    python tools/mutation.py                  # every module below
    python tools/mutation.py screening auth   # some of them
    python tools/mutation.py --list           # the modules and their tests

The score per module is written to ``build/mutation/scores.json``; the surviving mutants are
listed (``mutmut show NAME`` inside the module's folder prints the change), and
docs/testing.md records the scores and why each remaining survivor is acceptable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "mutation"


@dataclass(frozen=True)
class Module:
    """One core module: its file (or files), which of their functions to mutate (mutmut name
    globs; all when empty), the tests that guard it and environment variables its tests run
    with."""

    path: str | tuple[str, ...]
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.path,) if isinstance(self.path, str) else self.path

    @property
    def label(self) -> str:
        files = [f.removeprefix("src/") for f in self.files]
        return f"`{files[0]}`" if len(files) == 1 else f"`{files[0].rsplit('/', 1)[0]}/` ({len(files)} files)"


MODULES = {
    # The instrument package: specs, results, item handling, the PTSD and other scorers and
    # the change rules (one file, clinic/instruments.py, before the package was split). Not
    # the scans of test_instrument_facts.py for restated instrument lists (~4 s per mutant):
    # they guard where facts live, not how scores are computed; its unit tests of the specs are.
    "instruments": Module(tuple(f"src/ketamine_ptsd/clinic/instruments/{f}.py"
                                for f in ("scorers", "ptsd", "items", "change", "results", "specs")),
                          ("tests/clinic/test_instruments.py", "tests/clinic/test_instrument_results.py",
                           "tests/clinic/test_properties.py",
                           *(f"tests/clinic/test_instrument_facts.py::{t}" for t in (
                               "test_every_instrument_has_a_scorer", "test_prorates_matches_the_scorer",
                               "test_prorated_total_follows_the_spec", "test_yes_no_and_named_answers",
                               "test_spec_for_reads_ids_and_aliases")))),
    "screening": Module("src/ketamine_ptsd/clinic/screening.py",
                        ("tests/clinic/test_screening.py", "tests/clinic/test_screening_details.py")),
    "monitoring": Module("src/ketamine_ptsd/clinic/monitoring.py",
                         ("tests/clinic/test_monitoring.py", "tests/clinic/test_monitoring_details.py")),
    # The protocol builder and the route list are tested beside the route facts (not the
    # source scan of that file, which guards where the list lives).
    "dosing": Module("src/ketamine_ptsd/dosing.py",
                     ("tests/test_dosing.py", "tests/test_route_facts.py::test_clinic_routes_are_routes_of_the_model",
                      "tests/test_route_facts.py::test_protocol_regimen_matches_the_builders_by_hand")),
    "trial_endpoints": Module(
        ("src/ketamine_ptsd/trials/statistics.py", "src/ketamine_ptsd/trials/measures.py"),
        ("tests/test_trial_endpoints.py", "tests/test_trial.py"),
        ("*reduction*", "*days_to_loss_of_response*", "*responder_rate*", "*remission_rate*", "*_is_responder*",
         "*loss_of_response*", "*kaplan_meier*", "*change_from_baseline*", "*mean_score*", "*observed_scores*",
         "*cohen_d*", "*_nanmean*")),
    "auth_csrf": Module("src/ketamine_ptsd/web/csrf.py", ("tests/web/test_csrf.py",)),
    "auth": Module("src/ketamine_ptsd/web/auth.py", ("tests/web/test_auth_rules.py", "tests/web/test_signin.py",
                                                      "tests/web/test_authorization.py", "tests/web/test_csrf.py",
                                                      "tests/web/test_user_admin.py", "tests/web/test_audit_reads.py")),
    # The PK functions are numba-compiled; mutmut replaces each by a plain-Python trampoline
    # that numba cannot compile, so their tests run the whole engine as Python
    # (NUMBA_DISABLE_JIT): the same code, slower, with no compilation per mutant. The direct
    # checks of the equations run first (mutmut orders by duration); the exact solutions of
    # both enantiomers on every route and of midazolam follow, ~8 s of CPU per mutant. The
    # esketamine-only cases of test_pk_golden.py exercise no further PK code.
    "pk": Module("src/ketamine_ptsd/model/pk.py", tuple(
        f"tests/model/test_pk_golden.py::{test}" for test in (
            "test_pk_right_hand_side_is_the_compartment_diagram",
            "test_concentrations_are_the_amounts_over_their_volumes_and_never_negative",
            "test_racemic_states_match_exact_solution_for_both_enantiomers",
            "test_racemic_concentrations_match_exact_solution",
            "test_midazolam_follows_one_compartment_infusion")),
        env=(("NUMBA_DISABLE_JIT", "1"),)),
    # The rule is chosen and summarised in calibration/individual.py; the pure functions it
    # reads (the improvement that counts, the time of loss, the first day below a level) live
    # in calibration/response.py, which the planners share.
    "forecast_loss_rule": Module(
        ("src/ketamine_ptsd/calibration/individual.py", "src/ketamine_ptsd/calibration/response.py"),
        ("tests/calibration/test_loss_rule.py",
         "tests/calibration/test_individual.py::test_loss_rule_defaults_to_the_clinic_reliable_change_of_5_points",
         "tests/calibration/test_individual.py::test_loss_time_is_the_first_time_after_the_peak_below_the_threshold"),
        ("*loss_rule*", "*loss_times*", "*_loss_summary*", "*improvement_needed*", "*first_day_below*")),
}


def prepare(name: str, module: Module) -> Path:
    """The module's scratch project: the source, the tests and a pyproject.toml with the
    project's pytest settings plus this module's mutmut section."""
    work = BUILD / name
    work.mkdir(parents=True, exist_ok=True)
    for folder in ("src", "tests"):
        target = work / folder
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    section = {
        "source_paths": ["src"],
        "only_mutate": list(module.files),
        "pytest_add_cli_args": ["-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        "pytest_add_cli_args_test_selection": list(module.tests),
        "do_not_mutate_patterns": [r"^\s*(logger|log)\.", r"raise InputError\(", r"^\s*__all__"],
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in section.items()]
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return work


def mutmut(work: Path, *args: str, capture: bool = False, extra_env=()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # mutmut forks a child per mutant: numba's OpenMP/TBB thread pools do not survive a fork,
    # so the simulations in the tests use numba's own single work queue there.
    env.update(NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="1")
    env.update(dict(extra_env))
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=work, env=env, text=True,
                          capture_output=capture, check=False)


def results(work: Path, module: Module) -> dict:
    """Killed, survived and other mutants of the module's selected functions."""
    out = mutmut(work, "results", "--all", "true", capture=True).stdout
    statuses: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\w.]+__mutmut_\d+): (.+)$", line)
        if m:
            statuses[m.group(1)] = m.group(2).strip()
    if module.functions:
        patterns = [re.compile(p.replace("*", ".*")) for p in module.functions]
        statuses = {k: v for k, v in statuses.items() if any(p.search(k) for p in patterns)}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    # A mutant no selected test runs ("no tests") is not killed, nor is one whose test run
    # ended abnormally ("suspicious"): both count against the score.
    tested = killed + sum(counts.get(k, 0) for k in ("survived", "no tests", "suspicious"))
    return {"counts": counts, "killed": killed, "tested": tested,
            "score": round(100.0 * killed / tested, 1) if tested else None,
            "survived": sorted(k for k, v in statuses.items() if v == "survived"),
            "not_killed": sorted(k for k, v in statuses.items() if v in ("survived", "no tests", "suspicious"))}


RETEST = """
import json, os, sys
import pytest
names, tests = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for name in names:
    os.environ["MUTANT_UNDER_TEST"] = name
    code = pytest.main([*tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"])
    out[name] = "killed" if code == 1 else "survived" if code == 0 else f"exit {int(code)}"
print("RETEST " + json.dumps(out))
"""


def retest(work: Path, module: Module, names: list[str], tests=None) -> dict[str, str]:
    """Run the module's current tests (or ``tests``) against each mutant ``names`` in one
    process, with mutmut's switch ``MUTANT_UNDER_TEST``: mutmut itself keeps a mutant's
    verdict when only the tests changed."""
    shutil.copytree(work / "tests", work / "mutants" / "tests", dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="1", PYTHONPATH="src", **dict(module.env))
    run = subprocess.run([sys.executable, "-c", RETEST, json.dumps(names), json.dumps(list(tests or module.tests))],
                         cwd=work / "mutants", env=env, text=True, capture_output=True, check=False)
    line = [x for x in run.stdout.splitlines() if x.startswith("RETEST ")]
    if not line:
        raise SystemExit(f"retest failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return json.loads(line[-1][len("RETEST "):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--report", action="store_true", help="only recount the results of earlier runs")
    parser.add_argument("--survivors", action="store_true",
                        help="retest the mutants not killed by mutmut's run against the current tests "
                             "(after adding tests); the score then counts those now killed")
    parser.add_argument("--fresh", action="store_true",
                        help="forget earlier results (mutmut keeps them when only the tests changed)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; allowed: {', '.join(MODULES)}")
    if args.list:
        for name, m in MODULES.items():
            print(f"{name}: {' '.join(m.files)} {' '.join(m.functions)}\n    tests: {' '.join(m.tests)}")
        return 0
    scores_path = BUILD / "scores.json"
    scores = json.loads(scores_path.read_text()) if scores_path.exists() else {}
    for name in args.modules or list(MODULES):
        module = MODULES[name]
        if args.report:
            work = BUILD / name
            if not (work / "mutants").is_dir():
                continue
        else:
            if args.fresh:
                shutil.rmtree(BUILD / name / "mutants", ignore_errors=True)
            work = prepare(name, module)
            print(f"== {name}: {' '.join(module.files)}", flush=True)
            selection = [f"ketamine_ptsd.{Path(path).relative_to('src/ketamine_ptsd').with_suffix('')}"
                         .replace("/", ".") + f".{f}" for path in module.files for f in module.functions]
            if not args.survivors:
                mutmut(work, "run", "--max-children", "1", *selection, extra_env=module.env)
        s = results(work, module)
        if args.survivors:
            verdicts = retest(work, module, s["not_killed"])
            s["killed_after_run"] = sorted(k for k, v in verdicts.items() if v == "killed")
            s["survived"] = sorted(k for k, v in verdicts.items() if v != "killed")
        elif name in scores and "killed_after_run" in scores[name] and not args.fresh:
            s["killed_after_run"] = [k for k in scores[name]["killed_after_run"] if k in s["not_killed"]]
            s["survived"] = sorted(set(s["not_killed"]) - set(s["killed_after_run"]))
        s["killed_now"] = s["killed"] + len(s.get("killed_after_run", []))
        scores[name] = s
        print(f"{name}: {s['killed']} of {s['tested']} killed ({s['score']} %), {s['counts']}; "
              f"with the current tests {s['killed_now']} of {s['tested']}")
        for mutant in s["survived"]:
            print("  survived:", mutant)
        scores_path.write_text(json.dumps(scores, indent=2), encoding="utf-8")
    if args.report:
        print("\n| module | file | killed | survived | no tests | abnormal | score | killed with the current tests |"
              "\n|---|---|---|---|---|---|---|---|")
        for name, s in scores.items():
            c = s["counts"]
            now = s.get("killed_now", s["killed"])
            print(f"| {name} | {MODULES[name].label} | {s['killed']} | {c.get('survived', 0)} "
                  f"| {c.get('no tests', 0)} | {c.get('suspicious', 0)} | {s['score']} % "
                  f"| {now} ({round(100.0 * now / s['tested'], 1) if s['tested'] else None} %) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
