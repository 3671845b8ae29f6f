"""The restore drill, timed: back a lake up, restore it elsewhere, verify every checksum.

Measures the recovery time (restore + verify) against the lake's size, the first (full) and a
repeated (incremental, nothing new) backup, and optionally the same through an S3-compatible
server (moto, started in a child process: a local stand-in, not a measure of AWS bandwidth).

Usage::

    python -m benchmarks.restore_drill --scale small          # seconds
    python -m benchmarks.restore_drill --scale large          # the cached large lake (~675 MB)
    python -m benchmarks.restore_drill --scale small --s3     # also lake -> S3 -> lake

Target (issue 7): restore + verify of the production-size lake within 1 hour (the RTO promised
in docs/operations/backup.md); the printed ratio is measured / target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.large_lake import SCALES, ensure_lake
from hhs_platform.lake import Lake
from hhs_platform.lake.backup import backup, restore, verify_backup

RTO_TARGET_S = 3600.0
RESULTS = Path(__file__).resolve().parent / "results"


#: Run by a child Python: moto's S3 server on a free port; prints the port, serves until killed.
MOTO_CHILD = """
import logging, threading
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
threading.Event().wait()
"""


def _moto() -> tuple[Any, dict[str, str], str]:
    """A moto S3 server in a child process, a bucket on it, and the storage options."""
    from pyarrow import fs

    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", MOTO_CHILD], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    options = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ALLOW_HTTP": "true",
    }
    s3 = fs.S3FileSystem(
        access_key="bench",
        secret_key=options["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        endpoint_override=f"127.0.0.1:{port}",
        scheme="http",
        allow_bucket_creation=True,
    )
    s3.create_dir("hhs-backup")
    return proc, options, "s3://hhs-backup/lake"


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def drill(lake: Lake, dest: str, target: str, options: dict[str, str] | None) -> dict[str, Any]:
    """Backup (full, then again), restore and verify; the numbers of each step."""
    full, t_full = _timed(lambda: backup(lake, dest, options))
    again, t_again = _timed(lambda: backup(lake, dest, options))
    _, t_verify_backup = _timed(lambda: verify_backup(dest, options))
    report = restore(dest, target, backup_storage_options=options, target_storage_options={})
    mb = full.bytes / 1e6
    assert report.verify is not None
    rto = report.copy_seconds + report.verify.seconds
    return {
        "tables": len(full.tables),
        "rows": sum(t.rows for t in full.tables.values()),
        "files": full.files,
        "mb": round(mb, 1),
        "backup_full_s": round(t_full, 2),
        "backup_full_mb_s": round(mb / t_full, 1),
        "backup_again_s": round(t_again, 2),
        "backup_again_copied_files": again.copied_files,
        "verify_backup_s": round(t_verify_backup, 2),
        "restore_copy_s": round(report.copy_seconds, 2),
        "restore_copy_mb_s": round(mb / max(report.copy_seconds, 1e-9), 1),
        "restore_verify_s": round(report.verify.seconds, 2),
        "rto_s": round(rto, 2),
        "rto_ratio_to_target": round(rto / RTO_TARGET_S, 4),
    }


def _print(label: str, r: dict[str, Any]) -> None:
    print(f"{label}: {r['tables']} tables, {r['rows']:,} rows, {r['files']:,} files, {r['mb']} MB")
    print(
        f"  backup, full         {r['backup_full_s']:8.2f} s  ({r['backup_full_mb_s']} MB/s)\n"
        f"  backup, nothing new  {r['backup_again_s']:8.2f} s  "
        f"({r['backup_again_copied_files']} files copied)\n"
        f"  verify the backup    {r['verify_backup_s']:8.2f} s\n"
        f"  restore (copy)       {r['restore_copy_s']:8.2f} s  ({r['restore_copy_mb_s']} MB/s)\n"
        f"  restore (verify)     {r['restore_verify_s']:8.2f} s\n"
        f"  RTO (restore+verify) {r['rto_s']:8.2f} s  = {r['rto_ratio_to_target']:.4f} x the "
        f"{RTO_TARGET_S / 60:.0f} min target"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--s3", action="store_true", help="Also back up to / restore from moto S3.")
    parser.add_argument("--work", help="Scratch folder (default: a temporary one).")
    args = parser.parse_args(argv)

    path, _ = ensure_lake(SCALES[args.scale], log=print)
    lake = Lake(str(path), {})
    work = Path(args.work or tempfile.mkdtemp(prefix="restore-drill-"))
    results: dict[str, Any] = {"scale": args.scale, "lake": str(path)}
    try:
        local = drill(lake, str(work / "backup"), str(work / "restored"), None)
        _print("local -> local", local)
        results["local"] = local
        if args.s3:
            proc, options, dest = _moto()
            try:
                s3 = drill(lake, dest, str(work / "restored-from-s3"), options)
            finally:
                proc.kill()
            _print("local -> S3 (moto) -> local", s3)
            results["s3_moto"] = s3
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"restore_drill-{args.scale}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
