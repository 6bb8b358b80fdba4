"""The landing zone: Parquet partitions written atomically, one file per fetched interval.

Layout (DESIGN.md): ``landing/<source>/<entity>/dt=YYYY-MM-DD/part-<interval>.parquet``
plus a ``_manifest.json`` per partition directory. Writing the same interval again
replaces exactly its file (``os.replace`` is atomic on one file system), so reruns never
duplicate rows and a crash mid-write leaves the previous file intact.

Data columns are strings as the source sent them (staging casts); every row also carries
the load metadata columns below.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from socle.config import paths

METADATA_COLUMNS = (
    "_batch_id",
    "_source",
    "_entity",
    "_interval_start",
    "_interval_end",
    "_fetched_at",
    "_source_uri",
)
REJECT_COLUMNS = ("_reason", "_fields", "_record")


@dataclass(frozen=True)
class Batch:
    """One fetch of one interval of one source."""

    source: str
    interval_start: datetime
    interval_end: datetime
    source_uri: str
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def day(self) -> date:
        return self.interval_start.date()

    @property
    def part_name(self) -> str:
        return "part-" + self.interval_start.strftime("%Y%m%dT%H%M%S")

    def metadata(self, entity: str) -> dict[str, str]:
        return {
            "_batch_id": self.batch_id,
            "_source": self.source,
            "_entity": entity,
            "_interval_start": self.interval_start.isoformat(),
            "_interval_end": self.interval_end.isoformat(),
            "_fetched_at": self.fetched_at.isoformat(),
            "_source_uri": self.source_uri,
        }


def partition_dir(source: str, entity: str, day: date, root: Path | None = None) -> Path:
    root = root or paths().landing
    return root / source / entity / f"dt={day.isoformat()}"


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _table(records: Iterable[Mapping[str, object]], metadata: Mapping[str, str]) -> pa.Table:
    rows = [{k: _as_text(v) for k, v in record.items()} for record in records]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    names = [c for c in columns if c not in metadata]
    arrays = {name: pa.array([row.get(name) for row in rows], type=pa.string()) for name in names}
    for name, value in metadata.items():
        arrays[name] = pa.array([value] * len(rows), type=pa.string())
    return pa.table(arrays)


def _atomic_write_parquet(table: pa.Table, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _atomic_write_json(payload: object, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    os.replace(tmp, target)


def _update_manifest(directory: Path, part: str, entry: Mapping[str, object] | None) -> None:
    manifest_path = directory / "_manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"parts": {}}
    if entry is None:
        manifest["parts"].pop(part, None)
    else:
        manifest["parts"][part] = dict(entry)
    _atomic_write_json(manifest, manifest_path)


def write_partition(
    batch: Batch,
    entity: str,
    records: Iterable[Mapping[str, object]],
    *,
    root: Path | None = None,
    day: date | None = None,
) -> int:
    """Land one interval of one entity; returns the number of rows written.

    An interval with no rows removes any earlier file for that interval, so a rerun that
    finds nothing also leaves nothing behind.
    """
    directory = partition_dir(batch.source, entity, day or batch.day, root)
    target = directory / f"{batch.part_name}.parquet"
    table = _table(records, batch.metadata(entity))
    if table.num_rows == 0:
        if target.exists():
            target.unlink()
        if directory.exists():
            _update_manifest(directory, target.name, None)
        return 0
    digest = _atomic_write_parquet(table, target)
    _update_manifest(
        directory,
        target.name,
        {
            **batch.metadata(entity),
            "rows": table.num_rows,
            "columns": [c for c in table.column_names if c not in METADATA_COLUMNS],
            "sha256": digest,
        },
    )
    return table.num_rows


@dataclass
class Rejection:
    """A record that could not be landed: why, which fields, and the record itself."""

    reason: str
    fields: tuple[str, ...]
    record: Mapping[str, object]


def write_rejections(
    batch: Batch,
    entity: str,
    rejections: list[Rejection],
    *,
    root: Path | None = None,
) -> int:
    """Quarantine rejected records under ``landing/_rejected/<source>/<entity>/``.

    The record is kept whole (it is the campaign's data, subject to erasure like any
    other) but only the reason and field names ever reach logs.
    """
    root = root or paths().landing
    rows = [
        {
            "_reason": r.reason,
            "_fields": ",".join(r.fields),
            "_record": json.dumps({k: _as_text(v) for k, v in r.record.items()}, ensure_ascii=False),
        }
        for r in rejections
    ]
    return write_partition(batch, entity, rows, root=root / "_rejected")
