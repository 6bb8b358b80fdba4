"""Publish: the validated build atomically replaces the published warehouse (write-audit-publish).

The build is copied to a temporary file in the target's directory, flushed to disk, then
renamed over the target (``os.replace`` is atomic on one file system). An analyst who has
the old file open keeps reading the old file; the next connection sees the new one; nobody
ever sees a half-copied warehouse.

Defence in depth: publishing refuses a build whose gate seal (written by
``socle.gates.run_gates`` beside the build) is missing, did not pass, or was made for other
bytes than the ones being copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from socle.config import paths
from socle.gates.core import seal_path


class PublishRefused(Exception):
    """The build was not validated by a passing gate run: the published file is untouched."""


def _verdict(build_db: Path) -> dict:
    seal = seal_path(build_db)
    if not seal.exists():
        raise PublishRefused(f"no gate verdict for {build_db}: run the gates on this build first")
    verdict = json.loads(seal.read_text())
    if not verdict.get("passed"):
        failures = "; ".join(verdict.get("failures", [])) or "see the compliance report"
        raise PublishRefused(f"the last gate run on this build failed: {failures}")
    return verdict


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(build_db: Path | None = None, target: Path | None = None) -> Path:
    """Replace ``target`` (default ``<home>/warehouse.duckdb``) with the validated build; returns it.

    Raises ``PublishRefused`` when the build has no passing gate verdict, or changed since
    it was validated.
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    digest = hashlib.sha256()
    try:
        with build_db.open("rb") as source, tmp.open("wb") as copy:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)  # hash what is copied: the bytes published are the bytes validated
                copy.write(block)
            copy.flush()
            os.fsync(copy.fileno())
        if digest.hexdigest() != verdict.get("sha256"):
            raise PublishRefused(f"{build_db} changed after the gates validated it: run the gates again")
        os.replace(tmp, target)
        _fsync_dir(target.parent)  # the rename itself survives a crash
    finally:
        tmp.unlink(missing_ok=True)
    return target
