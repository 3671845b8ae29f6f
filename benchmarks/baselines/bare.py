"""The practical limit: a bare script that only fetches, decodes, flattens and writes one table.

Every actor's ``app.bsky.feed.getAuthorFeed`` pages through the cursor over one pooled aiohttp
session, ``--concurrency`` actors in flight (32 by default; each actor's pages follow one another,
as the cursor demands). Each body is decoded with orjson and its feed items are flattened into
column lists (a repost under the repost's own URI, as the platform counts it); at the end the
columns become one polars frame (timestamps parsed by polars, duplicates dropped) written with
``deltalake`` to ``<out>/posts`` in one commit. No bronze, no schema checks, no MERGE: nothing a
platform needs beyond the rows themselves::

    python -m benchmarks.baselines.bare --base-url http://127.0.0.1:8765/bluesky \\
        --actors-file actors.txt --out /tmp/bare --result /tmp/bare.json
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
import polars as pl
from deltalake import write_deltalake

from benchmarks.baselines import actors, finish, parser, run_script
from benchmarks.report import cpu_seconds

NAME = "bare"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
REPOST = "app.bsky.feed.defs#reasonRepost"
#: Transient statuses worth one more try (a bare script still must not lose a page).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 4

SCHEMA: dict[str, Any] = {
    "post_id": pl.String,
    "cid": pl.String,
    "account_id": pl.String,
    "author_id": pl.String,
    "author_handle": pl.String,
    "created_at": pl.String,
    "post_type": pl.String,
    "text": pl.String,
    "lang": pl.String,
    "reposted_post_id": pl.String,
    "likes": pl.Int64,
    "reposts": pl.Int64,
    "replies": pl.Int64,
    "quotes": pl.Int64,
}


class Columns:
    """The flattened feed items, one list per column (appending to lists is the cheap part)."""

    def __init__(self) -> None:
        self.lists: dict[str, list[Any]] = {name: [] for name in SCHEMA}

    def add(self, feed: list[dict[str, Any]]) -> None:
        """Flatten one page's feed items."""
        c = self.lists
        post_id, cid, account_id, author_id = (
            c["post_id"],
            c["cid"],
            c["account_id"],
            c["author_id"],
        )
        handle, created, kind, text, lang = (
            c["author_handle"],
            c["created_at"],
            c["post_type"],
            c["text"],
            c["lang"],
        )
        reposted, likes, reposts, replies, quotes = (
            c["reposted_post_id"],
            c["likes"],
            c["reposts"],
            c["replies"],
            c["quotes"],
        )
        for item in feed:
            post = item["post"]
            author = post["author"]
            reason = item.get("reason")
            cid.append(post["cid"])
            author_id.append(author["did"])
            handle.append(author.get("handle"))
            if reason is not None and reason.get("$type") == REPOST:
                post_id.append(reason["uri"])
                account_id.append(reason["by"]["did"])
                created.append(reason["indexedAt"])
                kind.append("repost")
                text.append(None)
                lang.append(None)
                reposted.append(post["uri"])
                likes.append(None)
                reposts.append(None)
                replies.append(None)
                quotes.append(None)
                continue
            record = post["record"]
            embed = record.get("embed")
            langs = record.get("langs")
            post_id.append(post["uri"])
            account_id.append(author["did"])
            created.append(record.get("createdAt"))
            if record.get("reply"):
                kind.append("reply")
            elif embed is not None and embed.get("$type", "").startswith("app.bsky.embed.record"):
                kind.append("quote")
            else:
                kind.append("original")
            text.append(record.get("text"))
            lang.append(langs[0] if langs else None)
            reposted.append(None)
            likes.append(post.get("likeCount"))
            reposts.append(post.get("repostCount"))
            replies.append(post.get("replyCount"))
            quotes.append(post.get("quoteCount"))

    def frame(self) -> pl.DataFrame:
        """One frame: typed timestamps, one row per feed item (first seen kept)."""
        return (
            pl.DataFrame(self.lists, schema=SCHEMA)
            .with_columns(pl.col("created_at").str.to_datetime(time_zone="UTC", time_unit="us"))
            .unique(subset="post_id", keep="first", maintain_order=True)
        )


async def fetch_all(
    base_url: str, names: list[str], page_size: int, concurrency: int
) -> tuple[Columns, int]:
    """Every page of every actor; the flattened items and the number of pages read."""
    url = base_url.rstrip("/") + FEED
    cols = Columns()
    pages = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for name in names:
        queue.put_nowait(name)
    connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def get(params: dict[str, str]) -> dict[str, Any]:
            for attempt in range(ATTEMPTS):
                async with session.get(url, params=params) as resp:
                    body = await resp.read()
                    if resp.status == 200:
                        return orjson.loads(body)  # type: ignore[no-any-return]
                    if resp.status not in RETRY_STATUSES or attempt == ATTEMPTS - 1:
                        raise RuntimeError(f"{params['actor']}: HTTP {resp.status}: {body[:200]!r}")
                await asyncio.sleep(0.2 * 2**attempt)
            raise AssertionError("unreachable")

        async def worker() -> None:
            nonlocal pages
            while not queue.empty():
                actor = queue.get_nowait()
                params = {"actor": actor, "limit": str(page_size)}
                while True:
                    data = await get(params)
                    pages += 1
                    cols.add(data["feed"])
                    cursor = data.get("cursor")
                    if not cursor or not data["feed"]:
                        break
                    params["cursor"] = cursor

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(names)) or 1)))
    return cols, pages


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("aiohttp (concurrent) + orjson + polars + one Delta write: the practical limit.")
    p.add_argument("--concurrency", type=int, default=32, help="actors in flight")
    args = p.parse_args(argv)
    names = actors(args.actors_file)
    table = args.out / "posts"
    args.out.mkdir(parents=True, exist_ok=True)

    start, cpu_start = time.perf_counter(), cpu_seconds()
    cols, pages = asyncio.run(fetch_all(args.base_url, names, args.page_size, args.concurrency))
    df = cols.frame()
    write_deltalake(str(table), df, mode="overwrite")
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start

    read_back = pl.scan_delta(str(table)).select(pl.len()).collect().item()
    return finish(NAME, df.height, pages, wall, cpu, read_back, args.result)


if __name__ == "__main__":
    run_script(main)
