"""HttpClient against a real local aiohttp server: retries, budgets, archiving and redaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from hhs_platform.connectors.base import RawResponse
from hhs_platform.errors import (
    AuthError,
    NetworkError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    TerminalError,
)
from hhs_platform.http import (
    HttpClient,
    LocalBudget,
    RateLimitState,
    backoff_delay,
    parse_rate_limit,
    parse_retry_after,
    redact_url,
)
from hhs_platform.settings import Settings

SECRET = "hhs-TEST-SECRET-key-9f8e7d6c"
TOKEN = "bearer-TEST-token-5a4b3c2d1e"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)  # the fake server's own log is not ours
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "http_max_retries": 3,
        "http_timeout_s": 5.0,
        "egress_allow_hosts": ["127.0.0.1"],  # the local test servers
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fetch(
    handler: Handler,
    *,
    n: int = 1,
    params: dict[str, str | int] | None = None,
    headers: dict[str, str] | None = None,
    classify: Any = None,
    concurrent: bool = False,
    **settings: Any,
) -> tuple[list[Any], list[RawResponse]]:
    """Make ``n`` requests (in a row or at once); results (or exceptions) and the archive."""
    archived: list[RawResponse] = []

    async def main() -> list[Any]:
        async with (
            serve(handler) as url,
            HttpClient(make_settings(**settings), archived.append, backoff_base_s=0.01) as http,
        ):

            async def one(i: int) -> Any:
                return await http.get_json(
                    platform="bluesky",
                    endpoint="test.endpoint",
                    url=f"{url}/xrpc/test",
                    params=params,
                    account_key="bluesky:test",
                    page=i,
                    headers=headers,
                    classify=classify,
                )

            if concurrent:
                return list(
                    await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
                )
            results: list[Any] = []
            for i in range(n):
                try:
                    results.append(await one(i))
                except Exception as exc:
                    results.append(exc)
            return results

    return asyncio.run(main()), archived


def scripted(
    *responses: Callable[[], web.StreamResponse] | web.Response,
) -> tuple[Handler, list[float]]:
    """A handler answering with the given responses in turn (the last repeats); and hit times."""
    hits: list[float] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(time.time())
        item = responses[min(len(hits) - 1, len(responses) - 1)]
        return item() if callable(item) else item

    return handler, hits


def ok(**headers: str) -> Callable[[], web.Response]:
    return lambda: web.json_response({"ok": True}, headers=headers)


def status(code: int, **headers: str) -> Callable[[], web.Response]:
    return lambda: web.json_response({"error": f"status {code}"}, status=code, headers=headers)


def test_429_is_retried_honouring_retry_after() -> None:
    handler, hits = scripted(status(429, **{"Retry-After": "1"}), ok())
    [result], archived = fetch(handler)
    _raw, data = result
    assert data == {"ok": True}
    assert [r.status for r in archived] == [429, 200]
    assert hits[1] - hits[0] >= 0.95
    assert archived[0].headers["retry-after"] == "1"
    assert archived[0].body == b'{"error": "status 429"}'


def test_retry_after_as_http_date() -> None:
    now = time.time()
    when = format_datetime(datetime.fromtimestamp(now + 30, tz=UTC), usegmt=True)
    assert parse_retry_after(when, now) == pytest.approx(30, abs=1)
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after("soon", now) is None


def test_5xx_then_success() -> None:
    handler, _hits = scripted(status(503), status(500), ok())
    [(raw, data)], archived = fetch(handler)
    assert data == {"ok": True} and raw.status == 200
    assert [r.status for r in archived] == [503, 500, 200]
    assert all(r.page == 0 for r in archived)


def test_retries_are_bounded() -> None:
    handler, hits = scripted(status(502))
    [error], archived = fetch(handler, http_max_retries=2)
    assert isinstance(error, ServerError) and error.status == 502
    assert len(hits) == 3 and len(archived) == 3


def test_404_is_terminal_and_not_retried() -> None:
    handler, hits = scripted(status(404), ok())
    [error], archived = fetch(handler)
    assert isinstance(error, NotFoundError)
    assert len(hits) == 1 and [r.status for r in archived] == [404]


@pytest.mark.parametrize(
    ("code", "kind"),
    [(401, AuthError), (403, AuthError), (410, NotFoundError), (400, TerminalError)],
)
def test_terminal_statuses(code: int, kind: type) -> None:
    handler, hits = scripted(status(code))
    [error], _ = fetch(handler)
    assert type(error) is kind and len(hits) == 1


def test_classify_hook_decides_first() -> None:
    def quota(raw: RawResponse) -> Any:
        return QuotaExhaustedError("spent", platform=raw.platform) if raw.status == 403 else None

    handler, hits = scripted(status(403), ok())
    [error], _ = fetch(handler, classify=quota)
    assert isinstance(error, QuotaExhaustedError) and len(hits) == 1

    def throttled(raw: RawResponse) -> Any:
        return RateLimitedError("slow down", platform=raw.platform) if raw.status == 403 else None

    handler, hits = scripted(status(403), ok())
    [(raw, _)], archived = fetch(handler, classify=throttled)
    assert raw.status == 200 and [r.status for r in archived] == [403, 200]


def test_truncated_bodies_are_retried() -> None:
    async def cut_connection(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 200
        await response.prepare(request)
        await response.write(b'{"feed": [{"post"')
        assert request.transport is not None
        request.transport.close()
        return response

    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return await cut_connection(request)
        if calls == 2:  # complete HTTP message, truncated JSON
            return web.Response(body=b'{"feed": [{"post"', content_type="application/json")
        return web.json_response({"feed": []})

    [(_raw, data)], archived = fetch(handler)
    assert data == {"feed": []}
    assert [r.status for r in archived] == [0, 200, 200]
    assert archived[1].body == b'{"feed": [{"post"'


def test_timeout_is_a_retried_network_error() -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1.0)
        return web.json_response({"ok": 1})

    [(_raw, data)], archived = fetch(handler, http_timeout_s=0.3)
    assert data == {"ok": 1}
    assert [r.status for r in archived] == [0, 200]


def test_non_json_when_not_expected() -> None:
    archived: list[RawResponse] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<feed/>", content_type="application/atom+xml")

    async def main() -> tuple[RawResponse, bytes]:
        async with serve(handler) as url, HttpClient(make_settings(), archived.append) as http:
            return await http.get(
                platform="youtube",
                endpoint="rss",
                url=url,
                params=None,
                account_key="youtube:x",
                page=0,
                expect_json=False,
            )

    raw, body = asyncio.run(main())
    assert body == b"<feed/>" and raw.headers["content-type"].startswith("application/atom+xml")
    assert raw.fetched_at.tzinfo is not None and raw.elapsed_ms > 0


def test_budget_waits_for_bluesky_reset() -> None:
    reset = int(time.time()) + 1

    handler, hits = scripted(
        ok(**{"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)}),
        ok(
            **{
                "RateLimit-Limit": "3",
                "RateLimit-Remaining": "2",
                "RateLimit-Reset": str(reset + 300),
            }
        ),
    )
    results, archived = fetch(handler, n=2)
    assert all(isinstance(r, tuple) for r in results)
    assert hits[1] >= reset - 0.01, "the second request waited for the reset"
    assert archived[0].headers["ratelimit-remaining"] == "0"


def test_budget_waits_for_reddit_style_reset() -> None:
    handler, hits = scripted(
        ok(
            **{
                "x-ratelimit-remaining": "0.0",
                "x-ratelimit-used": "600",
                "x-ratelimit-reset": "0.6",
            }
        ),
        ok(**{"x-ratelimit-remaining": "599.0", "x-ratelimit-reset": "600"}),
    )
    fetch(handler, n=2)
    assert hits[1] - hits[0] >= 0.55


def test_budget_counts_down_between_responses() -> None:
    budget = LocalBudget("t")
    budget.update(RateLimitState(remaining=2, reset_at=time.time() + 0.4))

    async def main() -> float:
        start = time.perf_counter()
        for _ in range(3):
            await budget.acquire()
        return time.perf_counter() - start

    assert asyncio.run(main()) >= 0.3  # the third request had to wait for the reset


def test_concurrency_cap() -> None:
    in_flight = peak = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.json_response({})

    results, _ = fetch(handler, n=6, concurrent=True, http_concurrency=2)
    assert all(isinstance(r, tuple) for r in results)
    assert peak == 2


def test_parse_rate_limit_flavours() -> None:
    now = 1_800_000_000.0
    bsky = parse_rate_limit(
        {"RateLimit-Limit": "3000", "RateLimit-Remaining": "12", "RateLimit-Reset": "1800000060"},
        now,
    )
    # A reset in whole seconds counts one more (the platform truncates): 60 s -> 61 s.
    assert bsky == RateLimitState(remaining=12, reset_at=1_800_000_061, limit=3000)
    policy = parse_rate_limit(
        {
            "RateLimit-Remaining": "5",
            "RateLimit-Reset": "1800000060",
            "RateLimit-Policy": "3000;w=300",
        },
        now,
    )
    assert policy is not None and policy.limit == 3000
    x = parse_rate_limit(
        {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": "1800000900",
        },
        now,
    )
    assert x == RateLimitState(remaining=0, reset_at=1_800_000_901, limit=900)
    masto = parse_rate_limit(
        {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "299",
            "X-RateLimit-Reset": "2027-01-15T08:00:00.212100Z",
        },
        now,
    )
    assert masto is not None and masto.remaining == 299
    # a fraction of a second is taken as it is
    assert masto.reset_at == datetime(2027, 1, 15, 8, 0, 0, 212100, tzinfo=UTC).timestamp()
    reddit = parse_rate_limit(
        {"x-ratelimit-remaining": "598.0", "x-ratelimit-used": "2", "x-ratelimit-reset": "245"}, now
    )
    assert reddit == RateLimitState(remaining=598, reset_at=now + 246)
    whole = parse_rate_limit(
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2027-01-15T08:00:00Z"}, now
    )
    assert whole is not None
    assert whole.reset_at == datetime(2027, 1, 15, 8, 0, 1, tzinfo=UTC).timestamp()
    assert parse_rate_limit({"content-type": "application/json"}, now) is None


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 30.0, rng) for a in range(12) for _ in range(20)]
    assert min(delays) >= 0 and max(delays) <= 30.0
    assert max(backoff_delay(0, 0.5, 30.0, rng) for _ in range(50)) <= 0.5


def test_redact_url() -> None:
    url = f"https://u:pw@www.googleapis.com/youtube/v3/videos?id=a&key={SECRET}&access_token=t0k3n"
    safe = redact_url(url, [SECRET])
    assert safe == "https://www.googleapis.com/youtube/v3/videos?id=a&key=***&access_token=***"
    assert redact_url(f"https://x/?q={SECRET}", [SECRET]) == "https://x/?q=***"


def test_secrets_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        assert (
            request.query["key"] == SECRET and request.headers["Authorization"] == f"Bearer {TOKEN}"
        )
        link = f'<{request.url}&pageToken=2>; rel="next"'
        if calls <= 2:
            return web.json_response(
                {"error": {"message": f"backend failed for key {SECRET}"}},
                status=500,
                headers={"Link": link, "X-Echo-Key": SECRET},
            )
        return web.json_response(
            {"error": {"message": f"key {SECRET} is not valid"}}, status=403, headers={"Link": link}
        )

    [error], archived = fetch(
        handler,
        params={"id": "abc", "key": SECRET},
        headers={"Authorization": f"Bearer {TOKEN}"},
        youtube_api_key=SECRET,
    )
    assert isinstance(error, AuthError)
    assert len(archived) == 3
    texts = [str(error), repr(error), caplog.text]
    for raw in archived:
        assert "key=***" in raw.request_url
        texts += [raw.request_url, repr(raw), repr(dict(raw.headers)), raw.body.decode()]
        assert "authorization" not in raw.headers and "x-echo-key" not in raw.headers
        assert "link" in raw.headers
    for text in texts:
        assert SECRET not in text and TOKEN not in text
    assert "backend failed" in caplog.text  # the retries were logged, redacted


def test_secrets_absent_from_network_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def gone(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def main() -> None:
        async with serve(gone) as url:
            pass  # the server is gone: its port now refuses connections
        async with HttpClient(
            make_settings(http_max_retries=1, youtube_api_key=SECRET),
            archived.append,
            backoff_base_s=0.01,
        ) as http:
            await http.get_json(
                platform="youtube",
                endpoint="e",
                url=f"{url}/youtube/v3/channels",
                params={"key": SECRET},
                account_key="youtube:x",
                page=0,
            )

    archived: list[RawResponse] = []
    with pytest.raises(NetworkError) as info:
        asyncio.run(main())
    assert [r.status for r in archived] == [0, 0]
    for text in (
        str(info.value),
        repr(info.value),
        caplog.text,
        *(r.request_url for r in archived),
    ):
        assert SECRET not in text
    assert info.value.__cause__ is None


def test_get_checks_json_bodies_by_content_type() -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        body = b'{"items": [' if calls == 1 else b'{"items": []}'
        return web.Response(body=body, content_type="application/json")

    archived: list[RawResponse] = []

    async def main() -> bytes:
        async with serve(handler) as url, HttpClient(make_settings(), archived.append) as http:
            _, body = await http.get(
                platform="youtube",
                endpoint="e",
                url=url,
                params={"part": "snippet"},
                account_key="youtube:x",
                page=0,
            )
            return body

    assert asyncio.run(main()) == b'{"items": []}'
    assert [r.body for r in archived] == [b'{"items": [', b'{"items": []}']
    assert archived[0].request_url.endswith("/?part=snippet")
