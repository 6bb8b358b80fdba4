"""Open data: Ministère results layouts (real extracts and original-layout fixtures), INSEE, REU."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from fixtures.sources.loopback import Loopback, Reply

from socle.landing import Rejection
from socle.orchestration import ConnectionSettings
from socle.sources import opendata
from socle.sources.opendata import bureau_key, election_rows

REAL = Path("/work/shared/data")
FIXTURES = Path(__file__).parent / "fixtures" / "sources"
WIDE_2020 = FIXTURES / "resultats-burvot-t1-2020-extrait.txt"
LONG_2014 = FIXTURES / "MN14_Bvot_T1T2-extrait.txt"
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


def records(path: Path, election: str) -> list[dict]:
    out = list(election_rows(path, election))
    assert not any(isinstance(r, Rejection) for r in out)
    return out


def landed(root: Path, entity: str) -> list[dict]:
    files = [str(f) for f in sorted((root / "opendata" / entity).glob("dt=*/*.parquet"))]
    if not files:
        return []
    rel = duckdb.sql(f"select * from read_parquet({files}, union_by_name=true)")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def test_real_2020_wide_extract_unpivots_to_one_row_per_bureau_and_list():
    rows = records(REAL / "viz-9213" / "municipales_2020_t1_antony.csv", "municipales_2020_t1")
    assert len(rows) == 176
    assert len({r["bureau_key"] for r in rows}) == 44
    assert {len([r for r in rows if r["bureau_key"] == k]) for k in {r["bureau_key"] for r in rows}} == {4}
    first = rows[0]
    assert first["bureau_key"] == "920020001"  # leading zeros the conversion lost, restored
    assert (first["dep_code"], first["commune_code"], first["bureau_code"]) == ("92", "002", "0001")
    votes: dict[str, int] = defaultdict(int)
    for r in rows:
        votes[r["bureau_key"]] += int(r["votes"])
    assert all(votes[r["bureau_key"]] == int(r["expressed"]) for r in rows)  # the lists add up


def test_real_2014_long_extract_keeps_one_row_per_list_and_names_the_round():
    rows = records(REAL / "viz-9213" / "municipales_2014_t1_antony.csv", "municipales_2014")
    assert len(rows) == 176
    assert {r["election"] for r in rows} == {"municipales_2014_t1"}
    assert rows[0]["bureau_key"] == "920020001"
    assert {r["list_number"] for r in rows} == {"2", "3", "4", "5"}


def test_original_ministere_layout_matches_the_real_extract():
    # latin-1, ';', decimal commas, header naming only the first list group.
    original = records(WIDE_2020, "municipales_2020_t1")
    converted = records(REAL / "viz-9213" / "municipales_2020_t1_antony.csv", "municipales_2020_t1")
    fields = ("bureau_key", "list_number", "nuance", "list_name", "registered", "expressed", "votes")
    antony = [tuple(r[f] for f in fields) for r in original if r["commune_code"] == "002"]
    assert antony == [tuple(r[f] for f in fields) for r in converted[:12]]
    amberieu = [r for r in original if r["dep_code"] == "01"]
    assert [r["bureau_key"] for r in amberieu] == ["010040001", "010040001"]
    assert amberieu[1]["candidate_last_name"] == "LÉGER"
    assert amberieu[1]["list_name"] == "AMBÉRIEU ÉCOLOGIE"


def test_headerless_mn14_file_is_read_with_the_documented_column_order():
    rows = records(LONG_2014, "municipales_2014")
    assert len(rows) == 8
    assert {r["election"] for r in rows} == {"municipales_2014_t1"}
    assert rows[1]["candidate_first_name"] == "François"
    assert rows[0]["bureau_key"] == "920020001"


@pytest.mark.parametrize(
    ("dep", "commune", "bureau", "key"),
    [
        ("92", "2", "1", "920020001"),
        ("1", "4", "12", "010040012"),
        ("2A", "004", "0001", "2A0040001"),
        ("ZA", "101", "3", "971010003"),
        ("75", "75056", "0101", "750560101"),
    ],
)
def test_bureau_key_is_dep2_commune3_bureau4(dep, commune, bureau, key):
    assert bureau_key(dep, commune, bureau) == key


def settings(host: str, **extra) -> ConnectionSettings:
    return ConnectionSettings("socle_opendata", host, None, extra)


@pytest.mark.integration
def test_download_is_skipped_when_the_server_says_not_modified(tmp_path):
    body = WIDE_2020.read_bytes()
    with Loopback() as server:

        def results(query, headers):
            if headers.get("if-none-match") == '"v1"':
                return Reply(304, b"")
            return Reply(200, body, {"ETag": '"v1"', "Last-Modified": "Sun, 01 Mar 2026 00:00:00 GMT"})

        server.route("/opendata/results.txt", results)
        config = settings(server.url, election_results="opendata/results.txt", election="municipales_2020_t1")
        first = opendata.ingest(config, START, END, landing_root=tmp_path)
        before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
        second = opendata.ingest(config, START.replace(month=4), END.replace(month=5), landing_root=tmp_path)
        conditional = server.hits("/opendata/results.txt")[-1].headers
    assert first.landed["election_results"] == 14
    assert not first.skipped
    assert second.skipped
    assert conditional["if-none-match"] == '"v1"'
    assert conditional["if-modified-since"] == "Sun, 01 Mar 2026 00:00:00 GMT"
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")} == before


@pytest.mark.integration
def test_changed_file_replaces_its_part_without_duplicates_and_same_content_is_skipped(tmp_path):
    versions = [WIDE_2020.read_bytes(), WIDE_2020.read_bytes(), WIDE_2020.read_bytes().rsplit(b"\r\n", 2)[0]]
    with Loopback() as server:
        served = iter(versions)
        server.route("/opendata/results.txt", lambda q, h: Reply(200, next(served)))  # no ETag at all
        config = settings(server.url, election_results={"municipales_2020_t1": "opendata/results.txt"})
        opendata.ingest(config, START, END, landing_root=tmp_path)
        again = opendata.ingest(config, START.replace(month=4), END.replace(month=5), landing_root=tmp_path)
        changed = opendata.ingest(config, START.replace(month=5), END.replace(month=6), landing_root=tmp_path)
    assert again.skipped  # same checksum as the landed part
    assert changed.landed["election_results"] == 12  # the last bureau was removed upstream
    assert len(landed(tmp_path, "election_results")) == 12
    assert len(list(tmp_path.glob("opendata/election_results/dt=*/*.parquet"))) == 1


def test_invalid_vote_count_is_quarantined_with_its_reason(tmp_path):
    text = WIDE_2020.read_bytes().replace(b";327;", b";n/a;", 1)
    path = tmp_path / "results.txt"
    path.write_bytes(text)
    config = settings("", election_results=str(path), election="municipales_2020_t1")
    result = opendata.ingest(config, START, END, landing_root=tmp_path / "landing", max_reject_ratio=0.2)
    assert result.landed["election_results"] == 13
    assert result.rejected["election_results"] == 1
    files = [str(f) for f in (tmp_path / "landing" / "_rejected").rglob("*.parquet")]
    assert duckdb.sql(f"select _reason, _fields from read_parquet({files})").fetchall() == [
        ("invalid number", "votes")
    ]


def test_insee_iris_population_keeps_codes_and_reads_decimal_commas(tmp_path):
    path = FIXTURES / "base-ic-evol-struct-pop-extrait.csv"
    result = opendata.ingest(settings("", iris_population=str(path)), START, END, landing_root=tmp_path)
    assert result.landed["iris_population"] == 3
    rows = {r["iris_code"]: r for r in landed(tmp_path, "iris_population")}
    assert rows["010040101"]["population"] == "2370.53"
    assert rows["010040101"]["commune_code"] == "01004"
    assert rows["010040102"]["population"] == "3450"
    assert rows["920020101"]["iris_name"] == "Centre"


@pytest.mark.integration
def test_real_reu_address_sample_lands_every_row_with_a_bureau_key(tmp_path):
    path = REAL / "mapvotr" / "addresses_sample.csv"
    result = opendata.ingest(settings("", reu_addresses=str(path)), START, END, landing_root=tmp_path)
    assert result.landed["reu_addresses"] == 12_335
    assert result.rejected["reu_addresses"] == 0
    files = [str(f) for f in tmp_path.glob("opendata/reu_addresses/dt=*/*.parquet")]
    stats = duckdb.sql(
        f"select count(distinct address_id), min(length(bureau_key)), max(length(bureau_key)), "
        f"count(*) filter (where bureau_key = '290390001') from read_parquet({files})"
    ).fetchall()[0]
    assert stats[0] == 12_335
    assert stats[1] == stats[2] == 9
    assert stats[3] > 0


@pytest.mark.integration
def test_a_file_already_in_the_landing_layout_passes_through_from_a_host_path(tmp_path):
    body = (
        "election,bureau_key,registered,expressed,list_number,nuance,list_name,votes\n"
        "municipales_2026_t1,920020001,1000,600,1,LDVD,A,350\n"
        "municipales_2026_t1,920020001,1000,600,2,LDVG,B,250\n"
    )
    with Loopback() as server:
        server.route("/opendata/results.csv", Reply(200, body, {"Content-Type": "text/csv"}))
        config = settings(server.url, election_results="/opendata/results.csv")
        result = opendata.ingest(config, START, END, landing_root=tmp_path)
    assert result.landed["election_results"] == 2
    rows = landed(tmp_path, "election_results")
    assert {(r["election"], r["bureau_key"], r["commune_code"], r["bureau_code"]) for r in rows} == {
        ("municipales_2026_t1", "920020001", "002", "0001")
    }
