"""French campaign text: page posts, friendly and hostile comments, mentions, election lists.

The lists are fictional (names are drawn by the generator); nuances are the Ministère's codes.
The hostile lexicon is what page moderators meet in practice, without slurs.
"""

from __future__ import annotations

import random
import unicodedata

# (nuance, list name, typical share of the vote) — list 1 is the campaign's.
ELECTION_LISTS: tuple[tuple[str, str, float], ...] = (
    ("LUG", "MARSEILLE EN COMMUN", 0.24),
    ("LDVD", "UNE AMBITION POUR MARSEILLE", 0.28),
    ("LRN", "MARSEILLE D'ABORD", 0.20),
    ("LREM", "MARSEILLE EN MOUVEMENT", 0.08),
    ("LECO", "MARSEILLE VERTE ET SOLIDAIRE", 0.08),
    ("LEXG", "LA VOIX DES TRAVAILLEURS", 0.02),
    ("LDIV", "MARSEILLE CITOYENNE", 0.04),
    ("LDVG", "GAUCHE UNIE POUR MARSEILLE", 0.06),
)

TOPICS = (
    "les écoles",
    "la propreté",
    "les transports",
    "le logement",
    "la sécurité",
    "les espaces verts",
    "la culture",
    "le Vieux-Port",
    "les piscines municipales",
    "les commerces de proximité",
)
POSTS = (
    "Réunion publique ce soir sur {topic} : venez nombreux, la parole est à vous !",
    "Merci aux bénévoles du porte-à-porte de ce week-end. Prochaine sortie samedi à 10h.",
    "Notre programme pour {topic} : des engagements chiffrés, quartier par quartier.",
    "Ce matin au marché, des dizaines d'échanges sur {topic}. Merci pour votre accueil.",
    "Vous voulez agir pour votre quartier ? Rejoignez une équipe près de chez vous.",
    "Pourquoi {topic} doit redevenir une priorité municipale : notre analyse.",
    "Session de phoning jeudi soir : chaque appel compte. Inscriptions ouvertes.",
    "Grand meeting de campagne : toutes les infos pratiques en commentaire.",
)
FRIENDLY = (
    "Bravo pour ce travail !",
    "Merci pour votre engagement, on est avec vous.",
    "Enfin quelqu'un qui parle de {topic}.",
    "Je serai là samedi !",
    "Super réunion hier soir, très instructive.",
    "Comment rejoindre l'équipe de mon quartier ?",
    "Et pour {topic} dans les quartiers nord ?",
    "On lâche rien !",
    "Quelle heure le rendez-vous ?",
    "Partagé, il faut que ça circule.",
)
HOSTILE = (
    "Bande d'incapables !",
    "Escrocs, vous ne ferez rien de tout ça.",
    "Menteurs ! Arrêtez de prendre les Marseillais pour des idiots.",
    "Honte à vous.",
    "Dégagez, on ne veut plus de vous.",
    "Vendus !!!",
    "Des clowns, comme d'habitude.",
    "Tous pourris, et vous les premiers.",
    "Encore des promesses en l'air, minables.",
    "Traîtres. Personne ne votera pour vous.",
)
MENTIONS = (
    "@{handle} quand est la prochaine réunion dans le {arr}e ?",
    "Belle mobilisation de @{handle} ce matin sur {topic}",
    "@{handle} et concrètement pour {topic} ?",
    "Je soutiens @{handle} pour les municipales",
    "Débat intéressant avec @{handle} sur {topic}",
)


def post_message(rng: random.Random) -> str:
    return rng.choice(POSTS).format(topic=rng.choice(TOPICS))


def friendly_comment(rng: random.Random) -> str:
    return rng.choice(FRIENDLY).format(topic=rng.choice(TOPICS))


def hostile_comment(rng: random.Random) -> str:
    return rng.choice(HOSTILE)


def mention_text(rng: random.Random, handle: str) -> str:
    return rng.choice(MENTIONS).format(handle=handle, topic=rng.choice(TOPICS), arr=rng.randint(1, 16))


def ascii_name(text: str) -> str:
    """``Hélène-Marie`` -> ``helenemarie``: what a name becomes in an e-mail or a handle."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isalnum() and c.isascii()).lower()
