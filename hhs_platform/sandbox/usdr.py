"""The simulated U.S. Digital Registry (GSA): ``/agencies`` and ``/social_media``, paged, keyed.

Generated deterministically from the shipped accounts registry, with a few planted differences
so ``hhs registry sync`` has something to find (see ``PLANTED``), and with the cosmetic
variety the real registry has (``@`` prefixes, URLs in the account field, other letter cases,
``twitter.com`` links) which a sync must *not* report as changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from aiohttp import web

from hhs_platform.sandbox.context import SandboxContext, json_response
from hhs_platform.sandbox.faults import Handler, fault_middleware

PLATFORM = "usdr"
#: Our platform slug → the registry's service key (``/social_media/services.json``).
SERVICE_KEYS: dict[str, str] = {
    "x": "twitter",
    "facebook": "facebook",
    "instagram": "instagram",
    "youtube": "youtube",
    "linkedin": "linkedin",
    "flickr": "flickr",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
    "threads": "threads",
    "mastodon": "mastodon",
    "reddit": "reddit",
    "truthsocial": "truth_social",
}
_DISPLAY = {"twitter": "Twitter", "truth_social": "Truth Social", "linkedin": "LinkedIn"}
_EPOCH = datetime(2016, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Planted:
    """The differences between the simulated registry and the shipped CSV, by design."""

    #: (platform, handle) in the shipped CSV that the USDR does not list.
    missing: tuple[str, str] = ("x", "FDAWomen")
    #: An account the USDR lists that the CSV lacks: (agency code, platform, handle, url).
    extra: tuple[str, str, str, str] = (
        "CDC",
        "threads",
        "cdcgov",
        "https://www.threads.net/@cdcgov",
    )
    #: (platform, old handle in the CSV) → the handle the USDR lists now.
    renamed: tuple[tuple[str, str], str] = (("x", "ahrqnews"), "AHRQgov")


PLANTED = Planted()
#: Agencies outside HHS, with an account each, that a sync must leave alone.
OTHER_AGENCIES: tuple[tuple[str, str, str, str], ...] = (
    ("General Services Administration", "gsa", "twitter", "USGSA"),
    ("Department of Education", "ed", "twitter", "usedgov"),
    ("National Aeronautics and Space Administration", "nasa", "instagram", "nasa"),
)


@dataclass
class UsdrData:
    """The simulated registry's agencies and social media accounts, in id order."""

    agencies: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)


def agency_display_name(agency_name: str) -> str:
    """The agency name as the USDR spells it: without the CSV's trailing parenthetical."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", agency_name).strip() or agency_name


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _stamp(n: int) -> str:
    return (_EPOCH + timedelta(days=n * 13 % 3000, seconds=n * 977 % 86400)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )


def build_usdr(registry: pl.DataFrame, planted: Planted = PLANTED) -> UsdrData:
    """The simulated USDR contents for ``registry`` (deterministic: same rows, same bytes)."""
    names: dict[str, str] = {}
    for code, name in registry.select("agency", "agency_name").unique().sort("agency").iter_rows():
        names.setdefault(code, agency_display_name(name))
    agencies = [(name, code.split("-")[-1].lower()) for code, name in sorted(names.items())]
    agencies += [(name, short) for name, short, _, _ in OTHER_AGENCIES]
    data = UsdrData()
    agency_ids: dict[str, int] = {}
    for i, (name, short) in enumerate(sorted(set(agencies))):
        agency_ids[name] = 100 + i
        data.agencies.append(
            {
                "id": 100 + i,
                "name": name,
                "shortname": short,
                "info_url": f"https://www.usa.gov/agencies/{_slug(name)}",
                "mobile_app_count": 0,
                "social_media_count": 0,
            }
        )
    entries: list[tuple[str, str, str, str]] = []  # agency name, service key, account, url
    old_key, new_handle = planted.renamed
    for row in registry.sort("platform", "handle").iter_rows(named=True):
        platform, handle, url = row["platform"], row["handle"], row["url"]
        if (platform, handle) == planted.missing or platform not in SERVICE_KEYS:
            continue
        if (platform, handle) == old_key:
            url = url.replace(handle, new_handle)
            handle = new_handle
        entries.append((names[row["agency"]], SERVICE_KEYS[platform], handle, url))
    code, platform, handle, url = planted.extra
    entries.append((names[code], SERVICE_KEYS[platform], handle, url))
    for name, _, service, account in OTHER_AGENCIES:
        site = "https://x.com" if service == "twitter" else f"https://www.{service}.com"
        entries.append((name, service, account, f"{site}/{account}"))
    for i, (agency, service, account, url) in enumerate(sorted(entries)):
        shown, service_url = account, url
        # The real registry is typed by hand: the same account shows up in several spellings.
        if service == "twitter" and i % 3 == 0:
            service_url = url.replace("https://x.com/", "https://twitter.com/")
        if service in ("twitter", "instagram", "threads") and i % 4 == 1:
            shown = "@" + account
        elif i % 9 == 2:
            shown = service_url
        elif service != "youtube" and i % 5 == 3:
            shown = account.lower()
        agency_id = agency_ids[agency]
        data.accounts.append(
            {
                "id": 5000 + i,
                "organization": agency,
                "account": shown,
                "service_key": service,
                "service_display_name": _DISPLAY.get(service, service.title()),
                "short_description": f"{agency} on {_DISPLAY.get(service, service.title())}",
                "long_description": f"The official {service} account of the {agency}.",
                "service_url": service_url,
                "language": "Spanish" if "espanol" in account.lower() else "English",
                "agencies": [{"id": agency_id, "name": agency}],
                "tags": [{"id": 1, "tag_text": "health"}],
                "created_at": _stamp(i),
                "updated_at": _stamp(i + 7),
            }
        )
    counts: dict[int, int] = {}
    for acc in data.accounts:
        for ag in acc["agencies"]:
            counts[ag["id"]] = counts.get(ag["id"], 0) + 1
    for ag in data.agencies:
        ag["social_media_count"] = counts.get(ag["id"], 0)
    return data


def _error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def _paging(query: Mapping[str, str]) -> tuple[int, int] | web.Response:
    try:
        page = int(query.get("page", "1"))
        size = int(query.get("page_size", "25"))
    except ValueError:
        return _error(400, "BAD_REQUEST", "page and page_size must be whole numbers")
    if page < 1 or not 1 <= size <= 100:
        return _error(400, "BAD_REQUEST", "page must be >= 1 and page_size between 1 and 100")
    return page, size


def _page(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    pages = max(1, -(-len(items) // size))
    return {
        "metadata": {"count": len(items), "page": page, "page_size": size, "pages": pages},
        "results": items[(page - 1) * size : page * size],
    }


def create_subapp(ctx: SandboxContext) -> web.Application:
    """The USDR sub-application, mounted at ``/usdr`` (API under ``/usdr/api/v1``)."""
    cache: dict[str, UsdrData] = {}

    def data() -> UsdrData:
        if "data" not in cache:
            from hhs_platform.registry import load_registry

            cache["data"] = build_usdr(load_registry())
        return cache["data"]

    async def agencies(request: web.Request) -> web.Response:
        """GET /api/v1/agencies?q=&page=&page_size=."""
        paging = _paging(request.query)
        if isinstance(paging, web.Response):
            return paging
        q = request.query.get("q", "").strip().lower()
        found = [
            a for a in data().agencies if q in a["name"].lower() or q == a["shortname"].lower()
        ]
        return json_response(_page(found, *paging))

    async def social_media(request: web.Request) -> web.Response:
        """GET /api/v1/social_media?agencies=&services=&q=&page=&page_size=."""
        paging = _paging(request.query)
        if isinstance(paging, web.Response):
            return paging
        found = data().accounts
        if request.query.get("agencies"):
            try:
                wanted = {int(a) for a in request.query["agencies"].split(",") if a.strip()}
            except ValueError:
                return _error(400, "BAD_REQUEST", "agencies must be comma-separated agency ids")
            found = [a for a in found if any(g["id"] in wanted for g in a["agencies"])]
        if request.query.get("services"):
            services = {s.strip() for s in request.query["services"].split(",")}
            found = [a for a in found if a["service_key"] in services]
        if request.query.get("q"):
            q = request.query["q"].lower()
            found = [a for a in found if q in (a["account"] + " " + a["organization"]).lower()]
        return json_response(_page(found, *paging))

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx.stats.requests[(PLATFORM, request.path.rsplit("/", 1)[-1])] += 1
        return await handler(request)

    @web.middleware
    async def api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        # api.data.gov takes the key as API_KEY (or api_key) and answers 403 without one.
        if not (request.query.get("API_KEY") or request.query.get("api_key")):
            return _error(
                403,
                "API_KEY_MISSING",
                "No api_key was supplied. Get one at https://api.data.gov/signup/",
            )
        return await handler(request)

    def on_fault(kind: str) -> None:
        ctx.stats.faults[(PLATFORM, kind)] += 1

    def error_for_status(status: int) -> web.Response:
        return _error(status, "OVER_RATE_LIMIT" if status == 429 else "SERVER_ERROR", "error")

    app = web.Application(
        middlewares=[
            count,
            fault_middleware(
                PLATFORM, lambda: ctx.faults, ctx.next_request, error_for_status, on_fault
            ),
            api_key,
        ]
    )
    for suffix in ("", ".json"):
        app.router.add_get(f"/api/v1/agencies{suffix}", agencies)
        app.router.add_get(f"/api/v1/social_media{suffix}", social_media)
    return app
