"""Merchant API (products v1): page through an account's processed products.

``GET {base}/products/v1/accounts/{account}/products?pageSize=&pageToken=`` until no
``nextPageToken`` (discovery document ``merchantapi.products_v1``: "The response might contain
fewer items than specified by pageSize. Rely on pageToken to determine if there are more";
``pageSize`` above 1000 is coerced to 1000). Product attributes sit under
``productAttributes`` in v1 and under ``attributes`` in v1beta; both are read. The caller
stores each page, then persists its ``next_page_token``; after a failure it passes that token
back to resume at the failed page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import quote

import httpx

from ingestctl.errors import DataError
from ingestctl.sources.google.auth import TokenProvider
from ingestctl.sources.google.errors import next_utc_noon
from ingestctl.sources.google.limits import MERCHANT, MerchantQuotaGroup, parse_quota_groups
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
    data_source: str | None = None
    description: str | None = None
    sale_price_micros: int | None = None
    sale_currency: str | None = None
    product_types: list[str] = field(default_factory=list)
    item_group_id: str | None = None
    mpn: str | None = None
    custom_attributes: list[dict[str, Any]] = field(default_factory=list)
    #: Per reporting context: approved, pending and disapproved countries.
    destination_statuses: list[dict[str, Any]] = field(default_factory=list)
    creation_date: str | None = None
    last_update_date: str | None = None
    google_expiration_date: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def columns(self) -> dict[str, Any]:
        """The stored columns of the product, the raw answer included."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ProductPage:
    """One page of products, the token that fetched it and the token of the next one."""

    products: list[ProductRecord]
    next_page_token: str | None
    request_page_token: str | None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _money(value: Any) -> tuple[int | None, str | None]:
    price: dict[str, Any] = value if isinstance(value, dict) else {}
    try:
        micros = int(price["amountMicros"]) if "amountMicros" in price else None
    except (TypeError, ValueError):
        micros = None
    return micros, _str(price.get("currencyCode"))


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _destination(status: dict[str, Any]) -> dict[str, Any]:
    return {"reportingContext": str(status.get("reportingContext") or ""),
            **{key: [str(c) for c in status.get(key) or []] for key in (
                "approvedCountries", "pendingCountries", "disapprovedCountries")}}


def parse_product(item: Any, *, url: str) -> ProductRecord:
    """A ProductRecord from one element of ``products``; no resource name is a DataError."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise DataError("product without a resource name", url=url)
    attrs = item.get("productAttributes") or item.get("attributes") or {}
    if not isinstance(attrs, dict):
        attrs = {}
    micros, currency = _money(attrs.get("price"))
    sale_micros, sale_currency = _money(attrs.get("salePrice"))
    gtins = attrs.get("gtins", attrs.get("gtin")) or []
    if isinstance(gtins, str):
        gtins = [gtins]
    status: dict[str, Any] = (item["productStatus"] if isinstance(item.get("productStatus"), dict)
                              else {})
    types = attrs.get("productTypes") or []
    return ProductRecord(
        name=item["name"],
        offer_id=str(item.get("offerId") or ""),
        content_language=str(item.get("contentLanguage") or ""),
        feed_label=str(item.get("feedLabel") or ""),
        title=_str(attrs.get("title")),
        link=_str(attrs.get("link")),
        image_link=_str(attrs.get("imageLink")),
        price_micros=micros,
        currency=currency,
        availability=_str(attrs.get("availability")),
        condition=_str(attrs.get("condition")),
        brand=_str(attrs.get("brand")),
        gtins=[str(g) for g in gtins if g],
        issues=_dicts(status.get("itemLevelIssues")),
        data_source=_str(item.get("dataSource")),
        description=_str(attrs.get("description")),
        sale_price_micros=sale_micros,
        sale_currency=sale_currency,
        product_types=[str(t) for t in types] if isinstance(types, list) else [],
        item_group_id=_str(attrs.get("itemGroupId")),
        mpn=_str(attrs.get("mpn")),
        custom_attributes=_dicts(item.get("customAttributes")),
        destination_statuses=[_destination(d) for d in _dicts(status.get(
            "destinationStatuses"))],
        creation_date=_str(status.get("creationDate")),
        last_update_date=_str(status.get("lastUpdateDate")),
        google_expiration_date=_str(status.get("googleExpirationDate")),
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
    page_size: int = MAX_PAGE_SIZE,
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
) -> list[MerchantQuotaGroup]:
    """The account's quota groups from the Merchant quota service (``quotas.list``)."""
    opts = options or CallOptions()
    url = f"{base_url.rstrip('/')}/quota/v1/accounts/{quote(str(account), safe='')}/quotas"
    groups: list[MerchantQuotaGroup] = []
    token: str | None = None
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
