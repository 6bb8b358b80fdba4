"""Pure helpers every connector relies on: dates, numbers, headers, validation, drift."""

from __future__ import annotations

import pytest

from socle.sources.common import (
    EntitySpec,
    RejectRatioError,
    SchemaDriftError,
    base_url,
    check_drift,
    check_reject_ratio,
    clean,
    normalise_header,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_number,
)

SPEC = EntitySpec(
    "demo",
    "things",
    columns=("id", "email", "phone", "at"),
    required=("id", "at"),
    key=("id",),
    emails=("email",),
    phones=("phone",),
    timestamps=("at",),
)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("31/10/2013", "2013-10-31T00:00:00+01:00"),
        ("31/10/2013 19h30", "2013-10-31T19:30:00+01:00"),
        ("31/10/2013 19:30", "2013-10-31T19:30:00+01:00"),
        ("31/07/2026 19h", "2026-07-31T19:00:00+02:00"),  # summer time in Paris
        ("2026-03-01T10:00:00+0000", "2026-03-01T10:00:00+00:00"),
        ("2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00+00:00"),
        ("2026-03-01 10:00", "2026-03-01T10:00:00+01:00"),
        ("  ", None),
    ],
)
def test_french_and_iso_timestamps_become_iso_with_offset(raw, iso):
    assert parse_datetime(raw) == iso


@pytest.mark.parametrize("raw", ["32/01/2026", "hier", "2026-13-01", "31/10/13"])
def test_unparseable_dates_raise(raw):
    with pytest.raises(ValueError):  # noqa: PT011 (the message is not the contract)
        parse_datetime(raw)


def test_dates_keep_only_the_day():
    assert parse_date("31/12/1980") == "1980-12-31"
    assert parse_date("1980-12-31") == "1980-12-31"


@pytest.mark.parametrize(
    ("raw", "number"),
    [("1 234,50", "1234.50"), ("1003.0", "1003"), ("-3,913795", "-3.913795"), ("0", "0"), ("", None)],
)
def test_numbers_accept_decimal_commas_and_drop_empty_decimals(raw, number):
    assert parse_number(raw) == number


def test_booleans_read_french_sheet_values():
    assert [parse_bool(v) for v in ("x", "Oui", "non", "", True, "0")] == [
        "true",
        "true",
        "false",
        None,
        "true",
        "false",
    ]
    with pytest.raises(ValueError):  # noqa: PT011
        parse_bool("peut-être")


def test_headers_lose_accents_case_and_punctuation():
    assert normalise_header("\ufeffTéléphone portable ") == "telephone_portable"
    assert normalise_header("Accepte e-mails") == "accepte_e_mails"
    assert normalise_header("Code B.Vote") == "code_b_vote"
    assert normalise_header("N°  d'ordre") == "no_d_ordre"


def test_clean_keeps_the_last_duplicate_and_nulls_bad_identifiers_without_rejecting():
    cleaned = clean(
        SPEC,
        [
            {"id": "1", "email": "A@B.fr", "at": "01/03/2026"},
            {"id": "2", "email": "not-an-email", "phone": "06 12 34 56 78", "at": "01/03/2026"},
            {"id": "1", "email": "c@d.fr", "at": "02/03/2026", "extra": "kept"},
        ],
    )
    assert cleaned.rejections == []
    assert cleaned.duplicates == 1
    assert cleaned.invalid_identifiers == 1
    by_id = {r["id"]: r for r in cleaned.records}
    assert by_id["1"]["email"] == "c@d.fr"
    assert by_id["1"]["extra"] == "kept"
    assert by_id["2"]["email"] is None
    assert by_id["2"]["phone"] == "+33612345678"


def test_drift_names_the_missing_and_the_unexpected_fields():
    with pytest.raises(
        SchemaDriftError, match=r"required field\(s\) at absent.*unexpected fields present: when"
    ):
        check_drift(SPEC, {"id", "email", "when"}, 10)
    check_drift(SPEC, {"id", "at"}, 10)
    check_drift(SPEC, set(), 0)  # nothing fetched is not drift


def test_bare_hosts_get_a_scheme():
    assert base_url("graph.facebook.com/") == "https://graph.facebook.com"
    assert base_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert base_url("http://x.test") == "http://x.test"


def test_reject_ratio_fails_above_the_threshold_but_not_on_a_lone_rejection():
    check_reject_ratio("demo/things", landed=0, rejected=1, max_ratio=0.05)  # a quiet hour's odd record
    check_reject_ratio("demo/things", landed=95, rejected=5, max_ratio=0.05)
    with pytest.raises(RejectRatioError, match=r"6 of 100 records rejected \(6\.0% > 5\.0%"):
        check_reject_ratio("demo/things", landed=94, rejected=6, max_ratio=0.05)


def test_a_lone_record_missing_a_field_is_a_rejection_not_drift():
    check_drift(SPEC, {"id"}, 1)
    assert clean(SPEC, [{"id": "1"}]).rejections[0].fields == ("at",)
