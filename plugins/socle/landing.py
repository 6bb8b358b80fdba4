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
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from socle.config import paths
from socle.tombstones import TombstoneFilter

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
    # A stable name for data that is not an interval (a dropped file, an open-data file):
    # landing it again replaces it wherever it was, whatever the day (``exclusive=True``).
    part: str | None = None

    @property
    def day(self) -> date:
        return self.interval_start.date()

    @property
    def part_name(self) -> str:
        if self.part:
            return "part-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", self.part)
        return "part-" + self.interval_start.strftime("%Y%m%dT%H%M%S")

    def metadata(self, entity: str) -> dict[str, str]:
        return {
            "_batch_id": self.batch_id,
            "_source": self.source,
            "_entity": entity,
            "_interval_start": self.interval_start.isoformat(),
            "_interval_end": self.interval_end.isoformat(),
            # Always UTC: incremental staging compares it as text (dbt macro landed_after_last_build).
            "_fetched_at": self.fetched_at.astimezone(UTC).isoformat(),
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


def _table(
    records: Iterable[Mapping[str, object]],
    metadata: Mapping[str, str],
    fixed: Sequence[str] | None = None,
) -> pa.Table:
    rows = [{k: _as_text(v) for k, v in record.items()} for record in records]
    columns: dict[str, None] = dict.fromkeys(fixed or ())
    for row in rows:
        columns.update(dict.fromkeys(row))
    names = [c for c in columns if c not in metadata]
    if fixed is not None and len(names) != len([c for c in fixed if c not in metadata]):
        raise ValueError("a later chunk brought columns the first chunk did not have")
    arrays = {name: pa.array([row.get(name) for row in rows], type=pa.string()) for name in names}
    for name, value in metadata.items():
        arrays[name] = pa.array([value] * len(rows), type=pa.string())
    return pa.table(arrays)


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


def manifest_parts(root: Path, source: str = "*") -> Iterator[tuple[str, str, dict]]:
    """``(source, entity, part entry)`` for every part recorded in the manifests under ``root``."""
    for manifest in sorted(root.glob(f"{source}/*/dt=*/_manifest.json")):
        for part in json.loads(manifest.read_text()).get("parts", {}).values():
            yield manifest.parts[-4], manifest.parts[-3], part


def write_partition(
    batch: Batch,
    entity: str,
    records: Iterable[Mapping[str, object]],
    *,
    root: Path | None = None,
    day: date | None = None,
    exclusive: bool = False,
    manifest_extra: Mapping[str, object] | None = None,
) -> int:
    """Land one interval of one entity; returns the number of rows written.

    An interval with no rows removes any earlier file for that interval, so a rerun that
    finds nothing also leaves nothing behind. ``exclusive`` also removes a part of the
    same name from the entity's other days; ``manifest_extra`` is kept in the manifest
    entry (download state of an open-data file, for instance).
    """
    writer = PartitionWriter(batch, entity, root=root, day=day)
    writer.write(records)
    return writer.commit(exclusive=exclusive, manifest_extra=manifest_extra)


class PartitionWriter:
    """One part written chunk by chunk (big files stay out of memory), then committed.

    Rows go to a temporary file; ``commit`` renames it into place atomically, ``abort``
    leaves the previous part untouched. The first chunk fixes the columns; a later chunk
    may omit some (nulls) but not bring new ones.
    """

    def __init__(self, batch: Batch, entity: str, *, root: Path | None = None, day: date | None = None):
        self.batch = batch
        self.entity = entity
        self.root = root
        self.directory = partition_dir(batch.source, entity, day or batch.day, root)
        self.target = self.directory / f"{batch.part_name}.parquet"
        self.tmp = self.target.with_name(f".{self.target.name}.{uuid.uuid4().hex}.tmp")
        self.rows = 0
        # An erased person stays erased when a source sends them again (GDPR art. 17); their
        # new data-subject requests still land, to be answered (socle.dsr removes them after).
        self._tombstones = TombstoneFilter(frozenset() if batch.source == "dsr" else None)
        self._columns: list[str] | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, records: Iterable[Mapping[str, object]]) -> int:
        records = self._tombstones.drop_erased(records, self.batch.source)
        table = _table(records, self.batch.metadata(self.entity), self._columns)
        if table.num_rows == 0:
            return 0
        if self._writer is None:
            self._columns = [c for c in table.column_names if c not in METADATA_COLUMNS]
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows
        return table.num_rows

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)

    def commit(self, *, exclusive: bool = False, manifest_extra: Mapping[str, object] | None = None) -> int:
        if exclusive:
            _drop_part_elsewhere(self.batch.source, self.entity, self.target.name, self.directory, self.root)
        if self._writer is None:
            if self.target.exists():
                self.target.unlink()
            if self.directory.exists():
                _update_manifest(self.directory, self.target.name, None)
            return 0
        self._writer.close()
        self._writer = None
        try:
            digest = file_sha256(self.tmp)
            os.replace(self.tmp, self.target)
        finally:
            self.tmp.unlink(missing_ok=True)
        _update_manifest(
            self.directory,
            self.target.name,
            {
                **self.batch.metadata(self.entity),
                **dict(manifest_extra or {}),
                "rows": self.rows,
                "erased_dropped": self._tombstones.dropped,
                "columns": self._columns,
                "sha256": digest,
            },
        )
        return self.rows


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (manifests record it for every part)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _drop_part_elsewhere(source: str, entity: str, part_file: str, keep: Path, root: Path | None) -> None:
    base = (root or paths().landing) / source / entity
    for directory in base.glob("dt=*"):
        if directory != keep and (directory / part_file).exists():
            (directory / part_file).unlink()
            _update_manifest(directory, part_file, None)


def find_part(source: str, entity: str, part_file: str, *, root: Path | None = None) -> dict | None:
    """The manifest entry of a named part, whatever its day (latest day first), or None."""
    base = (root or paths().landing) / source / entity
    for manifest_path in sorted(base.glob("dt=*/_manifest.json"), reverse=True):
        entry = json.loads(manifest_path.read_text())["parts"].get(part_file)
        if entry and (manifest_path.parent / part_file).exists():
            return entry
    return None


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
    exclusive: bool = False,
) -> int:
    """Quarantine rejected records under ``landing/_rejected/<source>/<entity>/``.

    The record is kept whole (it is the campaign's data, subject to erasure like any
    other) but only the reason and field names ever reach logs.
    """
    root = root or paths().landing
    tombstones = TombstoneFilter(frozenset() if batch.source == "dsr" else None)
    rows = [
        {
            "_reason": r.reason,
            "_fields": ",".join(r.fields),
            "_record": json.dumps({k: _as_text(v) for k, v in r.record.items()}, ensure_ascii=False),
        }
        for r in rejections
        if not tombstones.is_erased_record(r.record, batch.source)
    ]
    return write_partition(batch, entity, rows, root=root / "_rejected", exclusive=exclusive)
