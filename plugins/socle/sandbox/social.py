"""The campaign's social media: a Facebook page and an X account, with fans and trolls.

Fans are page accounts; a few belong to persons who declared their account id in the CRM
(and, most of them, granted ``social_matching``): the only link a warehouse may make.
Hostile accounts comment and reply a lot, in bursts, with an insulting lexicon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from faker import Faker

from socle.sandbox import content
from socle.sandbox.dice import Dice

if TYPE_CHECKING:
    from socle.sandbox.generator import Person

FACEBOOK_PAGE_ID = "104857392019283"
FACEBOOK_VERSION = "v21.0"
X_USER_ID = "1593746280156213248"
X_USERNAME = "MarseilleCommun"
FB_REACTIONS = {"LIKE": 60, "LOVE": 20, "CARE": 5, "WOW": 4, "HAHA": 5, "SAD": 2, "ANGRY": 4}
TWITTER_EPOCH_MS = 1288834974657
PLAIN_MENTIONS_PER_DAY = 3


@dataclass
class Social:
    """One platform's payload for the server, its hostile accounts and what a connector lands."""

    payload: dict[str, Any]
    hostile: list[str]
    counts: dict[str, int]
    activist_reactions: int = 0


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _x_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _CommentWriter:
    """Graph comment ids grow with time across the page, like the real ones."""

    def __init__(self, dice: Dice, serial: int) -> None:
        self.dice = dice
        self.serial = serial

    def add(
        self,
        post_id: str,
        comments: list[dict[str, Any]],
        author: dict[str, Any],
        message: str,
        at: datetime,
        parent: dict[str, Any] | None = None,
    ) -> None:
        self.serial += self.dice.rng.randint(1, 50)
        item = {
            "id": f"{post_id.split('_')[1]}_{self.serial}",
            "from": {"id": author["id"], "name": author["name"]},
            "message": message,
            "created_time": _graph_time(self.dice.before_now(at)),
        }
        if parent:
            item["parent"] = {"id": parent["id"]}
        comments.append(item)


def _tweet_id(dice: Dice, at: datetime) -> str:
    """A snowflake: milliseconds since X's epoch, then 22 random bits."""
    millis = int(at.timestamp() * 1000) - TWITTER_EPOCH_MS
    return str((millis << 22) | dice.rng.randrange(1 << 22))


def make_facebook(dice: Dice, fake: Faker, persons: list[Person], activist: Person, erased: Person) -> Social:
    """The page's posts, their reactions and comments; fans include persons who declared their account."""
    n_people = len(persons)
    linked = [p for p in persons if p.facebook_id]
    fans: list[dict[str, Any]] = [
        {"id": p.facebook_id, "name": f"{p.first_name} {p.last_name}", "weight": p.weight, "pid": p.pid}
        for p in linked
    ]
    for _ in range(n_people // 2):
        fans.append(
            {
                "id": str(dice.rng.randrange(10**15, 10**16)),
                "name": fake.name(),
                "weight": dice.rng.lognormvariate(0, 0.9),
            }
        )
    hostile = [
        {"id": str(dice.rng.randrange(10**15, 10**16)), "name": fake.name(), "weight": 3.0} for _ in range(4)
    ]
    by_pid = {f["pid"]: f for f in fans if "pid" in f}
    activist_fan, erased_fan = by_pid[activist.pid], by_pid[erased.pid]
    posts, comments, reactions = [], {}, {}
    serial = 1000000000000 + dice.rng.randrange(10**6)
    day = dice.start
    while day < dice.now:
        for _ in range(dice.rng.randint(1, 3)):
            serial += dice.rng.randint(3, 97)
            created = day + timedelta(hours=dice.rng.randint(6, 20), minutes=dice.rng.randint(0, 59))
            if created >= dice.now:
                continue
            post_id = f"{FACEBOOK_PAGE_ID}_{serial}"
            posts.append(
                {
                    "id": post_id,
                    "message": content.post_message(dice.rng),
                    "created_time": _graph_time(created),
                    "permalink_url": f"https://www.facebook.com/{FACEBOOK_PAGE_ID}/posts/{serial}",
                    "_created": created,
                }
            )
        day += timedelta(days=1)
    posts.sort(key=lambda p: p["_created"])
    writer = _CommentWriter(dice, 2000000000000000 + dice.rng.randrange(10**6))
    total_comments = 0
    for post in posts:
        created: datetime = post.pop("_created")
        k = dice.rng.randint(len(fans) // 60, len(fans) // 15)
        reactors = dice.pick(fans, k)
        if dice.rng.random() < 0.7 and activist_fan not in reactors:
            reactors.append(activist_fan)
        if dice.rng.random() < 0.15 and erased_fan not in reactors:
            reactors.append(erased_fan)
        if dice.rng.random() < 0.5:
            reactors.append(dice.rng.choice(hostile))
        reacts = []
        for fan in reactors:
            kind = dice.rng.choices(list(FB_REACTIONS), list(FB_REACTIONS.values()))[0]
            if fan in hostile:
                kind = dice.rng.choice(("ANGRY", "HAHA"))
            reacts.append({"id": fan["id"], "name": fan["name"], "type": kind})
        reactions[post["id"]] = reacts
        post_comments: list[dict[str, Any]] = []

        comment = partial(writer.add, post["id"], post_comments)

        for _ in range(dice.rng.randint(0, 8)):
            author = dice.one(fans)
            at = created + timedelta(minutes=dice.rng.expovariate(1 / 240))
            parent = dice.rng.choice(post_comments) if post_comments and dice.rng.random() < 0.15 else None
            comment(author, content.friendly_comment(dice.rng), at, parent)
        if dice.rng.random() < 0.15:
            comment(
                activist_fan,
                content.friendly_comment(dice.rng),
                created + timedelta(minutes=dice.rng.randint(5, 300)),
            )
        for troll in hostile:
            if dice.rng.random() < 0.12:  # a burst: many comments within minutes
                at = created + timedelta(minutes=dice.rng.randint(2, 600))
                for _ in range(dice.rng.randint(5, 10)):
                    at += timedelta(seconds=dice.rng.randint(15, 90))
                    comment(troll, content.hostile_comment(dice.rng), at)
            elif dice.rng.random() < 0.2:
                target = dice.rng.choice(post_comments) if post_comments else None
                comment(
                    troll,
                    content.hostile_comment(dice.rng),
                    created + timedelta(minutes=dice.rng.randint(1, 900)),
                    target,
                )
        post_comments.sort(key=lambda c: c["created_time"])
        comments[post["id"]] = post_comments
        total_comments += len(post_comments)
    return Social(
        payload={"posts": posts, "comments": comments, "reactions": reactions},
        hostile=[h["id"] for h in hostile],
        counts={
            "facebook/posts": len(posts),
            "facebook/comments": total_comments,
            "facebook/reactions": sum(len(r) for r in reactions.values()),
        },
        activist_reactions=sum(1 for r in reactions.values() for x in r if x["id"] == activist_fan["id"]),
    )


def make_x(dice: Dice, fake: Faker, persons: list[Person]) -> Social:
    """The campaign account's posts, mentions and replies, quotes and retweets."""
    n_people = len(persons)
    users: dict[str, dict[str, str]] = {
        X_USER_ID: {"id": X_USER_ID, "name": "Marseille en commun", "username": X_USERNAME}
    }
    accounts: list[dict[str, Any]] = []
    for person in persons:
        if person.x_user_id:
            accounts.append(
                {
                    "id": person.x_user_id,
                    "username": person.x_handle,
                    "name": f"{person.first_name} {person.last_name}",
                    "weight": person.weight,
                }
            )
    for _ in range(n_people // 4):
        name = fake.name()
        handle = f"{content.ascii_name(name)[:10]}{dice.rng.randint(1, 9999)}"
        accounts.append(
            {
                "id": str(dice.rng.randrange(10**17, 10**18)),
                "username": handle,
                "name": name,
                "weight": dice.rng.lognormvariate(0, 0.9),
            }
        )
    hostile = []
    for handle in ("verite_marseille13", "stop_aux_menteurs"):
        hostile.append(
            {
                "id": str(dice.rng.randrange(10**17, 10**18)),
                "username": handle,
                "name": handle.replace("_", " ").title(),
                "weight": 3.0,
            }
        )
    for account in accounts + hostile:
        users[account["id"]] = {k: account[k] for k in ("id", "name", "username")}
    own: list[dict[str, Any]] = []
    day = dice.start
    while day < dice.now:
        for _ in range(dice.rng.choice((0, 1, 1, 2))):
            at = day + timedelta(hours=dice.rng.randint(7, 21), minutes=dice.rng.randint(0, 59))
            if at < dice.now:
                tweet_id = _tweet_id(dice, at)
                own.append(
                    {
                        "id": tweet_id,
                        "text": content.post_message(dice.rng)[:270],
                        "author_id": X_USER_ID,
                        "created_at": _x_time(at),
                        "conversation_id": tweet_id,
                        "_at": at,
                    }
                )
        day += timedelta(days=1)
    mentions, quotes, retweets = [], {}, {}
    for post in own:
        at: datetime = post.pop("_at")
        for _ in range(dice.rng.randint(0, 4)):  # replies
            author = dice.one(accounts)
            reply_at = dice.before_now(at + timedelta(minutes=dice.rng.expovariate(1 / 180)))
            mentions.append(
                _tweet(
                    dice,
                    author,
                    f"@{X_USERNAME} {content.friendly_comment(dice.rng)}",
                    reply_at,
                    post["id"],
                    "replied_to",
                )
            )
        for troll in hostile:
            if dice.rng.random() < 0.35:
                burst_at = at + timedelta(minutes=dice.rng.randint(1, 300))
                for _ in range(dice.rng.randint(2, 6)):
                    burst_at += timedelta(seconds=dice.rng.randint(20, 120))
                    mentions.append(
                        _tweet(
                            dice,
                            troll,
                            f"@{X_USERNAME} {content.hostile_comment(dice.rng)}",
                            dice.before_now(burst_at),
                            post["id"],
                            "replied_to",
                        )
                    )
        quotes[post["id"]] = [
            _tweet(
                dice,
                dice.one(accounts),
                content.friendly_comment(dice.rng),
                dice.before_now(at + timedelta(minutes=dice.rng.randint(5, 2000))),
                post["id"],
                "quoted",
            )
            for _ in range(dice.rng.randint(0, 2))
        ]
        retweets[post["id"]] = [
            a["id"] for a in dice.pick(accounts, dice.rng.randint(0, max(3, len(accounts) // 25)))
        ]
    for _ in range((dice.now - dice.start).days * PLAIN_MENTIONS_PER_DAY):  # plain mentions, not replies
        author = dice.one(accounts)
        mentions.append(
            _tweet(
                dice,
                author,
                content.mention_text(dice.rng, X_USERNAME),
                dice.between(dice.start, dice.now - timedelta(minutes=1)),
            )
        )
    mentions.sort(key=lambda t: t["created_at"])
    own.sort(key=lambda t: t["created_at"])
    return Social(
        payload={
            "users": users,
            "tweets": own,
            "mentions": mentions,
            "quotes": quotes,
            "retweeted_by": retweets,
        },
        hostile=[h["id"] for h in hostile],
        counts={
            "x/tweets": len(own) + len(mentions) + sum(len(q) for q in quotes.values()),
            "x/retweets": sum(len(r) for r in retweets.values()),
        },
    )


def _tweet(
    dice: Dice, author: dict[str, Any], text: str, at: datetime, ref: str | None = None, ref_type: str = ""
) -> dict[str, Any]:
    tweet_id = _tweet_id(dice, at)
    item: dict[str, Any] = {
        "id": tweet_id,
        "text": text,
        "author_id": author["id"],
        "created_at": _x_time(at),
        "conversation_id": ref or tweet_id,
    }
    if ref:
        item["referenced_tweets"] = [{"type": ref_type, "id": ref}]
    return item
