"""The outbound allow-list: redirects, stray URLs and hostile registry entries stay on the bases.

Two real loopback servers: the "base" the settings point at, and an "outside" server that must
never see a request unless the allow-list names it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from hhs_platform.connectors import CONNECTORS, AccountRef
from hhs_platform.connectors.base import RawResponse
from hhs_platform.egress import EgressDeniedError, EgressPolicy
from hhs_platform.errors import CollectionError, ConfigurationError, TerminalError
from hhs_platform.http import HttpClient
from hhs_platform.ratelimit import MemoryState, SharedBudgetStore
from hhs_platform.settings import DEFAULT_API_BASES, Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback server; its URL and the path + query of every request it received."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        hits.append(str(request.rel_url))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", hits
    finally:
        await runner.cleanup()


async def not_found(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": "not found"}, status=404)


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, http_max_retries=2, http_timeout_s=5.0, **values)  # type: ignore[call-arg]


# -- the policy ------------------------------------------------------------------------------


def test_the_policy_allows_the_bases_origins_and_the_listed_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HHS_EGRESS_ALLOW_HOSTS", "Cdn.Example.org, 10.0.0.7:8443,*.gov.example")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, bluesky_api_base="http://127.0.0.1:8765/bluesky"
    )
    assert settings.egress_allow_hosts == ["Cdn.Example.org", "10.0.0.7:8443", "*.gov.example"]
    policy = EgressPolicy.from_settings(settings)
    allowed = [
        "http://127.0.0.1:8765/bluesky/xrpc/app.bsky.actor.getProfile?actor=x",
        "https://api.x.com/2/users/by/username/hhsgov",  # the default bases
        "https://API.X.COM./2/tweets",  # case and a trailing dot do not matter
        "https://www.googleapis.com/youtube/v3/channels",
        "https://api.gsa.gov/technology/digital-registry/v1/social_media",
        "https://cdn.example.org:9000/a",  # a listed host: any port
        "https://10.0.0.7:8443/x",
        "https://data.gov.example/x",  # a subdomain of a listed domain
    ]
    refused = [
        "http://127.0.0.1:8766/bluesky/xrpc/x",  # another port of a base's host
        "http://127.0.0.1/bluesky",
        "http://api.x.com:8443/2/tweets",  # a base's host on another port
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://10.0.0.7:443/x",
        "https://gov.example/x",  # the domain itself is not one of its subdomains
        "https://evilgov.example/x",
        "https://api.x.com.evil.example/2/tweets",
        "file:///etc/passwd",
        "ftp://api.x.com/2/tweets",
    ]
    assert [u for u in allowed if not policy.allows(URL(u))] == []
    assert [u for u in refused if policy.allows(URL(u))] == []
    bases = {URL(b).host for b in DEFAULT_API_BASES.values()} - {"127.0.0.1"}
    described = policy.describe()
    assert {f"{h}:443" for h in bases} - {"public.api.bsky.app:443"} <= set(described)
    assert {"127.0.0.1:8765", "cdn.example.org:*", "10.0.0.7:8443", "*.gov.example"} <= set(
        described
    )
    with pytest.raises(EgressDeniedError) as caught:
        policy.check(
            URL("http://169.254.169.254/latest/meta-data/?key=SECRET"),
            where="x profile for x:hhsgov",
            platform="x",
        )
    message = str(caught.value)
    assert message.startswith("x profile for x:hhsgov: refused to request http://169.254.169.254")
    assert "SECRET" not in message and "HHS_EGRESS_ALLOW_HOSTS" in message
    assert isinstance(caught.value, TerminalError) and isinstance(caught.value, ConfigurationError)
    assert caught.value.platform == "x"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("https://cdn.example.org", "not a URL"),
        ("cdn.example.org/path", "not a URL"),
        ("cdn.example.org:https", "port is not a number"),
        ("*.example.org:443", "wildcard"),
        ("cdn.*.org", "'*' may only open"),
        (":8443", "no host name"),
    ],
)
def test_malformed_allow_list_entries_name_the_setting(entry: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        EgressPolicy.from_settings(make_settings(egress_allow_hosts=[entry]))
    assert "HHS_EGRESS_ALLOW_HOSTS" in str(caught.value) and entry in str(caught.value)


def test_a_base_that_is_not_an_http_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="HHS_MASTODON_API_BASE"):
        HttpClient(make_settings(mastodon_api_base="mastodon.social"), lambda _: None)


# -- the client ------------------------------------------------------------------------------


def fetch_via_base(
    base_handler: Callable[[str], Handler], path: str, **settings: Any
) -> tuple[Any, list[str], list[str], list[RawResponse]]:
    """One bluesky request to ``path`` on the base; base hits, outside hits, the archive.

    ``base_handler`` gets the outside server's URL and returns the base server's handler.
    """
    archived: list[RawResponse] = []

    async def main() -> tuple[Any, list[str], list[str]]:
        async with serve(not_found) as (outside, outside_hits):  # noqa: SIM117 - uses outside
            async with serve(base_handler(outside)) as (base, base_hits):
                config = make_settings(bluesky_api_base=base, **settings)
                async with HttpClient(config, archived.append, state=MemoryState()) as http:
                    try:
                        result: Any = await http.get_json(
                            platform="bluesky",
                            endpoint="bluesky.profile",
                            url=path.format(base=base, outside=outside),
                            params={"actor": "hhsgov.bsky.social"},
                            account_key="bluesky:hhsgov.bsky.social",
                            page=0,
                        )
                    except CollectionError as exc:
                        result = exc
                return result, base_hits, outside_hits

    result, base_hits, outside_hits = asyncio.run(main())
    return result, base_hits, outside_hits, archived


def redirecting(target: str) -> Callable[[str], Handler]:
    """A base that redirects ``/old`` to ``target`` (``{outside}`` filled in) and serves ``/new``."""

    def make(outside: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            if request.path == "/old":
                raise web.HTTPFound(target.format(outside=outside))
            if request.path == "/new":
                return web.json_response({"did": "plc:abc"})
            return await not_found(request)

        return handler

    return make


def test_a_redirect_to_another_host_is_refused_before_it_is_followed() -> None:
    result, base_hits, outside_hits, archived = fetch_via_base(
        redirecting("{outside}/steal?from=redirect"), "{base}/old"
    )
    assert isinstance(result, EgressDeniedError)
    assert outside_hits == []
    assert base_hits == ["/old?actor=hhsgov.bsky.social"]  # terminal: not retried
    message = str(result)
    assert message.startswith("bluesky bluesky.profile for bluesky:hhsgov.bsky.social")
    assert "redirected: refused to request http://127.0.0.1:" in message
    assert "/steal?from=redirect" in message
    # the refused hop is archived like a failed attempt: status 0, the URL that was asked for
    assert [(r.status, r.body, URL(r.request_url).path) for r in archived] == [(0, b"", "/old")]


def test_a_redirect_within_the_base_or_to_a_listed_host_is_followed() -> None:
    result, base_hits, outside_hits, _ = fetch_via_base(redirecting("/new"), "{base}/old")
    assert result[1] == {"did": "plc:abc"}
    assert base_hits == ["/old?actor=hhsgov.bsky.social", "/new"]
    assert outside_hits == []
    # the same redirect to the outside server passes once the allow-list names it
    result, _, outside_hits, _ = fetch_via_base(
        redirecting("{outside}/listed"), "{base}/old", egress_allow_hosts=["127.0.0.1"]
    )
    assert isinstance(result, CollectionError) and not isinstance(result, EgressDeniedError)
    assert result.status == 404
    assert outside_hits == ["/listed"]


def test_a_url_off_the_bases_is_refused_without_a_request() -> None:
    result, base_hits, outside_hits, archived = fetch_via_base(
        redirecting("/new"), "{outside}/xrpc/app.bsky.actor.getProfile"
    )
    assert isinstance(result, EgressDeniedError)
    assert (base_hits, outside_hits, archived) == ([], [], [])


#: Registry values that try to move a request to another host.
def hostile_handles(outside: str) -> list[str]:
    host = outside.removeprefix("http://")
    return [
        f"x@{host}",
        f"@{host}",
        f"{outside}/steal",
        f"//{host}/steal",
        f"\\\\{host}\\steal",
        f"../../..//{host}/steal",
        f"hhsgov?next={outside}/steal#",
    ]


def test_hostile_registry_entries_still_reach_only_the_base_host() -> None:
    """Every connector, every hostile handle (also as platform id): requests stay on the base."""
    credentials = {
        name: "fake-credential-value"
        for name in (
            "youtube_api_key",
            "x_bearer_token",
            "facebook_access_token",
            "instagram_access_token",
            "threads_access_token",
            "linkedin_access_token",
            "reddit_access_token",
            "mastodon_access_token",
            "truthsocial_access_token",
            "flickr_api_key",
        )
    }

    async def main() -> tuple[dict[str, set[str]], list[str], list[str]]:
        async with serve(not_found) as (outside, outside_hits), serve(not_found) as (base, hits):
            bases = {f"{p}_api_base": base for p in CONNECTORS}
            config = make_settings(
                youtube_rss_base=base,
                instagram_business_account_id="17841400000000000",
                **bases,
                **credentials,
            )
            outcomes: dict[str, set[str]] = {p: set() for p in CONNECTORS}
            denied: list[str] = []
            # pacing by the documented limits is not under test here (Reddit's would take seconds)
            budgets = SharedBudgetStore(MemoryState(), pace=False)
            async with HttpClient(config, lambda _: None, budgets=budgets) as http:
                for platform, cls in CONNECTORS.items():
                    for handle in hostile_handles(outside):
                        for account in (
                            AccountRef(platform, handle),
                            AccountRef(platform, handle, platform_id=handle),
                        ):
                            before = len(hits)
                            try:
                                await cls(http, config).collect(account)
                            except EgressDeniedError as exc:
                                denied.append(str(exc))
                            except TerminalError:
                                # sent to the base, or refused as no valid handle beforehand
                                pass
                            outcomes[platform].add("sent" if len(hits) > before else "refused")
            return outcomes, outside_hits, denied

    outcomes, outside_hits, denied = asyncio.run(main())
    assert outside_hits == []
    # the URLs are built on the base: the allow-list never had to step in
    assert denied == []
    # every connector either asked the base or refused the value as no handle
    assert {p for p, seen in outcomes.items() if "sent" in seen} >= {
        "bluesky",
        "youtube",
        "x",
        "mastodon",
        "truthsocial",
        "reddit",
    }
    assert all(seen for seen in outcomes.values())
