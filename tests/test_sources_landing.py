"""The landing writer's extensions the connectors rely on: streamed parts, stable names."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from socle.landing import Batch, PartitionWriter, find_part, write_partition

DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, tzinfo=UTC)


def test_streamed_chunks_become_one_part_with_one_schema(tmp_path):
    writer = PartitionWriter(Batch("demo", DAY1, DAY2, "test://"), "things", root=tmp_path)
    writer.write([{"id": "1", "note": "a"}])
    writer.write([{"id": "2"}])  # a short row: null, same schema
    assert writer.commit() == 2
    (part,) = tmp_path.glob("demo/things/dt=2026-03-01/*.parquet")
    table = pq.read_table(part)
    assert table.column("note").to_pylist() == ["a", None]
    assert "_batch_id" in table.column_names


def test_a_chunk_with_new_columns_is_refused_rather_than_silently_dropped(tmp_path):
    writer = PartitionWriter(Batch("demo", DAY1, DAY2, "test://"), "things", root=tmp_path)
    writer.write([{"id": "1"}])
    with pytest.raises(ValueError, match="columns"):
        writer.write([{"id": "2", "surprise": "x"}])
    writer.abort()


def test_aborted_write_leaves_the_previous_part_untouched(tmp_path):
    batch = Batch("demo", DAY1, DAY2, "test://")
    write_partition(batch, "things", [{"id": "old"}], root=tmp_path)
    (part,) = tmp_path.glob("demo/things/dt=*/*.parquet")
    before = part.read_bytes()
    writer = PartitionWriter(Batch("demo", DAY1, DAY2, "test://"), "things", root=tmp_path)
    writer.write([{"id": "new"}])
    writer.abort()
    assert part.read_bytes() == before
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_named_part_moves_between_days_and_keeps_its_manifest_state(tmp_path):
    first = Batch("demo", DAY1, DAY2, "test://a", part="file.csv")
    write_partition(
        first, "things", [{"id": "1"}], root=tmp_path, exclusive=True, manifest_extra={"etag": "v1"}
    )
    second = Batch("demo", DAY2, DAY2.replace(day=3), "test://a", part="file.csv")
    write_partition(second, "things", [{"id": "1"}, {"id": "2"}], root=tmp_path, exclusive=True)
    parts = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert parts == ["demo/things/dt=2026-03-02/part-file.csv.parquet"]
    old_manifest = json.loads((tmp_path / "demo/things/dt=2026-03-01/_manifest.json").read_text())
    assert old_manifest["parts"] == {}
    assert find_part("demo", "things", "part-file.csv.parquet", root=tmp_path)["rows"] == 2
    assert find_part("demo", "things", "part-other.parquet", root=tmp_path) is None
