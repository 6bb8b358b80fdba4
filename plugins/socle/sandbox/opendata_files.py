"""The public files the open-data connection downloads, in their publishers' layouts.

- Ministère de l'Intérieur, municipales 2020 round 1 per bureau de vote: latin-1, ``;``,
  decimal commas, codes with their leading zeros, and the *wide* layout (the header names
  the first list's group of columns only; each row repeats the group once per list, so
  rows are as long as their sector has lists).
- INSEE population per IRIS (``base-ic-evol-struct-pop``): ``;``, ``IRIS;...;COM;...;P17_POP``.
- REU address table (as the ``table-adresses-reu`` extracts): ``id_brut_bv_reu`` is
  ``<commune>_<bureau>``, plus the geocoded address, postal code and IRIS.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from faker import Faker

from socle.sandbox import content
from socle.sandbox.geography import CITY, COMMUNE_CODE, DEP_CODE, DEP_NAME, City

RESULTS_HEADER = (
    "Code du département;Libellé du département;Code de la commune;Libellé de la commune;Code B.Vote;"
    "Inscrits;Abstentions;% Abs/Ins;Votants;% Vot/Ins;Blancs;% Blancs/Ins;% Blancs/Vot;"
    "Nuls;% Nuls/Ins;% Nuls/Vot;Exprimés;% Exp/Ins;% Exp/Vot;"
    "N.Pan.;Code Nuance;Sexe;Nom;Prénom;Liste;Voix;% Voix/Ins;% Voix/Exp"
)
IRIS_AGE_BANDS = ("0014", "1529", "3044", "4559", "6074", "75P")
REU_HEADER = (
    "id,id_brut_bv_reu,code_commune_ref,code_bv,geo_adresse,code_postal,code_iris,"
    "longitude,latitude,geo_type,geo_score,nb_adresses"
)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}".replace(".", ",") if whole else "0,00"


def write_results(path: Path, rng: random.Random, fake: Faker, city: City) -> int:
    """Write the results file; returns the (bureau, list) records it holds."""
    lists = []
    for number, (nuance, name, share) in enumerate(content.ELECTION_LISTS, start=1):
        female = rng.random() < 0.5
        first = fake.first_name_female() if female else fake.first_name_male()
        lists.append(
            (str(number), nuance, "F" if female else "M", fake.last_name().upper(), first, name, share)
        )
    lines = [RESULTS_HEADER]
    records = 0
    for bureau in city.bureaux:
        sector = (bureau.arrondissement + 1) // 2  # Marseille votes in 8 sectors of 2 arrondissements
        running = lists[: 6 + sector % 3]
        registered = rng.randint(700, 1500)
        voters = round(registered * rng.uniform(0.26, 0.46))  # 2020's low turnout
        blank = round(voters * rng.uniform(0.005, 0.02))
        null = round(voters * rng.uniform(0.004, 0.015))
        expressed = voters - blank - null
        votes = _largest_remainder(expressed, [rng.gammavariate(share * 40, 1) for *_, share in running])
        abstentions = registered - voters
        cells = [DEP_CODE, DEP_NAME, COMMUNE_CODE[2:], CITY, bureau.code, str(registered), str(abstentions)]
        cells += [_pct(abstentions, registered), str(voters), _pct(voters, registered)]
        cells += [str(blank), _pct(blank, registered), _pct(blank, voters)]
        cells += [str(null), _pct(null, registered), _pct(null, voters)]
        cells += [str(expressed), _pct(expressed, registered), _pct(expressed, voters)]
        for (number, nuance, sex, last, first, name, _), count in zip(running, votes, strict=True):
            cells += [number, nuance, sex, last, first, name, str(count)]
            cells += [_pct(count, registered), _pct(count, expressed)]
            records += 1
        lines.append(";".join(cells))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1", errors="replace"))
    return records


def write_iris(path: Path, rng: random.Random, city: City) -> None:
    header = ["IRIS", "REG", "DEP", "COM", "LIBCOM", "LIBIRIS", "TYP_IRIS", "LAB_IRIS", "P17_POP"]
    header += [f"P17_POP{band}" for band in IRIS_AGE_BANDS]
    lines = [";".join(header)]
    for iris in city.iris:
        population = rng.uniform(1500, 4200)  # INSEE's IRIS figures are estimates, not integers
        shares = [rng.uniform(0.6, 1.4) * s for s in (0.18, 0.19, 0.19, 0.19, 0.15, 0.10)]
        bands = [population * s / sum(shares) for s in shares]
        arrondissement = int(iris.commune_code[-2:])
        cells = [iris.code, "93", DEP_CODE, iris.commune_code, f"Marseille {arrondissement}e Arrondissement"]
        cells += [iris.name, "H", "1", f"{population:.6f}", *(f"{v:.6f}" for v in bands)]
        lines.append(";".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_reu(path: Path, rng: random.Random, city: City) -> None:
    lines = [REU_HEADER]
    for a in city.addresses:
        b = a.bureau
        cells = [a.address_id, f"{COMMUNE_CODE}_{b.code}", COMMUNE_CODE, b.code, f'"{a.line}"', b.postal_code]
        cells += [b.iris_code, str(a.longitude), str(a.latitude), "housenumber"]
        cells += [f"{rng.uniform(0.55, 0.99):.2f}", str(rng.randint(1, 60))]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to ``weights`` summing to ``total`` exactly."""
    scale = sum(weights) or 1.0
    raw = [total * w / scale for w in weights]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts
