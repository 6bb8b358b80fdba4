"""Seeded chance and the campaign's clock: every random draw of a generation goes through here.

One ``random.Random`` drawn in a fixed order is what makes a seed reproduce a campaign
byte for byte; nothing here iterates a set or reads the wall clock.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Sequence
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
        self._cumulative: dict[int, list[float]] = {}

    def between(self, a: datetime, b: datetime) -> datetime:
        seconds = max(0, int((b - a).total_seconds()))
        return a + timedelta(seconds=self.rng.randrange(seconds or 1))

    def before_now(self, moment: datetime) -> datetime:
        """Activity that would fall after the campaign's 'now' happens just before it."""
        if moment < self.now:
            return moment
        return self.now - timedelta(seconds=self.rng.randint(60, 6 * 3600))

    def sample(self, pool: Sequence[Weighted], k: int) -> list[Any]:
        """k distinct people, the more active more likely (Efraimidis-Spirakis keys), in pool order."""
        if k >= len(pool):
            return list(pool)
        keys = [(self.rng.random() ** (1.0 / p.weight), p.pid) for p in pool]
        chosen = {pid for _, pid in sorted(keys, reverse=True)[:k]}
        return [p for p in pool if p.pid in chosen]

    def pick(self, pool: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
        """k distinct accounts (dicts with a ``weight``), the more active more likely."""
        keys = heapq.nlargest(k, ((self.rng.random() ** (1.0 / a["weight"]), i) for i, a in enumerate(pool)))
        return [pool[i] for _, i in keys]

    def one(self, pool: list[dict[str, Any]]) -> dict[str, Any]:
        """One account, weighted; the cumulative weights are kept per pool."""
        cumulative = self._cumulative.get(id(pool))
        if cumulative is None or len(cumulative) != len(pool):
            cumulative = self._cumulative[id(pool)] = list(itertools.accumulate(a["weight"] for a in pool))
        return self.rng.choices(pool, cum_weights=cumulative)[0]
