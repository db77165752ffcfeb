"""A whole study (report/study.py's ``conduct``) with the trial, its endpoints and the report
writer replaced by stand-ins (the trial and the report themselves are checked in
test_trial.py and test_cli_trial.py): the report is written before ``endpoints.json``, so a
failed report leaves no endpoints file without it; no folder, no files; the engine reaches
the simulation."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ketamine_ptsd.report import study

SPEC = SimpleNamespace(arm_sizes=lambda: [3, 2])


@pytest.fixture
def stand_ins(monkeypatch):
    calls = {"run_trial": [], "report": []}

    def run_trial(spec, client=None, chunk_size=None, progress=None, engine=None):
        calls["run_trial"].append(engine)
        if progress is not None:
            progress(5)
        return "trial result"

    def write_trial_report(result, endpoints, path):
        calls["report"].append((result, endpoints))
        path.write_text("<html></html>", encoding="utf-8")
        return path

    monkeypatch.setattr(study, "run_trial", run_trial)
    monkeypatch.setattr(study, "endpoints", lambda result: {"primary": {"difference": -7.5}, "warnings": []})
    monkeypatch.setattr(study, "write_trial_report", write_trial_report)
    return calls


def test_the_report_and_the_endpoints_are_written(tmp_path, stand_ins):
    done = study.conduct(SPEC, tmp_path / "out", engine="scipy")
    assert done.result == "trial result" and done.endpoints["primary"] == {"difference": -7.5}
    assert sorted(p.name for p in done.written) == ["endpoints.json", "report.html"]
    assert json.loads((tmp_path / "out" / "endpoints.json").read_text()) == done.endpoints
    assert stand_ins["report"] == [("trial result", done.endpoints)]
    assert stand_ins["run_trial"] == ["scipy"]


def test_a_failed_report_leaves_no_endpoints_file(tmp_path, stand_ins, monkeypatch):
    def broken(result, endpoints, path):
        raise RuntimeError("the figures could not be drawn")

    monkeypatch.setattr(study, "write_trial_report", broken)
    with pytest.raises(RuntimeError):
        study.conduct(SPEC, tmp_path)
    assert not (tmp_path / "endpoints.json").exists()


def test_without_a_folder_nothing_is_written(tmp_path, stand_ins, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = study.conduct(SPEC, None)
    assert done.written == [] and stand_ins["report"] == [] and list(tmp_path.iterdir()) == []


def test_progress_hears_the_patients_simulated(tmp_path, stand_ins):
    heard = []

    class Bar:
        def __init__(self, label, total):
            heard.append((label, total))

        def __enter__(self):
            return lambda k: heard.append(k)

        def __exit__(self, *exc):
            return False

    study.conduct(SPEC, None, progress=Bar)
    assert heard == [("simulating patients", 5), 5]
