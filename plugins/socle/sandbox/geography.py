"""Marseille's electoral geography, generated: arrondissements, bureaux de vote, IRIS, addresses.

Marseille votes as one commune (INSEE 13055) whose bureaux are numbered by arrondissement
(``0101`` is the first bureau of the 1st); INSEE statistics use the arrondissements'
own codes (13201-13216), so IRIS codes are ``132010101``-style. Counts and places are
plausible, not the real map.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

DEP_CODE = "13"
DEP_NAME = "Bouches-du-Rhône"
COMMUNE_CODE = "13055"  # the commune that votes; bureau_key = 13 + 055 + bureau (4)
CITY = "Marseille"

# Arrondissement -> (bureaux, quartiers, approximate centre latitude/longitude).
ARRONDISSEMENTS: dict[int, tuple[int, tuple[str, ...], float, float]] = {
    1: (12, ("Belsunce", "Chapitre", "Noailles", "Opéra", "Saint-Charles", "Thiers"), 43.300, 5.384),
    2: (14, ("Arenc", "Les Grands Carmes", "Hôtel de Ville", "La Joliette"), 43.312, 5.366),
    3: (16, ("Belle de Mai", "Saint-Lazare", "Saint-Mauront", "La Villette"), 43.312, 5.380),
    4: (20, ("Blancarde", "Chartreux", "Chutes-Lavie", "Cinq-Avenues"), 43.306, 5.400),
    5: (18, ("Baille", "Le Camas", "La Conception", "Saint-Pierre"), 43.293, 5.398),
    6: (14, ("Castellane", "Lodi", "Notre-Dame-du-Mont", "Préfecture", "Vauban"), 43.287, 5.381),
    7: (22, ("Bompard", "Le Pharo", "Roucas-Blanc", "Saint-Lambert", "Saint-Victor"), 43.282, 5.359),
    8: (24, ("Bonneveine", "Le Rouet", "Périer", "Pointe-Rouge", "Sainte-Anne", "Montredon"), 43.250, 5.380),
    9: (30, ("Mazargues", "Sainte-Marguerite", "Le Cabot", "La Panouse", "Vaufrèges"), 43.240, 5.430),
    10: (20, ("La Capelette", "Menpenti", "Pont-de-Vivaux", "Saint-Loup", "La Timone"), 43.275, 5.425),
    11: (18, ("Les Accates", "La Barasse", "La Pomme", "Saint-Marcel", "La Valbarelle"), 43.290, 5.480),
    12: (
        30,
        ("Les Caillols", "Montolivet", "Saint-Barnabé", "Saint-Julien", "Les Trois-Lucs"),
        43.310,
        5.440,
    ),
    13: (
        36,
        ("Château-Gombert", "Malpassé", "Les Olives", "La Rose", "Saint-Just", "Saint-Mitre"),
        43.350,
        5.430,
    ),
    14: (34, ("Les Arnavaux", "Bon-Secours", "Le Canet", "Le Merlan", "Saint-Barthélemy"), 43.345, 5.390),
    15: (28, ("Les Aygalades", "La Cabucelle", "Les Crottes", "Saint-Antoine", "Saint-Louis"), 43.355, 5.360),
    16: (10, ("L'Estaque", "Saint-André", "Saint-Henri"), 43.365, 5.315),
}
BUREAUX_PER_IRIS = 2
ADDRESSES_PER_BUREAU = (6, 11)


@dataclass(frozen=True)
class Bureau:
    code: str  # 4 digits, as in the Ministère files: "0101"
    arrondissement: int
    commune_code: str  # the arrondissement's INSEE code: "13201"
    postal_code: str  # "13001"
    iris_code: str

    @property
    def key(self) -> str:
        return DEP_CODE + COMMUNE_CODE[2:] + self.code


@dataclass(frozen=True)
class Iris:
    code: str
    name: str
    commune_code: str


@dataclass(frozen=True)
class Address:
    address_id: str
    number: int
    street: str
    bureau: Bureau
    latitude: float
    longitude: float

    @property
    def line(self) -> str:
        return f"{self.number} {self.street}"


@dataclass(frozen=True)
class City:
    bureaux: list[Bureau]
    iris: list[Iris]
    addresses: list[Address]
    by_bureau: dict[str, list[Address]]


def build_city(rng: random.Random, fake: Faker) -> City:
    """The bureaux, IRIS and REU addresses of the city, deterministic for a seeded rng/faker."""
    bureaux: list[Bureau] = []
    iris: list[Iris] = []
    addresses: list[Address] = []
    by_bureau: dict[str, list[Address]] = {}
    for arr, (count, quartiers, lat, lon) in ARRONDISSEMENTS.items():
        commune = f"132{arr:02d}"
        n_iris = (count + BUREAUX_PER_IRIS - 1) // BUREAUX_PER_IRIS
        arr_iris = []
        for j in range(n_iris):
            code = f"{commune}{j // 9 + 1:02d}{j % 9 + 1:02d}"
            arr_iris.append(Iris(code, f"{quartiers[j % len(quartiers)]} {j // len(quartiers) + 1}", commune))
        iris.extend(arr_iris)
        for k in range(1, count + 1):
            bureau = Bureau(
                code=f"{arr:02d}{k:02d}",
                arrondissement=arr,
                commune_code=commune,
                postal_code=f"130{arr:02d}",
                iris_code=arr_iris[(k - 1) // BUREAUX_PER_IRIS].code,
            )
            bureaux.append(bureau)
            streets = [fake.street_name() for _ in range(2)]
            b_lat, b_lon = lat + rng.uniform(-0.012, 0.012), lon + rng.uniform(-0.012, 0.012)
            here = []
            for _ in range(rng.randint(*ADDRESSES_PER_BUREAU)):
                here.append(
                    Address(
                        address_id=f"{COMMUNE_CODE}_{len(addresses) + 1:06d}",
                        number=rng.randint(1, 180),
                        street=rng.choice(streets),
                        bureau=bureau,
                        latitude=round(b_lat + rng.uniform(-0.002, 0.002), 6),
                        longitude=round(b_lon + rng.uniform(-0.002, 0.002), 6),
                    )
                )
                addresses.append(here[-1])
            by_bureau[bureau.code] = here
    return City(bureaux, iris, addresses, by_bureau)
