"""Gate settings kept beside the suites in ``expectations/``: severities and retention windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from socle.config import EXPECTATIONS_DIR

SEVERITIES = ("fail", "warn")


@dataclass(frozen=True)
class Retention:
    person_inactive_days: int = 1095
    comment_text_days: int = 60
    request_due_months: int = 1


def _load(name: str, directory: Path | None) -> dict:
    path = (directory or EXPECTATIONS_DIR) / name
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def retention(directory: Path | None = None) -> Retention:
    """The retention windows of ``expectations/retention.yml`` (CNIL-based defaults)."""
    values = _load("retention.yml", directory)
    return Retention(**{k: int(v) for k, v in values.items() if k in Retention.__dataclass_fields__})


def severities(directory: Path | None = None) -> dict[str, str]:
    """Data-quality check id → ``fail`` or ``warn`` (``expectations/severity.yml``)."""
    values = _load("severity.yml", directory).get("data_quality", {})
    unknown = {k: v for k, v in values.items() if v not in SEVERITIES}
    if unknown:
        raise ValueError(f"severity.yml: severities must be fail or warn, got {sorted(unknown)}")
    return dict(values)
