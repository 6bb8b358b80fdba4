"""A deterministic French municipal campaign (Marseille): the outside world Socle ingests.

``generate(home)`` writes, for one seed and one ``today``, byte-identical files:

- ``<home>/sandbox/config.json``: the fake services' identifiers and tokens;
- ``<home>/sandbox/api/{facebook,x,events}.json``: what the APIs serve (``server.py``);
- ``<home>/sandbox/opendata/``: Ministère results (wide 2020 layout, latin-1), INSEE IRIS
  population, REU address table;
- ``<home>/inbox/{signin,canvass,crm,dsr}/``: the volunteers' and the CRM's CSV drops, in
  the messy shapes people produce;
- ``<home>/sandbox/truth.json``: the planted cases and the counts a correct connector lands
  and rejects. It names people (it *is* the outside world): tests read it, nobody prints it.

The campaign's activity spans the 60 days before ``today`` (UTC midnight); nothing is dated
at or after that midnight, except events planned for the coming days.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from socle.sandbox import content, opendata_files, social
from socle.sandbox.dice import Dice
from socle.sandbox.geography import CITY, Address, City, build_city
from socle.sandbox.messy import (
    CANVASS_STYLES,
    PARIS,
    SIGNIN_STYLES,
    Style,
    format_email,
    format_phone,
    write_drop,
)
from socle.sandbox.social import FACEBOOK_PAGE_ID, FACEBOOK_VERSION, X_USER_ID, X_USERNAME

CAMPAIGN_DAYS = 60
TOKENS = {  # fixed sandbox credentials: they open nothing but this local server
    "facebook": "sandbox-facebook-page-token",
    "x": "sandbox-x-bearer-token",
    "events": "sandbox-events-api-token",
}
ELECTION = "municipales_2020_t1"
OPENDATA_FILES = {
    "election_results": "2020-05-18-resultats-par-niveau-burvot-t1-marseille.txt",
    "iris_population": "base-ic-evol-struct-pop-2017-marseille.csv",
    "reu_addresses": "table-adresses-reu-marseille.csv",
}
EMAIL_DOMAINS = ("gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr", "yahoo.fr", "sfr.fr")
WORDING = {"web_form": "web-2026-03", "petition": "petition-2026-v2", "membership": "adhesion-2025-v1"}
EVENT_KINDS = {"public_meeting": 25, "rally": 8, "door_to_door": 37, "leafleting": 18, "phone_bank": 12}
VOLUNTEER_KINDS = ("door_to_door", "leafleting", "phone_bank")
MOBILE_PREFIXES = ("60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78", "79")


@dataclass(eq=False)  # a person is themselves: identity, not field equality
class Person:
    pid: int
    first_name: str
    last_name: str
    email: str | None  # normalised
    phone: str | None  # E.164
    birth_date: date
    address: Address
    origin: str  # crm | signin | rsvp | canvass: where the campaign first got their details
    source: str  # web_form | petition | membership | meeting
    is_member: bool
    weight: float  # how active they are
    created_at: datetime
    updated_at: datetime
    crm_id: str | None = None
    leads_cell: bool = False
    facebook_id: str | None = None
    x_user_id: str | None = None
    x_handle: str | None = None
    support_level: str = ""
    planted: set[str] = field(default_factory=set)


@dataclass
class Drops:
    """Expected landing outcome of the CSV drops, accumulated file by file."""

    files: list[str] = field(default_factory=list)
    rows: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    invalid_identifiers: Counter = field(default_factory=Counter)
    bad_rows: list[dict[str, Any]] = field(default_factory=list)


def generate(
    home: Path,
    *,
    people: int = 3000,
    seed: int = 2026,
    today: date | None = None,
    plant_overdue: bool = False,
) -> dict[str, int]:
    """Write a campaign under ``home``; returns counts per source/entity (no personal data).

    At least 200 people are generated: the planted cases need a crowd to hide in. Drops a
    previous generation wrote are removed first; other files in the inbox are left alone.
    """
    today = today or datetime.now(UTC).date()
    home = Path(home)
    _clear_previous(home)
    campaign = _Campaign(home, max(people, 200), seed, today, plant_overdue)
    return campaign.run()


def _clear_previous(home: Path) -> None:
    """Remove what an earlier generation wrote, so a new one leaves no stale drop behind."""
    sandbox = home / "sandbox"
    truth = sandbox / "truth.json"
    if truth.exists():
        for name in json.loads(truth.read_text(encoding="utf-8")).get("inbox_files", []):
            (home / "inbox" / name).unlink(missing_ok=True)
    shutil.rmtree(sandbox, ignore_errors=True)


def _iso(moment: datetime) -> str:
    return moment.astimezone(PARIS).isoformat(timespec="seconds")


def _dump(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")


class _Campaign:
    def __init__(self, home: Path, people: int, seed: int, today: date, plant_overdue: bool) -> None:
        self.home = home
        self.n_people = people
        self.seed = seed
        self.today = today
        self.plant_overdue = plant_overdue
        self.rng = random.Random(seed)
        self.fake = Faker("fr_FR")
        self.fake.seed_instance(seed)
        self.now = datetime.combine(today, time(0), UTC)
        self.start = self.now - timedelta(days=CAMPAIGN_DAYS)
        self.sandbox = home / "sandbox"
        self.inbox = home / "inbox"
        self.drops = Drops()
        self.truth: dict[str, Any] = {}
        self.dice = Dice(self.rng, self.start, self.now)
        self.city: City = build_city(self.rng, self.fake)
        self.persons: list[Person] = []
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self._plantable: dict[tuple, list[Person]] = {}

    # ------------------------------------------------------------ helpers

    def new_email(self, first: str, last: str) -> str:
        base = f"{content.ascii_name(first)}.{content.ascii_name(last)}"
        pattern = self.rng.random()
        if pattern < 0.2:
            base = f"{content.ascii_name(first)[:1]}{content.ascii_name(last)}"
        elif pattern < 0.35:
            base = f"{base}{self.rng.randint(1, 99)}"
        email = f"{base}@{self.rng.choice(EMAIL_DOMAINS)}"
        while email in self.emails:
            email = f"{base}{self.rng.randint(100, 9999)}@{self.rng.choice(EMAIL_DOMAINS)}"
        self.emails.add(email)
        return email

    def new_phone(self) -> str:
        """A French mobile in the ranges ``phonenumbers`` accepts as valid (06 and 073-079)."""
        while True:
            prefix = self.rng.choice(MOBILE_PREFIXES)
            number = f"+33{prefix}{self.rng.randrange(10 ** (9 - len(prefix))):0{9 - len(prefix)}d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    # ------------------------------------------------------------ run

    def run(self) -> dict[str, int]:
        self.make_people()
        self.plant_people()
        self.make_events()
        self.make_signin_sheets()
        self.make_canvass_sheets()
        self.make_crm()
        self.make_dsr()
        self.make_social()
        self.make_opendata()
        return self.finish()

    # ------------------------------------------------------------ people

    def make_people(self) -> None:
        origins = ("crm", "signin", "rsvp", "canvass")
        for pid in range(self.n_people):
            origin = self.rng.choices(origins, weights=(70, 10, 12, 8))[0]
            sex = self.rng.random() < 0.5
            first = self.fake.first_name_female() if sex else self.fake.first_name_male()
            last = self.fake.last_name()
            has_email = self.rng.random() < 0.92
            has_phone = self.rng.random() < (0.85 if has_email else 1.0)
            is_member = origin == "crm" and self.rng.random() < 0.13
            age = self.rng.choices(
                (self.rng.randint(18, 29), self.rng.randint(30, 64), self.rng.randint(65, 90)), (25, 55, 20)
            )[0]
            birth = self.today - timedelta(days=int(age * 365.25) + self.rng.randint(1, 360))
            source = "membership" if is_member else {"crm": "", "signin": "meeting"}.get(origin, "web_form")
            if origin == "crm" and not is_member:
                source = self.rng.choices(("web_form", "petition"), (60, 40))[0]
            created = (
                self.dice.between(self.now - timedelta(days=6 * 365), self.start)
                if is_member
                else self.dice.between(self.start - timedelta(days=300), self.now - timedelta(days=1))
                if self.rng.random() < 0.3
                else self.dice.between(self.start, self.now - timedelta(hours=2))
            )
            person = Person(
                pid=pid,
                first_name=first,
                last_name=last,
                email=self.new_email(first, last) if has_email else None,
                phone=self.new_phone() if has_phone else None,
                birth_date=birth,
                address=self.rng.choice(self.city.addresses),
                origin=origin,
                source=source,
                is_member=is_member,
                weight=self.rng.lognormvariate(0, 0.8) * (3 if is_member else 1),
                created_at=created,
                updated_at=self.dice.before_now(self.dice.between(created, created + timedelta(days=40))),
            )
            if origin == "crm":
                person.crm_id = f"CRM-{pid + 1:06d}"
                if self.rng.random() < 0.15:
                    person.facebook_id = str(self.rng.randrange(10**15, 10**16))
                if self.rng.random() < 0.06:
                    person.x_user_id = str(self.rng.randrange(10**17, 10**18))
                    stem = content.ascii_name(first)[:6] + content.ascii_name(last)[:6]
                    person.x_handle = f"{stem}{self.rng.randint(1, 99)}"
                if is_member:
                    person.support_level = self.rng.choice("12")
                    person.leads_cell = self.rng.random() < 0.04
            self.persons.append(person)

    def crm_people(self) -> list[Person]:
        return [p for p in self.persons if p.crm_id]

    def pick(self, name: str, **where: Any) -> Person:
        """A not-yet-planted CRM person matching ``where``, marked with the case's name."""
        key = tuple(sorted(where.items()))
        if key not in self._plantable:
            self._plantable[key] = [
                p
                for p in self.crm_people()
                if p.email and p.phone and all(getattr(p, k) == v for k, v in where.items())
            ]
        pool = self._plantable[key]
        while True:  # a person planted for another case is skipped: each case has its own people
            person = pool.pop(self.rng.randrange(len(pool)))
            if not person.planted:
                person.planted.add(name)
                return person

    def plant_people(self) -> None:
        non_members = {"is_member": False, "leads_cell": False}
        self.activist = self.pick("activist", is_member=True, leads_cell=False)
        self.activist.facebook_id = self.activist.facebook_id or str(self.rng.randrange(10**15, 10**16))
        self.activist.weight = 40.0
        self.activist.support_level = "1"
        # A bureau with others around, so the activist is a candidate *in* a neighbourhood.
        self.activist.address = self.rng.choice(self.city.addresses[len(self.city.addresses) // 3 :])
        self.withdrawn_sms = self.pick("withdrawn_sms", **non_members)
        self.no_wording = self.pick("grant_without_wording", **non_members)
        self.no_consent = [self.pick("no_consent", **non_members) for _ in range(3)]
        self.erasure = self.pick("erasure", **non_members)
        self.erasure.facebook_id = self.erasure.facebook_id or str(self.rng.randrange(10**15, 10**16))
        self.erasure.weight = 6.0
        self.objection = self.pick("objection", **non_members)
        self.overdue = self.pick("overdue", **non_members)
        self.retention = self.pick("retention", **non_members)
        self.retention.facebook_id = self.retention.x_user_id = self.retention.x_handle = None
        self.retention.created_at = self.now - timedelta(days=4 * 365 + 17)
        self.retention.updated_at = self.retention.created_at + timedelta(days=2)
        self.retention.weight = 1e-6  # never sampled into campaign activity
        self.minors: list[Person] = []
        for index, age in enumerate((15, 16, 16, 17, 17, 14)):
            minor = self.pick("minor", **non_members)
            minor.birth_date = self.today - timedelta(days=int(age * 365.25) + 30 + index)
            self.minors.append(minor)
        self.duplicates = [self.pick("duplicate", **non_members) for _ in range(max(5, self.n_people // 60))]

    # ------------------------------------------------------------ events platform

    def make_events(self) -> None:
        n_events = max(16, self.n_people // 60)
        kinds = list(EVENT_KINDS)
        hours = {"public_meeting": (19, 0), "rally": (18, 30), "door_to_door": (10, 0)}
        hours |= {"leafleting": (8, 30), "phone_bank": (18, 0)}
        home_bureau = self.activist.address.bureau
        plans = []
        for index in range(n_events):
            kind = self.rng.choices(kinds, weights=list(EVENT_KINDS.values()))[0]
            if index < 4:  # the activist's neighbourhood has its own canvassing and meetings
                kind = ("door_to_door", "door_to_door", "door_to_door", "public_meeting")[index]
            horizon = CAMPAIGN_DAYS - 2 if index < 4 else CAMPAIGN_DAYS + 9
            day = self.start.date() + timedelta(days=self.rng.randint(1, horizon))
            hour, minute = hours[kind]
            if kind == "door_to_door" and self.rng.random() < 0.4:
                hour, minute = 17, 30
            local = datetime.combine(day, time(hour, minute), PARIS)
            address = (
                self.rng.choice(self.city.by_bureau[home_bureau.code])
                if index < 4
                else self.rng.choice(self.city.addresses)
            )
            plans.append((local.astimezone(UTC), kind, address))
        plans.sort(key=lambda p: p[0])
        labels = {
            "public_meeting": "Réunion publique",
            "rally": "Meeting",
            "door_to_door": "Porte-à-porte",
            "leafleting": "Tractage",
            "phone_bank": "Phoning",
        }
        self.events: list[dict[str, Any]] = []
        for index, (starts, kind, address) in enumerate(plans):
            quartier = next(i.name for i in self.city.iris if i.code == address.bureau.iris_code)
            created = max(self.start - timedelta(days=5), starts - timedelta(days=self.rng.randint(3, 20)))
            created = self.dice.before_now(created)
            updated = created
            if starts + timedelta(days=1) < self.now and self.rng.random() < 0.3:
                updated = starts + timedelta(hours=self.rng.randint(3, 20))  # report filled in after
            duration = {"door_to_door": 3, "leafleting": 2}.get(kind, 2)
            self.events.append(
                {
                    "id": f"evt-{index + 1:04d}",
                    "kind": kind,
                    "starts": starts,
                    "past": starts < self.now - timedelta(hours=3),
                    "bureau": address.bureau,
                    "attributes": {
                        "title": f"{labels[kind]} — {quartier.rsplit(' ', 1)[0]}",
                        "kind": kind,
                        "starts_at": _iso(starts),
                        "ends_at": _iso(starts + timedelta(hours=duration)),
                        "address": address.line,
                        "postal_code": address.bureau.postal_code,
                        "city": CITY,
                        "bureau_code": address.bureau.code,
                        "iris_code": address.bureau.iris_code,
                        "updated_at": _iso(updated),
                    },
                }
            )
        self.make_rsvps()

    def make_rsvps(self) -> None:
        scale = self.n_people / 3000
        sizes = {"public_meeting": (30, 80), "rally": (60, 150), "door_to_door": (4, 9)}
        sizes |= {"leafleting": (3, 8), "phone_bank": (4, 10)}
        eligible = [p for p in self.persons if p.origin in ("crm", "rsvp") and p.weight > 1e-3]
        volunteers = [p for p in eligible if p.is_member or p.weight > 1.5]
        roles = {"door_to_door": "porte-à-porte", "leafleting": "tractage", "phone_bank": "phoning"}
        self.rsvps: list[dict[str, Any]] = []
        self.attendance: dict[str, list[Person]] = defaultdict(list)
        self.event_volunteers: dict[str, list[Person]] = defaultdict(list)
        forced = [p for p in eligible if p.origin == "rsvp"]
        self.rng.shuffle(forced)
        meetings = [e for e in self.events if e["kind"] in ("public_meeting", "rally")]
        for event in self.events:
            low, high = sizes[event["kind"]]
            volunteer_event = event["kind"] in VOLUNTEER_KINDS
            k = max(2, round(self.rng.randint(low, high) * (1 if volunteer_event else scale)))
            guests = self.dice.sample(volunteers if volunteer_event else eligible, k)
            if event["kind"] in ("public_meeting", "rally"):
                guests += [
                    forced.pop() for _ in range(min(len(forced), 1 + len(forced) // max(1, len(meetings))))
                ]
                meetings = meetings[1:] if meetings and meetings[0] is event else meetings
            activist_goes = (
                event["bureau"].code == self.activist.address.bureau.code or self.rng.random() < 0.35
            )
            if activist_goes and self.activist not in guests:
                guests.append(self.activist)
            if self.erasure not in guests and event["kind"] == "public_meeting" and self.rng.random() < 0.3:
                guests.append(self.erasure)
            for person in guests:
                self.add_rsvp(
                    event,
                    person,
                    volunteer_event or (person is self.activist and self.rng.random() < 0.5),
                    roles,
                )

    def add_rsvp(self, event: dict[str, Any], person: Person, volunteer: bool, roles: dict[str, str]) -> None:
        starts = event["starts"]
        booked = self.dice.before_now(
            self.dice.between(starts - timedelta(days=12), starts - timedelta(hours=2))
        )
        canceled = self.rng.random() < 0.08 and person is not self.activist
        attended = event["past"] and not canceled and (self.rng.random() < 0.78 or person is self.activist)
        checked_in = starts + timedelta(minutes=self.rng.randint(-15, 40)) if attended else None
        updated = checked_in or (self.dice.before_now(booked + timedelta(days=2)) if canceled else booked)
        role = ""
        if volunteer:
            role = roles.get(event["kind"], self.rng.choice(("accueil", "logistique", "sécurité")))
        record = {
            "type": "rsvps",
            "id": f"rsvp-{len(self.rsvps) + 1:06d}",
            "attributes": {
                "email": format_email(person.email, "as_typed", self.rng) if person.email else None,
                "phone": format_phone(person.phone, self.rng.choice(("e164", "plain", "spaced")))
                if person.phone
                else None,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "status": "canceled" if canceled else "going",
                "attended": bool(attended),
                "checked_in_at": _iso(checked_in) if checked_in else None,
                "volunteer": volunteer,
                "role": role or None,
                "updated_at": _iso(updated),
            },
            "relationships": {"event": {"data": {"type": "events", "id": event["id"]}}},
        }
        self.rsvps.append(record)
        if attended:
            self.attendance[event["id"]].append(person)
            if volunteer:
                self.event_volunteers[event["id"]].append(person)

    # ------------------------------------------------------------ CSV drops

    def write_sheet(
        self, kind: str, name: str, style: Style, rows: list[list[str]], bad: dict[int, str], invalid: int
    ) -> None:
        """Write one drop and account for what the connector must land, reject and null."""
        relative = f"{kind}/{name}"
        lines = write_drop(self.inbox / relative, style, rows, self.rng)
        entity = {"signin": "signin/attendance", "canvass": "canvass/visits"}[kind]
        self.drops.files.append(relative)
        self.drops.rows[entity] += len(rows)
        self.drops.rejected[entity] += len(bad)
        self.drops.invalid_identifiers[entity] += invalid
        for index, reason in sorted(bad.items()):
            self.drops.bad_rows.append(
                {"file": relative, "row_number": lines[index], "reason": reason, "style": style.name}
            )

    def typed(self, person: Person, style: Style) -> tuple[str, str]:
        email = format_email(person.email, style.email_case, self.rng) if person.email else ""
        phone = format_phone(person.phone, style.phone_format) if person.phone else ""
        return email, phone

    def make_signin_sheets(self) -> None:
        walk_in_pool = [p for p in self.persons if p.origin in ("crm", "signin") and p.weight > 1e-3]
        forced = [p for p in self.persons if p.origin == "signin"]
        self.rng.shuffle(forced)
        sheets = [e for e in self.events if e["past"] and e["kind"] in ("public_meeting", "rally")]
        self.signins: dict[int, int] = Counter()
        for number, event in enumerate(sheets):
            style = SIGNIN_STYLES[number % len(SIGNIN_STYLES)]
            attendees = [
                p for p in self.attendance[event["id"]] if self.rng.random() < 0.7 or p is self.activist
            ]
            share = len(forced) // max(1, len(sheets) - number)
            walk_ins = [forced.pop() for _ in range(share)] + self.dice.sample(
                walk_in_pool, self.rng.randint(8, 25)
            )
            seen: set[int] = set()
            rows: list[list[str]] = []
            for person in attendees + walk_ins:
                if person.pid in seen:
                    continue
                seen.add(person.pid)
                self.signins[person.pid] += 1
                signed = event["starts"] + timedelta(minutes=self.rng.randint(-25, 35))
                email, phone = self.typed(person, style)
                if email and phone and self.rng.random() < 0.1:
                    phone = ""  # people skip boxes
                yes, no = style.yes_no
                optin_email = (
                    yes
                    if person.email and (person.crm_id or self.rng.random() < 0.6) and self.rng.random() < 0.8
                    else no
                )
                optin_sms = yes if person.phone and self.rng.random() < 0.35 else no
                if person.planted & {"no_consent", "objection", "erasure"}:
                    optin_email = optin_sms = no
                postal = person.address.bureau.postal_code if self.rng.random() < 0.9 else ""
                rows.append(
                    [
                        event["id"],
                        signed.astimezone(PARIS).strftime(style.datetime_format),
                        person.last_name,
                        person.first_name,
                        email,
                        phone,
                        postal,
                        optin_email,
                        optin_sms,
                    ]
                )
            bad, invalid = self.plant_bad_signin_rows(rows, number, style)
            day = event["starts"].astimezone(PARIS).strftime("%Y-%m-%d")
            name = ("emargement", "feuille_presence", "signin", "Emargement")[
                number % 4
            ] + f"_{day}_{event['id']}.csv"
            self.write_sheet("signin", name, style, rows, bad, invalid)

    def plant_bad_signin_rows(
        self, rows: list[list[str]], number: int, style: Style
    ) -> tuple[dict[int, str], int]:
        """A malformed row or two, kept under the connector's 5 % quarantine threshold."""
        bad: dict[int, str] = {}
        invalid = 0
        if len(rows) < 30:
            return bad, invalid
        which = number % 4
        index = self.rng.randrange(len(rows))
        if which == 0:
            rows[index][1] = "32/10/" + str(self.today.year) + " 19h30"
            bad[index] = "unparseable date"
        elif which == 1:
            rows[index][1] = ""
            bad[index] = "missing required field"
        elif which == 2:
            rows[index][4], rows[index][5] = "", "06 12 34"
            bad[index] = "no valid identifier"
            invalid += 1  # the connector counts the garbage phone it nulls, then rejects the row
        if which in (2, 3):  # a garbage phone next to a good e-mail: nulled and counted, row kept
            other = next((i for i in range(len(rows)) if i not in bad and rows[i][4].strip()), None)
            if other is not None:
                rows[other][5] = "tel. inconnu"
                invalid += 1
        return bad, invalid

    def make_canvass_sheets(self) -> None:
        sessions = [e for e in self.events if e["past"] and e["kind"] == "door_to_door"]
        contacts = [p for p in self.persons if p.origin == "canvass"]
        self.rng.shuffle(contacts)
        by_bureau: dict[str, list[Person]] = defaultdict(list)
        for person in contacts:
            by_bureau[person.address.bureau.code].append(person)
        members = [p for p in self.persons if p.is_member and not p.planted]
        self.canvass_doors: Counter = Counter()
        outcomes = {"refus": 30, "sympathisant": 30, "indecis": 25, "opposant": 15}
        for number, event in enumerate(sessions):
            style = CANVASS_STYLES[number % len(CANVASS_STYLES)]
            bureau = event["bureau"]
            team = self.event_volunteers[event["id"]] or [self.rng.choice(members)]
            team = [p for p in team if p.email] or [self.activist]
            day = event["starts"].astimezone(PARIS).date()
            rows: list[list[str]] = []
            yes, no = style.yes_no
            for door in range(self.rng.randint(40, 110)):
                volunteer = team[door % len(team)]
                self.canvass_doors[volunteer.pid] += 1
                address = self.rng.choice(self.city.by_bureau[bureau.code])
                opened = self.rng.random() < 0.45
                outcome = self.rng.choices(list(outcomes), list(outcomes.values()))[0] if opened else "absent"
                email = phone = ""
                consent = ""
                if outcome in ("sympathisant", "indecis") and self.rng.random() < 0.35:
                    pool = by_bureau[bureau.code] or contacts
                    if pool:
                        person = pool.pop()
                        if person in contacts:
                            contacts.remove(person)
                        email, phone = self.typed(person, style)
                        consent = yes
                elif opened:
                    consent = no
                if outcome == "sympathisant" and self.rng.random() < 0.3:
                    outcome = outcome.capitalize()  # volunteers type as they like; case is not meaning
                door_line = address.line + (
                    f", apt {self.rng.randint(1, 40)}" if self.rng.random() < 0.5 else ""
                )
                rows.append(
                    [
                        event["id"],
                        day.strftime(style.date_format),
                        volunteer.email or "",
                        bureau.code,
                        door_line,
                        yes if opened else no,
                        outcome,
                        email,
                        phone,
                        consent,
                    ]
                )
            bad, invalid = self.plant_bad_canvass_rows(rows, number, yes)
            name = ("porte_a_porte", "pap", "Canvass")[
                number % 3
            ] + f"_{day.isoformat()}_{bureau.code}_{event['id']}.csv"
            self.write_sheet("canvass", name, style, rows, bad, invalid)

    def plant_bad_canvass_rows(
        self, rows: list[list[str]], number: int, yes: str
    ) -> tuple[dict[int, str], int]:
        """One malformed door in most sheets (a file holds at least 40): under the 5 % threshold."""
        bad: dict[int, str] = {}
        if len(rows) < 40 or number % 4 == 3:
            return bad, 0
        index = self.rng.randrange(len(rows))
        which = number % 4
        if which == 0:
            rows[index][1] = "samedi matin"
            bad[index] = "unparseable date"
        elif which == 1:
            rows[index][3] = ""
            bad[index] = "missing required field"
        else:  # a contact who gave only a phone, written down wrong
            rows[index][5:10] = [yes, "sympathisant", "", "06 45 12", yes]
            bad[index] = "no valid identifier"
        return bad, len(bad) if which == 2 else 0

    # ------------------------------------------------------------ CRM

    def make_crm(self) -> None:
        people = self.crm_people()
        consents = self.consent_ledger(people)
        header = [
            "crm_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "address",
            "postal_code",
            "city",
            "commune_code",
            "iris_code",
            "bureau_code",
            "is_member",
            "leads_cell",
            "facebook_id",
            "x_handle",
            "x_user_id",
            "support_level",
            "source",
            "created_at",
            "updated_at",
        ]
        web, members = [], []
        for person in people:
            member = person.is_member
            row = self.crm_row(
                person, "%d/%m/%Y" if member else "%Y-%m-%d", "spaced" if member else "e164", "as_typed"
            )
            (members if member else web).append(row)
            if "duplicate" in person.planted:  # the same person again, from a petition, typed differently
                twin = self.crm_row(person, "%Y-%m-%d", "double_zero", "upper")
                twin[0] = f"CRM-D{person.pid + 1:06d}"
                twin[18] = "petition"
                web.append(twin)
        stamp = self.today.isoformat()
        self.write_csv(f"crm/people_web_{stamp}.csv", header, web, "utf-8", ",", "\n")
        self.write_csv(f"crm/people_adherents_{stamp}.csv", header, members, "cp1252", ";", "\r\n")
        consent_header = [
            "consent_id",
            "email",
            "phone",
            "purpose",
            "status",
            "lawful_basis",
            "wording_version",
            "source",
            "occurred_at",
        ]
        self.write_csv(f"crm/consents_{stamp}.csv", consent_header, consents, "utf-8", ",", "\n")
        self.counts_crm = {"crm/people": len(web) + len(members), "crm/consents": len(consents)}

    def crm_row(self, person: Person, date_format: str, phone_style: str, email_style: str) -> list[str]:
        address = person.address
        return [
            person.crm_id or "",
            person.first_name,
            person.last_name,
            format_email(person.email, email_style, self.rng) if person.email else "",
            format_phone(person.phone, phone_style) if person.phone else "",
            person.birth_date.strftime(date_format),
            address.line,
            address.bureau.postal_code,
            CITY,
            address.bureau.commune_code,
            address.bureau.iris_code,
            address.bureau.code,
            "true" if person.is_member else "false",
            "true" if person.leads_cell else "false",
            person.facebook_id or "",
            f"@{person.x_handle}" if person.x_handle else "",
            person.x_user_id or "",
            person.support_level,
            person.source,
            _iso(person.created_at),
            _iso(person.updated_at),
        ]

    def consent_ledger(self, people: list[Person]) -> list[list[str]]:
        rows: list[list[str]] = []

        def event(
            person: Person, purpose: str, status: str, basis: str, at: datetime, wording: str | None = None
        ) -> None:
            wording = WORDING[person.source] if wording is None else wording
            email = person.email or ""
            phone = person.phone if (purpose in ("sms", "phone") or not email) and person.phone else ""
            rows.append(
                [
                    f"CNS-{len(rows) + 1:07d}",
                    email,
                    phone,
                    purpose,
                    status,
                    basis,
                    wording,
                    person.source,
                    _iso(at),
                ]
            )

        for person in people:
            if "no_consent" in person.planted:
                continue
            at = person.created_at + timedelta(seconds=self.rng.randint(1, 120))
            if person.is_member:
                for purpose in ("email", "canvassing", "profiling"):
                    event(person, purpose, "granted", "membership", at)
                if person.phone and self.rng.random() < 0.6:
                    event(person, "sms", "granted", "consent", at)
                if person.facebook_id or person.x_user_id:
                    event(person, "social_matching", "granted", "consent", at)
                continue
            if "retention" in person.planted:
                event(person, "email", "granted", "consent", at)
                continue
            if self.rng.random() < 0.08 and not person.planted:
                continue  # signed a petition, ticked nothing
            planted = person.planted
            wants = {
                "email": bool(person.email) and (self.rng.random() < 0.85 or bool(planted)),
                "sms": bool(person.phone)
                and (self.rng.random() < 0.35 or "withdrawn_sms" in planted or "objection" in planted),
                "phone": bool(person.phone) and self.rng.random() < 0.15,
                "canvassing": self.rng.random() < 0.25,
                "social_matching": bool(person.facebook_id or person.x_user_id)
                and (self.rng.random() < 0.8 or "erasure" in planted),
                "profiling": self.rng.random() < 0.04,
            }
            for purpose, granted in wants.items():
                if granted:
                    wording = "" if "grant_without_wording" in planted and purpose == "email" else None
                    event(person, purpose, "granted", "consent", at, wording)
            later = self.dice.before_now(self.dice.between(at + timedelta(days=1), at + timedelta(days=30)))
            if "withdrawn_sms" in planted:
                event(person, "sms", "withdrawn", "consent", later)
            elif wants["email"] and self.rng.random() < 0.03:
                event(person, "email", "withdrawn", "consent", later)
        return rows

    def write_csv(
        self,
        relative: str,
        header: list[str],
        rows: list[list[str]],
        encoding: str,
        delimiter: str,
        newline: str,
    ) -> None:
        style = Style(relative, encoding, delimiter, tuple(header), newline=newline)
        write_drop(self.inbox / relative, style, rows, self.rng)
        self.drops.files.append(relative)

    def make_dsr(self) -> None:
        header = ["request_id", "type", "email", "phone", "received_at", "field", "new_value"]
        received = {
            "erasure": self.now - timedelta(days=3, hours=5),
            "objection": self.now - timedelta(days=5, hours=2),
        }
        rows = [
            ["DSR-0001", "erasure", self.erasure.email, "", _iso(received["erasure"]), "", ""],
            [
                "DSR-0002",
                "objection",
                "",
                format_phone(self.objection.phone, "spaced"),
                _iso(received["objection"]),
                "",
                "",
            ],
        ]
        self.dsr_files = {"requests": f"dsr/requests_{self.today.isoformat()}.csv"}
        self.write_csv(self.dsr_files["requests"], header, rows, "utf-8", ",", "\n")
        self.overdue_received = self.now - timedelta(days=40)
        if self.plant_overdue:
            self.dsr_files["overdue"] = "dsr/overdue_requests.csv"
            overdue = [["DSR-0003", "access", self.overdue.email, "", _iso(self.overdue_received), "", ""]]
            self.write_csv(self.dsr_files["overdue"], header, overdue, "utf-8", ",", "\n")

    # ------------------------------------------------------------ social media

    def make_social(self) -> None:
        self.facebook = social.make_facebook(self.dice, self.fake, self.persons, self.activist, self.erasure)
        self.x = social.make_x(self.dice, self.fake, self.persons)

    # ------------------------------------------------------------ open data

    def make_opendata(self) -> None:
        folder = self.sandbox / "opendata"
        folder.mkdir(parents=True, exist_ok=True)
        results = folder / OPENDATA_FILES["election_results"]
        self.result_rows = opendata_files.write_results(results, self.rng, self.fake, self.city)
        opendata_files.write_iris(folder / OPENDATA_FILES["iris_population"], self.rng, self.city)
        opendata_files.write_reu(folder / OPENDATA_FILES["reu_addresses"], self.rng, self.city)

    # ------------------------------------------------------------ outputs

    def finish(self) -> dict[str, int]:
        events = [{"type": "events", "id": e["id"], "attributes": e["attributes"]} for e in self.events]
        _dump(self.sandbox / "api" / "events.json", {"events": events, "rsvps": self.rsvps})
        _dump(self.sandbox / "api" / "facebook.json", self.facebook.payload)
        _dump(self.sandbox / "api" / "x.json", self.x.payload)
        _dump(self.sandbox / "config.json", self.config())
        counts = {
            **self.facebook.counts,
            **self.x.counts,
            "events/events": len(events),
            "events/rsvps": len(self.rsvps),
            **self.counts_crm,
            "dsr/requests": 2 + (1 if self.plant_overdue else 0),
            "opendata/election_results": self.result_rows,
            "opendata/iris_population": len(self.city.iris),
            "opendata/reu_addresses": len(self.city.addresses),
        }
        expected: dict[str, dict[str, int]] = {
            k: {"landed": v, "rejected": 0, "invalid_identifiers": 0} for k, v in counts.items()
        }
        for entity, rows in self.drops.rows.items():
            rejected = self.drops.rejected[entity]
            expected[entity] = {
                "landed": rows - rejected,
                "rejected": rejected,
                "invalid_identifiers": self.drops.invalid_identifiers[entity],
            }
            counts[entity] = rows
        truth = {
            "seed": self.seed,
            "today": self.today.isoformat(),
            "people": self.n_people,
            "campaign": {"list_number": "1", "nuance": content.ELECTION_LISTS[0][0], "election": ELECTION},
            # What a correct connector lands from one window covering the whole campaign
            # (API sources) or from the drops as written (CSV sources).
            "expected": expected,
            "inbox_files": sorted(self.drops.files),
            "bad_rows": self.drops.bad_rows,
            "planted": self.planted(),
        }
        _dump(self.sandbox / "truth.json", truth)
        return dict(sorted(counts.items()))

    def config(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "today": self.today.isoformat(),
            "facebook": {
                "page_id": FACEBOOK_PAGE_ID,
                "api_version": FACEBOOK_VERSION,
                "token": TOKENS["facebook"],
            },
            "x": {"user_id": X_USER_ID, "username": X_USERNAME, "token": TOKENS["x"]},
            "events": {"token": TOKENS["events"]},
            "opendata": {"files": OPENDATA_FILES, "election": ELECTION},
        }

    def identity(self, person: Person) -> dict[str, Any]:
        return {
            "crm_id": person.crm_id,
            "email": person.email,
            "phone": person.phone,
            "bureau_code": person.address.bureau.code,
            "iris_code": person.address.bureau.iris_code,
            "facebook_id": person.facebook_id,
        }

    def planted(self) -> dict[str, Any]:
        activist = self.activist
        sources_of_erased = ["crm/people", "crm/consents", "dsr/requests"]
        if any(
            r["attributes"]["last_name"] == self.erasure.last_name
            and r["attributes"]["first_name"] == self.erasure.first_name
            for r in self.rsvps
        ):
            sources_of_erased.append("events/rsvps")
        if self.signins[self.erasure.pid]:
            sources_of_erased.append("signin/attendance")
        erased_fb = self.erasure.facebook_id
        if any(x["id"] == erased_fb for r in self.facebook.payload["reactions"].values() for x in r):
            sources_of_erased.append("facebook/reactions")
        return {
            "no_consent": [self.identity(p) for p in self.no_consent],
            "withdrawn_sms": self.identity(self.withdrawn_sms),
            "grant_without_wording": {**self.identity(self.no_wording), "purpose": "email"},
            "minors": [
                {
                    **self.identity(p),
                    "age": _age(p.birth_date, self.today),
                    "has_consent": "no_consent" not in p.planted,
                }
                for p in self.minors
            ],
            "erasure": {
                **self.identity(self.erasure),
                "request_id": "DSR-0001",
                "file": self.dsr_files["requests"],
                "sources": sources_of_erased,
            },
            "objection": {
                **self.identity(self.objection),
                "request_id": "DSR-0002",
                "file": self.dsr_files["requests"],
            },
            "overdue": {
                **self.identity(self.overdue),
                "request_id": "DSR-0003",
                "type": "access",
                "received_at": _iso(self.overdue_received),
                "file": self.dsr_files.get("overdue"),
            },
            "retention": {**self.identity(self.retention), "last_activity": _iso(self.retention.updated_at)},
            "duplicates": [
                {**self.identity(p), "crm_ids": [p.crm_id, f"CRM-D{p.pid + 1:06d}"]} for p in self.duplicates
            ],
            "hostile_accounts": {"facebook": self.facebook.hostile, "x": self.x.hostile},
            "activist": {
                **self.identity(activist),
                "is_member": True,
                "attendances": len([e for e, people in self.attendance.items() if activist in people]),
                "signins": self.signins[activist.pid],
                "volunteer_shifts": len(
                    [e for e, people in self.event_volunteers.items() if activist in people]
                ),
                "canvass_doors": self.canvass_doors[activist.pid],
                "facebook_reactions": self.facebook.activist_reactions,
            },
            "cell_leaders": [p.crm_id for p in self.persons if p.leads_cell],
        }


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
