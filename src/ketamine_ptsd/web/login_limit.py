"""Sign-in rate limiting: failed attempts counted per account name and per client address.

A key (``"name:dr_lee"``, ``"addr:10.0.0.7"``) that has failed ``max_failures`` times within
the last ``window_s`` seconds is refused without checking the password, until its oldest
counted failure leaves the window. A successful sign-in clears the account's count (not the
address's: one address trying many accounts stays limited). Kept in memory: a restart
forgets the counts, which the limit tolerates (it bounds guesses per window, not forever).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    """Counts failures per key in a sliding window (seconds); thread-safe."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, *keys: str) -> float:
        """Seconds until every key may try again (0 when none is blocked)."""
        with self._lock:
            now = self.clock()
            waits = [self.window_s - (now - times[0]) for key in keys
                     if len(times := self._recent(key, now)) >= self.max_failures]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        """Count one failed attempt against each key."""
        with self._lock:
            now = self.clock()
            for key in keys:
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the account that just signed in)."""
        with self._lock:
            self._failures.pop(key, None)
