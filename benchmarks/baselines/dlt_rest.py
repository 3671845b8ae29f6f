"""dlt's ``rest_api`` source writing Delta: the off-the-shelf loader a data engineer would pick.

The source is configured, as dlt's documentation shows, for ``app.bsky.feed.getAuthorFeed``: a
resource ``posts`` whose ``actor`` query parameter is resolved from a resource listing the actors
(one request chain per actor), a JSON cursor paginator (``cursor`` in the body, ``cursor`` as the
query parameter) and the data selector ``feed``. The pipeline writes to dlt's filesystem
destination with ``table_format="delta"``: the bucket is the parent of ``--out`` and the dataset
its name, so that the feed items land in the Delta table ``<out>/posts`` (dlt flattens nested
objects into columns such as ``post__uri`` and ``reason__uri`` and puts nested lists into child
tables ``<out>/posts__...``, beside its own ``_dlt_*`` tables). dlt creates the dataset directory
itself, so ``--out`` must not exist yet or hold an earlier run of this baseline. dlt's working
directory (pipeline state, extracted and normalised files) is a temporary directory beside
``--out``, removed at the end, so nothing is left in ``~/.dlt``.

Settings that differ from dlt's defaults: telemetry off (``RUNTIME__DLTHUB_TELEMETRY=false``,
unless set already); the data directory (``DLT_DATA_DIR``) in that temporary directory; the
dataset name taken as it is (``enable_dataset_name_normalization=False``, so that ``--out`` may be
any name); the write disposition ``replace`` (a rerun into the same ``--out`` overwrites, as the
naive baseline does). Extraction, normalisation (one in-process worker) and loading are dlt's
defaults.

Needs the ``bench`` extra (``pip install -e ".[bench]"``); without dlt it exits with status 2::

    python -m benchmarks.baselines.dlt_rest --base-url http://127.0.0.1:8765/bluesky \\
        --actors-file actors.txt --out /tmp/dlt --result /tmp/dlt.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.baselines import actors, finish, parser, run_script
from benchmarks.report import cpu_seconds

NAME = "dlt_rest"
INSTALL = 'dlt is not installed: install the benchmark extra with `pip install -e ".[bench]"`'
FEED = "xrpc/app.bsky.feed.getAuthorFeed"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser("dlt's rest_api source writing Delta (the dlt baseline).").parse_args(argv)
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-dlt-", dir=out.parent) as work:
        return run(args, out, Path(work))


def run(args: argparse.Namespace, out: Path, work: Path) -> int:
    """Run the pipeline with dlt's working directory in ``work``; write the result."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ["DLT_DATA_DIR"] = str(work)
    try:
        import dlt
        from deltalake import DeltaTable
        from dlt.sources.rest_api import RESTAPIConfig, rest_api_source
    except ImportError:
        print(INSTALL, file=sys.stderr)
        return 2
    names = actors(args.actors_file)
    pages = 0

    def count_page(response: Any, *_: Any, **__: Any) -> Any:
        nonlocal pages
        pages += 1
        return response

    @dlt.resource(name="actors", selected=False)
    def actor_list() -> Iterator[list[dict[str, str]]]:
        yield [{"actor": name} for name in names]

    start, cpu_start = time.perf_counter(), cpu_seconds()
    config: RESTAPIConfig = {
        "client": {"base_url": args.base_url.rstrip("/") + "/"},
        "resource_defaults": {"write_disposition": "replace"},
        "resources": [
            actor_list,
            {
                "name": "posts",
                "table_format": "delta",
                "endpoint": {
                    "path": FEED,
                    "params": {
                        "actor": "{resources.actors.actor}",
                        "limit": args.page_size,
                    },
                    "paginator": {
                        "type": "cursor",
                        "cursor_path": "cursor",
                        "cursor_param": "cursor",
                    },
                    "data_selector": "feed",
                    "response_actions": [count_page],
                },
            },
        ],
    }
    pipeline = dlt.pipeline(
        pipeline_name="bluesky_posts",
        # the Delta table of posts is <bucket>/<dataset>/posts, i.e. <out>/posts
        destination=dlt.destinations.filesystem(
            bucket_url=out.parent.as_uri(), enable_dataset_name_normalization=False
        ),
        dataset_name=out.name,
        pipelines_dir=str(work / "pipelines"),
    )
    info = pipeline.run(rest_api_source(config, name="bluesky"))
    info.raise_on_failed_jobs()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start

    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    posts = normalized.row_counts.get("posts", 0) if normalized is not None else 0
    table = DeltaTable(str(out / "posts"))
    read_back = table.to_pyarrow_table(columns=["post__uri"]).num_rows
    return finish(NAME, posts, pages, wall, cpu, read_back, args.result)


if __name__ == "__main__":
    run_script(main)
