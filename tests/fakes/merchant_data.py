"""Merchant API products as ``merchantapi.products_v1`` describes them, and their listing.

``products.list`` pages are served the way the description allows: ``pageSize`` defaults to 25
and is coerced to 1000, a page may hold fewer products than asked (``short``: page index ->
count served) or none, and only ``nextPageToken`` says whether more follow. Page tokens are
opaque and bound to the ``pageSize`` of the call that produced them ("all other parameters ...
must match").
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000


def product(account: str, index: int, *, offer: str | None = None) -> dict[str, Any]:
    """The v1 JSON of product ``index``: every attribute ingestctl stores, valid per schema."""
    offer = offer or f"sku{index:04d}"
    statuses: list[dict[str, Any]] = [
        {"reportingContext": "SHOPPING_ADS", "approvedCountries": ["US"],
         "pendingCountries": ["CA"] if index % 3 == 0 else []},
        {"reportingContext": "FREE_LISTINGS", "approvedCountries": ["US", "CA"]},
    ]
    issues: list[dict[str, Any]] = []
    if index % 10 == 0:
        statuses[0] = {"reportingContext": "SHOPPING_ADS", "disapprovedCountries": ["US"]}
        issues.append({"code": "missing_shipping", "severity": "DISAPPROVED",
                       "attribute": "shipping", "reportingContext": "SHOPPING_ADS",
                       "applicableCountries": ["US"], "resolution": "MERCHANT_ACTION"})
    return {
        "name": f"accounts/{account}/products/en~US~{offer}",
        "offerId": offer, "contentLanguage": "en", "feedLabel": "US",
        "dataSource": f"accounts/{account}/dataSources/1{index % 2}",
        "versionNumber": str(index + 1),
        "productAttributes": {
            "title": f"Product {index}", "description": f"The {index}th product.",
            "link": f"https://shop.example/p/{index}",
            "imageLink": f"https://shop.example/i/{index}.jpg",
            "price": {"amountMicros": str(1_000_000 * (index + 1)), "currencyCode": "EUR"},
            "salePrice": {"amountMicros": str(900_000 * (index + 1)), "currencyCode": "EUR"},
            "availability": "IN_STOCK", "condition": "NEW", "brand": "Acme",
            "gtins": [_gtin(index)], "mpn": f"MPN-{index}",
            "itemGroupId": f"group-{index // 4}",
            "productTypes": ["Home > Kitchen", f"Home > Kitchen > Type {index % 3}"],
        },
        "customAttributes": [{"name": "season", "value": "winter"},
                             {"name": "bundle", "groupValues": [{"name": "size",
                                                                 "value": str(index)}]}],
        "productStatus": {
            "destinationStatuses": statuses, "itemLevelIssues": issues,
            "creationDate": "2025-11-01T08:00:00Z",
            "lastUpdateDate": f"2026-01-0{index % 9 + 1}T10:30:00Z",
            "googleExpirationDate": "2026-02-01T08:00:00Z",
        },
    }


def _gtin(index: int) -> str:
    """A GTIN-13 with a correct check digit."""
    body = f"400000000{index:03d}"[-12:]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _token(offset: int, page: int, size: int) -> str:
    raw = json.dumps({"o": offset, "p": page, "s": size}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> dict[str, int] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return data if isinstance(data, dict) and {"o", "p", "s"} <= set(data) else None


@dataclass
class Listing:
    """The products of one account in listing order, and how their pages are cut."""

    products: list[dict[str, Any]] = field(default_factory=list)
    short: dict[int, int] = field(default_factory=dict)

    def page(self, page_size: int | None, token: str | None) -> tuple[int, dict[str, Any]] | str:
        """(page index, response body), or the problem with the request as text."""
        size = DEFAULT_PAGE_SIZE if page_size in (None, 0) else min(int(page_size), MAX_PAGE_SIZE)
        if size < 0:
            return "page_size must not be negative"
        offset, index = 0, 0
        if token:
            state = _untoken(token)
            if state is None:
                return "Invalid page token."
            if state["s"] != size:
                return "Request parameters do not match the page token's original request."
            offset, index = state["o"], state["p"]
        count = min(self.short.get(index, size), size)
        end = min(offset + count, len(self.products))
        body: dict[str, Any] = {}
        if end > offset:
            body["products"] = self.products[offset:end]
        if end < len(self.products):
            body["nextPageToken"] = _token(end, index + 1, size)
        return index, body


def page_index(path: str) -> int:
    """The listing page a products.list request path asks for (0 without a token)."""
    token = path.partition("pageToken=")[2].split("&")[0]
    state = _untoken(token) if token else None
    return state["p"] if state else 0
