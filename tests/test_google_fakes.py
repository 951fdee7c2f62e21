"""The Google fakes refuse what Google's discovery documents do not allow, as Google answers.

If these fail, every other Google test is testing against a lax fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.fakes import discovery
from tests.fakes.google_apis import FakeGoogleApis
from tests.fakes.merchant_data import product

SITE = "sc-domain:example.com"
QUERY = "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query"
AUTH = {"Authorization": "Bearer static-token"}
GOOD = {"startDate": "2026-01-01", "endDate": "2026-01-01", "dimensions": ["DATE", "QUERY"],
        "type": "WEB", "dataState": "ALL", "aggregationType": "BY_PROPERTY", "rowLimit": 10,
        "startRow": 0}


@pytest.fixture
def apis() -> Iterator[FakeGoogleApis]:
    fake = FakeGoogleApis(products=3)
    fake.add_search_data(SITE, date(2026, 1, 1), 2, 5)
    fake.add_search_data(SITE, date(2026, 1, 1), 2, 5, search_type="DISCOVER")
    with fake:
        yield fake


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(("change", "field", "status"), [
    ({"rowLimit": 25001}, "rowLimit", 400),              # "from 1 to 25,000 (inclusive)"
    ({"rowLimit": 0}, "rowLimit", 400),
    ({"startRow": -1}, "startRow", 400),                 # "Must be a non-negative number"
    ({"endDate": "2025-12-31"}, "endDate", 400),         # "greater than or equal to the start"
    ({"startDate": "2026-1-01"}, "startDate", 400),      # "in YYYY-MM-DD format"
    ({"dimensions": ["date"]}, "dimensions[0]", 400),    # enum values are DATE, QUERY, ...
    ({"dimensions": ["DATE", "KEYWORD"]}, "dimensions[1]", 400),
    ({"type": "web"}, "type", 400),
    ({"dataState": "fresh"}, "dataState", 400),
    ({"rowLimit": "10"}, "rowLimit", 400),
    ({"bogus": 1}, "bogus", 400),                        # unknown field
])
def test_search_console_body_outside_the_description_is_refused(
        apis: FakeGoogleApis, change: dict[str, Any], field: str, status: int) -> None:
    response = httpx.post(apis.base + QUERY, json={**GOOD, **change}, headers=AUTH)
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    [detail] = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"][0]["field"] == field


def test_missing_required_dates_are_refused(apis: FakeGoogleApis) -> None:
    body = {k: v for k, v in GOOD.items() if k != "startDate"}
    response = httpx.post(apis.base + QUERY, json=body, headers=AUTH)
    assert response.status_code == 400
    assert error_of(response)["message"] == "Required field 'startDate' is missing."


@pytest.mark.parametrize(("change", "message"), [
    ({"type": "DISCOVER"}, "Dimension QUERY is not supported for search type DISCOVER."),
    ({"dimensions": ["DATE", "PAGE"]},
     "Cannot aggregate by property when grouping or filtering by page."),
    ({"dimensions": ["SEARCH_APPEARANCE", "DATE"]},
     "Search appearance cannot be grouped with other dimensions."),
    ({"dimensions": ["HOUR"]}, "Grouping by HOUR requires dataState HOURLY_ALL."),
])
def test_service_rules_beyond_the_schema(apis: FakeGoogleApis, change: dict[str, Any],
                                         message: str) -> None:
    response = httpx.post(apis.base + QUERY, json={**GOOD, **change}, headers=AUTH)
    assert (response.status_code, error_of(response)["message"]) == (400, message)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", QUERY),                                          # POST only
    ("POST", "/webmasters/v3/sites/x/searchAnalytics/querys"),
    ("GET", "/products/v1/accounts/1/productz"),
    ("GET", "/products/v1/accounts/1/products/a/b"),
    ("GET", "/nothing/here"),
])
def test_unknown_paths_and_methods_are_not_found(apis: FakeGoogleApis, method: str,
                                                 path: str) -> None:
    response = httpx.request(method, apis.base + path, headers=AUTH)
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"


@pytest.mark.parametrize("query", ["pageSize=ten", "pageSize=1&pageSize=2", "limit=5",
                                   "pageToken=garbage"])
def test_merchant_query_parameters_are_checked(apis: FakeGoogleApis, query: str) -> None:
    response = httpx.get(f"{apis.base}/products/v1/accounts/1/products?{query}", headers=AUTH)
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_merchant_pages_default_to_25_are_capped_at_1000_and_tokens_bind_the_size(
        apis: FakeGoogleApis) -> None:
    apis.listing("1").products = [product("1", i) for i in range(1100)]
    first = httpx.get(f"{apis.base}/products/v1/accounts/1/products", headers=AUTH).json()
    assert len(first["products"]) == 25
    big = httpx.get(f"{apis.base}/products/v1/accounts/1/products?pageSize=5000",
                    headers=AUTH).json()
    assert len(big["products"]) == 1000
    token = big["nextPageToken"]
    other = httpx.get(f"{apis.base}/products/v1/accounts/1/products?pageSize=10&"
                      f"pageToken={token}", headers=AUTH)
    assert other.status_code == 400
    rest = httpx.get(f"{apis.base}/products/v1/accounts/1/products?pageSize=1000&"
                     f"pageToken={token}", headers=AUTH).json()
    assert len(rest["products"]) == 100 and "nextPageToken" not in rest


def test_tokens_and_their_scopes_are_checked(apis: FakeGoogleApis) -> None:
    url = f"{apis.base}/products/v1/accounts/1/products"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    apis.tokens = lambda token: frozenset({"https://www.googleapis.com/auth/webmasters"})
    refused = httpx.get(url, headers=AUTH)
    assert refused.status_code == 403
    assert error_of(refused)["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert httpx.post(apis.base + QUERY, json=GOOD, headers=AUTH).status_code == 200


def test_answers_follow_the_documented_behaviour(apis: FakeGoogleApis) -> None:
    answer = httpx.post(apis.base + QUERY, json=GOOD, headers=AUTH)
    data = answer.json()
    assert data["responseAggregationType"] == "BY_PROPERTY"
    assert len(data["rows"]) == 5 and [r["clicks"] for r in data["rows"]] == sorted(
        (r["clicks"] for r in data["rows"]), reverse=True)
    assert not {k.lower() for k in answer.headers} & {"retry-after", "x-ratelimit-limit",
                                                       "x-ratelimit-remaining"}
    empty = httpx.post(apis.base + QUERY, json={**GOOD, "startRow": 5}, headers=AUTH).json()
    assert "rows" not in empty
    apis.analytics.first_incomplete = date(2026, 1, 2)
    both = {**GOOD, "endDate": "2026-01-02", "dimensions": ["DATE"]}
    assert httpx.post(apis.base + QUERY, json=both, headers=AUTH).json()["metadata"] == {
        "firstIncompleteDate": "2026-01-02"}
    final = httpx.post(apis.base + QUERY, json={**both, "dataState": "FINAL"},
                       headers=AUTH).json()
    assert "metadata" not in final and [r["keys"] for r in final["rows"]] == [["2026-01-01"]]
    discover = httpx.post(apis.base + QUERY, json={**GOOD, "type": "DISCOVER",
                                                   "dimensions": ["DATE", "COUNTRY"]},
                          headers=AUTH).json()
    assert discover["rows"] and all("position" not in r for r in discover["rows"])


def test_a_fake_answer_outside_the_response_schema_fails_the_test() -> None:
    fake = FakeGoogleApis()
    fake.listing("1").products = [{**product("1", 0), "colour": "red"}]
    with pytest.raises(AssertionError, match="colour"), fake:
        response = httpx.get(f"{fake.base}/products/v1/accounts/1/products", headers=AUTH)
        assert response.status_code == 500


def test_every_generated_product_matches_the_product_schema() -> None:
    api = discovery.load("merchantapi.products_v1")
    body = {"products": [product("9", i) for i in range(30)]}
    assert api.check_response("merchantapi.accounts.products.list", body) == []
    assert json.loads(json.dumps(body)) == body
