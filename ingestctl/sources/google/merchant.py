"""Merchant API (products v1): page through an account's processed products.

``GET {base}/products/v1/accounts/{account}/products?pageSize=&pageToken=`` until no
``nextPageToken``. Product attributes sit under ``productAttributes`` in v1 and under
``attributes`` in v1beta; both are read. The caller stores each page, then persists its
``next_page_token``; after a failure it passes that token back to resume at the failed page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from ingestctl.errors import DataError, SourceError
from ingestctl.sources.google.auth import TokenProvider
from ingestctl.sources.google.errors import next_utc_noon
from ingestctl.sources.google.quota import MERCHANT, MerchantQuotaGroup, parse_quota_groups
from ingestctl.sources.google.transport import CallOptions, call_json

MAX_PAGE_SIZE = 1000  # the API coerces larger values down


@dataclass(frozen=True)
class ProductRecord:
    """One processed product, keyed by its resource name."""

    name: str
    offer_id: str
    content_language: str
    feed_label: str
    title: str | None
    link: str | None
    image_link: str | None
    price_micros: int | None
    currency: str | None
    availability: str | None
    condition: str | None
    brand: str | None
    gtins: list[str]
    issues: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ProductPage:
    """One page of products, the token that fetched it and the token of the next one."""

    products: list[ProductRecord]
    next_page_token: str | None
    request_page_token: str | None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_product(item: Any, *, url: str) -> ProductRecord:
    """A ProductRecord from one element of ``products``; no resource name is a DataError."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise DataError("product without a resource name", url=url)
    attrs = item.get("productAttributes") or item.get("attributes") or {}
    if not isinstance(attrs, dict):
        attrs = {}
    price: dict[str, Any] = attrs["price"] if isinstance(attrs.get("price"), dict) else {}
    try:
        micros = int(price["amountMicros"]) if "amountMicros" in price else None
    except (TypeError, ValueError):
        micros = None
    gtins = attrs.get("gtins", attrs.get("gtin")) or []
    if isinstance(gtins, str):
        gtins = [gtins]
    status: dict[str, Any] = (item["productStatus"] if isinstance(item.get("productStatus"), dict)
                              else {})
    issues = [i for i in status.get("itemLevelIssues") or [] if isinstance(i, dict)]
    return ProductRecord(
        name=item["name"],
        offer_id=str(item.get("offerId") or ""),
        content_language=str(item.get("contentLanguage") or ""),
        feed_label=str(item.get("feedLabel") or ""),
        title=_str(attrs.get("title")),
        link=_str(attrs.get("link")),
        image_link=_str(attrs.get("imageLink")),
        price_micros=micros,
        currency=_str(price.get("currencyCode")),
        availability=_str(attrs.get("availability")),
        condition=_str(attrs.get("condition")),
        brand=_str(attrs.get("brand")),
        gtins=[str(g) for g in gtins if g],
        issues=issues,
        raw=item,
    )


def products_url(base_url: str, account: str) -> str:
    """The list endpoint of ``account``'s products."""
    return f"{base_url.rstrip('/')}/products/v1/accounts/{quote(str(account), safe='')}/products"


def iter_product_pages(
    client: httpx.Client,
    base_url: str,
    account: str,
    token_provider: TokenProvider,
    *,
    page_size: int = 250,
    page_token: str | None = None,
    options: CallOptions | None = None,
) -> Iterator[ProductPage]:
    """Yield every page of products from ``page_token`` on (None: the first page)."""
    opts = options or CallOptions()
    url = products_url(base_url, account)
    token = page_token
    seen: set[str] = set()
    while True:
        params: dict[str, str | int] = {"pageSize": min(page_size, MAX_PAGE_SIZE)}
        if token:
            params["pageToken"] = token
        data = call_json(client, "GET", url, token_provider, api=MERCHANT,
                         scopes={"account": str(account)}, options=opts, params=params,
                         daily_reset=next_utc_noon)
        if not isinstance(data, dict):
            raise DataError("products answer is not a JSON object", url=url)
        items = data.get("products") or []
        if not isinstance(items, list):
            raise DataError("products is not a list", url=url)
        products = [parse_product(item, url=url) for item in items]
        next_token = _str(data.get("nextPageToken"))
        yield ProductPage(products, next_token, token)
        if next_token is None:
            return
        # A server repeating a token would page forever.
        if next_token in seen:
            raise DataError(f"page token {next_token!r} repeated", url=url)
        seen.add(next_token)
        token = next_token


def fetch_merchant_quota(
    client: httpx.Client,
    base_url: str,
    account: str,
    token_provider: TokenProvider,
    *,
    options: CallOptions | None = None,
) -> list[MerchantQuotaGroup] | None:
    """The account's quota groups from the Merchant quota service, or None when unreachable."""
    opts = options or CallOptions()
    url = f"{base_url.rstrip('/')}/quota/v1/accounts/{quote(str(account), safe='')}/quotas"
    groups: list[MerchantQuotaGroup] = []
    token: str | None = None
    try:
        while True:
            params: dict[str, str | int] = {"pageSize": 1000}
            if token:
                params["pageToken"] = token
            data = call_json(client, "GET", url, token_provider, api=MERCHANT,
                             scopes={}, options=opts, params=params, daily_reset=next_utc_noon)
            groups.extend(parse_quota_groups(data))
            token = _str(data.get("nextPageToken")) if isinstance(data, dict) else None
            if token is None:
                return groups
    except SourceError:
        return None
