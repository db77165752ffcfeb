"""Sign-in rate limiting by account and client address together, with growing delays.

Failed attempts are counted per pair ``(account name, client address)`` within the last
``window_s`` seconds. The first ``max_failures`` failures cost nothing; after them each
further attempt of that pair must wait ``delay_s``, doubling with every further failure,
up to ``window_s``. Only the pair is held back: a correct password of another account from
the same address (a clinic behind one proxy shares one address), or of the same account
from another address, is never refused. A successful sign-in clears the pair's count; an
admin may clear an account's counts (:meth:`LoginLimiter.unlock`). Kept in memory: a
restart forgets the counts, which the limit tolerates (it bounds guesses per window).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    """Counts failures per (name, address) in a sliding window (seconds); thread-safe."""

    def __init__(self, max_failures: int, window_s: float, delay_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.delay_s = delay_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until this account may be tried again from this address (0: now)."""
        with self._lock:
            now = self.clock()
            times = self._recent((name, address), now)
            over = len(times) - self.max_failures
            if over < 0:
                return 0.0
            delay = min(self.window_s, self.delay_s * 2.0 ** over)
            return max(0.0, times[-1] + delay - now)

    def failed(self, name: str, address: str) -> None:
        """Count one failed attempt of ``name`` from ``address``."""
        with self._lock:
            now = self.clock()
            self._recent((name, address), now)
            self._failures.setdefault((name, address), deque()).append(now)

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of this account from this address."""
        with self._lock:
            self._failures.pop((name, address), None)

    def unlock(self, name: str) -> int:
        """Forget the failures of ``name`` from every address (admin); returns how many addresses were held."""
        with self._lock:
            keys = [k for k in self._failures if k[0] == name]
            for key in keys:
                del self._failures[key]
            return len(keys)

    def locked(self) -> dict[str, float]:
        """Accounts held back now, with the longest wait of any address (seconds)."""
        with self._lock:
            keys = list(self._failures)
        out: dict[str, float] = {}
        for name, address in keys:
            wait = self.retry_after(name, address)
            if wait > 0:
                out[name] = max(out.get(name, 0.0), wait)
        return out
