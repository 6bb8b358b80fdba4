"""The sandbox generator: deterministic, messy where people are messy, planted cases present.

Assertions use counts and the identifiers ``truth.json`` names; no record is printed.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from socle.identity import normalise_email, normalise_phone
from socle.sandbox.generator import generate
from socle.sources import inbox_files, opendata

TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, tzinfo=UTC)
CAMPAIGN_START = NOW - timedelta(days=60)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_drop(path: Path) -> list[dict[str, str]]:
    """A drop read the simple way (encoding and delimiter sniffed), header row first."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig") if raw.startswith(codecs.BOM_UTF8) else _decode(raw)
    lines = [line for line in text.splitlines() if line.strip(",; ")]
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = rows[0]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if r[: len(header)] != header]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> tuple[Path, dict, dict]:
    home = tmp_path_factory.mktemp("campaign")
    summary = generate(home, people=600, seed=7, today=TODAY)
    truth = json.loads((home / "sandbox" / "truth.json").read_text(encoding="utf-8"))
    return home, summary, truth


@pytest.fixture(scope="module")
def crm(campaign) -> dict[str, list[dict[str, str]]]:
    home, _, _ = campaign
    tables: dict[str, list[dict[str, str]]] = {"people": [], "consents": []}
    for path in sorted((home / "inbox" / "crm").glob("*.csv")):
        tables["people" if path.name.startswith("people") else "consents"] += _read_drop(path)
    return tables


def _consents_of(crm: dict, person: dict) -> list[dict[str, str]]:
    return [
        c
        for c in crm["consents"]
        if (person["email"] and normalise_email(c["email"]) == person["email"])
        or (person["phone"] and normalise_phone(c["phone"]) == person["phone"])
    ]


def test_same_seed_and_day_give_byte_identical_files(tmp_path):
    first = generate(tmp_path / "a", people=250, seed=11, today=TODAY)
    second = generate(tmp_path / "b", people=250, seed=11, today=TODAY)
    other = generate(tmp_path / "c", people=250, seed=12, today=TODAY)
    assert first == second
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    assert other != first


@pytest.mark.integration
def test_output_does_not_depend_on_the_process_hash_seed(tmp_path):
    generate(tmp_path / "here", people=250, seed=11, today=TODAY)
    script = (
        "import sys; from datetime import date; from pathlib import Path;"
        "from socle.sandbox.generator import generate;"
        "generate(Path(sys.argv[1]), people=250, seed=11, today=date(2026, 11, 29))"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / hash_seed)], env=env, check=True, timeout=120
        )
        assert _tree(tmp_path / hash_seed) == _tree(tmp_path / "here")


def test_regenerating_a_home_leaves_no_stale_drop(tmp_path):
    generate(tmp_path, people=250, seed=3, today=TODAY, plant_overdue=True)
    assert list((tmp_path / "inbox" / "dsr").glob("overdue_*.csv"))
    generate(tmp_path, people=250, seed=3, today=TODAY)
    assert not list((tmp_path / "inbox" / "dsr").glob("overdue_*.csv"))
    truth = json.loads((tmp_path / "sandbox" / "truth.json").read_text(encoding="utf-8"))
    written = {str(p.relative_to(tmp_path / "inbox")) for p in (tmp_path / "inbox").rglob("*.csv")}
    assert written == set(truth["inbox_files"])


def test_summary_is_counts_per_source_entity_without_personal_data(campaign):
    _, summary, truth = campaign
    assert set(summary) >= {
        "facebook/posts",
        "facebook/comments",
        "facebook/reactions",
        "x/tweets",
        "x/retweets",
        "events/events",
        "events/rsvps",
        "signin/attendance",
        "canvass/visits",
        "crm/people",
        "crm/consents",
        "dsr/requests",
        "opendata/election_results",
        "opendata/iris_population",
        "opendata/reu_addresses",
    }
    assert all(isinstance(v, int) and v > 0 for v in summary.values())
    assert "@" not in json.dumps(summary)
    assert set(truth["expected"]) == set(summary)


def test_marseille_geography_bureaux_iris_and_codes(campaign):
    home, _, _ = campaign
    reu = (home / "sandbox" / "opendata" / "table-adresses-reu-marseille.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(reu.splitlines()))
    bureaux = {r["code_bv"] for r in rows}
    assert 300 <= len(bureaux) <= 500
    assert all(re.fullmatch(r"(0[1-9]|1[0-6])\d{2}", b) for b in bureaux)
    assert {r["code_commune_ref"] for r in rows} == {"13055"}
    assert all(re.fullmatch(r"132(0[1-9]|1[0-6])\d{4}", r["code_iris"]) for r in rows)
    assert {r["code_postal"] for r in rows} == {f"130{n:02d}" for n in range(1, 17)}


def test_election_results_use_the_ministere_wide_2020_layout(campaign):
    home, summary, truth = campaign
    path = home / "sandbox" / "opendata" / "2020-05-18-resultats-par-niveau-burvot-t1-marseille.txt"
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # latin-1, like the Ministère's files
    lines = raw.decode("latin-1").splitlines()
    header = lines[0].split(";")
    assert header[:6] == [
        "Code du département",
        "Libellé du département",
        "Code de la commune",
        "Libellé de la commune",
        "Code B.Vote",
        "Inscrits",
    ]
    group = ["N.Pan.", "Code Nuance", "Sexe", "Nom", "Prénom", "Liste", "Voix", "% Voix/Ins", "% Voix/Exp"]
    assert header[-9:] == group
    assert header.count("Voix") == 1
    first = lines[1].split(";")
    assert first[:3] == ["13", "Bouches-du-Rhône", "055"]
    assert re.fullmatch(r"\d{4}", first[4])
    assert "," in first[7]
    assert "." not in first[7]
    widths = {len(line.split(";")) for line in lines[1:]}
    assert len(widths) > 1
    assert all((w - 19) % 9 == 0 for w in widths)
    records = [r for r in opendata.election_rows(path, truth["campaign"]["election"]) if isinstance(r, dict)]
    assert len(records) == summary["opendata/election_results"]
    assert all(re.fullmatch(r"13055(0[1-9]|1[0-6])\d{2}", r["bureau_key"]) for r in records)
    for bureau in {r["bureau_key"] for r in records[:50]}:
        rows = [r for r in records if r["bureau_key"] == bureau]
        assert sum(int(r["votes"]) for r in rows) == int(rows[0]["expressed"])


def test_iris_population_is_an_insee_style_table(campaign):
    home, summary, _ = campaign
    text = (home / "sandbox" / "opendata" / "base-ic-evol-struct-pop-2017-marseille.csv").read_text(
        encoding="utf-8"
    )
    header, *rows = [line.split(";") for line in text.splitlines()]
    assert header[:2] == ["IRIS", "REG"]
    assert "COM" in header
    assert "P17_POP" in header
    assert len(rows) == summary["opendata/iris_population"]
    assert all(r[header.index("IRIS")].startswith(r[header.index("COM")]) for r in rows)


def test_csv_drops_come_in_the_shapes_volunteers_produce(campaign):
    home, _, _ = campaign
    drops = sorted((home / "inbox" / "signin").glob("*.csv")) + sorted(
        (home / "inbox" / "canvass").glob("*.csv")
    )
    raws = [p.read_bytes() for p in drops]
    assert any(r.startswith(codecs.BOM_UTF8) for r in raws)
    assert any(not r.startswith(codecs.BOM_UTF8) and _is_utf8(r) for r in raws)
    assert any(not _is_utf8(r) for r in raws)  # cp1252
    texts = [_decode(r.removeprefix(codecs.BOM_UTF8)) for r in raws]
    first_lines = [t.splitlines()[0] for t in texts]
    assert any(";" in line for line in first_lines)
    assert any(";" not in line for line in first_lines)
    assert any(re.search(r"\b\d{2}/\d{2}/\d{4} \d{2}h\d{2}\b", t) for t in texts)
    assert any(re.search(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2}\b", t) for t in texts)
    assert any(re.search(r"\b0[67] \d\d \d\d \d\d \d\d\b", t) for t in texts)
    assert any(re.search(r"\+33 [67] \d\d", t) for t in texts)
    assert any(re.search(r"\b0033[67]\d{8}\b", t) for t in texts)
    assert any("\r\n\r\n" in t or "\n\n" in t.replace("\r\n", "\n").strip("\n") for t in texts)  # blank lines
    assert any(t.count(t.splitlines()[0]) > 1 for t in texts)  # header pasted again
    assert any(line.endswith(";;") for line in first_lines)  # trailing empty columns
    headers = {h.strip().lower() for line in first_lines for h in re.split("[;,]", line)}
    assert {"e-mail", "courriel", "email"} <= headers
    assert {"bénévole", "email_benevole", "benevole"} <= headers
    assert {"événement", "réunion", "event_id", "evenement"} <= headers


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_all_generated_phones_are_valid_french_mobiles(crm):
    phones = [p["phone"] for p in crm["people"] if p["phone"]]
    assert phones
    assert all((normalise_phone(p) or "").startswith(("+336", "+337")) for p in phones)


def test_people_without_any_consent_are_planted(campaign, crm):
    _, _, truth = campaign
    planted = truth["planted"]["no_consent"]
    assert len(planted) >= 3
    for person in planted:
        assert not _consents_of(crm, person)
        assert any(p["crm_id"] == person["crm_id"] for p in crm["people"])


def test_withdrawn_sms_consent_keeps_the_email_grant(campaign, crm):
    _, _, truth = campaign
    events = _consents_of(crm, truth["planted"]["withdrawn_sms"])
    sms = sorted((e["occurred_at"], e["status"]) for e in events if e["purpose"] == "sms")
    assert [s for _, s in sms] == ["granted", "withdrawn"]
    assert any(e["purpose"] == "email" and e["status"] == "granted" for e in events)
    assert not any(e["purpose"] == "email" and e["status"] == "withdrawn" for e in events)


def test_a_grant_without_wording_version_is_planted(campaign, crm):
    _, _, truth = campaign
    events = _consents_of(crm, truth["planted"]["grant_without_wording"])
    email = [e for e in events if e["purpose"] == "email"]
    assert email
    assert email[0]["status"] == "granted"
    assert email[0]["wording_version"] == ""
    others = [c for c in crm["consents"] if c["status"] == "granted" and not c["wording_version"]]
    assert len(others) == 1  # the only invalid grant


def test_minors_are_planted_some_15_to_17_with_consent(campaign, crm):
    _, _, truth = campaign
    minors = truth["planted"]["minors"]
    people = {p["crm_id"]: p for p in crm["people"]}
    ages = [m["age"] for m in minors]
    assert all(a < 18 for a in ages)
    assert any(a < 15 for a in ages)
    with_consent = [m for m in minors if 15 <= m["age"] < 18 and _consents_of(crm, m)]
    assert len(with_consent) >= 3
    for minor in minors:
        born = people[minor["crm_id"]]["birth_date"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", born)
        assert (TODAY - date.fromisoformat(born)).days < 18 * 365.25


def test_erasure_request_names_a_person_present_in_several_sources(campaign, crm):
    home, _, truth = campaign
    erasure = truth["planted"]["erasure"]
    requests = _read_drop(home / "inbox" / erasure["file"])
    assert [r["type"] for r in requests if normalise_email(r["email"]) == erasure["email"]] == ["erasure"]
    assert {"crm/people", "crm/consents", "dsr/requests"} <= set(erasure["sources"])
    assert len(set(erasure["sources"]) - {"crm/people", "crm/consents", "dsr/requests"}) >= 1
    fb = json.loads((home / "sandbox" / "api" / "facebook.json").read_text(encoding="utf-8"))
    reacted = any(r["id"] == erasure["facebook_id"] for rs in fb["reactions"].values() for r in rs)
    assert reacted == ("facebook/reactions" in erasure["sources"])
    social = [c for c in _consents_of(crm, erasure) if c["purpose"] == "social_matching"]
    assert [c["status"] for c in social] == ["granted"]


def test_objection_and_overdue_requests(campaign, tmp_path):
    home, _, truth = campaign
    objection = truth["planted"]["objection"]
    requests = _read_drop(home / "inbox" / objection["file"])
    assert any(
        r["type"] == "objection" and normalise_phone(r["phone"]) == objection["phone"] for r in requests
    )
    assert truth["planted"]["overdue"]["file"] is None  # the default demo passes rule 8
    assert not list((home / "inbox" / "dsr").glob("overdue_*.csv"))
    generate(tmp_path, people=250, seed=7, today=TODAY, plant_overdue=True)
    planted = json.loads((tmp_path / "sandbox" / "truth.json").read_text(encoding="utf-8"))["planted"][
        "overdue"
    ]
    (overdue,) = _read_drop(tmp_path / "inbox" / planted["file"])
    received = datetime.fromisoformat(overdue["received_at"])
    assert NOW - received > timedelta(days=31)
    assert normalise_email(overdue["email"]) == planted["email"], (
        "the overdue request names the planted person"
    )


def test_retention_case_has_no_activity_for_years(campaign, crm):
    home, _, truth = campaign
    retention = truth["planted"]["retention"]
    (row,) = [p for p in crm["people"] if p["crm_id"] == retention["crm_id"]]
    assert NOW - datetime.fromisoformat(row["updated_at"]) > timedelta(days=3 * 365 + 31)
    assert all(
        NOW - datetime.fromisoformat(c["occurred_at"]) > timedelta(days=3 * 365)
        for c in _consents_of(crm, retention)
    )
    activity = [
        r
        for kind in ("signin", "canvass")
        for p in (home / "inbox" / kind).glob("*.csv")
        for r in _read_drop(p)
    ]
    events = json.loads((home / "sandbox" / "api" / "events.json").read_text(encoding="utf-8"))
    activity += [r["attributes"] for r in events["rsvps"]]
    seen = sum(
        normalise_email(v) == retention["email"] for r in activity for v in r.values() if isinstance(v, str)
    )
    assert seen == 0


def test_duplicates_differ_only_in_how_they_are_written(campaign, crm):
    _, _, truth = campaign
    duplicates = truth["planted"]["duplicates"]
    assert len(duplicates) >= 5
    people = {p["crm_id"]: p for p in crm["people"]}
    for dup in duplicates:
        first, second = (people[c] for c in dup["crm_ids"])
        written_differently = first["email"] != second["email"] and first["phone"] != second["phone"]
        same_email = normalise_email(first["email"]) == normalise_email(second["email"]) == dup["email"]
        same_phone = normalise_phone(first["phone"]) == normalise_phone(second["phone"]) == dup["phone"]
        assert (written_differently, same_email, same_phone) == (True, True, True), dup["crm_ids"]


def test_hostile_facebook_accounts_comment_a_lot_in_bursts(campaign):
    home, _, truth = campaign
    fb = json.loads((home / "sandbox" / "api" / "facebook.json").read_text(encoding="utf-8"))
    comments = [c for cs in fb["comments"].values() for c in cs]
    per_author = Counter(c["from"]["id"] for c in comments)
    hostile = truth["planted"]["hostile_accounts"]["facebook"]
    typical = sorted(per_author.values())[len(per_author) // 2]
    for account in hostile:
        mine = sorted(
            datetime.fromisoformat(c["created_time"]) for c in comments if c["from"]["id"] == account
        )
        assert len(mine) >= 5 * typical
        bursts = [a for a, b in zip(mine, mine[4:], strict=False) if b - a <= timedelta(minutes=10)]
        assert bursts, "five comments within ten minutes"
    lexicon = re.compile(
        r"incapables|escrocs|menteurs|honte|dégagez|vendus|clowns|pourris|minables|traîtres", re.I
    )
    hostile_texts = [c["message"] for c in comments if c["from"]["id"] in hostile]
    assert all(lexicon.search(t) for t in hostile_texts)
    assert truth["planted"]["hostile_accounts"]["x"]


def test_engaged_activist_is_everywhere_in_one_neighbourhood(campaign, crm):
    home, _, truth = campaign
    activist = truth["planted"]["activist"]
    (row,) = [p for p in crm["people"] if p["crm_id"] == activist["crm_id"]]
    assert row["is_member"] == "true"
    assert row["leads_cell"] == "false"
    assert row["bureau_code"] == activist["bureau_code"]
    assert row["iris_code"] == activist["iris_code"]
    assert row["facebook_id"] == activist["facebook_id"], "the activist declared their Facebook account"
    granted = {c["purpose"] for c in _consents_of(crm, activist) if c["status"] == "granted"}
    assert {"social_matching", "profiling", "email"} <= granted
    assert activist["attendances"] >= 8
    assert activist["volunteer_shifts"] >= 3
    assert activist["signins"] >= 2
    assert activist["canvass_doors"] >= 30
    assert activist["facebook_reactions"] >= 20
    canvass = [r for p in (home / "inbox" / "canvass").glob("*.csv") for r in _read_drop(p)]
    mine = [
        r
        for r in canvass
        if activist["email"] in {normalise_email(v) for v in r.values() if "@" in (v or "")}
    ]
    assert len(mine) == activist["canvass_doors"]
    in_home_bureau = [r for r in mine if activist["bureau_code"] in r.values()]
    assert len(in_home_bureau) >= len(mine) // 3


def test_activity_lies_in_the_sixty_days_before_today(campaign):
    home, _, _ = campaign
    api = home / "sandbox" / "api"
    fb = json.loads((api / "facebook.json").read_text(encoding="utf-8"))
    x = json.loads((api / "x.json").read_text(encoding="utf-8"))
    events = json.loads((api / "events.json").read_text(encoding="utf-8"))
    stamps = [p["created_time"] for p in fb["posts"]]
    stamps += [c["created_time"] for cs in fb["comments"].values() for c in cs]
    stamps += [t["created_at"] for t in x["tweets"] + x["mentions"]]
    stamps += [r["attributes"]["updated_at"] for r in events["rsvps"] + events["events"]]
    moments = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    assert all(m < NOW for m in moments)
    assert all(m >= CAMPAIGN_START - timedelta(days=5) for m in moments)
    assert min(moments) < CAMPAIGN_START + timedelta(days=3)
    assert max(moments) > NOW - timedelta(days=3)


@pytest.mark.integration
def test_inbox_connector_lands_and_rejects_what_truth_expects(campaign, tmp_path, monkeypatch):
    home, _, truth = campaign
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    inbox = tmp_path / "inbox"
    for name in truth["inbox_files"]:
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes((home / "inbox" / name).read_bytes())
    result = inbox_files.ingest(inbox, NOW - timedelta(days=90), NOW, landing_root=tmp_path / "landing")
    for entity in ("signin/attendance", "canvass/visits", "crm/people", "crm/consents", "dsr/requests"):
        expected = truth["expected"][entity]
        assert result.landed[entity] == expected["landed"], entity
        assert result.rejected[entity] == expected["rejected"], entity
        assert result.invalid_identifiers.get(entity, 0) == expected["invalid_identifiers"], entity
    planted = Counter(r["reason"] for r in truth["bad_rows"])
    assert set(planted) == {"unparseable date", "missing required field", "no valid identifier"}
    quarantined = Counter()
    for part in (tmp_path / "landing" / "_rejected").rglob("*.parquet"):
        for (reason,) in duckdb.sql(f"select _reason from read_parquet('{part}')").fetchall():
            quarantined[reason] += 1
    assert quarantined == planted
