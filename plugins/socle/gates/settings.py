"""Gate settings kept beside the suites in ``expectations/``: severities of the data-quality checks.

Retention windows are not repeated here: rule 6 checks the windows ``socle.retention``
applies (``retention_windows()``: CNIL-based defaults, overridable by environment).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from socle.config import EXPECTATIONS_DIR

SEVERITIES = ("fail", "warn")


def _load(name: str, directory: Path | None) -> dict:
    path = (directory or EXPECTATIONS_DIR) / name
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def severities(directory: Path | None = None) -> dict[str, str]:
    """Data-quality check id → ``fail`` or ``warn`` (``expectations/severity.yml``)."""
    values = _load("severity.yml", directory).get("data_quality", {})
    unknown = {k: v for k, v in values.items() if v not in SEVERITIES}
    if unknown:
        raise ValueError(f"severity.yml: severities must be fail or warn, got {sorted(unknown)}")
    return dict(values)
