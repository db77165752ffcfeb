"""The same work in this process or on a Dask cluster: an ordered map over chunks of work
(patient-id ranges of a trial, repeats of a trial, samples of a sensitivity analysis), a
client for ``--workers N`` (a local cluster) or ``--scheduler ADDRESS``, and a progress bar.

Every chunk is a pure function of its inputs (patients draw from their own random streams),
so where a chunk runs changes nothing in the results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import InputError

#: How long to wait for a scheduler to answer before calling the address unreachable.
CONNECT_TIMEOUT = "10s"
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx)://[^\s/]+(:\d+)?$")


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """Reject ``--workers`` below 1, a malformed ``--scheduler`` and both at once."""
    if workers is not None and scheduler:
        raise InputError("workers", "give either workers (a local cluster) or scheduler, not both",
                         "one of them")
    if workers is not None and int(workers) < 1:
        raise InputError("workers", f"must be at least 1, got {workers}", ">= 1")
    if scheduler and not _ADDRESS.match(scheduler):
        raise InputError("scheduler", f"not a scheduler address: {scheduler!r}", "tcp://HOST:PORT")


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                timeout: str = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for the duration of the block, or None (this process).

    ``scheduler``: connect to a running cluster (its workers should run one thread each, as
    ``dask worker ADDRESS --nthreads 1`` does: every task runs the compiled solver on one
    thread). ``workers``: start a local cluster of that many single-threaded processes and
    close it afterwards. ``timeout`` bounds the wait for a scheduler (a Dask duration, "10s").
    """
    check_cluster_options(workers, scheduler)
    if not workers and not scheduler:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except OSError as exc:
            raise InputError("scheduler", f"cannot reach {scheduler}: {exc}", "the address of a running "
                             "dask scheduler") from None
        try:
            yield client
        finally:
            client.close()
        return
    with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def map_tasks(func: Callable, tasks: Sequence, client=None, done: Callable[[int], None] | None = None) -> list:
    """``[func(t) for t in tasks]``, in order, here or on ``client``'s cluster.

    ``done(i)`` is called as task ``i`` finishes (in completion order). On a cluster each
    result is fetched as soon as it is ready, so finished chunks do not pile up on workers;
    an error in a task cancels the rest and is raised here.
    """
    if client is None:
        results = []
        for i, task in enumerate(tasks):
            results.append(func(task))
            if done is not None:
                done(i)
        return results
    from distributed import as_completed

    futures = client.map(func, list(tasks), pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * len(futures)
    try:
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            future.release()
            if done is not None:
                done(i)
    except BaseException:
        client.cancel(futures)
        raise
    return results


@contextmanager
def progress_bar(description: str, total: int, console=None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (on ``console``, default stderr); yields ``advance(k)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = console or Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not enabled) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k=1: bar.advance(task, k)
