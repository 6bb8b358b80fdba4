"""Public reference files: election results per bureau, INSEE population per IRIS, REU addresses.

Downloads are conditional (``If-None-Match``/``If-Modified-Since``); the ETag, Last-Modified
and content checksum are kept in the landing manifest entry of the file's part, so an
unchanged file is skipped and a changed one replaces its part (one part per file, whatever
the day). Files are read as streams: a national results file has ~70 000 bureaux.

Ministère de l'Intérieur results come in two layouts, both handled by one reader:
- wide (municipales 2020): one row per bureau; the header names the first group of list
  columns only, and each row repeats the group once per list;
- long (municipales 2014, ``MN14_Bvot_T1T2.txt``): one row per bureau and list, with a
  round column (headerless in the original, so a known column order is assumed then).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from socle.http import HttpClient, SourceError, make_session
from socle.landing import Batch, Rejection, file_sha256, find_part
from socle.sources.common import (
    EntitySpec,
    IngestResult,
    Settings,
    base_url,
    detect_delimiter,
    detect_encoding,
    land_stream,
    normalise_header,
)

log = logging.getLogger(__name__)

SOURCE = "opendata"

ELECTION_RESULTS = EntitySpec(
    SOURCE,
    "election_results",
    columns=(
        "election",
        "bureau_key",
        "dep_code",
        "commune_code",
        "bureau_code",
        "registered",
        "abstentions",
        "voters",
        "blank",
        "null_votes",
        "expressed",
        "list_number",
        "nuance",
        "list_name",
        "candidate_last_name",
        "candidate_first_name",
        "votes",
    ),
    required=("election", "bureau_key", "registered", "list_number", "votes"),
    key=("election", "bureau_key", "list_number"),
    numbers=("registered", "abstentions", "voters", "blank", "null_votes", "expressed", "votes"),
)
IRIS_POPULATION = EntitySpec(
    SOURCE,
    "iris_population",
    columns=("iris_code", "iris_name", "commune_code", "population"),
    required=("iris_code", "population"),
    key=("iris_code",),
    numbers=("population",),
)
REU_ADDRESSES = EntitySpec(
    SOURCE,
    "reu_addresses",
    columns=(
        "address_id",
        "commune_code",
        "bureau_code",
        "bureau_key",
        "street",
        "postal_code",
        "iris_code",
        "longitude",
        "latitude",
    ),
    required=("address_id", "bureau_code"),
    key=("address_id",),
    numbers=("longitude", "latitude"),
)
SPECS = {s.entity: s for s in (ELECTION_RESULTS, IRIS_POPULATION, REU_ADDRESSES)}

# Bureau-level columns of the results files (normalised header -> contract column).
RESULT_FIELDS = {
    "no_tour": "tour",
    "n_tour": "tour",
    "tour": "tour",
    "code_du_departement": "dep_code",
    "code_departement": "dep_code",
    "code_de_la_commune": "commune_code",
    "code_commune": "commune_code",
    "libelle_de_la_commune": "commune_name",
    "nom_commune": "commune_name",
    "code_b_vote": "bureau_code",
    "code_bvote": "bureau_code",
    "no_bureau_vote": "bureau_code",
    "n_bureau_vote": "bureau_code",
    "n_de_bureau_de_vote": "bureau_code",
    "no_de_bureau_de_vote": "bureau_code",
    "code_bureau_vote": "bureau_code",
    "inscrits": "registered",
    "abstentions": "abstentions",
    "votants": "voters",
    "blancs": "blank",
    "nuls": "null_votes",
    "exprimes": "expressed",
}
# A file already in the landing layout (a re-export, the sandbox) passes through as is.
RESULT_FIELDS |= {c: c for c in ("election", "bureau_key", "dep_code", "commune_code", "bureau_code")}
RESULT_FIELDS |= {c: c for c in ("registered", "abstentions", "voters", "blank", "null_votes", "expressed")}
# The repeated group, one per list (normalised header, pandas ".1" suffixes removed).
LIST_FIELDS = {
    "n_pan": "list_number",
    "n_panneau": "list_number",
    "npan": "list_number",
    "no_liste": "list_number",
    "n_liste": "list_number",
    "n_de_depot_de_la_liste": "list_number",
    "no_de_depot_de_la_liste": "list_number",
    "no_panneau": "list_number",
    "code_nuance": "nuance",
    "nuance": "nuance",
    "code_nuance_de_la_liste": "nuance",
    "nom": "candidate_last_name",
    "nom_du_candidat_tete_de_liste": "candidate_last_name",
    "prenom": "candidate_first_name",
    "prenom_du_candidat_tete_de_liste": "candidate_first_name",
    "liste": "list_name",
    "libelle_de_la_liste": "list_name",
    "libelle_abrege_liste": "list_name",
    "libelle_etendu_liste": "list_name",
    "voix": "votes",
    "nombre_de_voix": "votes",
}
LIST_FIELDS |= {
    c: c for c in ("list_number", "list_name", "candidate_last_name", "candidate_first_name", "votes")
}
# MN14_Bvot_T1T2.txt has no header line: its documented column order.
MN14_COLUMNS = (
    "no_tour",
    "code_departement",
    "code_commune",
    "nom_commune",
    "no_bureau_vote",
    "inscrits",
    "votants",
    "exprimes",
    "no_liste",
    "nom",
    "prenom",
    "nuance",
    "voix",
)
# Ministère codes for overseas départements -> the first two digits of their INSEE codes.
OVERSEAS = {"ZA": "97", "ZB": "97", "ZC": "97", "ZD": "97", "ZM": "97", "ZS": "97", "ZX": "97"}
OVERSEAS |= {"ZN": "98", "ZP": "98", "ZW": "98", "ZZ": "99"}


def _base(name: str) -> str:
    return re.sub(r"_\d+$", "", name)  # pandas' duplicate suffix: "voix_1" -> "voix"


def department_code(raw: str) -> str:
    code = raw.strip().upper()
    code = OVERSEAS.get(code, code)
    return code.zfill(2) if code.isdigit() else code


def bureau_key(dep: str, commune: str, bureau: str) -> str:
    """dep (2) + commune (3) + bureau (4), zero-padded: ``92`` ``2`` ``1`` -> ``920020001``."""
    commune = commune.strip()
    if len(commune) == 5:  # a full INSEE code (``92002``, ``2A004``): its last three characters
        commune = commune[2:]
    return department_code(dep)[:2] + commune.zfill(3) + bureau.strip().zfill(4)


def _open_csv(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    encoding = detect_encoding(path)
    handle = path.open(encoding=encoding, errors="replace", newline="")
    first = handle.readline()
    delimiter = detect_delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter), [])

    def rest() -> Iterator[list[str]]:
        try:
            yield from csv.reader(handle, delimiter=delimiter)
        finally:
            handle.close()

    return header, rest()


def election_rows(path: Path, election: str) -> Iterator[dict[str, Any] | Rejection]:
    """One record per bureau and list, from the wide or the long Ministère layout."""
    raw_header, rows = _open_csv(path)
    header = [normalise_header(c) for c in raw_header]
    if not any(h in RESULT_FIELDS for h in header):  # headerless MN14: the line was data
        rows = _chain([raw_header], rows)
        header = list(MN14_COLUMNS)
    bases = [_base(h) for h in header]
    starts = [i for i, b in enumerate(bases) if LIST_FIELDS.get(b) == "list_number"]
    if not starts:
        raise SourceError(f"{path.name}: no list-number column found in the results header")
    group_start = starts[0]
    # A header that repeats the group (a pandas export) gives its width; the Ministère's
    # names the first group only, so the group runs to the end of the header.
    group_size = (starts[1] - group_start) if len(starts) > 1 else len(header) - group_start
    group_fields = [LIST_FIELDS.get(b) for b in bases[group_start : group_start + group_size]]
    bureau_fields = [(i, RESULT_FIELDS[h]) for i, h in enumerate(header[:group_start]) if h in RESULT_FIELDS]
    for cells in rows:
        if not any(c.strip() for c in cells):
            continue
        bureau = {name: cells[i].strip() if i < len(cells) else "" for i, name in bureau_fields}
        tour = bureau.pop("tour", "")
        name = bureau.pop("election", "") or election
        if tour and not re.search(r"_t\d$", name):
            name = f"{name}_t{tour}"
        bureau.pop("commune_name", None)
        given_key = bureau.pop("bureau_key", "")
        if len(given_key) == 9 and not bureau.get("bureau_code"):
            bureau.update(dep_code=given_key[:2], commune_code=given_key[2:5], bureau_code=given_key[5:])
        dep, commune, code = (bureau.get(k, "") for k in ("dep_code", "commune_code", "bureau_code"))
        if not (dep and commune and code):
            yield Rejection("missing bureau code", ("dep_code", "commune_code", "bureau_code"), bureau)
            continue
        base = {
            **bureau,
            "election": name,
            "dep_code": department_code(dep),
            "commune_code": commune if len(commune) == 5 else commune.zfill(3),
            "bureau_code": code.zfill(4),
            "bureau_key": bureau_key(dep, commune, code),
        }
        for start in range(group_start, len(cells), group_size):
            group = cells[start : start + group_size]
            if not any(c.strip() for c in group):
                continue  # communes with fewer lists than the widest one
            record = dict(base)
            group = group + [""] * (group_size - len(group))
            record.update((f, v) for f, v in zip(group_fields, group, strict=True) if f)
            yield record


def _chain(first: list[list[str]], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield from first
    yield from rest


def _mapped_rows(path: Path, fields: Mapping[str, str]) -> Iterator[tuple[dict[str, str], list[str]]]:
    raw_header, rows = _open_csv(path)
    header = [normalise_header(c) for c in raw_header]
    names: list[str] = []
    for h in header:  # the first column mapped to a contract name wins; others keep theirs
        names.append(fields[h] if h in fields and fields[h] not in names else h)
    for cells in rows:
        if any(c.strip() for c in cells):
            # Short rows get empty strings: one set of columns for the whole file.
            padded = [c.strip() for c in cells[: len(names)]] + [""] * (len(names) - len(cells))
            yield dict(zip(names, padded, strict=True)), cells


IRIS_FIELDS = {
    "iris": "iris_code",
    "code_iris": "iris_code",
    "libiris": "iris_name",
    "lib_iris": "iris_name",
    "com": "commune_code",
    "depcom": "commune_code",
    "code_commune": "commune_code",
    "population": "population",
}


def iris_rows(path: Path) -> Iterator[dict[str, Any]]:
    """INSEE IRIS tables: the population column is the first ``Pyy_POP`` (or ``population``)."""
    for record, _ in _mapped_rows(path, IRIS_FIELDS):
        if "population" not in record:
            pop = next((k for k in record if re.fullmatch(r"p\d{2}_pop", k)), None)
            if pop:
                record["population"] = record.pop(pop)
        for name, width in (("iris_code", 9), ("commune_code", 5)):
            if record.get(name, "").isdigit():
                record[name] = record[name].zfill(width)
        yield record


REU_FIELDS = {
    "id": "address_id",
    "id_adresse": "address_id",
    "code_commune_ref": "commune_code",
    "code_commune": "commune_code",
    "code_bv": "bureau_code",
    "bureau_code": "bureau_code",
    "geo_adresse": "street",
    "libelle_voie": "street",
    "voie": "street",
    "code_postal": "postal_code",
    "iris": "iris_code",
    "code_iris": "iris_code",
}


def reu_rows(path: Path) -> Iterator[dict[str, Any]]:
    """REU address table: the bureau comes from ``id_brut_bv_reu`` (``<commune>_<bureau>``)."""
    occurrences: dict[str, int] = {}
    for record, cells in _mapped_rows(path, REU_FIELDS):
        raw_bureau = record.get("id_brut_bv_reu", "")
        if not record.get("bureau_code") and "_" in raw_bureau:
            record["bureau_code"] = raw_bureau.rsplit("_", 1)[1]
        if record.get("bureau_code"):
            record["bureau_code"] = record["bureau_code"].zfill(4)
        commune = record.get("commune_code", "")
        if commune.isdigit():
            commune = record["commune_code"] = commune.zfill(5)
        if len(commune) == 5 and record.get("bureau_code"):
            record["bureau_key"] = commune + record["bureau_code"]
        if not record.get("address_id"):
            # Extracts without the REU id: a content hash, numbered when rows repeat.
            digest = hashlib.sha1("\x1f".join(cells).encode(), usedforsecurity=False).hexdigest()[:16]
            occurrences[digest] = occurrences.get(digest, 0) + 1
            record["address_id"] = f"{digest}-{occurrences[digest]}"
        yield record


@dataclass(frozen=True)
class Dataset:
    entity: str
    location: str
    election: str | None = None

    @property
    def file_name(self) -> str:
        return self.location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def datasets(extra: Mapping[str, Any]) -> list[Dataset]:
    """The files named in the connection extra: a path/URL, a list, or ``{election: path}``."""
    found: list[Dataset] = []
    for entity in SPECS:
        value = extra.get(entity)
        if not value:
            continue
        if isinstance(value, Mapping):
            found.extend(Dataset(entity, str(loc), str(name)) for name, loc in value.items())
        else:
            for loc in [value] if isinstance(value, str) else value:
                name = extra.get("election") if entity == "election_results" else None
                found.append(Dataset(entity, str(loc), name))
    return found


def _fetch(
    http: HttpClient | None, dataset: Dataset, state: Mapping[str, Any] | None, target: Path
) -> dict[str, Any] | None:
    """Download (or copy) the file to ``target``; None when the server says it is unchanged."""
    location = dataset.location
    if location.startswith("file://") or http is None:  # otherwise a path is joined to the host
        source = Path(location.removeprefix("file://"))
        target.write_bytes(source.read_bytes())
        return {"url": str(source)}
    headers = {}
    if state and state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state and state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    response = http.get(location, headers=headers, stream=True)
    if response.status_code == 304:
        response.close()
        return None
    with target.open("wb") as out:
        for block in response.iter_content(1 << 20):
            out.write(block)
    response.close()
    return {
        "url": http.url(location).split("?", 1)[0],
        "etag": response.headers.get("ETag"),
        "last_modified": response.headers.get("Last-Modified"),
    }


def ingest(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    landing_root: Path | None = None,
    max_reject_ratio: float = 0.05,
    client: HttpClient | None = None,
) -> IngestResult:
    """Land every configured open-data file that changed since its last landing."""
    result = IngestResult(SOURCE)
    files = datasets(settings.extra)
    if not files:
        raise SourceError("the socle_opendata connection extra names no file to download")
    http = client or (make_session(base_url(settings.host)) if settings.host else None)
    unchanged: list[str] = []
    try:
        for dataset in files:
            spec = SPECS[dataset.entity]
            result.landed.setdefault(dataset.entity, 0)
            result.rejected.setdefault(dataset.entity, 0)
            part = dataset.file_name
            batch = Batch(SOURCE, start, end, source_uri=dataset.location.split("?", 1)[0], part=part)
            state = find_part(SOURCE, dataset.entity, f"{batch.part_name}.parquet", root=landing_root)
            with tempfile.TemporaryDirectory(prefix="socle-opendata-") as tmp:
                local = Path(tmp) / "download"
                fetched = _fetch(http, dataset, state, local)
                if fetched is None:
                    unchanged.append(part)
                    continue
                fetched["content_sha256"] = file_sha256(local)
                if state and state.get("content_sha256") == fetched["content_sha256"]:
                    unchanged.append(part)
                    continue
                if dataset.entity == "election_results":
                    election = dataset.election or re.sub(r"\W+", "_", Path(part).stem.lower())
                    records: Iterator[Any] = election_rows(local, election)
                elif dataset.entity == "iris_population":
                    records = iris_rows(local)
                else:
                    records = reu_rows(local)
                land_stream(
                    batch,
                    spec,
                    records,
                    root=landing_root,
                    max_reject_ratio=max_reject_ratio,
                    result=result,
                    manifest_extra=fetched,
                )
    finally:
        if http is not None and client is None:
            http.close()
    result.details["unchanged_files"] = len(unchanged)
    result.skipped = len(unchanged) == len(files)
    log.info("opendata: landed %s, %d unchanged file(s)", result.landed, len(unchanged))
    return result
