"""Property-based tests of the /v1 API against its own OpenAPI document (schemathesis).

Schemathesis generates requests from the document the server publishes and sends them to a real
uvicorn server on loopback, over a copy of the world lake, with a valid token. Every answer must
be no server error, carry a documented status code and content type, and have a body that
validates against the documented schema (the envelope for data, the problem body for errors).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from hhs_platform.httpapi.app import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def served(world_api: Any) -> tuple[str, str, dict[str, str]]:
    """The server over a copy of the world lake, a token for every agency and the path
    parameters of an account and a post that exist."""
    post = world_api.table("gold/post_curves").sort("platform", "post_id").row(0, named=True)
    # percent-encoded: sent raw, the "//" of a Bluesky at:// id would reach the server as "/"
    known = {
        "platform": post["platform"],
        "account_id": post["account_id"],
        "post_id": quote(post["post_id"], safe=""),
    }
    return world_api.url, world_api.every, known


# The document the server publishes (tests/http_api/test_api_v1.py checks the two are equal).
DOCUMENT = openapi_document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = {
    f"{method.upper()} {path}": SCHEMA[path][method.upper()]
    for path, methods in DOCUMENT["paths"].items()
    for method in methods
}


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_generated_request_gets_a_documented_answer(
    label: str, served: tuple[str, str, dict[str, str]]
) -> None:
    """Valid and invalid requests alike: no 5xx, a documented status, content type and body; the
    request for data that exists gets a 200."""
    url, token, known = served
    operation = OPERATIONS[label]
    statuses: list[int] = []
    # random ids find only 404s: also send the request for an account or a post that exists
    real = {p.name: known[p.name] for p in operation.path_parameters}
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]

    @given(case=st.one_of(strategies))
    @example(case=operation.Case(path_parameters=real))
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            checks=CHECKS,
            timeout=30,
        )
        statuses.append(response.status_code)

    check()
    assert 200 in statuses, statuses


def _answer(status: int, body: dict[str, Any], content_type: str) -> httpx.Response:
    response = httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": content_type},
        request=httpx.Request("GET", "http://127.0.0.1:9/v1/accounts"),
    )
    response.elapsed = dt.timedelta(0)
    return response


PROBLEM_401 = {"type": "about:blank", "title": "Unauthorized", "status": 401}


@pytest.mark.parametrize(
    ("status", "body", "content_type", "failures"),
    [
        (401, PROBLEM_401, "application/problem+json", set()),
        (200, {"data": []}, "application/json", {"Response violates schema"}),
        (401, {"data": []}, "application/problem+json", {"Response violates schema"}),
        (418, PROBLEM_401, "application/problem+json", {"Undocumented status code"}),
        (
            500,
            PROBLEM_401,
            "application/problem+json",
            {"Server error", "Undocumented status code"},
        ),
    ],
)
def test_the_checks_reject_answers_that_break_the_document(
    status: int, body: dict[str, Any], content_type: str, failures: set[str]
) -> None:
    """The checks above are not vacuous: answers off the document fail them (no server)."""
    case = OPERATIONS["GET /v1/accounts"].Case()
    answer = _answer(status, body, content_type)
    if not failures:
        case.validate_response(answer, checks=CHECKS)
        return
    with pytest.raises(FailureGroup) as raised:
        case.validate_response(answer, checks=CHECKS)
    assert {failure.title for failure in raised.value.exceptions} == failures
