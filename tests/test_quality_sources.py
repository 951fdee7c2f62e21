"""Merchant and Search Console rules, GTIN check digits, and the outcome of violations."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from ingestctl.errors import DataError, ErrorClass
from ingestctl.quality.merchant_stats import MerchantStatsAccumulator, gtin_valid
from ingestctl.quality.model import FailOn, Violation
from ingestctl.quality.model import ViolationSeverity as Severity
from ingestctl.quality.outcome import QualityFailedError, should_fail, summarize
from ingestctl.quality.rules import evaluate
from ingestctl.quality.search_console_stats import SearchConsoleStatsAccumulator
from ingestctl.quality.summaries import MerchantSummary

# GTIN


@pytest.mark.parametrize("gtin", [
    "73513537",          # EAN-8
    "036000291452",      # UPC-A
    "4006381333931",     # EAN-13
    "5901234123457",     # EAN-13
    "9780306406157",     # ISBN-13 as EAN-13
    "10614141000415",    # GTIN-14
    "00012345600012",    # GTIN-14 with leading zeros
    " 4006381333931 ",   # surrounding spaces are ignored
    73513537,            # an int is read as its digits
])
def test_valid_gtins(gtin: str | int) -> None:
    assert gtin_valid(gtin) is True


@pytest.mark.parametrize("gtin", [
    "73513538",          # wrong check digit
    "036000291453",
    "4006381333932",
    "10614141000416",
    "4006381333",        # 10 digits
    "40063813339310",    # 14 digits, check digit off
    "400638133393",      # 12 digits: the EAN-13 cut short
    36000291452,         # the UPC-A as an int lost its leading zero: 11 digits
    "40063813339\u09e91",  # a non-ASCII digit
    "4006-381333931",
    "",
])
def test_invalid_gtins(gtin: str | int) -> None:
    assert gtin_valid(gtin) is False


# Merchant products

GOOD: dict[str, Any] = {
    "offerId": "sku-1",
    "productAttributes": {
        "title": "Blue mug", "link": "https://shop.example/mug", "imageLink": "https://i/1.jpg",
        "price": {"amountMicros": "12990000", "currencyCode": "EUR"},
        "availability": "IN_STOCK", "condition": "NEW", "gtins": ["4006381333931"],
    },
    "productStatus": {"destinationStatuses": [{"reportingContext": "SHOPPING_ADS",
                                               "approvedCountries": ["DE"]}]},
}


def _product(i: int, **changes: Any) -> dict[str, Any]:
    attributes = dict(GOOD["productAttributes"])
    for key, value in changes.items():
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    return {**GOOD, "offerId": f"sku-{i}", "productAttributes": attributes}


def test_merchant_accepts_every_spelling_of_a_good_product() -> None:
    acc = MerchantStatsAccumulator()
    acc.add(GOOD)
    acc.add({"offerId": "old", "title": "Mug", "link": "https://s/m", "imageLink": "https://i",
             "price": {"value": "9.99", "currency": "USD"}, "availability": "in stock",
             "condition": "refurbished", "gtin": "036000291452"})
    acc.add({"id": "flat", "title": "Mug", "link": "https://s/m", "image_link": "https://i",
             "price": 5, "availability": "Out-Of-Stock", "condition": "used",
             "gtin": 73513537, "disapproved": False})
    acc.add(_product(4, availability="preorder", price="3.50 EUR", condition=None, gtins=None))
    acc.add(_product(5, availability="BACKORDER"))
    s = acc.summary()
    assert s.products == 5
    assert evaluate(s) == []


MERCHANT_CASES = [
    ("missing_title_share", {"title": ""}, "have no title"),
    ("missing_link_share", {"link": None}, "have no link"),
    ("missing_image_link_share", {"imageLink": "  "}, "have no image link"),
    ("missing_price_share", {"price": None}, "have no price"),
    ("missing_availability_share", {"availability": None}, "have no availability"),
    ("non_positive_price_share", {"price": {"amountMicros": "0", "currencyCode": "EUR"}},
     "have a price that is not above zero or cannot be read"),
    ("invalid_availability_share", {"availability": "AVAILABILITY_UNSPECIFIED"},
     "have an availability outside in stock, out of stock, preorder, backorder, limited"),
    ("invalid_condition_share", {"condition": "second hand"},
     "have a condition outside new, refurbished, used"),
    ("invalid_gtin_share", {"gtins": ["4006381333931", "4006381333932"]},
     "have a GTIN with a wrong length or check digit"),
]


@pytest.mark.parametrize(("rule", "change", "text"), MERCHANT_CASES)
def test_merchant_attribute_rules(rule: str, change: dict[str, Any], text: str) -> None:
    acc = MerchantStatsAccumulator()
    for i in range(200):
        acc.add(_product(i, **change) if i < 3 else _product(i))
    found = evaluate(acc.summary())
    assert [(v.rule, v.severity) for v in found] == [(rule, Severity.WARNING)]
    assert found[0].message == f"3 of 200 products (1.5 %) {text}; warning above 0 %"
    assert found[0].details["examples"][0].startswith("sku-0")
    clean = MerchantStatsAccumulator()
    for i in range(200):
        clean.add(_product(i))
    assert evaluate(clean.summary()) == []


def test_negative_and_unreadable_prices() -> None:
    acc = MerchantStatsAccumulator()
    acc.add(_product(1, price=-1))
    acc.add(_product(2, price="free"))
    acc.add(_product(3, price={"amountMicros": "1", "currencyCode": "EUR"}))   # 0.000001 > 0
    assert acc.summary().non_positive_price == 2


def _disapproved_run(disapproved: int, total: int, previous: float | None) -> MerchantSummary:
    acc = MerchantStatsAccumulator(previous_disapproved_share=previous)
    for i in range(total):
        product = _product(i)
        if i < disapproved:
            product["productStatus"] = {"destinationStatuses": [
                {"reportingContext": "SHOPPING_ADS", "disapprovedCountries": ["DE"]}]}
        acc.add(product)
    return acc.summary()


def test_disapproved_share_jump_across_two_imports() -> None:
    first = _disapproved_run(2, 100, None)
    assert first.disapproved_share == 0.02 and evaluate(first) == []
    second = _disapproved_run(8, 100, first.disapproved_share)
    found = evaluate(second)
    assert [v.rule for v in found] == ["disapproved_share_jump"]
    assert found[0].message == ("disapproved products rose from 2 % to 8 % (8 of 100, "
                                "+6 points); warning above a rise of 5 points")
    assert found[0].observed == 0.06
    assert evaluate(_disapproved_run(7, 100, 0.02)) == []      # +5 points: not above
    issue = _product(1)
    issue["productStatus"] = {"itemLevelIssues": [{"severity": "DISAPPROVED"}]}
    acc = MerchantStatsAccumulator()
    acc.add(issue)
    acc.add({**_product(2), "productStatus": None, "disapproved": True})
    assert acc.summary().disapproved == 2


# Search Console

START = date(2025, 3, 1)


def _rows(days: int, *, skip: tuple[int, ...] = (),
          bad: dict[str, int] | None = None) -> SearchConsoleStatsAccumulator:
    bad = bad or {}
    acc = SearchConsoleStatsAccumulator(START, START + timedelta(days=days - 1))
    for d in range(days):
        if d in skip:
            continue
        day = (START + timedelta(days=d)).isoformat()
        for q in range(10):
            row: dict[str, Any] = {"keys": [day, f"query {q}"], "clicks": 1, "impressions": 10,
                                   "ctr": 0.1, "position": 3.2}
            if d == 0 and q < bad.get("clicks", 0):
                row["clicks"] = 11
            if d == 0 and q < bad.get("ctr", 0):
                row["ctr"] = 1.5
            if d == 0 and q < bad.get("position", 0):
                row["position"] = 0.5
            acc.add(row)
    return acc


@pytest.mark.parametrize(("key", "rule", "text"), [
    ("clicks", "clicks_above_impressions_share", "have more clicks than impressions"),
    ("ctr", "ctr_out_of_range_share", "have a CTR outside 0 to 1"),
    ("position", "position_below_one_share", "have a position below 1"),
])
def test_search_console_row_rules(key: str, rule: str, text: str) -> None:
    found = evaluate(_rows(10, bad={key: 2}).summary())
    assert [v.rule for v in found] == [rule]
    assert found[0].message == f"2 of 100 rows (2 %) {text}; warning above 0 %"
    assert evaluate(_rows(10).summary()) == []


def test_missing_days_inside_the_final_range() -> None:
    found = evaluate(_rows(28, skip=(2, 9)).summary())
    assert found == [Violation(
        "missing_days", Severity.ERROR,
        "2 of 28 days in the final range 2025-03-01 to 2025-03-28 have no rows "
        "(2025-03-03, 2025-03-10); error above 0", 2, 0,
        {"days": ["2025-03-03", "2025-03-10"]})]
    assert evaluate(_rows(28).summary()) == []


def test_a_day_with_exactly_the_row_limit_is_truncated() -> None:
    acc = SearchConsoleStatsAccumulator(START, START, row_limit=50_000)
    for _ in range(50_000):
        acc.add({"clicks": 0, "impressions": 1, "ctr": 0.0, "position": 1.0}, day=START)
    found = evaluate(acc.summary())
    assert [(v.rule, v.message) for v in found] == [(
        "truncated_days", "1 day has exactly 50,000 rows, the API's limit, so their data is "
        "likely truncated (2025-03-01); warning above 0")]
    acc.add({"clicks": 0, "impressions": 1, "ctr": 0.0, "position": 1.0}, day=START)
    assert evaluate(acc.summary()) == []


def test_rows_without_a_date_skip_the_day_rules() -> None:
    acc = SearchConsoleStatsAccumulator(date_index=None)
    acc.add({"keys": ["2025-03-01 sale"], "clicks": 1, "impressions": 2, "ctr": 0.5,
             "position": 1})
    assert acc.summary().rows == 1 and evaluate(acc.summary()) == []


# Outcome

WARN = Violation("duplicate_keys", Severity.WARNING, "w", 3, 0)
ERR = Violation("zero_items", Severity.ERROR, "the import produced no items; error", 0, None)


def test_should_fail() -> None:
    assert should_fail([WARN, ERR], "error") is True
    assert should_fail([WARN, ERR], FailOn.NEVER) is False
    assert should_fail([WARN], FailOn.ERROR) is False
    assert should_fail([], "error") is False
    with pytest.raises(ValueError):
        should_fail([ERR], "warning")


def test_summary_and_failure_error() -> None:
    assert summarize([]) == "no quality violations"
    assert summarize([WARN, ERR, WARN]) == (
        "1 quality error (zero_items), 2 quality warnings (duplicate_keys, duplicate_keys)")
    error = QualityFailedError([WARN, ERR])
    assert isinstance(error, DataError) and error.error_class is ErrorClass.DATA
    assert error.message == "data quality: the import produced no items; error"
    assert not error.error_class.retryable


def test_violation_round_trips_through_json_data() -> None:
    violation = evaluate(_rows(3, skip=(1,)).summary())[0]
    assert Violation.from_dict(violation.to_dict()) == violation
    assert violation.to_dict()["severity"] == "error"
