"""Seeded chance and the campaign's clock: every random draw of a generation goes through here.

One ``random.Random`` drawn in a fixed order is what makes a seed reproduce a campaign
byte for byte; nothing here iterates a set or reads the wall clock.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol


class Weighted(Protocol):
    pid: int
    weight: float


class Dice:
    def __init__(self, rng: random.Random, start: datetime, now: datetime) -> None:
        self.rng = rng
        self.start = start  # the campaign's first day
        self.now = now  # today, midnight UTC: nothing happens at or after it
        self._cumulative: dict[int, tuple[Sequence[Any], list[float]]] = {}

    def between(self, a: datetime, b: datetime) -> datetime:
        seconds = max(0, int((b - a).total_seconds()))
        return a + timedelta(seconds=self.rng.randrange(seconds or 1))

    def before_now(self, moment: datetime) -> datetime:
        """Activity that would fall after the campaign's 'now' happens just before it."""
        if moment < self.now:
            return moment
        return self.now - timedelta(seconds=self.rng.randint(60, 6 * 3600))

    def sample(self, pool: Sequence[Weighted], k: int) -> list[Any]:
        """k distinct people, the more active more likely, in ``pid`` order.

        Weighted draws with replacement until k distinct ones: cheap when k is small next
        to the pool, which it is (an event's guests among a city's supporters).
        """
        if k >= len(pool):
            return list(pool)
        cumulative = self._cumulative_weights(pool, lambda p: p.weight)
        chosen: dict[int, Any] = {}
        while len(chosen) < k:
            for person in self.rng.choices(pool, cum_weights=cumulative, k=k - len(chosen)):
                chosen.setdefault(person.pid, person)
        return [chosen[pid] for pid in sorted(chosen)]

    def pick(self, pool: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
        """k distinct accounts (dicts with a ``weight``), the more active more likely, in draw order."""
        k = min(k, len(pool))
        cumulative = self._cumulative_weights(pool, lambda a: a["weight"])
        chosen: dict[int, None] = {}
        while len(chosen) < k:
            for index in self.rng.choices(range(len(pool)), cum_weights=cumulative, k=k - len(chosen)):
                chosen.setdefault(index)
        return [pool[i] for i in chosen]

    def one(self, pool: list[dict[str, Any]]) -> dict[str, Any]:
        """One account, weighted."""
        return self.rng.choices(pool, cum_weights=self._cumulative_weights(pool, lambda a: a["weight"]))[0]

    def _cumulative_weights(self, pool: Sequence[Any], weight: Callable[[Any], float]) -> list[float]:
        # Kept per pool object (held, so its id is never reused); pools are not modified after use.
        cached = self._cumulative.get(id(pool))
        if cached is None or cached[0] is not pool:
            cached = self._cumulative[id(pool)] = (pool, list(itertools.accumulate(map(weight, pool))))
        return cached[1]
