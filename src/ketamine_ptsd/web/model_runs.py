"""Model work (what-if comparisons, forecasts) under a time limit and a limit on how many
run at once.

A request that asks the model waits at most ``model_timeout_s`` (:class:`WebConfig`) for
a free slot and for the answer; past that it is answered ``503`` with a message saying so,
never left hanging. A run that outlives its request keeps its slot until it ends, so a
burst of slow requests cannot occupy more than ``model_max_running`` cores. The inputs'
ranges (``schemas``) keep a run's length bounded in the first place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")


class ModelBusy(Exception):
    """The model did not answer in time (or every slot stayed busy); ``retry_after_s`` hints when to retry."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelRunner:
    """Runs model work in a small thread pool, waiting at most ``timeout_s`` per request."""

    def __init__(self, timeout_s: float, max_running: int):
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(max_running)
        self._pool = ThreadPoolExecutor(max_running, thread_name_prefix="model")

    def run(self, what: str, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)``'s result, or :class:`ModelBusy` after ``timeout_s``."""
        deadline = time.monotonic() + self.timeout_s
        if not self._slots.acquire(timeout=self.timeout_s):
            raise ModelBusy(f"the model is busy with other requests; the {what} did not start within "
                            f"{self.timeout_s:g} s; try again in a minute", self.timeout_s)
        try:
            future = self._pool.submit(work, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _f: self._slots.release())
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            raise ModelBusy(f"the {what} did not finish within {self.timeout_s:g} s (the server's model time "
                            f"limit); try fewer protocols or a shorter horizon, or try again later",
                            self.timeout_s) from None

    def close(self) -> None:
        """Stop accepting work (running work finishes in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
