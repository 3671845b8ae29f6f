"""Supply-chain and secret checks that `make test` runs before the tests (see SECURITY.md).

    python tools/security_checks.py            # all three checks: lock, secrets, audit
    python tools/security_checks.py lock       # uv.lock agrees with pyproject.toml
    python tools/security_checks.py secrets    # no secret outside the reviewed .secrets.baseline
    python tools/security_checks.py audit      # pip-audit of every pinned package of uv.lock
    python tools/security_checks.py baseline   # rescan into .secrets.baseline, keeping the reviews

Exit status: 0 when every check passed, 1 when one failed, 2 when a tool is missing.

The audit fails on any known vulnerability. When the vulnerability service cannot be reached and
packages could not be audited, it prints a `NOT AUDITED: ...` line with the count and exits 0,
unless `HHS_AUDIT_STRICT=1`, which makes any package left unaudited a failure.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detect_secrets.core.secrets_collection import SecretsCollection

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".secrets.baseline"

# Vulnerabilities accepted after review, by id (PYSEC-..., GHSA-..., CVE-...), with the reason
# and the date to look again. Keep it empty unless a fix is impossible for now.
ACCEPTED_VULNERABILITIES: dict[str, str] = {}

# Never scanned for secrets: the baseline holds hashes, the lock holds package hashes.
NOT_SCANNED = {".secrets.baseline", "uv.lock"}


def _uv() -> str:
    """The uv next to this interpreter (the project's .venv), else the one on PATH."""
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("uv not found: run `make venv` (it installs uv into .venv)")
    return found


def _uv_env() -> dict[str, str]:
    # Never download an interpreter: the lock is checked with the one running this script.
    return {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}


def check_lock() -> bool:
    """uv.lock resolves pyproject.toml as it is now (`make lock` rewrites it)."""
    if not (ROOT / "uv.lock").exists():
        print("lock: FAILED: uv.lock is missing: run `make lock`")
        return False
    # The commands below are fixed argument lists (no shell, no user input).
    cmd = [_uv(), "lock", "--check", "--offline", "--python", sys.executable]
    done = subprocess.run(cmd, cwd=ROOT, env=_uv_env(), capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0 and "offline" in done.stderr.lower():
        # A cache without some package metadata: ask the registry instead.
        cmd.remove("--offline")
        done = subprocess.run(cmd, cwd=ROOT, env=_uv_env(), capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        print(done.stderr.strip())
        print("lock: FAILED: uv.lock does not match pyproject.toml: run `make lock` and commit it")
        return False
    print("lock: ok (uv.lock matches pyproject.toml)")
    return True


# -- secrets -------------------------------------------------------------------------------------


def _patterns(folder: Path) -> list[str]:
    ignore = folder / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    return [p.strip() for p in lines if p.strip() and not p.startswith(("#", "!"))]


def _ignored(rel: str, is_dir: bool, rules: list[tuple[str, list[str]]]) -> bool:
    """Whether a .gitignore (the root's or a parent folder's) excludes the path `rel`."""
    for base, patterns in rules:
        if not rel.startswith(base):
            continue
        sub = rel[len(base) :]
        name = sub.rsplit("/", 1)[-1]
        for pattern in patterns:
            if pattern.endswith("/") and not is_dir:
                continue
            pat = pattern.rstrip("/")
            if pat.startswith("/") or "/" in pat:
                if fnmatch.fnmatch(sub, pat.lstrip("/")):
                    return True
            elif fnmatch.fnmatch(name, pat):
                return True
    return False


def _walk() -> Iterator[str]:
    rules: list[tuple[str, list[str]]] = []
    for folder, dirs, files in os.walk(ROOT):
        rel_folder = os.path.relpath(folder, ROOT)
        prefix = "" if rel_folder == "." else rel_folder.replace(os.sep, "/") + "/"
        if ".gitignore" in files:
            rules.append((prefix, _patterns(Path(folder))))
        dirs[:] = sorted(d for d in dirs if d != ".git" and not _ignored(prefix + d, True, rules))
        for name in sorted(files):
            if not _ignored(prefix + name, False, rules):
                yield prefix + name


def project_files() -> list[str]:
    """The files of the repository: `git ls-files` (tracked and new, not ignored) in a clone,
    else every file not matched by .gitignore (a copy of the tree without .git)."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        done = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        names = sorted({n for n in done.stdout.decode().split("\0") if n})
    else:
        names = list(_walk())
    return [n for n in names if n not in NOT_SCANNED and (ROOT / n).is_file()]


def _scan(files: list[str]) -> tuple[SecretsCollection, SecretsCollection]:
    """Scan files with the plugins and filters recorded in the baseline; returns (found, known)."""
    from detect_secrets.core import baseline
    from detect_secrets.core.secrets_collection import SecretsCollection

    # Findings compare by file name, so scan from the root with the baseline's relative names.
    os.chdir(ROOT)
    known = baseline.load(baseline.load_from_file(str(BASELINE)), filename=str(BASELINE))
    found = SecretsCollection()
    found.scan_files(*files)
    return found, known


def _have_detect_secrets() -> bool:
    try:
        import detect_secrets  # noqa: F401
    except ImportError:
        print("secrets: detect-secrets is not installed: run `make venv`")
        return False
    return True


def check_secrets() -> bool:
    """No secret in the repository that the audited baseline does not list as a false positive."""
    if not _have_detect_secrets():
        raise SystemExit(2)
    if not BASELINE.exists():
        print("secrets: FAILED: .secrets.baseline is missing: run `make secrets-baseline`")
        return False
    files = project_files()
    found, known = _scan(files)
    new = found - known
    ok = True
    for filename, secret in sorted(new, key=lambda item: (item[0], item[1].line_number)):
        print(f"secrets: NEW {secret.type} in {filename}:{secret.line_number}")
        ok = False
    unaudited = [(f, s) for f, s in known if s.is_secret is None]
    real = [(f, s) for f, s in known if s.is_secret]
    for filename, secret in unaudited:
        print(f"secrets: NOT REVIEWED in the baseline: {secret.type} in {filename}")
    for filename, secret in real:
        print(f"secrets: MARKED REAL in the baseline: {secret.type} in {filename}: rotate it")
    if new:
        print(
            "secrets: FAILED: remove the secret (and rotate it if it was ever real); for a "
            "fake value in a test add `# pragma: allowlist secret` to its line, or run "
            "`make secrets-baseline` and review the new entries (SECURITY.md)"
        )
    if unaudited or real:
        print("secrets: FAILED: every .secrets.baseline entry must be reviewed as not a secret")
        ok = False
    if ok:
        print(f"secrets: ok ({len(files)} files, {len(list(known))} reviewed false positives)")
    return ok


def update_baseline() -> bool:
    """Rescan into .secrets.baseline, keeping the review of the findings it already had."""
    if not _have_detect_secrets():
        raise SystemExit(2)
    from detect_secrets.core import baseline

    found, known = _scan(project_files())
    found.merge(known)
    baseline.save_to_file(found, str(BASELINE))
    todo = sum(1 for _, s in found if s.is_secret is None)
    print(f"secrets: .secrets.baseline written: {len(list(found))} findings, {todo} to review")
    if todo:
        print("review them with `.venv/bin/detect-secrets audit .secrets.baseline`")
    return todo == 0


# -- vulnerabilities -----------------------------------------------------------------------------


def check_audit() -> bool:
    """pip-audit of every package pinned in uv.lock (all extras), on the PyPI advisory data."""
    if shutil.which("pip-audit", path=str(Path(sys.executable).parent)) is None:
        print("audit: pip-audit is not installed: run `make venv`")
        raise SystemExit(2)
    with tempfile.TemporaryDirectory() as tmp:
        pins = Path(tmp) / "requirements.txt"
        export = [_uv(), "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project"]
        subprocess.run(  # noqa: S603
            [*export, "--format", "requirements-txt", "--quiet", "-o", str(pins)],
            cwd=ROOT,
            env=_uv_env(),
            check=True,
        )
        cmd = [str(Path(sys.executable).parent / "pip-audit"), "-r", str(pins)]
        cmd += ["--no-deps", "--disable-pip", "-s", "pypi", "-f", "json"]
        cmd += ["--progress-spinner", "off"]
        for vuln_id in ACCEPTED_VULNERABILITIES:
            cmd += ["--ignore-vuln", vuln_id]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
        pinned = [line.split("==")[0] for line in pins.read_text().splitlines() if "==" in line]
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        error = unreachable_error(done.stderr)
        if error is None:
            print(done.stderr.strip()[-2000:])
            print("audit: FAILED: pip-audit did not produce a report (above: its error)")
            return False
        # pip-audit stops at the first connection error: nothing was audited.
        reason = f"vulnerability service unreachable: {error}"
        report = {"dependencies": [{"name": n, "skip_reason": reason} for n in pinned]}
    ok, lines = audit_outcome(report, strict=os.environ.get("HHS_AUDIT_STRICT", "") == "1")
    print("\n".join(lines))
    return ok


_NETWORK_ERRORS = (
    "ConnectionError",
    "ProxyError",
    "NameResolutionError",
    "ConnectTimeout",
    "ReadTimeout",
    "SSLError",
)


def unreachable_error(stderr: str) -> str | None:
    """The network error that stopped pip-audit (its last line names it), else None."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    found = [name for name in _NETWORK_ERRORS if name in last]
    return found[0] if found else None


def audit_outcome(report: dict[str, Any], strict: bool) -> tuple[bool, list[str]]:
    """Pass or fail, and what to print, for a pip-audit JSON report.

    Any known vulnerability fails. Packages pip-audit skipped (the vulnerability service did not
    answer for them) give a `NOT AUDITED` line and fail only when `strict`.
    """
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    audited = [d for d in deps if "skip_reason" not in d]
    lines = []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            lines.append(
                f"audit: VULNERABLE {dep['name']}=={dep['version']}: {vuln['id']} (fixed in {fixes})"
            )
    if lines:
        lines.append("audit: FAILED: upgrade the packages above (`make lock UPGRADE=1`, then test)")
        return False, lines
    if skipped:
        reasons = "; ".join(sorted({d["skip_reason"].split(":")[0] for d in skipped}))
        where = (
            "the vulnerability service did not answer for any of them"
            if not audited
            else f"the other {len(audited)} have no known vulnerability"
        )
        lines.append(
            f"audit: NOT AUDITED: {len(skipped)} of {len(deps)} pinned packages could not be "
            f"checked for vulnerabilities ({reasons}); {where}. Run `make audit` where PyPI's "
            "JSON API answers, with HHS_AUDIT_STRICT=1."
        )
        if strict:
            lines.append("audit: FAILED: HHS_AUDIT_STRICT=1 requires every package to be audited")
        return not strict, lines
    return True, [f"audit: ok ({len(audited)} pinned packages, no known vulnerability)"]


CHECKS = {"lock": check_lock, "secrets": check_secrets, "audit": check_audit}


def main(argv: list[str]) -> int:
    """Run the named checks (all when none is named); 0 when they all pass."""
    names = argv or list(CHECKS)
    if names == ["baseline"]:
        return 0 if update_baseline() else 1
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"unknown check {unknown[0]!r}: choose from {', '.join(CHECKS)} or baseline")
        return 2
    results = [CHECKS[name]() for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
