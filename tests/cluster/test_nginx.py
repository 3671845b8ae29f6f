"""cluster/nginx/hhs-dashboards.conf checked by a real nginx, and wired to cluster/k8s/dashboards.yaml.

nginx itself (Debian's, ``make nginx``) loads the file with a throw-away self-signed certificate,
then serves it on loopback in front of a small stand-in for the dashboards: redirects to HTTPS,
headers, cookie flags, the login rate limit, the body limit and the websocket upgrade are
observed from a client, and what reached the app is checked at the app.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "cluster" / "nginx" / "hhs-dashboards.conf"
MANIFEST = ROOT / "cluster" / "k8s" / "dashboards.yaml"
TLS_DIR = "/etc/nginx/tls/"
APP_PORT = 5006


def find_nginx() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which("nginx", path=path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def substitute(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced, failing unless the file really says ``old``."""
    assert old in text, f"{CONF.name} no longer contains {old!r}: update this test"
    return text.replace(old, new)


@dataclass
class Edge:
    """nginx running the project's file on loopback, in front of the stand-in app."""

    prefix: Path
    http_port: int
    https_port: int
    app_port: int
    seen: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def nginx() -> str:
    found = find_nginx()
    if found is None:
        pytest.skip("nginx is not installed: `make nginx` installs Debian's (needs root and apt)")
    return found


@pytest.fixture(scope="module")
def prefix(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """A prefix folder with a certificate, the project's file on free ports and a main conf."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    root = tmp_path_factory.mktemp("nginx")
    tls = root / "tls"
    tls.mkdir()
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-keyout", str(tls / "tls.key"), "-out", str(tls / "tls.crt")),
        ],
        check=True,
        capture_output=True,
    )
    edge = Edge(root, free_port(), free_port(), free_port())
    text = CONF.read_text(encoding="utf-8")
    text = substitute(text, TLS_DIR, f"{tls}/")
    text = substitute(text, "listen 8443 ssl;", f"listen 127.0.0.1:{edge.https_port} ssl;")
    text = substitute(text, "listen 8080;", f"listen 127.0.0.1:{edge.http_port};")
    text = substitute(text, f"server 127.0.0.1:{APP_PORT};", f"server 127.0.0.1:{edge.app_port};")
    (root / "hhs-dashboards.conf").write_text(text, encoding="utf-8")
    temp = "".join(
        f"    {kind}_temp_path {root}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (root / "nginx.conf").write_text(
        # Workers of a root master would run as nobody, who cannot enter pytest's tmp folders.
        ("user root root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
        f"error_log {root}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log off;\n{temp}    include {root}/hhs-dashboards.conf;\n}}\n",
        encoding="utf-8",
    )
    yield edge


def nginx_options(edge: Edge) -> list[str]:
    root = edge.prefix
    return ["-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")]


def test_nginx_accepts_the_file_without_warnings(nginx: str, prefix: Edge) -> None:
    done = subprocess.run(
        [nginx, "-t", *nginx_options(prefix)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    assert "[warn]" not in done.stderr and "[emerg]" not in done.stderr, done.stderr


async def app_main(edge: Edge, run: Any) -> Any:
    """Serve the stand-in app on ``edge.app_port`` while ``run()`` talks to nginx."""

    async def page(request: web.Request) -> web.StreamResponse:
        edge.seen.append({"path": request.path, **dict(request.headers)})
        response = web.Response(text="dashboards", content_type="text/html")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"  # replaced by the proxy's DENY
        response.headers["Server"] = "TornadoServer/6.4"
        response.set_cookie("user", "signed-value", httponly=True, path="/")
        return response

    async def websocket(request: web.Request) -> web.StreamResponse:
        edge.seen.append({"path": request.path, **dict(request.headers)})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(f"pong {message.data}")
        return ws

    app = web.Application(client_max_size=8 * 2**20)
    app.router.add_get("/posts/ws", websocket)
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", edge.app_port).start()
    try:
        return await run()
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def running(nginx: str, prefix: Edge) -> Iterator[Edge]:
    proc = subprocess.Popen(
        [nginx, *nginx_options(prefix)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", prefix.https_port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"nginx did not start: {err}")
                time.sleep(0.02)
        yield prefix
    finally:
        proc.terminate()
        proc.wait(10)


def client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a throw-away self-signed certificate
    return ctx


def test_the_proxy_adds_tls_headers_cookie_flags_and_limits(running: Edge) -> None:
    https = f"https://127.0.0.1:{running.https_port}"
    ctx = client_tls()

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        connector = aiohttp.TCPConnector(ssl=ctx, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as s:
            async with s.get(
                f"http://127.0.0.1:{running.http_port}/posts?x=1", allow_redirects=False
            ) as r:
                out["redirect"] = (r.status, r.headers.get("Location"))
            async with s.get(f"{https}/posts") as r:
                out["page"] = (r.status, await r.text(), r.headers.copy())
            async with s.post(f"{https}/posts", data=b"x" * (2 * 2**20)) as r:
                out["big"] = r.status
            statuses = []
            for _ in range(12):
                async with s.post(f"{https}/login", data={"username": "a", "password": "b"}) as r:
                    statuses.append(r.status)
                    if r.status == 429:
                        out["429 headers"] = r.headers.copy()
            out["login"] = statuses
            async with s.ws_connect(f"{https.replace('https', 'wss')}/posts/ws") as ws:
                await ws.send_str("ping")
                out["ws"] = (await ws.receive(timeout=5)).data
        return out

    with (
        socket.create_connection(("127.0.0.1", running.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        version, cipher = tls.version(), tls.cipher()[0]
    started = len(running.seen)
    out = asyncio.run(app_main(running, run))
    seen = running.seen[started:]

    assert out["redirect"] == (301, "https://127.0.0.1/posts?x=1")
    status, body, headers = out["page"]
    assert (status, body) == (200, "dashboards")
    assert version in {"TLSv1.2", "TLSv1.3"}
    assert "GCM" in cipher or "CHACHA20" in cipher
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers.getall("X-Frame-Options") == ["DENY"]
    assert headers.getall("X-Content-Type-Options") == ["nosniff"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "nginx"  # no version, not the app's
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("user=signed-value;")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    # what the app was told about the client
    page_request = next(h for h in seen if h["path"] == "/posts")
    assert page_request["X-Forwarded-Proto"] == "https"
    assert page_request["X-Real-IP"] == "127.0.0.1"
    assert page_request["X-Forwarded-For"] == "127.0.0.1"

    assert out["big"] == 413
    # 10 a minute with a burst of 5: the first 6 pass, the rest are refused at the proxy
    assert out["login"] == [200] * 6 + [429] * 6
    assert sum(h["path"] == "/login" for h in seen) == 6
    assert out["429 headers"]["Strict-Transport-Security"].startswith("max-age=")
    assert out["ws"] == "pong ping"
    ws_request = next(h for h in seen if h["path"] == "/posts/ws")
    assert ws_request["Upgrade"].lower() == "websocket"


def test_the_kubernetes_pod_runs_the_file_as_written() -> None:
    """dashboards.yaml mounts what the file expects where it expects it."""
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    text = CONF.read_text(encoding="utf-8")
    app, nginx = containers["dashboards"], containers["nginx"]
    # the app listens on loopback only, on the port of the file's upstream
    args = app["args"]
    assert args[args.index("--address") + 1] == "127.0.0.1"
    assert f"server 127.0.0.1:{args[args.index('--port') + 1]};" in text
    assert "ports" not in app
    # the file comes from the ConfigMap made of it, the certificate from a TLS Secret
    mounts = {m["name"]: m["mountPath"] for m in nginx["volumeMounts"]}
    assert volumes["nginx-conf"]["configMap"]["name"] == "hhs-nginx"
    assert mounts["nginx-conf"] == "/etc/nginx/conf.d"
    assert f"create configmap hhs-nginx --from-file=cluster/nginx/{CONF.name}" in (
        MANIFEST.read_text(encoding="utf-8")
    )
    assert mounts["tls"].rstrip("/") + "/" == TLS_DIR
    assert set(re.findall(r"ssl_certificate(?:_key)? (\S+);", text)) == {
        f"{TLS_DIR}tls.crt",
        f"{TLS_DIR}tls.key",
    }
    listen = {int(p) for p in re.findall(r"^\s*listen (\d+)", text, re.M)}
    assert {p["containerPort"] for p in nginx["ports"]} == listen
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {
        p["name"] for p in nginx["ports"]
    }
    assert nginx["securityContext"]["readOnlyRootFilesystem"] is True
    assert mounts["nginx-tmp"] == "/tmp"
