"""Publish: the validated build atomically replaces the published warehouse (write-audit-publish).

The build file is renamed over the target (``os.replace`` is atomic on one file system):
no byte is copied. An analyst who has the old file open keeps reading the old file; the
next connection sees the new one; nobody ever sees a half-written warehouse. The build
file is gone afterwards: the next build starts from a copy of what was published
(``socle.warehouse.prepare_build_db``), and readers of "the last build" fall back to the
published file (``last_build``).

Defence in depth: publishing refuses a build whose gate seal (written by
``socle.gates.run_gates`` beside the build) is missing, did not pass, or was made for
another file or for this file before a later write (``socle.gates.core.file_state``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from socle.config import paths
from socle.gates.core import file_state, seal_path


class PublishRefused(Exception):
    """The build was not validated by a passing gate run: the published file is untouched."""


def _verdict(build_db: Path) -> dict:
    if not build_db.exists():
        raise PublishRefused(f"no build at {build_db}: nothing to publish (published already, or not built)")
    seal = seal_path(build_db)
    if not seal.exists():
        raise PublishRefused(f"no gate verdict for {build_db}: run the gates on this build first")
    verdict = json.loads(seal.read_text())
    if not verdict.get("passed"):
        failures = "; ".join(verdict.get("failures", [])) or "see the compliance report"
        raise PublishRefused(f"the last gate run on this build failed: {failures}")
    return verdict


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def last_build(build_db: Path | None = None) -> Path:
    """The last build's file: the build copy while it is unpublished, else the published file."""
    p = paths()
    build_db = Path(build_db or p.build_db)
    return build_db if build_db.exists() else p.warehouse


def publish(build_db: Path | None = None, target: Path | None = None) -> Path:
    """Replace ``target`` (default ``<home>/warehouse.duckdb``) with the validated build; returns it.

    Raises ``PublishRefused`` when there is no build, when it has no passing gate verdict,
    or when it changed since it was validated.
    """
    p = paths()
    build_db = Path(build_db or p.build_db)
    target = Path(target or p.warehouse)
    verdict = _verdict(build_db)
    if build_db.with_name(build_db.name + ".wal").exists():
        raise PublishRefused(f"{build_db} has an unmerged write-ahead log: a writer is still open or crashed")
    if target.with_name(target.name + ".wal").exists():
        # A WAL beside the published file would be replayed onto the new file on next open.
        raise PublishRefused(f"{target} has a write-ahead log: something wrote to the published file")
    if file_state(build_db) != verdict.get("file"):
        raise PublishRefused(f"{build_db} changed after the gates validated it: run the gates again")
    target.parent.mkdir(parents=True, exist_ok=True)
    _fsync(build_db)  # the bytes are on disk before the name points at them
    os.replace(build_db, target)
    for directory in {target.parent, build_db.parent}:
        _fsync(directory)  # the rename itself survives a crash
    seal_path(build_db).unlink(missing_ok=True)  # the verdict was for a file that has moved on
    return target
