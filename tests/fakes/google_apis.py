"""Fake Merchant API and Search Console servers that page, fail on demand and check tokens.

Faults are queued per (api, page index): the next request for that page gets the fault, later
ones are served normally, so a test can resume from the failed page and count rows exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from tests.httpserver import LocalServer, Request, Response

JSON = {"Content-Type": "application/json"}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def google_body(code: int, status: str, message: str, *, reasons: tuple[str, ...] = (),
                details: list[dict[str, object]] | None = None) -> bytes:
    """A Google error body in the shape the APIs answer with."""
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if reasons:
        error["errors"] = [{"message": message, "domain": "usageLimits", "reason": r}
                           for r in reasons]
    if details:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def rate_limited(retry_after: int = 7, retry_delay: str | None = None) -> Response:
    """429 RESOURCE_EXHAUSTED for a per-minute limit, with Retry-After."""
    details: list[dict[str, object]] = [{
        "@type": ERROR_INFO, "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
        "metadata": {"quota_limit": "ReadRequestsPerMinutePerProject",
                     "quota_metric": "merchantapi.googleapis.com/read_requests"}}]
    if retry_delay:
        details.append({"@type": RETRY_INFO, "retryDelay": retry_delay})
    return Response(429, google_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded per minute.",
                                     details=details),
                    {**JSON, "Retry-After": str(retry_after), "X-RateLimit-Limit": "60",
                     "X-RateLimit-Remaining": "0"})


def daily_quota_429() -> Response:
    """429 RESOURCE_EXHAUSTED whose ErrorInfo names a per-day limit."""
    details: list[dict[str, object]] = [{
        "@type": ERROR_INFO, "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
        "metadata": {"quota_limit": "DailyRequestsPerDayPerAccount"}}]
    return Response(429, google_body(429, "RESOURCE_EXHAUSTED", "Daily quota exceeded.",
                                     details=details), JSON)


def daily_quota_403() -> Response:
    """403 dailyLimitExceeded, the legacy Search Console shape."""
    return Response(403, google_body(403, "PERMISSION_DENIED", "Daily Limit Exceeded",
                                     reasons=("dailyLimitExceeded",)), JSON)


def server_error(status: int = 500) -> Response:
    """A 5xx with a Google body."""
    name = {500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
    return Response(status, google_body(status, name, "Internal error encountered.",
                                        reasons=("backendError",)), JSON)


def unauthorized() -> Response:
    """401 UNAUTHENTICATED: the token was refused."""
    return Response(401, google_body(401, "UNAUTHENTICATED",
                                     "Request had invalid authentication credentials.",
                                     reasons=("authError",)),
                    {**JSON, "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})


def forbidden() -> Response:
    """403 PERMISSION_DENIED: the account does not grant access."""
    return Response(403, google_body(403, "PERMISSION_DENIED",
                                     "The caller does not have permission",
                                     reasons=("forbidden",)), JSON)


def malformed() -> Response:
    """A 200 whose JSON is cut short."""
    return Response(200, b'{"products": [{"name": "acc', JSON)


def product(account: str, index: int) -> dict[str, object]:
    """The v1 JSON of product ``index``."""
    offer = f"sku{index:04d}"
    return {
        "name": f"accounts/{account}/products/en~US~{offer}",
        "offerId": offer, "contentLanguage": "en", "feedLabel": "US",
        "dataSource": f"accounts/{account}/dataSources/1",
        "productAttributes": {
            "title": f"Product {index}", "link": f"https://shop.example/p/{index}",
            "imageLink": f"https://shop.example/i/{index}.jpg",
            "price": {"amountMicros": str(1_000_000 * (index + 1)), "currencyCode": "EUR"},
            "availability": "IN_STOCK", "condition": "NEW", "brand": "Acme",
            "gtins": [f"{4000000000000 + index}"],
        },
        "productStatus": {"itemLevelIssues": [
            {"code": "missing_shipping", "severity": "DISAPPROVED", "attribute": "shipping",
             "reportingContext": "SHOPPING_ADS"}] if index % 10 == 0 else []},
    }


class FakeGoogleApis:
    """Merchant products, Merchant quotas and Search Console analytics on one local server."""

    def __init__(self, *, products: int = 0, rows: int = 0,
                 token_ok: Callable[[str], bool] = lambda t: t == "static-token",
                 start: date = date(2026, 1, 1), by_dates: bool = False) -> None:
        self.product_count = products
        # by_dates: rows fall on the requested days (round robin) instead of a fixed week.
        self.by_dates = by_dates
        self.row_count = rows
        self.token_ok = token_ok
        self.start = start
        self.faults: dict[tuple[str, int], list[Response]] = {}
        self.quota_answer: Response | None = None
        self.bodies: list[dict[str, object]] = []
        self.server = LocalServer(self.handle)

    @property
    def base(self) -> str:
        """The base URL to configure."""
        return self.server.base

    def fail(self, api: str, page: int, *responses: Response) -> None:
        """Answer the next requests for ``page`` of ``api`` with ``responses``, in order."""
        self.faults.setdefault((api, page), []).extend(responses)

    def count(self, fragment: str) -> int:
        """Requests whose path contains ``fragment``."""
        return sum(fragment in p for p in self.server.paths())

    def handle(self, req: Request) -> Response:
        """Route, check the bearer token, inject faults, then serve a page."""
        parts = urlsplit(req.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.token_ok(auth[len("Bearer "):]):
            return unauthorized()
        segments = parts.path.strip("/").split("/")
        if parts.path.startswith("/products/v1/accounts/") and segments[-1] == "products":
            return self._products(segments[3], query)
        if parts.path.startswith("/quota/v1/accounts/"):
            return self.quota_answer or Response(200, json.dumps({"quotaGroups": [
                {"name": f"accounts/{segments[3]}/quotas/products-read", "quotaUsage": "120",
                 "quotaLimit": "100000", "quotaMinuteLimit": "300",
                 "methodDetails": [{"method": "products.list", "version": "v1",
                                    "subapi": "products", "path": "products/v1/products.list"},
                                   {"method": "products.get", "version": "v1",
                                    "subapi": "products", "path": "products/v1/products.get"}]},
                {"name": f"accounts/{segments[3]}/quotas/inputs-write", "quotaUsage": "0",
                 "quotaLimit": "50000", "quotaMinuteLimit": "100",
                 "methodDetails": [{"method": "productInputs.insert", "version": "v1",
                                    "subapi": "products",
                                    "path": "products/v1/productInputs.insert"}]},
            ]}).encode(), JSON)
        if parts.path.startswith("/webmasters/v3/sites/") and req.method == "POST":
            return self._analytics(unquote(segments[3]), json.loads(req.body))
        return Response(404, google_body(404, "NOT_FOUND", "Not found."), JSON)

    def _fault(self, api: str, page: int) -> Response | None:
        queue = self.faults.get((api, page))
        return queue.pop(0) if queue else None

    def _products(self, account: str, query: dict[str, str]) -> Response:
        size = int(query.get("pageSize", "25"))
        offset = int(query.get("pageToken", "o0")[1:])
        fault = self._fault("merchant", offset // size)
        if fault is not None:
            return fault
        end = min(offset + size, self.product_count)
        body: dict[str, object] = {"products": [product(account, i) for i in range(offset, end)]}
        if end < self.product_count:
            body["nextPageToken"] = f"o{end}"
        return Response(200, json.dumps(body).encode(), JSON)

    def _analytics(self, site: str, body: dict[str, object]) -> Response:
        self.bodies.append(body)
        limit = int(str(body["rowLimit"]))
        start_row = int(str(body.get("startRow", 0)))
        fault = self._fault("search-console", start_row // limit)
        if fault is not None:
            return fault
        end = min(start_row + limit, self.row_count)
        first, days = self.start, 7
        if self.by_dates:
            first = date.fromisoformat(str(body["startDate"]))
            days = (date.fromisoformat(str(body["endDate"])) - first).days + 1
        rows = [{"keys": [(first + timedelta(days=i % days)).isoformat(), f"query {i}",
                          f"{site.removeprefix('sc-domain:')}/p{i}", "usa", "DESKTOP"],
                 "clicks": i % 5, "impressions": 10 + i, "ctr": (i % 5) / (10 + i),
                 "position": 1.5 + i % 3} for i in range(start_row, end)]
        answer: dict[str, object] = {"responseAggregationType": "byPage"}
        if rows:
            answer["rows"] = rows
        return Response(200, json.dumps(answer).encode(), JSON)
