"""The sandbox server: the aiohttp app, an in-process runner, a thread runner and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from hhs_platform.instants import parse_instant
from hhs_platform.sandbox import usdr
from hhs_platform.sandbox.clock import SimClock
from hhs_platform.sandbox.context import (
    CONTEXT,
    SandboxConfig,
    SandboxContext,
    Stats,
    context,
    json_response,
)
from hhs_platform.sandbox.faults import CHAOS_LIMITS, FaultProfile
from hhs_platform.sandbox.platforms import PLATFORMS
from hhs_platform.sandbox.world import RegistryInput, World, truth_to_json

# Every registered platform's sub-application, mounted at /<platform> (see platforms/).
PLATFORM_APPS: dict[str, Callable[[SandboxContext], web.Application]] = {
    name: p.create_subapp for name, p in PLATFORMS.items()
}
PLATFORM_APPS[usdr.PLATFORM] = usdr.create_subapp  # U.S. Digital Registry: `hhs registry sync`


def _bad(message: str) -> web.Response:
    return json_response({"error": "BadRequest", "message": message}, 400)


def _parse_instant(raw: str) -> datetime:
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None:
        raise ValueError(f"{raw!r} has no time zone; add Z or +00:00")
    return instant


async def _health(request: web.Request) -> web.Response:
    ctx = context(request)
    return json_response(
        {
            "status": "ok",
            "now": ctx.clock.now().isoformat(),
            "frozen": ctx.clock.frozen,
            "seed": ctx.world.seed,
            "platforms": {p: len(ctx.world.platform_accounts(p)) for p in PLATFORM_APPS},
        }
    )


async def _truth(request: web.Request) -> web.Response:
    ctx = context(request)
    try:
        at = _parse_instant(request.query["at"]) if "at" in request.query else ctx.clock.now()
    except ValueError as exc:
        return _bad(f"at must be an ISO-8601 instant: {exc}")
    return json_response(truth_to_json(ctx.world.truth(at), at))


async def _clock(request: web.Request) -> web.Response:
    ctx = context(request)
    if request.method == "POST":
        try:
            body = await request.json()
            if "set" in body:
                ctx.clock.set(_parse_instant(str(body["set"])))
            elif "advance_seconds" in body:
                ctx.clock.advance(timedelta(seconds=float(body["advance_seconds"])))
            else:
                return _bad('send {"set": "<ISO instant>"} or {"advance_seconds": N}')
        except (ValueError, TypeError) as exc:
            return _bad(f"bad clock request: {exc}")
    return json_response({"now": ctx.clock.now().isoformat(), "frozen": ctx.clock.frozen})


async def _stats(request: web.Request) -> web.Response:
    return json_response(context(request).stats.snapshot())


async def _faults(request: web.Request) -> web.Response:
    ctx = context(request)
    if request.method == "POST":
        try:
            body = await request.json()
            if body and "profile" in body:  # a named preset: {"profile": "chaos", "seed": 3}
                ctx.faults = FaultProfile.named(str(body["profile"]), int(body.get("seed", 0)))
            elif body:
                if "platforms" in body and body["platforms"] is not None:
                    body["platforms"] = frozenset(body["platforms"])
                if "latency_ms" in body:
                    body["latency_ms"] = tuple(body["latency_ms"])
                ctx.faults = FaultProfile(**body)
            else:
                ctx.faults = None
        except (ValueError, TypeError) as exc:
            return _bad(f"bad fault profile: {exc}")
    prof = ctx.faults
    return json_response({"faults": prof.as_json() if prof is not None else None})


def create_app(
    world: World,
    *,
    faults: FaultProfile | None = None,
    config: SandboxConfig | None = None,
    **limits: Any,
) -> web.Application:
    """The sandbox application: every platform under ``/<platform>`` plus ``/_sandbox`` control.

    Args:
        world: the simulated world to serve.
        faults: fault injection (default: none).
        config: platform limits; or pass ``SandboxConfig`` settings as keywords
            (``bluesky_rate_limit=10``, ``youtube_daily_quota=5``, ``x_bearer_tokens={...}``).
    """
    if config is None:
        config = SandboxConfig(**limits)
    elif limits:
        raise TypeError("pass either config= or limit keywords, not both")
    ctx = SandboxContext(world=world, config=config, faults=faults, stats=Stats())
    app = web.Application()
    app[CONTEXT] = ctx
    app.router.add_get("/_sandbox/health", _health)
    app.router.add_get("/_sandbox/truth", _truth)
    app.router.add_route("GET", "/_sandbox/clock", _clock)
    app.router.add_route("POST", "/_sandbox/clock", _clock)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_route("GET", "/_sandbox/faults", _faults)
    app.router.add_route("POST", "/_sandbox/faults", _faults)
    for platform, factory in PLATFORM_APPS.items():
        app.add_subapp(f"/{platform}", factory(ctx))
    return app


@dataclass
class Sandbox:
    """A running sandbox: where it listens and what it serves."""

    base_url: str
    world: World
    context: SandboxContext

    @property
    def clock(self) -> SimClock:
        """The world's clock (set or advance it to move simulated time)."""
        return self.world.clock

    @property
    def stats(self) -> Stats:
        """What has been served so far."""
        return self.context.stats

    def url(self, platform: str) -> str:
        """The base URL replacing the platform's origin, e.g. ``http://127.0.0.1:PORT/bluesky``."""
        if platform not in PLATFORM_APPS:
            raise ValueError(
                f"the sandbox has no platform {platform!r}; it serves {list(PLATFORM_APPS)}"
            )
        return f"{self.base_url}/{platform}"


def build_world(
    world: World | None = None,
    *,
    seed: int = 7,
    accounts: RegistryInput | None = None,
    accounts_file: str | Path | None = None,
    clock: SimClock | None = None,
    **world_kwargs: Any,
) -> World:
    """``world`` if given, else one from ``accounts`` rows or a registry file (default: shipped)."""
    if world is not None:
        return world
    if accounts is None:
        from hhs_platform.registry import load_registry

        accounts = load_registry(accounts_file)
    return World(accounts, seed=seed, clock=clock, **world_kwargs)


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"


@asynccontextmanager
async def run_sandbox(
    world: World | None = None,
    *,
    faults: FaultProfile | None = None,
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: dict[str, Any] | None = None,
    **world_kwargs: Any,
) -> AsyncIterator[Sandbox]:
    """Serve the sandbox on a real socket for the duration of the ``async with`` block.

    Args:
        world: the world to serve; otherwise one is built from ``world_kwargs`` (seed, accounts,
            accounts_file, clock, history_days, ...).
        faults: fault injection.
        config: platform limits (or ``limits``: SandboxConfig fields as a dict).
        host: interface to bind.
        port: port (0: an ephemeral one).
    """
    w = build_world(world, **world_kwargs)
    app = create_app(w, faults=faults, config=config, **(limits or {}))
    runner, base = await _start(app, host, port)
    try:
        yield Sandbox(base, w, app[CONTEXT])
    finally:
        await runner.cleanup()


class SandboxThread:
    """The sandbox served from a background thread with its own event loop (for sync callers).

    Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        faults: FaultProfile | None = None,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: dict[str, Any] | None = None,
        **world_kwargs: Any,
    ) -> None:
        """Build the world and app now (errors surface here); serve on ``start()``."""
        self.world = build_world(world, **world_kwargs)
        self._app = create_app(self.world, faults=faults, config=config, **(limits or {}))
        self._host, self._port = host, port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sandbox: Sandbox | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            runner, base = loop.run_until_complete(_start(self._app, self._host, self._port))
        except BaseException as exc:  # handed to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._sandbox = Sandbox(base, self.world, self._app[CONTEXT])
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def start(self, timeout: float = 30.0) -> SandboxThread:
        """Start serving; returns once the socket is listening."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="hhs-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the sandbox did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    @property
    def sandbox(self) -> Sandbox:
        """The running sandbox (after ``start()``)."""
        if self._sandbox is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._sandbox

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.sandbox.base_url

    @property
    def clock(self) -> SimClock:
        """The world's clock."""
        return self.world.clock

    @property
    def stats(self) -> Stats:
        """What has been served so far."""
        return self.sandbox.stats

    @property
    def context(self) -> SandboxContext:
        """The live context (its ``faults`` may be replaced while running)."""
        return self._app[CONTEXT]

    def url(self, platform: str) -> str:
        """The base URL of one platform, e.g. ``http://127.0.0.1:PORT/youtube``."""
        return self.sandbox.url(platform)

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(world: World | None = None, **kwargs: Any) -> SandboxThread:
    """Build and start a ``SandboxThread`` (call ``.stop()`` when done)."""
    return SandboxThread(world, **kwargs).start()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    seed: int = 7,
    accounts_file: str | Path | None = None,
    frozen: bool = False,
    *,
    at: datetime | None = None,
    faults: FaultProfile | None = None,
    config: SandboxConfig | None = None,
    **world_kwargs: Any,
) -> None:
    """Serve the sandbox until interrupted (the ``hhs sandbox serve`` command).

    Args:
        host: interface to bind.
        port: port to listen on.
        seed: the world's seed.
        accounts_file: a registry CSV (default: the shipped registry).
        frozen: freeze the clock (at ``at``, default ``DEFAULT_EPOCH``) instead of following
            real time.
        at: the world's instant (aware); default the epoch when frozen, now when running.
        faults: fault injection.
        config: platform limits.
        **world_kwargs: World options (history_days, future_days, tick_seconds, posts_per_day,
            deletion_rate, edit_rate).
    """
    clock = SimClock(at, frozen=frozen)
    world = build_world(seed=seed, accounts_file=accounts_file, clock=clock, **world_kwargs)
    app = create_app(world, faults=faults, config=config)
    base = f"http://{host}:{port}"

    def banner(_: str) -> None:
        print(f"HHS simulated platforms (seed {seed}, clock {clock.now().isoformat()}):")
        if (warning := stale_clock_warning(clock)) is not None:
            print(warning)
        for p in PLATFORM_APPS:
            print(f"  {p:<8} {base}/{p}  ({len(world.platform_accounts(p))} accounts)")
        print(f"  control  {base}/_sandbox/health | truth | clock | stats | faults")

    web.run_app(app, host=host, port=port, print=banner, access_log=None)


def stale_clock_warning(clock: SimClock, now: datetime | None = None) -> str | None:
    """A warning when a frozen world is so far behind real time that its posts are older than
    the engagement curves' last age when observed (the collector stamps observations with the
    real time); None otherwise."""
    from hhs_platform.transforms.curves import AGES_H

    now = now or datetime.now(UTC)
    behind = now - clock.now()
    if not clock.frozen or behind <= timedelta(hours=max(AGES_H)):
        return None
    return (
        f"  note: the frozen clock is {behind.days} days behind real time; observations are "
        f"stamped with the real time, so posts older than {max(AGES_H) // 24} days then get no "
        f"engagement curves. Freeze it nearer today with --at (e.g. --at {now - timedelta(days=2):%Y-%m-%d})."
    )


def _instant_argument(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:  # argparse prints this message, not "invalid value"
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hhs_platform.sandbox``: parse arguments and ``serve``."""
    parser = argparse.ArgumentParser(
        prog="python -m hhs_platform.sandbox", description=serve.__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts-file", default=None)
    parser.add_argument("--frozen", action="store_true", help="freeze the clock at the epoch")
    parser.add_argument(
        "--at", type=_instant_argument, default=None, help="the world's instant (ISO 8601; UTC)"
    )
    parser.add_argument("--history-days", type=int, default=60)
    parser.add_argument("--posts-per-day", type=float, default=1.0, help="rate multiplier")
    parser.add_argument(
        "--deletion-rate", type=float, default=0.0, help="share of posts deleted (e.g. 0.01)"
    )
    parser.add_argument(
        "--edit-rate", type=float, default=0.0, help="share of posts edited (e.g. 0.02)"
    )
    parser.add_argument("--faults", default=None, help="a named fault profile: chaos")
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        args.seed,
        args.accounts_file,
        args.frozen,
        at=args.at,
        history_days=args.history_days,
        posts_per_day=args.posts_per_day,
        deletion_rate=args.deletion_rate,
        edit_rate=args.edit_rate,
        faults=FaultProfile.named(args.faults, args.seed) if args.faults else None,
        config=SandboxConfig(**CHAOS_LIMITS) if args.faults else None,
    )
