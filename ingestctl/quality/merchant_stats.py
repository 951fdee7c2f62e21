"""A streaming accumulator of Merchant product quality counters, and GTIN validation.

Products may come as the Merchant API returns them (``productAttributes`` with camelCase keys,
``price.amountMicros``, enum spellings like ``IN_STOCK``), as the older Content API did
(``price.value``, ``"in stock"``), or flattened by the importer (``image_link``, ``price``
as a number, ``disapproved`` as a flag).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ingestctl.quality.summaries import MerchantSummary, keep_example

# limited_availability is a value of the Merchant API v1 Availability enum.
AVAILABILITY = frozenset({"in_stock", "out_of_stock", "preorder", "backorder",
                          "limited_availability"})
CONDITION = frozenset({"new", "refurbished", "used"})
GTIN_LENGTHS = frozenset({8, 12, 13, 14})
_ATTRIBUTE_TABLES = ("productAttributes", "product_attributes", "attributes")
_NOT_FOUND = object()


def gtin_valid(value: str | int) -> bool:
    """True for a GTIN-8, -12, -13 or -14 made of digits with a correct mod-10 check digit."""
    text = str(value).strip()
    if len(text) not in GTIN_LENGTHS or not text.isascii() or not text.isdigit():
        return False
    digits = [int(c) for c in text]
    # From the right, excluding the check digit, weights alternate 3, 1, 3, ...
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


def normalize_enum(value: Any) -> str:
    """'IN_STOCK', 'in stock', 'In-Stock' -> 'in_stock'."""
    return str(value).strip().lower().replace(" ", "_").replace("-", "_")


def _tables(product: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [product, *(t for key in _ATTRIBUTE_TABLES
                       if isinstance(t := product.get(key), Mapping))]


def _lookup(tables: list[Mapping[str, Any]], *names: str) -> Any:
    for table in tables:
        for name in names:
            if name in table:
                return table[name]
    return _NOT_FOUND


def _missing(value: Any) -> bool:
    if value is _NOT_FOUND or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple):
        return not value
    return False


def price_amount(price: Any) -> Decimal | None:
    """The amount of a price in any of its shapes; None when it cannot be read."""
    try:
        if isinstance(price, Mapping):
            micros = price.get("amountMicros", price.get("amount_micros"))
            if micros is not None:
                return Decimal(str(micros)) / 1_000_000
            amount = price.get("value", price.get("amount"))
            return None if amount is None else Decimal(str(amount))
        if isinstance(price, bool):
            return None
        if isinstance(price, int | float | Decimal):
            return Decimal(str(price))
        if isinstance(price, str):
            return Decimal(price.strip().split()[0])
    except (InvalidOperation, IndexError, ValueError):
        return None
    return None


def _gtins(value: Any) -> Iterable[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if not _missing(v)]
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    return [str(value)]


def is_disapproved(product: Mapping[str, Any]) -> bool:
    """True when the product is disapproved for any destination or country."""
    flag = product.get("disapproved")
    if isinstance(flag, bool):
        return flag
    status = product.get("productStatus", product.get("status"))
    if isinstance(status, str):
        return normalize_enum(status) == "disapproved"
    if not isinstance(status, Mapping):
        return False
    for dest in status.get("destinationStatuses") or ():
        if isinstance(dest, Mapping) and (dest.get("disapprovedCountries")
                                          or normalize_enum(dest.get("status", "")) ==
                                          "disapproved"):
            return True
    return any(isinstance(issue, Mapping) and normalize_enum(issue.get("severity", "")) ==
               "disapproved" for issue in status.get("itemLevelIssues") or ())


class MerchantStatsAccumulator:
    """Counts what the Merchant rules need while the importer streams products."""

    def __init__(self, *, previous_disapproved_share: float | None = None) -> None:
        self._summary = MerchantSummary(previous_disapproved_share=previous_disapproved_share)

    def add(self, product: Mapping[str, Any]) -> None:
        """Count one product."""
        s = self._summary
        s.products += 1
        tables = _tables(product)
        ident = str(_first(tables, "offerId", "offer_id", "name", "id") or f"#{s.products}")
        for attr, names in (("title", ("title",)), ("link", ("link",)),
                            ("image_link", ("imageLink", "image_link"))):
            if _missing(_lookup(tables, *names)):
                setattr(s, f"missing_{attr}", getattr(s, f"missing_{attr}") + 1)
                keep_example(s.examples, f"missing_{attr}_share", ident)
        price = _lookup(tables, "price")
        if _missing(price):
            s.missing_price += 1
            keep_example(s.examples, "missing_price_share", ident)
        else:
            amount = price_amount(price)
            if amount is None or not amount > 0:
                s.non_positive_price += 1
                keep_example(s.examples, "non_positive_price_share", f"{ident}: {price}")
        availability = _lookup(tables, "availability")
        if _missing(availability):
            s.missing_availability += 1
            keep_example(s.examples, "missing_availability_share", ident)
        elif normalize_enum(availability) not in AVAILABILITY:
            s.invalid_availability += 1
            keep_example(s.examples, "invalid_availability_share", f"{ident}: {availability}")
        condition = _lookup(tables, "condition")
        if not _missing(condition) and normalize_enum(condition) not in CONDITION:
            s.invalid_condition += 1
            keep_example(s.examples, "invalid_condition_share", f"{ident}: {condition}")
        gtin = _lookup(tables, "gtins", "gtin")
        if not _missing(gtin):
            bad = [g for g in _gtins(gtin) if not gtin_valid(g)]
            if bad:
                s.invalid_gtin += 1
                keep_example(s.examples, "invalid_gtin_share", f"{ident}: {bad[0]}")
        if is_disapproved(product):
            s.disapproved += 1
            keep_example(s.examples, "disapproved_share_jump", ident)

    def summary(self) -> MerchantSummary:
        """The counters so far."""
        return self._summary


def _first(tables: list[Mapping[str, Any]], *names: str) -> Any:
    value = _lookup(tables, *names)
    return None if value is _NOT_FOUND else value
