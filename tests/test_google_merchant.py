"""Merchant API paging against the enforcing fake: exact counts, short pages, faults, resume,
token refresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ingestctl.clock import FakeClock
from ingestctl.config import GoogleConfig
from ingestctl.errors import (
    AuthError,
    DataError,
    QuotaExhaustedError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from ingestctl.sources.google.auth import (
    MERCHANT_SCOPE,
    EnvTokenProvider,
    ServiceAccountTokenProvider,
    TokenProvider,
)
from ingestctl.sources.google.limits import (
    MERCHANT,
    ClientRateLimiter,
    MemoryQuotaCounter,
    QuotaLimits,
    group_for_method,
)
from ingestctl.sources.google.merchant_api import (
    ProductRecord,
    fetch_merchant_quota,
    iter_product_pages,
    parse_product,
)
from ingestctl.sources.google.transport import CallOptions, Observation
from tests.fakes.google_apis import (
    FakeGoogleApis,
    daily_quota_failure,
    forbidden,
    malformed,
    rate_limited,
    server_error,
    unauthorized,
)
from tests.fakes.google_token import FakeTokenServer, new_key, write_key_file
from tests.httpserver import Response

ACCOUNT = "123456"
STATIC = EnvTokenProvider("TOKEN", {"TOKEN": "static-token"})


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


class Importer:
    """Stands in for the runner: upserts by name and persists the next page token."""

    def __init__(self, apis: FakeGoogleApis, client: httpx.Client, tokens: TokenProvider,
                 options: CallOptions, page_size: int = 10) -> None:
        self.apis, self.client, self.tokens, self.options = apis, client, tokens, options
        self.page_size = page_size
        self.store: dict[str, ProductRecord] = {}
        self.received: list[str] = []
        self.page_token: str | None = None
        self.done = False

    def run(self, between_pages: float = 0.0) -> None:
        clock = self.options.clock
        for page in iter_product_pages(self.client, self.apis.base, ACCOUNT, self.tokens,
                                       page_size=self.page_size, page_token=self.page_token,
                                       options=self.options):
            assert page.request_page_token == self.page_token
            for product in page.products:
                self.store[product.name] = product
                self.received.append(product.name)
            self.page_token = page.next_page_token
            if between_pages and isinstance(clock, FakeClock):
                clock.advance(between_pages)
        self.done = True


def run_until_done(importer: Importer) -> list[SourceError]:
    errors: list[SourceError] = []
    while not importer.done:
        try:
            importer.run()
        except SourceError as exc:
            errors.append(exc)
            assert len(errors) < 10
    return errors


def test_pages_through_every_product(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=95)
    with apis:
        imp = Importer(apis, client, STATIC, CallOptions(clock=clock))
        imp.run()
    assert len(imp.store) == 95 and len(imp.received) == 95
    assert apis.count("/products") == 10
    first = apis.server.requests[0]
    assert first.path == f"/products/v1/accounts/{ACCOUNT}/products?pageSize=10"
    assert first.headers["authorization"] == "Bearer static-token"
    assert "pageSize=10&pageToken=" in apis.server.requests[1].path


def test_page_size_defaults_to_the_1000_maximum(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=1001)
    with apis:
        pages = list(iter_product_pages(client, apis.base, ACCOUNT, STATIC,
                                        options=CallOptions(clock=clock)))
        capped = list(iter_product_pages(client, apis.base, ACCOUNT, STATIC, page_size=5000,
                                         options=CallOptions(clock=clock)))
    assert [len(p.products) for p in pages] == [1000, 1]
    assert apis.server.paths()[0].endswith("?pageSize=1000")
    assert apis.server.paths()[2].endswith("?pageSize=1000")  # never more than allowed
    assert [len(p.products) for p in capped] == [1000, 1]


def test_short_and_empty_pages_do_not_end_the_listing(client: httpx.Client,
                                                      clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=45)
    apis.listing(ACCOUNT).short = {0: 3, 1: 0, 2: 7}  # "might contain fewer items"
    with apis:
        imp = Importer(apis, client, STATIC, CallOptions(clock=clock))
        imp.run()
    assert len(imp.received) == 45 and len(imp.store) == 45
    assert apis.count("/products") == 7  # 3, 0, 7, 10, 10, 10, 5


def test_product_fields_are_parsed(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=3)
    with apis:
        pages = list(iter_product_pages(client, apis.base, ACCOUNT, STATIC,
                                        options=CallOptions(clock=clock)))
    assert len(pages) == 1 and pages[0].next_page_token is None
    p0 = pages[0].products[0]
    assert p0.name == f"accounts/{ACCOUNT}/products/en~US~sku0000"
    assert (p0.offer_id, p0.content_language, p0.feed_label) == ("sku0000", "en", "US")
    assert (p0.title, p0.link, p0.image_link, p0.description) == (
        "Product 0", "https://shop.example/p/0", "https://shop.example/i/0.jpg",
        "The 0th product.")
    assert (p0.price_micros, p0.currency, p0.sale_price_micros, p0.sale_currency) == (
        1_000_000, "EUR", 900_000, "EUR")
    assert (p0.availability, p0.condition, p0.brand, p0.mpn, p0.item_group_id) == (
        "IN_STOCK", "NEW", "Acme", "MPN-0", "group-0")
    assert p0.gtins == ["4000000000006"]
    assert p0.product_types == ["Home > Kitchen", "Home > Kitchen > Type 0"]
    assert p0.data_source == f"accounts/{ACCOUNT}/dataSources/10"
    assert p0.custom_attributes[0] == {"name": "season", "value": "winter"}
    assert p0.destination_statuses == [
        {"reportingContext": "SHOPPING_ADS", "approvedCountries": [], "pendingCountries": [],
         "disapprovedCountries": ["US"]},
        {"reportingContext": "FREE_LISTINGS", "approvedCountries": ["US", "CA"],
         "pendingCountries": [], "disapprovedCountries": []}]
    assert (p0.creation_date, p0.last_update_date, p0.google_expiration_date) == (
        "2025-11-01T08:00:00Z", "2026-01-01T10:30:00Z", "2026-02-01T08:00:00Z")
    assert [i["code"] for i in p0.issues] == ["missing_shipping"]
    assert pages[0].products[1].issues == []
    assert p0.raw["versionNumber"] == "1"


def test_v1beta_attributes_shape_is_accepted() -> None:
    item = {"name": "accounts/1/products/online~en~US~a", "offerId": "a",
            "attributes": {"title": "Old", "price": {"amountMicros": "2500000",
                                                     "currencyCode": "USD"},
                           "gtin": ["123"], "availability": "in stock"}}
    record = parse_product(item, url="u")
    assert (record.title, record.price_micros, record.currency, record.gtins,
            record.availability) == ("Old", 2_500_000, "USD", ["123"], "in stock")
    assert record.issues == [] and record.brand is None
    with pytest.raises(DataError, match="resource name"):
        parse_product({"offerId": "x"}, url="u")


@pytest.mark.parametrize(("fault", "error_class"), [
    (rate_limited(retry_delay="7s"), RateLimitedError),
    (server_error(500), TransientError),
    (Response(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}),
     TransientError),
    (malformed(), DataError),
])
def test_fault_mid_paging_resumes_from_failed_page(client: httpx.Client, clock: FakeClock,
                                                   fault: Response,
                                                   error_class: type[SourceError]) -> None:
    apis = FakeGoogleApis(products=95)
    apis.fail("merchant", 4, fault)
    with apis:
        imp = Importer(apis, client, STATIC, CallOptions(clock=clock))
        errors = run_until_done(imp)
    assert [type(e) for e in errors] == [error_class]
    assert len(imp.received) == 95 and len(set(imp.received)) == 95
    assert apis.count("/products") == 11
    assert apis.server.paths()[5] == apis.server.paths()[4]  # the failed page, again
    if error_class is RateLimitedError:
        assert errors[0].retry_after == 7.0  # type: ignore[attr-defined]


def test_daily_quota_failure_defers_until_noon_utc(client: httpx.Client,
                                                   clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=50)
    apis.fail("merchant", 2, daily_quota_failure())
    with apis:
        imp = Importer(apis, client, STATIC, CallOptions(clock=clock))
        with pytest.raises(QuotaExhaustedError) as info:
            imp.run()
        assert info.value.reset_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        assert len(imp.store) == 20 and imp.page_token is not None
        imp.run()
    assert len(imp.received) == 50 and len(imp.store) == 50


def test_403_forbidden_is_auth_and_401_twice_is_auth(client: httpx.Client,
                                                     clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=5)
    apis.fail("merchant", 0, forbidden())
    with apis:
        with pytest.raises(AuthError):
            list(iter_product_pages(client, apis.base, ACCOUNT, STATIC,
                                    options=CallOptions(clock=clock)))
        assert apis.count("/products") == 1
        wrong = EnvTokenProvider("TOKEN", {"TOKEN": "wrong"})
        with pytest.raises(AuthError, match="UNAUTHENTICATED"):
            list(iter_product_pages(client, apis.base, ACCOUNT, wrong,
                                    options=CallOptions(clock=clock)))
        assert apis.count("/products") == 3  # the 401 was retried once with a fresh token


@pytest.fixture
def token_server(key: rsa.RSAPrivateKey, clock: FakeClock) -> Iterator[FakeTokenServer]:
    server = FakeTokenServer(key, clock, expires_in=600)
    with server.server:
        yield server


def sa_tokens(tmp_path: Path, key: rsa.RSAPrivateKey, server: FakeTokenServer,
              client: httpx.Client, clock: FakeClock) -> ServiceAccountTokenProvider:
    path = write_key_file(tmp_path / "sa.json", key, server.token_uri)
    return ServiceAccountTokenProvider(path, [MERCHANT_SCOPE], None, client, clock)


def test_token_expiring_during_a_long_import_is_refreshed_ahead(
        tmp_path: Path, key: rsa.RSAPrivateKey, clock: FakeClock,
        token_server: FakeTokenServer, client: httpx.Client) -> None:
    sa = sa_tokens(tmp_path, key, token_server, client, clock)
    apis = FakeGoogleApis(products=100, tokens=token_server.scopes)
    with apis:
        imp = Importer(apis, client, sa, CallOptions(clock=clock))
        imp.run(between_pages=100)  # ten pages over 1000 s; tokens live 600 s
    assert len(imp.store) == 100
    assert apis.count("/products") == 10  # no 401 was ever needed
    # Refreshed at 300 s, 600 s and 900 s: five minutes before each expiry.
    assert len(token_server.server.requests) == 4
    tokens = [r.headers["authorization"] for r in apis.server.requests]
    assert tokens == ["Bearer tok-1"] * 3 + ["Bearer tok-2"] * 3 + ["Bearer tok-3"] * 3 + [
        "Bearer tok-4"]


def test_401_mid_import_refreshes_the_token_and_continues(
        tmp_path: Path, key: rsa.RSAPrivateKey, clock: FakeClock,
        token_server: FakeTokenServer, client: httpx.Client) -> None:
    sa = sa_tokens(tmp_path, key, token_server, client, clock)
    apis = FakeGoogleApis(products=50, tokens=token_server.scopes)
    with apis:
        pages = iter_product_pages(client, apis.base, ACCOUNT, sa, page_size=10,
                                   options=CallOptions(clock=clock))
        names = [p.name for p in next(pages).products]
        token_server.revoke_all()  # e.g. the key was rotated while we were paging
        for page in pages:
            names += [p.name for p in page.products]
    assert len(names) == 50 and len(set(names)) == 50
    assert apis.count("/products") == 6
    assert [r.headers["authorization"] for r in apis.server.requests][1:3] == [
        "Bearer tok-1", "Bearer tok-2"]
    assert len(token_server.server.requests) == 2


def test_injected_401_once_is_retried_with_same_provider(client: httpx.Client,
                                                         clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=30)
    apis.fail("merchant", 1, unauthorized())
    with apis:
        imp = Importer(apis, client, STATIC, CallOptions(clock=clock))
        imp.run()
    assert len(imp.received) == 30 and apis.count("/products") == 4


def test_limiter_counts_requests_and_the_observer_sees_no_invented_headers(
        client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(products=30)
    apis.fail("merchant", 1, rate_limited(retry_delay="7s"))
    counter = MemoryQuotaCounter()
    limiter = ClientRateLimiter(counter, QuotaLimits.from_config(GoogleConfig()), clock,
                                clock.sleep)
    seen: list[Observation] = []
    options = CallOptions(clock=clock, limiter=limiter, observe=seen.append)
    with apis:
        imp = Importer(apis, client, STATIC, options)
        errors = run_until_done(imp)
    assert [type(e) for e in errors] == [RateLimitedError]
    assert errors[0].retry_after == 7.0  # type: ignore[attr-defined]  # from RetryInfo
    assert [o.status for o in seen] == [200, 429, 200, 200]
    assert all(o.headers.empty for o in seen)  # Google sends no rate-limit headers
    assert seen[0].scopes == {"account": ACCOUNT}
    minute, day = counter.count(MERCHANT, f"account:{ACCOUNT}", clock.now(), clock.now())
    assert (minute, day) == (4, 4)


def test_quota_service_is_parsed_into_limits(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis()
    with apis:
        groups = fetch_merchant_quota(client, apis.base, ACCOUNT, STATIC,
                                      options=CallOptions(clock=clock))
        assert apis.server.paths() == [f"/quota/v1/accounts/{ACCOUNT}/quotas?pageSize=1000"]
        apis.quota_answer = server_error(503)
        with pytest.raises(TransientError):
            fetch_merchant_quota(client, apis.base, ACCOUNT, STATIC,
                                 options=CallOptions(clock=clock))
    assert len(groups) == 2
    group = group_for_method(groups)
    assert group is not None
    assert (group.name, group.usage, group.daily_limit, group.minute_limit, group.remaining) == (
        f"accounts/{ACCOUNT}/quotas/products-read", 120, 100000, 300, 99880)
    limits = QuotaLimits.from_config(GoogleConfig()).with_merchant_group(group)
    account = limits.for_api(MERCHANT).limit("account")
    assert account is not None and (account.per_minute, account.per_day) == (300, 100000)
