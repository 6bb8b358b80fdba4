"""Is a source silent? Hours since each source family last landed a row, against a threshold.

During a campaign a Facebook page that has landed nothing for hours usually means an expired
token or a broken connector, not a quiet public. Thresholds per family, in hours, default
below; override with ``SOCLE_FRESHNESS_<FAMILY>_HOURS`` (0 turns the check off for it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from socle.landing import manifest_parts

# Source family -> landing sources it owns, and the silence that deserves an alert.
FAMILIES: dict[str, tuple[tuple[str, ...], int]] = {
    "social": (("facebook", "x"), 6),
    "events": (("events",), 24),
    "field": (("signin", "canvass"), 72),
    "crm": (("crm",), 72),
    "opendata": (("opendata",), 0),  # monthly files: silence is normal
}


@dataclass(frozen=True)
class Silence:
    family: str
    hours_silent: float | None  # None: never landed anything
    threshold_hours: int

    def __str__(self) -> str:
        since = "never landed a row" if self.hours_silent is None else f"silent for {self.hours_silent:.1f} h"
        return f"{self.family}: {since} (threshold {self.threshold_hours} h)"


def threshold(family: str) -> int:
    raw = os.environ.get(f"SOCLE_FRESHNESS_{family.upper()}_HOURS")
    if raw is None:
        return FAMILIES[family][1]
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"SOCLE_FRESHNESS_{family.upper()}_HOURS must be a whole number of hours") from None


def last_landed(landing: Path, sources: tuple[str, ...]) -> datetime | None:
    """When the newest batch with at least one row was fetched, from the partition manifests."""
    latest = None
    for source in sources:
        for _, _, part in manifest_parts(landing, source):
            if int(part.get("rows", 0)) > 0:
                fetched = datetime.fromisoformat(part["_fetched_at"])
                latest = fetched if latest is None or fetched > latest else latest
    return latest


def silent_sources(landing: Path, now: datetime) -> list[Silence]:
    silences = []
    for family, (sources, _) in FAMILIES.items():
        limit = threshold(family)
        if limit <= 0:
            continue
        latest = last_landed(landing, sources)
        hours = None if latest is None else (now - latest).total_seconds() / 3600
        if hours is None or hours > limit:
            silences.append(Silence(family, None if hours is None else round(hours, 1), limit))
    return silences
