"""The scripts a user would write instead of running the platform, measured on the same endpoints.

Each baseline reads every page of ``app.bsky.feed.getAuthorFeed`` (Bluesky's public API, served
by the simulated platforms) for a list of actors and writes the posts to one Delta table. Each is
a module runnable on its own, in its own interpreter, so that its CPU time and memory are its
own::

    python -m benchmarks.baselines.<name> --base-url URL --actors-file FILE --out DIR --result FILE

``--actors-file`` holds one actor (handle or DID) per line; ``--out`` is the directory of the Delta
table (``<out>/posts``); ``--result`` receives a :class:`BaselineResult` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn


@dataclass
class BaselineResult:
    """What one baseline run did and what it cost."""

    name: str
    posts: int  # posts fetched and written
    pages: int  # getAuthorFeed responses read
    wall_s: float  # from the first request to the table committed
    cpu_s: float  # user + system CPU seconds of the baseline's process over the same span
    rows_in_table: int  # rows read back from the Delta table afterwards
    peak_rss_mib: float  # peak resident memory of the baseline's process

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.wall_s if self.wall_s else 0.0

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "posts_per_s": round(self.posts_per_s, 1)}


def parser(description: str) -> argparse.ArgumentParser:
    """The command line every baseline takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--base-url", required=True, help="Bluesky API base, e.g. http://127.0.0.1:8001")
    p.add_argument("--actors-file", type=Path, required=True, help="one actor per line")
    p.add_argument("--out", type=Path, required=True, help="directory of the Delta table")
    p.add_argument("--result", type=Path, required=True, help="where to write the result JSON")
    p.add_argument("--page-size", type=int, default=100, help="posts per page (limit)")
    return p


def actors(path: Path) -> list[str]:
    """The actors of an actors file (blank lines skipped)."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def save(result: BaselineResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")


def finish(
    name: str, posts: int, pages: int, wall: float, cpu: float, rows_in_table: int, path: Path
) -> int:
    """Save a baseline's result (with this process's peak memory) to ``path``, say it on
    stderr; the exit status (0)."""
    from benchmarks.report import peak_rss_mib

    result = BaselineResult(
        name=name,
        posts=posts,
        pages=pages,
        wall_s=round(wall, 3),
        cpu_s=round(cpu, 3),
        rows_in_table=rows_in_table,
        peak_rss_mib=peak_rss_mib(),
    )
    save(result, path)
    print(f"{name}: {posts} posts, {pages} pages in {wall:.2f} s", file=sys.stderr)
    return 0


def run_script(main: Callable[[], int]) -> NoReturn:
    """Run a baseline's ``main`` as a script, then leave without the interpreter's teardown.

    By then its result is saved and said. A native thread pool shutting down at exit (Arrow's,
    under pandas' conversion) was seen to abort a finished run once ("terminate called without
    an active exception", exit status -6), which would count a complete baseline as failed."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["BaselineResult", "actors", "finish", "parser", "run_script", "save"]
