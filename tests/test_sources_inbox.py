"""CSV drops as volunteers really send them: encodings, delimiters, French headers and dates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from socle.sources import inbox_files
from socle.sources.inbox_files import InboxError

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, 1, tzinfo=UTC)

SIGNIN_CP1252 = (
    "Événement;Date;Nom;Prénom;Courriel;Téléphone;CP;Accepte e-mails;Accepte SMS;;\r\n"
    "\r\n"
    "ev-1;31/10/2013 19h30;Dupré;Hélène; Helene.Dupre@Example.FR ;06 12 34 56 78;1000;x;non;;\r\n"
    ";;;;;;;;;;\r\n"
    "EVENEMENT;date;nom;prenom;courriel;telephone;cp;accepte e-mails;accepte sms;;\r\n"
    "ev-1;31/10/2013 19:45;Martin;Léo;leo@example.fr;;75011;oui;oui;;\r\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def rows(root: Path, source: str, entity: str, rejected: bool = False) -> list[dict]:
    base = root / "_rejected" if rejected else root
    files = sorted((base / source / entity).glob("dt=*/*.parquet"))
    if not files:
        return []
    sources = [str(f) for f in files]
    rel = duckdb.sql(f"select * from read_parquet({sources}, union_by_name=true)")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def run(inbox: Path, landing: Path, **kw):
    return inbox_files.ingest(inbox, START, END, landing_root=landing, **kw)


def test_cp1252_semicolon_sheet_with_french_headers_lands_normalised_rows(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    write(inbox / "signin" / "reunion-antony.csv", SIGNIN_CP1252, "cp1252")
    result = run(inbox, landing)
    assert result.landed == {"signin/attendance": 2}
    assert result.rejected == {"signin/attendance": 0}
    landed = sorted(rows(landing, "signin", "attendance"), key=lambda r: int(r["row_number"]))
    first = landed[0]
    assert first["sheet"] == "reunion-antony.csv"
    assert first["row_number"] == "3"  # the spreadsheet line, blank line included
    assert first["signed_at"] == "2013-10-31T19:30:00+01:00"
    assert first["email"] == "helene.dupre@example.fr"
    assert first["phone"] == "+33612345678"
    assert first["postal_code"] == "01000"  # the leading zero a spreadsheet dropped
    assert (first["optin_email"], first["optin_sms"]) == ("true", "false")
    assert first["last_name"] == "Dupré"  # cp1252 decoded, not mojibake
    assert landed[1]["phone"] is None
    assert not any(k.startswith("column_") for k in first)  # trailing empty columns dropped
    assert not (inbox / "signin" / "reunion-antony.csv").exists()
    assert (inbox / ".done" / "signin" / "reunion-antony.csv").exists()


def test_utf8_bom_comma_file_with_iso_dates_is_read(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    text = "\ufeffReunion,Date heure,E-mail,Tel\nev-2,2026-02-28 18:00,a@b.fr,+33 6 12 34 56 78\n"
    write(inbox / "signin" / "feuille.csv", text)
    run(inbox, landing)
    (row,) = rows(landing, "signin", "attendance")
    assert row["event_id"] == "ev-2"
    assert row["signed_at"] == "2026-02-28T18:00:00+01:00"
    assert row["phone"] == "+33612345678"


def test_bad_rows_are_quarantined_with_reason_and_field_names(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    text = (
        "evenement;date;email;telephone;accepte_sms\n"
        "ev-1;01/03/2026 10h00;ok@example.fr;;oui\n"
        "ev-1;;nodate@example.fr;;oui\n"
        "ev-1;32/13/2026;baddate@example.fr;;oui\n"
        "ev-1;01/03/2026;;06 00;oui\n"
        "ev-1;01/03/2026;other@example.fr;12;peut-etre\n"
        "ev-1;01/03/2026;bad-email;0612345678;oui\n"
    )
    write(inbox / "signin" / "s.csv", text)
    result = run(inbox, landing, max_reject_ratio=0.9)
    assert result.landed["signin/attendance"] == 2
    assert result.rejected["signin/attendance"] == 4
    assert result.invalid_identifiers["signin/attendance"] == 3  # "06 00", "12", "bad-email"
    reasons = sorted(
        (r["_reason"], r["_fields"]) for r in rows(landing, "signin", "attendance", rejected=True)
    )
    assert reasons == [
        ("invalid boolean", "optin_sms"),
        ("missing required field", "signed_at"),
        ("no valid identifier", "email,phone"),
        ("unparseable date", "signed_at"),
    ]
    kept = {r["row_number"]: r for r in rows(landing, "signin", "attendance")}
    assert kept["7"]["email"] is None
    assert kept["7"]["phone"] == "+33612345678"


def test_too_many_bad_rows_leave_the_file_in_the_inbox_and_fail_with_counts(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    good = write(inbox / "signin" / "a-good.csv", "date;email\n01/03/2026;a@example.fr\n")
    bad_rows = "hier;b@example.fr\n;c@example.fr\n"
    bad = write(inbox / "signin" / "b-bad.csv", "date;email\n01/03/2026;a@example.fr\n" + bad_rows)
    with pytest.raises(InboxError) as caught:
        run(inbox, landing)
    message = str(caught.value)
    assert "signin/b-bad.csv" in message
    assert "2 of 3" in message
    assert "b@example.fr" not in message
    assert bad.exists()
    assert not good.exists()  # the good file was still landed and moved
    assert [r["sheet"] for r in rows(landing, "signin", "attendance")] == ["a-good.csv"]
    assert len(rows(landing, "signin", "attendance", rejected=True)) == 2


def test_renamed_required_column_fails_loudly_naming_both_headers(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    path = write(inbox / "canvass" / "porte-a-porte.csv", "session;horodatage;bureau\ns1;01/03/2026;0001\n")
    with pytest.raises(InboxError) as caught:
        run(inbox, landing)
    assert "session_date" in str(caught.value)
    assert "horodatage" in str(caught.value)
    assert path.exists()
    assert rows(landing, "canvass", "visits") == []


def test_redropping_the_same_file_replaces_its_rows_even_on_another_day(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    write(inbox / "signin" / "s.csv", "date;email\n01/03/2026;a@example.fr\n02/03/2026;b@example.fr\n")
    run(inbox, landing)
    write(inbox / "signin" / "s.csv", "date;email\n01/03/2026;a@example.fr\n")  # corrected sheet
    inbox_files.ingest(
        inbox, datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC), landing_root=landing
    )
    assert len(rows(landing, "signin", "attendance")) == 1
    assert len(list((landing / "signin" / "attendance").glob("dt=*/*.parquet"))) == 1


def test_rerun_of_the_same_interval_changes_nothing(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    write(inbox / "signin" / "s.csv", "date;email\n01/03/2026;a@example.fr\n")
    run(inbox, landing)
    before = {p: p.read_bytes() for p in landing.rglob("*.parquet")}
    result = run(inbox, landing)
    assert result.landed == {}
    assert {p: p.read_bytes() for p in landing.rglob("*.parquet")} == before


def test_big_file_is_streamed_in_chunks_into_one_part(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    lines = "".join(f"s{i % 3};01/03/2026;0001;{i} rue X;oui;sympathisant\n" for i in range(25))
    write(inbox / "canvass" / "big.csv", "session;date;bureau;adresse;porte_ouverte;resultat\n" + lines)
    result = run(inbox, landing, chunk_rows=4)
    assert result.landed["canvass/visits"] == 25
    assert len(list(landing.glob("canvass/visits/dt=*/*.parquet"))) == 1
    assert {r["bureau_code"] for r in rows(landing, "canvass", "visits")} == {"0001"}


def test_crm_people_consents_and_requests_are_routed_and_typed(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    write(
        inbox / "crm" / "people_2026-03.csv",
        "crm_id,email,phone,birth_date,is_member,support_level,commune_code,updated_at,newsletter_segment\n"
        "p1,A@Example.fr,,31/12/1980,true,2,92002,2026-03-01T10:00:00+01:00,vip\n"
        "p2,b@example.fr,,1999-01-02,false,,1004,01/03/2026 11:00,\n",
    )
    write(
        inbox / "crm" / "consents_2026-03.csv",
        "consent_id;email;purpose;status;lawful_basis;occurred_at\n"
        "c1;a@example.fr;sms;granted;consent;01/03/2026 10:00\n"
        "c2;a@example.fr;telepathy;granted;consent;01/03/2026 10:00\n",
    )
    write(
        inbox / "dsr" / "requests.csv",
        "request_id,type,email,received_at\nr1,Erasure,a@example.fr,2026-03-01\n",
    )
    result = run(inbox, landing, max_reject_ratio=0.5)
    assert result.landed == {"crm/people": 2, "crm/consents": 1, "dsr/requests": 1}
    people = {r["crm_id"]: r for r in rows(landing, "crm", "people")}
    assert people["p1"]["birth_date"] == "1980-12-31"
    assert people["p1"]["email"] == "a@example.fr"
    assert people["p1"]["newsletter_segment"] == "vip"  # new column kept as an extra
    assert people["p2"]["commune_code"] == "01004"
    assert people["p2"]["updated_at"] == "2026-03-01T11:00:00+01:00"
    assert people["p2"]["support_level"] is None
    (rejected,) = rows(landing, "crm", "consents", rejected=True)
    assert (rejected["_reason"], rejected["_fields"]) == ("invalid value", "purpose")
    (request,) = rows(landing, "dsr", "requests")
    assert request["type"] == "erasure"
    assert request["received_at"] == "2026-03-01T00:00:00+01:00"


def test_unknown_files_are_ignored_and_counted_not_moved(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    stray = write(inbox / "crm" / "notes.csv", "a,b\n1,2\n")
    result = run(inbox, landing)
    assert result.details["files_ignored"] == 1
    assert stray.exists()


def test_sheet_without_header_line_fails_without_echoing_its_first_row(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    path = write(
        inbox / "signin" / "sans-entete.csv", "ev-1;01/03/2026 19h30;Dupré;jeanne.dupre@example.fr\n"
    )
    with pytest.raises(InboxError) as caught:
        run(inbox, landing)
    message = str(caught.value)
    assert "signed_at" in message
    assert "looks like data" in message
    assert "dupre" not in message.lower()
    assert path.exists()


def test_a_single_bad_row_is_quarantined_without_failing_a_small_sheet(tmp_path):
    inbox, landing = tmp_path / "inbox", tmp_path / "landing"
    write(inbox / "signin" / "petite.csv", "date;email\n01/03/2026;a@example.fr\nhier;b@example.fr\n")
    result = run(inbox, landing)
    assert (result.landed["signin/attendance"], result.rejected["signin/attendance"]) == (1, 1)
    assert (inbox / ".done" / "signin" / "petite.csv").exists()
