"""Lake fixtures: an S3-compatible server (moto, over a real socket) and a small real collection."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest

from hhs_platform.lake import Lake


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the moto server and the storage options that reach it."""

    name: str
    options: dict[str, str]

    def uri(self, prefix: str) -> str:
        return f"s3://{self.name}/{prefix}"


#: Run by a child Python: moto's S3 server on a free port; prints the port, serves until killed.
#: moto checks a conditional PUT's ``If-None-Match``/``If-Match`` and then writes, unlocked: two
#: threads committing the same Delta log entry at once could both pass the check, and the second
#: write replaced the first (a lost commit, seen once in a CI run of the concurrent-append test).
#: S3 makes the check and the write one step; so does the lock here.
MOTO_CHILD = """
import logging, threading
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
_conditional = threading.Lock()
_put_object = S3Response.put_object
def put_object(self):
    if self.headers.get("If-None-Match") or self.headers.get("If-Match"):
        with _conditional:
            return _put_object(self)
    return _put_object(self)
S3Response.put_object = put_object
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
threading.Event().wait()
"""


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free 127.0.0.1 port, for the whole session.

    It runs in its own process (a bare ``python -c``, ~1.5 s to start): in this one, a deltalake
    call that keeps the GIL while it waits for the server (``DeltaTable.history`` does) would
    starve the server's thread until the client's 180 s timeout.
    """
    proc = subprocess.Popen([sys.executable, "-c", MOTO_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RuntimeError(f"moto's S3 server did not start (exit code {proc.poll()})")
        yield f"http://127.0.0.1:{line}"
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> S3Bucket:
    """A new, empty bucket. The options are what a real deployment sets in
    ``HHS_LAKE_STORAGE_OPTIONS`` (no conditional-put or unsafe-rename option is needed: moto,
    like AWS S3, honours ``If-None-Match: *``)."""
    from pyarrow import fs

    options = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test-key-id",
        "AWS_SECRET_ACCESS_KEY": "test-secret-do-not-print",
        "AWS_ALLOW_HTTP": "true",
    }
    name = f"hhs-{uuid.uuid4().hex[:12]}"
    s3 = fs.S3FileSystem(
        access_key=options["AWS_ACCESS_KEY_ID"],
        secret_key=options["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        endpoint_override=moto_endpoint.split("://", 1)[1],
        scheme="http",
        allow_bucket_creation=True,
    )
    s3.create_dir(name)
    return S3Bucket(name, options)


HHS = "U.S. Department of Health and Human Services"
CDC = "Centers for Disease Control and Prevention"


def _registry() -> pl.DataFrame:
    rows = [
        ("HHS", HHS, None, "bluesky", "hhs.gov"),
        ("CDC", CDC, "HHS", "bluesky", "cdc.gov"),
        ("HHS", HHS, None, "mastodon", "hhs"),
    ]
    return pl.DataFrame(
        [
            {
                "agency": a,
                "agency_name": n,
                "parent_agency": parent,
                "platform": p,
                "handle": h,
                "platform_id": None,
                "url": f"https://example.org/{p}/{h}",
                "tier": 1,
                "verified": False,
                "source": "test",
            }
            for a, n, parent, p, h in rows
        ],
        schema={
            "agency": pl.Utf8,
            "agency_name": pl.Utf8,
            "parent_agency": pl.Utf8,
            "platform": pl.Utf8,
            "handle": pl.Utf8,
            "platform_id": pl.Utf8,
            "url": pl.Utf8,
            "tier": pl.Int64,
            "verified": pl.Boolean,
            "source": pl.Utf8,
        },
    )


@pytest.fixture(scope="session")
def collect_into() -> Callable[..., dict[str, Any]]:
    """``collect_into(lake, run_id=...)``: one real collection from the simulated platforms
    (bronze → silver → gold) into ``lake``; returns the sandbox's ground truth tables."""

    def run(lake: Lake, run_id: str = "run-1", seed: int = 7) -> dict[str, Any]:
        from hhs_platform.collect import collect_batch, plan_batches
        from hhs_platform.lake.silver import write_silver
        from hhs_platform.sandbox import SandboxThread
        from hhs_platform.settings import Settings
        from hhs_platform.transforms.gold import build_gold
        from hhs_platform.transforms.normalize import SilverBatch

        registry = _registry()
        with SandboxThread(accounts=registry, seed=seed) as sb:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                lake_uri=lake.uri,
                lake_storage_options=lake.storage_options,
                bluesky_api_base=sb.url("bluesky"),
                mastodon_api_base=sb.url("mastodon"),
            )
            outcomes = [
                collect_batch(
                    b,
                    run_id=run_id,
                    batch_id=str(i),
                    lake=lake,
                    settings=settings,
                    registry=registry,
                )
                for i, b in enumerate(plan_batches(registry, 10, settings))
            ]
            assert all(not o.errors for o in outcomes), [o.errors for o in outcomes]
            write_silver(lake, SilverBatch.concat([o.silver for o in outcomes]))
            build_gold(lake)
            return sb.world.truth()

    return run


@pytest.fixture(scope="session")
def synthetic_rows() -> Callable[..., pl.DataFrame]:
    """``synthetic_rows(table, n, start=0, tag="")``: ``n`` rows typed as the catalogue says,
    row ``i`` (from ``start``) distinct on every column; ``tag`` varies the non-key values."""
    from datetime import UTC, datetime, timedelta

    from schemas import table_spec

    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def make(table: str, n: int, start: int = 0, tag: str = "") -> pl.DataFrame:
        spec = table_spec(table)
        cols: dict[str, list[Any]] = {}
        for col, dtype in spec.schema.items():
            keyed = col in spec.keys or col in spec.partition_by
            values: list[Any] = []
            for i in range(start, start + n):
                if col in spec.partition_by:
                    values.append(f"p{i % 2}")
                elif dtype == pl.String:
                    values.append(f"{col}-{i}" if keyed else f"{col}-{i}{tag}")
                elif isinstance(dtype, pl.Datetime):
                    values.append(t0 + timedelta(minutes=i))
                elif dtype == pl.Date:
                    values.append((t0 + timedelta(days=i)).date())
                elif dtype == pl.Boolean:
                    values.append(i % 2 == 0)
                elif dtype.is_integer():
                    values.append(i + len(tag))
                elif dtype.is_float():
                    values.append(i / 3 + len(tag))
                elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
                    values.append([f"x{i}{tag}"])
                else:
                    values.append(None)
            cols[col] = values
        return pl.DataFrame(cols, schema=spec.schema)

    return make
