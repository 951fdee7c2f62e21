"""Fake Merchant API and Search Console on one local server, held to Google's descriptions.

Every request is checked against the discovery documents of google-api-python-client
(:mod:`tests.fakes.discovery`): anything they do not allow is refused with Google's error
body, and every answer is checked against the response schema (a violation answers 500 and
fails the test on exit). Bearer tokens are checked, and so are their OAuth scopes against
the method's. No header is invented: Google's quota errors say what they mean in the body
(``ErrorInfo``, ``QuotaFailure``, ``RetryInfo``), never in ``Retry-After`` or ``X-RateLimit-*``.

Faults are queued per (api, page): the next request for that page gets the fault, later ones
are served normally, so a test can resume from the failed page and count rows exactly. A
Merchant page is its index in the listing; a Search Console page is its ``startRow`` (and,
with ``day=``, only on that day).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from tests.fakes import discovery
from tests.fakes.merchant_data import Listing, product
from tests.fakes.search_console_data import Analytics, facts, rule_problem
from tests.httpserver import LocalServer, Request, Response

JSON = {"Content-Type": "application/json; charset=UTF-8"}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
MERCHANT_SCOPE = "https://www.googleapis.com/auth/content"
WEBMASTERS_READONLY = "https://www.googleapis.com/auth/webmasters.readonly"
ALL_SCOPES = frozenset({MERCHANT_SCOPE, WEBMASTERS_READONLY})

#: Which discovery document serves which path prefix, and the fault key of its answers.
ROUTES = (("/products/v1/", "merchantapi.products_v1", "merchant"),
          ("/quota/v1/", "merchantapi.quota_v1", "merchant-quota"),
          ("/webmasters/v3/", "searchconsole.v1", "search-console"))
#: The methods the fake serves; others exist in the descriptions but ingestctl never calls them.
SERVED = frozenset({"merchantapi.accounts.products.list", "merchantapi.accounts.quotas.list",
                    "webmasters.searchanalytics.query"})

Tokens = Callable[[str], frozenset[str] | None]


def static_tokens(*valid: str) -> Tokens:
    """Tokens that are always valid for every scope (an ``access_token_env`` token)."""
    return lambda token: ALL_SCOPES if token in valid else None


def google_body(code: int, status: str, message: str, *, reasons: tuple[str, ...] = (),
                details: list[dict[str, Any]] | None = None) -> bytes:
    """A Google error body; ``reasons`` fill the legacy ``errors`` list some APIs still send."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reasons:
        error["errors"] = [{"message": message, "domain": "usageLimits", "reason": r}
                           for r in reasons]
    if details:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def rate_limited(retry_delay: str | None = None) -> Response:
    """429 RESOURCE_EXHAUSTED for a per-minute limit: ErrorInfo names the limit."""
    details: list[dict[str, Any]] = [{
        "@type": ERROR_INFO, "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
        "metadata": {"service": "merchantapi.googleapis.com", "consumer": "projects/1",
                     "quota_metric": "merchantapi.googleapis.com/read_requests",
                     "quota_limit": "ReadRequestsPerMinutePerProject",
                     "quota_limit_value": "300", "quota_location": "global"}}]
    if retry_delay:
        details.append({"@type": RETRY_INFO, "retryDelay": retry_delay})
    return Response(429, google_body(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests' and limit "
        "'Read requests per minute' of service 'merchantapi.googleapis.com' for consumer "
        "'project_number:1'.", details=details), JSON)


def daily_quota_failure(subject: str = "accounts/123456") -> Response:
    """429 whose only quota detail is a QuotaFailure naming a per-day quota."""
    return Response(429, google_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.",
                                     details=[{"@type": QUOTA_FAILURE, "violations": [{
                                         "subject": subject,
                                         "description": "Daily limit of products.list calls "
                                                        "reached.",
                                         "apiService": "merchantapi.googleapis.com",
                                         "quotaMetric": "merchantapi.googleapis.com/requests",
                                         "quotaId": "RequestsPerDayPerAccount",
                                         "quotaValue": "100000"}]}]), JSON)


def minute_quota_failure() -> Response:
    """429 whose QuotaFailure names a per-minute quota."""
    return Response(429, google_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.",
                                     details=[{"@type": QUOTA_FAILURE, "violations": [{
                                         "subject": "project:1",
                                         "description": "Requests per minute exceeded.",
                                         "quotaId": "RequestsPerMinutePerProject"}]}]), JSON)


def daily_quota_429() -> Response:
    """429 RESOURCE_EXHAUSTED whose ErrorInfo names a per-day limit."""
    details: list[dict[str, Any]] = [{
        "@type": ERROR_INFO, "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
        "metadata": {"quota_limit": "DailyRequestsPerDayPerAccount"}}]
    return Response(429, google_body(429, "RESOURCE_EXHAUSTED", "Daily quota exceeded.",
                                     details=details), JSON)


def daily_quota_403() -> Response:
    """403 dailyLimitExceeded, the legacy Search Console shape."""
    return Response(403, google_body(403, "PERMISSION_DENIED", "Daily Limit Exceeded",
                                     reasons=("dailyLimitExceeded",)), JSON)


def load_quota() -> Response:
    """Search Console's "quota exceeded": the same body for every quota, load included."""
    return Response(429, google_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded.",
                                     reasons=("quotaExceeded",)), JSON)


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


def echoing_error(token: str) -> Response:
    """A 400 whose message echoes the request's Authorization header back."""
    return Response(400, google_body(400, "INVALID_ARGUMENT",
                                     f"Bad request: header Authorization: Bearer {token} with "
                                     f"access_token={token} was not accepted"), JSON)


def malformed() -> Response:
    """A 200 whose JSON is cut short."""
    return Response(200, b'{"products": [{"name": "acc', JSON)


def scope_insufficient() -> Response:
    """403 for a token without the method's OAuth scope."""
    return Response(403, google_body(403, "PERMISSION_DENIED",
                                     "Request had insufficient authentication scopes.",
                                     details=[{"@type": ERROR_INFO, "domain": "googleapis.com",
                                               "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]),
                    JSON)


class FakeGoogleApis:
    """Merchant products and quotas and Search Console analytics on one local server."""

    def __init__(self, *, products: int = 0, tokens: Tokens = static_tokens("static-token"),
                 quota_usage: int = 120) -> None:
        self.product_count = products
        self.listings: dict[str, Listing] = {}
        self.tokens = tokens
        self.quota_usage = quota_usage
        self.quota_answer: Response | None = None
        self.analytics = Analytics()
        self.page_cap: int | None = None
        #: Called after each analytics page is served (e.g. to change data while paging).
        self.after_page: Callable[[dict[str, Any]], None] | None = None
        self.faults: dict[tuple[str, object], list[Response]] = {}
        self.bodies: list[dict[str, Any]] = []
        self.rejections: list[bytes] = []
        self.schema_problems: list[str] = []
        self.server = LocalServer(self.handle)

    def __enter__(self) -> FakeGoogleApis:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__()
        assert not self.schema_problems, self.schema_problems

    @property
    def base(self) -> str:
        """The base URL to configure."""
        return self.server.base

    def listing(self, account: str) -> Listing:
        """The products of ``account`` (``products`` generated ones unless changed)."""
        if account not in self.listings:
            self.listings[account] = Listing([product(account, i)
                                              for i in range(self.product_count)])
        return self.listings[account]

    def add_search_data(self, site: str, first: date, days: int, per_day: int,
                        **kwargs: Any) -> None:
        """``per_day`` rows a day for ``days`` days from ``first`` (see ``facts``)."""
        host = site.removeprefix("sc-domain:").split("//")[-1].strip("/")
        self.analytics.sites.setdefault(site, []).extend(
            facts(host, first, days, per_day, **kwargs))

    def fail(self, api: str, page: int, *responses: Response, day: str | None = None) -> None:
        """Answer the next requests for ``page`` of ``api`` with ``responses``, in order."""
        self.faults.setdefault((api, (page, day)), []).extend(responses)

    def fail_next(self, api: str, *responses: Response) -> None:
        """Answer the next requests of ``api``, whatever they ask, with ``responses``."""
        self.faults.setdefault((api, None), []).extend(responses)

    def count(self, fragment: str) -> int:
        """Requests whose path contains ``fragment``."""
        return sum(fragment in p for p in self.server.paths())

    def handle(self, req: Request) -> Response:
        """Check against the description, the token and its scopes; then faults, then serve."""
        route = next((r for r in ROUTES if req.path.startswith(r[0])), None)
        if route is None:
            return Response(404, google_body(404, "NOT_FOUND", f"Not found: {req.path}"), JSON)
        api = discovery.load(route[1])
        try:
            call = api.check(req.method, req.path, req.body)
        except discovery.Rejected as refused:
            self.rejections.append(refused.body)
            return Response(refused.code, refused.body, JSON)
        if call.method_id not in SERVED:
            self.schema_problems.append(f"the fake does not serve {call.method_id}")
            return Response(501, google_body(501, "UNIMPLEMENTED", call.method_id), JSON)
        auth = req.headers.get("authorization", "")
        scopes = self.tokens(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if scopes is None:
            return unauthorized()
        if not scopes & set(call.scopes):
            return scope_insufficient()
        if route[2] == "search-console":
            return self._analytics(api, call)
        if route[2] == "merchant-quota":
            fault = self._fault("merchant-quota", (0, None))
            return fault or self.quota_answer or self._answer(api, call, self._quotas(call))
        listing = self.listing(call.path["accountsId"])
        page = listing.page(call.query.get("pageSize"), call.query.get("pageToken"))
        if isinstance(page, str):
            return Response(400, google_body(400, "INVALID_ARGUMENT", page), JSON)
        fault = self._fault("merchant", (page[0], None))
        return fault or self._answer(api, call, page[1])

    def _fault(self, api: str, key: tuple[int, str | None]) -> Response | None:
        for found in ((api, None), (api, key), (api, (key[0], None))):
            queue = self.faults.get(found)
            if queue:
                return queue.pop(0)
        return None

    def _answer(self, api: discovery.Api, call: discovery.Call, body: Any) -> Response:
        problems = api.check_response(call.method_id, body)
        if problems:
            self.schema_problems.extend(problems)
            return Response(500, google_body(500, "INTERNAL", f"fake answer breaks the "
                                                              f"schema: {problems[0]}"), JSON)
        return Response(200, json.dumps(body).encode(), JSON)

    def _quotas(self, call: discovery.Call) -> dict[str, Any]:
        account = call.path["accountsId"]
        return {"quotaGroups": [
            {"name": f"accounts/{account}/quotas/products-read",
             "quotaUsage": str(self.quota_usage), "quotaLimit": "100000",
             "quotaMinuteLimit": "300",
             "methodDetails": [{"method": "products.list", "version": "v1", "subapi": "products",
                                "path": "products/v1/products.list"},
                               {"method": "products.get", "version": "v1", "subapi": "products",
                                "path": "products/v1/products.get"}]},
            {"name": f"accounts/{account}/quotas/inputs-write", "quotaUsage": "0",
             "quotaLimit": "50000", "quotaMinuteLimit": "100",
             "methodDetails": [{"method": "productInputs.insert", "version": "v1",
                                "subapi": "products",
                                "path": "products/v1/productInputs.insert"}]},
        ]}

    def _analytics(self, api: discovery.Api, call: discovery.Call) -> Response:
        body = call.body or {}
        self.bodies.append(body)
        problem = rule_problem(body)
        if problem is not None:
            refused = google_body(400, "INVALID_ARGUMENT", problem)
            self.rejections.append(refused)
            return Response(400, refused, JSON)
        start = int(body.get("startRow", 0))
        day = body["startDate"] if body["startDate"] == body["endDate"] else None
        fault = self._fault("search-console", (start, day))
        if fault is not None:
            return fault
        rows, incomplete = self.analytics.query(call.path["siteUrl"], body)
        limit = int(body.get("rowLimit", 1000))
        page = rows[start:start + min(limit, self.page_cap or limit)]
        aggregation = body.get("aggregationType", "AUTO")
        if aggregation == "AUTO":
            aggregation = "BY_PAGE" if "PAGE" in (body.get("dimensions") or []) \
                else "BY_PROPERTY"
        answer: dict[str, Any] = {"responseAggregationType": aggregation}
        if page:
            answer["rows"] = page
        if incomplete is not None:
            answer["metadata"] = {"firstIncompleteDate": incomplete}
        response = self._answer(api, call, answer)
        if self.after_page is not None:
            self.after_page(body)
        return response
