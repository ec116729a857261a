"""Sign-in rate limits: in-process token buckets per client IP and per account (email).

Each instance limits on its own (several instances multiply the allowance by their count); buckets are
forgotten on restart. That is enough to make online password guessing slow; argon2id makes it costly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

PER_IP_BURST, PER_IP_PER_MIN = 20, 10.0
PER_ACCOUNT_BURST, PER_ACCOUNT_PER_MIN = 5, 2.0
MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """`burst` attempts at once, refilled at `per_minute`."""

    def __init__(self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self.clock = burst, per_minute / 60.0, clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def allowed(self, key: str) -> bool:
        """True when an attempt for `key` may go ahead now (without spending a token)."""
        return self._bucket(key).tokens >= 1

    def spend(self, key: str) -> None:
        bucket = self._bucket(key)
        bucket.tokens = max(0.0, bucket.tokens - 1)

    def reset(self) -> None:
        self._buckets.clear()


class LoginLimiter:
    """Every attempt spends from the IP's bucket; failed attempts also from the account's bucket."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = TokenBuckets(PER_IP_BURST, PER_IP_PER_MIN, clock)
        self.per_account = TokenBuckets(PER_ACCOUNT_BURST, PER_ACCOUNT_PER_MIN, clock)

    def check(self, ip: str, account: str) -> bool:
        """True when this attempt may be tried; spends the IP's token either way."""
        ok = self.per_ip.allowed(ip) and self.per_account.allowed(account)
        self.per_ip.spend(ip)
        return ok

    def failed(self, account: str) -> None:
        self.per_account.spend(account)

    def reset(self) -> None:
        self.per_ip.reset()
        self.per_account.reset()


LIMITER = LoginLimiter()
