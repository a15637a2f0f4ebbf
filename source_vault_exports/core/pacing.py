"""Pacing requests from a vendor's rate-limit headers, so a sync stays under its budget.

Tape meters credits per key per minute and reports what is left on every response; Vault reports
its burst budget the same way. Waiting for 429s and backing off wastes the budget on refusals, so
each request first waits as long as the remaining budget asks: nothing while plenty is left, then
spreading what is left over the time until the budget resets, then the whole reset when nothing is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import requests


@dataclass(frozen=True)
class Budget:
    limit: float  # units per interval (credits, calls)
    remaining: float
    cost: float  # units one request spends
    reset_seconds: float  # until the interval starts over


BudgetReader = Callable[[requests.Response], Optional[Budget]]


class HeaderPacer:
    """Shared by every thread of one vendor; `before()` blocks as the last response advised."""

    def __init__(
        self,
        read_budget: BudgetReader,
        relaxed_share: float = 0.3,
        max_wait_seconds: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._read_budget = read_budget
        self._relaxed_share = relaxed_share
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._not_before = 0.0
        self.waited_seconds = 0.0

    def before(self) -> None:
        with self._lock:
            # Requests are spaced one by one: each takes the next free moment.
            now = self._clock()
            wait = max(0.0, self._not_before - now)
            self._not_before = max(self._not_before, now)
        if wait > 0:
            self.waited_seconds += wait
            self._sleep(wait)

    def after(self, response: requests.Response) -> None:
        budget = self._read_budget(response)
        if budget is None or budget.limit <= 0:
            return
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + self._spacing(budget))

    def _spacing(self, budget: Budget) -> float:
        if budget.remaining >= budget.limit * self._relaxed_share:
            return 0.0
        if budget.remaining < budget.cost:
            return min(self._max_wait, budget.reset_seconds)
        requests_left = budget.remaining / max(budget.cost, 1e-9)
        return min(self._max_wait, budget.reset_seconds / requests_left)
