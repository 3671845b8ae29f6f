"""The script an analyst writes: requests, one page after another, pandas, then one Delta write.

For each actor it asks ``app.bsky.feed.getAuthorFeed`` for page after page through the cursor,
keeps a flat dict per feed item (reposts under the repost's own URI, as the platform counts them),
builds one ``pandas.DataFrame`` at the end and writes it with ``deltalake.write_deltalake`` to
``<out>/posts``. No concurrency, no retries, no schema: correct, and as simple as it gets::

    python -m benchmarks.baselines.naive --base-url http://127.0.0.1:8765/bluesky \\
        --actors-file actors.txt --out /tmp/naive --result /tmp/naive.json
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import requests
from deltalake import DeltaTable, write_deltalake

from benchmarks.baselines import actors, finish, parser, run_script
from benchmarks.report import cpu_seconds

NAME = "naive"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
REPOST = "app.bsky.feed.defs#reasonRepost"


def flatten(item: dict[str, Any]) -> dict[str, Any]:
    """One FeedViewPost as a flat row."""
    post = item["post"]
    record = post.get("record", {})
    reason = item.get("reason") or {}
    is_repost = reason.get("$type") == REPOST
    embed_type = (record.get("embed") or {}).get("$type", "")
    if is_repost:
        kind = "repost"
    elif record.get("reply"):
        kind = "reply"
    elif embed_type.startswith("app.bsky.embed.record"):
        kind = "quote"
    else:
        kind = "original"
    return {
        "post_id": reason["uri"] if is_repost else post["uri"],
        "account_id": reason["by"]["did"] if is_repost else post["author"]["did"],
        "author_id": post["author"]["did"],
        "author_handle": post["author"].get("handle"),
        "created_at": reason["indexedAt"] if is_repost else record.get("createdAt"),
        "post_type": kind,
        "text": None if is_repost else record.get("text"),
        "lang": None if is_repost else (record.get("langs") or [None])[0],
        "reposted_post_id": post["uri"] if is_repost else None,
        "likes": None if is_repost else post.get("likeCount"),
        "reposts": None if is_repost else post.get("repostCount"),
        "replies": None if is_repost else post.get("replyCount"),
        "quotes": None if is_repost else post.get("quoteCount"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(
        "Sequential requests + pandas + write_deltalake (the naive baseline)."
    ).parse_args(argv)
    names = actors(args.actors_file)
    url = args.base_url.rstrip("/") + FEED
    table = args.out / "posts"
    args.out.mkdir(parents=True, exist_ok=True)

    start, cpu_start = time.perf_counter(), cpu_seconds()
    session = requests.Session()
    rows: list[dict[str, Any]] = []
    pages = 0
    for actor in names:
        cursor = None
        while True:
            params: dict[str, Any] = {"actor": actor, "limit": args.page_size}
            if cursor:
                params["cursor"] = cursor
            response = session.get(url, params=params, timeout=60)
            response.raise_for_status()
            data = response.json()
            pages += 1
            rows.extend(flatten(item) for item in data["feed"])
            cursor = data.get("cursor")
            if not cursor:
                break
    df = pd.DataFrame(rows)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601")
    write_deltalake(str(table), df, mode="overwrite")
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start

    read_back = DeltaTable(str(table)).to_pyarrow_table(columns=["post_id"]).num_rows
    return finish(NAME, len(df), pages, wall, cpu, read_back, args.result)


if __name__ == "__main__":
    run_script(main)
