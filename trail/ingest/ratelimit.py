"""In-process token buckets per client IP: `rate` events per second sustained, bursts up to `burst`."""

from __future__ import annotations

import time
from typing import Callable


class RateLimiter:
    """One bucket per key; idle buckets are forgotten when the table grows past `max_keys`."""

    def __init__(self, rate: float, burst: float | None = None, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate, 1))
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, list[float]] = {}

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take `cost` tokens from key's bucket; False (and take nothing) when there are not enough."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[key] = [self.burst, now]
        else:
            tokens = bucket[0] + (now - bucket[1]) * self.rate
            bucket[0] = tokens if tokens < self.burst else self.burst
            bucket[1] = now
        if bucket[0] < cost:
            return False
        bucket[0] -= cost
        return True

    def _evict(self, now: float) -> None:
        full_after = self.burst / self.rate if self.rate > 0 else 0.0
        stale = [k for k, (_, at) in self._buckets.items() if now - at >= full_after]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: forget the oldest half rather than grow forever
            for key in list(self._buckets)[: self.max_keys // 2]:
                del self._buckets[key]
