"""How volunteers write files: encodings, delimiters, dates, phones and e-mails as typed.

Each drop picks a ``Style``; the writer returns the physical line number of every data row
(what the inbox connector reports as ``row_number``), so planted bad rows can be named.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Style:
    name: str
    encoding: str  # utf-8, utf-8-sig (BOM) or cp1252
    delimiter: str
    headers: tuple[str, ...]
    newline: str = "\r\n"
    datetime_format: str = "%d/%m/%Y %Hh%M"
    date_format: str = "%d/%m/%Y"
    phone_format: str = "spaced"
    yes_no: tuple[str, str] = ("oui", "non")
    trailing_empty: int = 0
    blank_lines: bool = False
    repeat_header: bool = False
    email_case: str = "as_typed"  # as_typed | upper | spaced


# How the volunteers' sheets come, one style per file in turn (docs/contracts.md §3).
SIGNIN_STYLES = (
    Style(
        "bom-semicolon",
        "utf-8-sig",
        ";",
        (
            "Événement",
            "Date",
            "Nom",
            "Prénom",
            "E-mail",
            "Téléphone",
            "Code postal",
            "Accepte emails",
            "Accepte SMS",
        ),
    ),
    Style(
        "cp1252-trailing",
        "cp1252",
        ";",
        (
            "Réunion",
            "Date heure",
            "NOM",
            "Prénom",
            "Courriel",
            "Portable",
            "CP",
            "accepte_emails",
            "accepte_sms",
        ),
        phone_format="intl_spaced",
        yes_no=("x", ""),
        trailing_empty=2,
        blank_lines=True,
        email_case="upper",
    ),
    Style(
        "utf8-comma-repeated-header",
        "utf-8",
        ",",
        ("event_id", "date", "nom", "prenom", "email", "tel", "cp", "optin_email", "optin_sms"),
        newline="\n",
        datetime_format="%Y-%m-%d %H:%M",
        phone_format="double_zero",
        repeat_header=True,
        email_case="spaced",
    ),
    Style(
        "bom-comma-colon-time",
        "utf-8-sig",
        ",",
        (
            "Evenement",
            "Date_heure",
            "Nom",
            "Prenom",
            "Courriel",
            "Telephone",
            "Code_postal",
            "Accepte_emails",
            "Accepte_sms",
        ),
        datetime_format="%d/%m/%Y %H:%M",
        phone_format="dotted",
        yes_no=("Oui", "Non"),
    ),
)
CANVASS_STYLES = (
    Style(
        "bom-semicolon",
        "utf-8-sig",
        ";",
        (
            "Session",
            "Date",
            "Bénévole",
            "Bureau de vote",
            "Adresse",
            "Porte ouverte",
            "Résultat",
            "Email",
            "Téléphone",
            "Accepte contact",
        ),
    ),
    Style(
        "cp1252-trailing",
        "cp1252",
        ";",
        (
            "session",
            "date",
            "email_benevole",
            "bureau",
            "adresse",
            "porte_ouverte",
            "resultat",
            "e-mail",
            "tel",
            "accepte_contact",
        ),
        phone_format="intl_spaced",
        trailing_empty=1,
        blank_lines=True,
    ),
    Style(
        "utf8-comma-repeated-header",
        "utf-8",
        ",",
        (
            "session",
            "date",
            "benevole",
            "bureau_de_vote",
            "adresse",
            "porte_ouverte",
            "resultat",
            "email",
            "telephone",
            "accepte_contact",
        ),
        newline="\n",
        date_format="%Y-%m-%d",
        phone_format="double_zero",
        yes_no=("OUI", "NON"),
        repeat_header=True,
    ),
)


def format_phone(e164: str, style: str) -> str:
    """A French E.164 number (``+33612345678``) the way a person writes it."""
    national = "0" + e164[3:]
    pairs = " ".join(national[i : i + 2] for i in range(0, 10, 2))
    if style == "spaced":
        return pairs
    if style == "dotted":
        return pairs.replace(" ", ".")
    if style == "plain":
        return national
    if style == "intl_spaced":
        return f"+33 {national[1]} " + " ".join(national[i : i + 2] for i in range(2, 10, 2))
    if style == "double_zero":
        return "0033" + e164[3:]
    return e164


def format_email(email: str, style: str, rng: random.Random) -> str:
    """The same address as typed on paper or in a form: case and stray spaces vary."""
    if style == "upper":
        return email.upper()
    if style == "spaced":
        return f" {email} "
    if style == "as_typed" and rng.random() < 0.15:
        local, domain = email.split("@", 1)
        return local[:1].upper() + local[1:] + "@" + domain.capitalize()
    return email


def write_drop(path: Path, style: Style, rows: list[list[str]], rng: random.Random) -> list[int]:
    """Write ``rows`` (aligned with ``style.headers``) as a volunteer would; returns line numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=style.delimiter, lineterminator=style.newline)
    pad = [""] * style.trailing_empty
    writer.writerow([*style.headers, *pad])
    line = 1
    numbers: list[int] = []
    repeat_at = len(rows) // 2 if style.repeat_header and len(rows) > 4 else -1
    for index, row in enumerate(rows):
        if index == repeat_at:  # the header pasted again with the second half of the sheet
            writer.writerow([*style.headers, *pad])
            line += 1
        if style.blank_lines and rng.random() < 0.04:
            buffer.write(style.newline)
            line += 1
        writer.writerow([*row, *pad])
        line += 1
        numbers.append(line)
    if style.blank_lines:
        buffer.write(style.newline * 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(style.encoding, errors="replace"))
    return numbers
