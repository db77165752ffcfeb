"""The same trial, power estimate and sensitivity analysis on a real Dask cluster
(``LocalCluster``, two worker processes) give exactly the single-process numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ketamine_ptsd.cli_trial import trial
from ketamine_ptsd.distributed import check_cluster_options, dask_client, map_tasks
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.sensitivity import ParameterRange, parse_output, run_sensitivity
from ketamine_ptsd.trials import builtin_spec, endpoints, power, run_trial


@pytest.fixture(scope="module")
def client():
    """What ``--workers 2`` starts: a LocalCluster of two single-threaded worker processes."""
    with dask_client(workers=2) as client:
        info = client.scheduler_info()["workers"].values()
        assert len(info) == 2 and all(w["nthreads"] == 1 for w in info)
        yield client


@pytest.fixture(scope="module")
def spec():
    return builtin_spec("feder2021").with_overrides(n_per_arm=40, seed=77)


def test_trial_on_the_cluster_is_identical_to_one_process(spec, client):
    here = run_trial(spec, chunk_size=16)
    finished = []
    there = run_trial(spec, client=client, chunk_size=16, progress=finished.append)
    assert sum(finished) == 80 and len(finished) == 6
    for a, b in zip(here.arms, there.arms):
        assert np.array_equal(a.ids, b.ids)
        assert np.array_equal(a.visits, b.visits)
        assert np.array_equal(a.loss_day, b.loss_day)
    assert json.dumps(endpoints(here)) == json.dumps(endpoints(there))


def test_chunking_on_the_cluster_does_not_change_the_result(spec, client):
    assert json.dumps(endpoints(run_trial(spec, client=client, chunk_size=7))) == \
        json.dumps(endpoints(run_trial(spec, chunk_size=1000)))


def test_power_on_the_cluster_is_identical(spec, client):
    small = spec.with_overrides(n_per_arm=8)
    assert power(small, n_trials=4, client=client) == power(small, n_trials=4)


def test_sensitivity_on_the_cluster_is_identical(spec, client):
    small = spec.with_overrides(n_per_arm=10)
    params = [ParameterRange("structural_gain", 4.0, 6.0), ParameterRange("cadss_ec50", 300.0, 600.0)]
    outputs = [parse_output("responder_rate", small)]
    here = run_sensitivity(small, params, outputs, "morris", 2, seed=3)
    there = run_sensitivity(small, params, outputs, "morris", 2, seed=3, client=client)
    assert np.array_equal(here.values, there.values)
    assert here.to_dict() == there.to_dict()


def _fails(x):
    if x == 2:
        raise InputError("x", "two is not allowed", "not 2")
    return x * 10


def test_map_keeps_order_and_raises_a_task_error_here(client):
    assert map_tasks(_fails, [0, 1, 3], client) == [0, 10, 30]
    with pytest.raises(InputError, match="two is not allowed"):
        map_tasks(_fails, [0, 1, 2, 3], client)


def test_the_command_gives_the_same_json_through_a_scheduler_address(client):
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(trial)  # the only command: invoked without its name
    args = ["--builtin", "feder2021", "--n-per-arm", "12", "--json", "--chunk-size", "5"]
    here = CliRunner().invoke(app, args)
    there = CliRunner().invoke(app, [*args, "--scheduler", client.scheduler.address])
    assert here.exit_code == there.exit_code == 0
    assert json.loads(here.stdout) == json.loads(there.stdout)
    with dask_client() as none:
        assert none is None


@pytest.mark.parametrize("workers,scheduler,field", [
    (0, None, "workers"), (-2, None, "workers"), (None, "localhost:8786", "scheduler"),
    (None, "tcp://", "scheduler"), (2, "tcp://127.0.0.1:8786", "workers"),
])
def test_bad_cluster_options(workers, scheduler, field):
    with pytest.raises(InputError) as err:
        check_cluster_options(workers, scheduler)
    assert err.value.field == field


def test_an_unreachable_scheduler_is_an_input_error():
    with pytest.raises(InputError) as err:
        with dask_client(scheduler="tcp://127.0.0.1:1", timeout="1s"):
            pass
    assert err.value.field == "scheduler"
