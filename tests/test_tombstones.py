"""The tombstone store: keyed hashes only, idempotent, and a cheap per-record filter for landing."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from socle import tombstones
from socle.config import pseudonym_secret
from socle.identity import keyed_hash

EMAIL = "ondine.marchetourbe@example.org"
PHONE = "+33687654321"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    return tmp_path


def test_add_stores_keyed_hashes_of_normalised_identifiers_never_the_identifiers(home: Path):
    added = tombstones.add([" Ondine.MarcheTourbe@Example.org ", "06 87 65 43 21"], "req-1")

    assert added == 2
    table = pq.read_table(tombstones.tombstones_path())
    assert table.column_names == ["identifier_hash", "kind", "erased_at", "request_id"]
    secret = pseudonym_secret()
    assert set(table.column("identifier_hash").to_pylist()) == {
        keyed_hash(EMAIL, secret),
        keyed_hash(PHONE, secret),
    }
    assert sorted(table.column("kind").to_pylist()) == ["email", "phone"]
    raw = tombstones.tombstones_path().read_bytes()
    assert b"marchetourbe" not in raw.lower()
    assert b"687654321" not in raw


def test_adding_the_same_identifier_again_adds_nothing(home: Path):
    tombstones.add([EMAIL], "req-1")

    assert tombstones.add([EMAIL.upper(), "not an identifier"], "req-2") == 0
    assert tombstones.count() == 1


def test_social_accounts_are_namespaced_by_platform(home: Path):
    tombstones.add([("facebook_id", "123"), ("x_user_id", "123")], "req-3")

    erased = tombstones.TombstoneFilter()
    assert erased.is_erased_account("facebook_id", "123")
    assert erased.is_erased_account("x_user_id", "123")
    assert not erased.is_erased(None, "123")
    with pytest.raises(ValueError, match="unknown account kind"):
        tombstones.account_identifier("instagram", "123")


def test_filter_recognises_raw_and_normalised_identifiers(home: Path):
    tombstones.add([EMAIL, PHONE], "req-4")
    erased = tombstones.TombstoneFilter()

    assert erased.is_erased(EMAIL.upper(), None)
    assert erased.is_erased(None, "06.87.65.43.21")
    assert erased.is_erased(None, PHONE)
    assert not erased.is_erased("someone.else@example.org", "+33600000000")
    assert not erased.is_erased(None, None)
    assert erased.is_erased_record({"volunteer_email": EMAIL})
    assert erased.is_erased_record({"contact_phone": "0687654321"})
    assert not erased.is_erased_record({"email": None, "phone": ""})


def test_filter_loads_the_store_once(home: Path):
    erased = tombstones.TombstoneFilter()
    tombstones.add([EMAIL], "req-5")  # after the filter was built

    assert len(erased) == 0
    assert not erased.is_erased(EMAIL, None)
    assert tombstones.TombstoneFilter().is_erased(EMAIL, None)


def test_drop_erased_streams_the_others_and_counts_the_dropped(home: Path):
    tombstones.add([EMAIL], "req-6")
    erased = tombstones.TombstoneFilter()
    records = ({"id": str(i), "email": EMAIL if i % 3 == 0 else f"p{i}@example.org"} for i in range(9))

    kept = list(erased.drop_erased(records))

    assert [r["id"] for r in kept] == ["1", "2", "4", "5", "7", "8"]
    assert erased.dropped == 3


def test_a_store_with_only_the_contract_columns_is_read_and_extended(home: Path):
    import pyarrow as pa

    path = tombstones.tombstones_path()
    path.parent.mkdir(parents=True)
    secret = pseudonym_secret()
    pq.write_table(
        pa.table({"identifier_hash": [keyed_hash(EMAIL, secret)], "erased_at": ["2026-01-01"]}), path
    )

    assert tombstones.TombstoneFilter().is_erased(EMAIL, None)
    assert tombstones.add([PHONE], "req-7") == 1
    assert tombstones.count() == 2


def test_no_tombstones_file_means_nobody_is_erased(home: Path):
    assert tombstones.load_hashes() == frozenset()
    assert not tombstones.TombstoneFilter().is_erased_record({"email": EMAIL})
