"""The one redaction function for URLs, and what it keeps."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl import redact
from ingestctl.config_file import load_config
from ingestctl.errors import DataError
from ingestctl.redact import is_secret_param, redact_data, redact_target, redact_text, redact_url

from .cli import invoke
from .monitoring_helpers import crafted


@pytest.fixture(autouse=True)
def _no_configured_names() -> Iterator[None]:
    yield
    redact.use_query_params([])


@pytest.mark.parametrize(("url", "shown"), [
    ("https://bob:pw@shop.example/s.xml?page=2&access_token=t",
     "https://shop.example/s.xml?page=2&access_token=REDACTED"),
    ("https://h.example/a?key=1&sig=2&q=x", "https://h.example/a?key=REDACTED&sig=REDACTED&q=x"),
    ("https://b.s3.example/s.xml?X-Amz-Signature=a&X-Amz-Credential=b&X-Amz-Date=c",
     "https://b.s3.example/s.xml?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"
     "&X-Amz-Date=c"),
    ("http://h/a;jsessionid=S?keyword=shoes&lang_code=de#access_token=F",
     "http://h/a;jsessionid=REDACTED?keyword=shoes&lang_code=de#access_token=REDACTED"),
    ("http://h/?Authorization=x&auth=y&client_secret=z&password=p&apikey=k",
     "http://h/?Authorization=REDACTED&auth=REDACTED&client_secret=REDACTED&password=REDACTED"
     "&apikey=REDACTED"),
    ("http://u@[::1]:8080/p", "http://[::1]:8080/p"),
    ("https://shop.example/sitemap.xml", "https://shop.example/sitemap.xml"),
    ("http://[bad", "REDACTED"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown or shown == "REDACTED"  # idempotent


def test_redact_text_keeps_line_and_column_and_redacts_relative_urls() -> None:
    assert redact_text("GET https://a:b@x.example/p?token=t failed") == (
        "GET https://x.example/p?token=REDACTED failed")
    assert redact_text("https://h/s.xml?sig=1:12:5: mismatched tag") == (
        "https://h/s.xml?sig=REDACTED:12:5: mismatched tag")
    assert redact_text("answered 401 for /hook?token=abc&x=1") == (
        "answered 401 for /hook?token=REDACTED&x=1")
    assert redact_text("") == ""
    assert redact_target("/srv/sitemaps/s.xml") == "/srv/sitemaps/s.xml"
    assert redact_target("123456") == "123456"
    assert redact_data({"a": ["http://u:p@h/x?key=1"], "n": 3}) == {
        "a": ["http://h/x?key=REDACTED"], "n": 3}


def test_configured_names_are_redacted_too(tmp_path: Path) -> None:
    assert not is_secret_param("partner")
    config = tmp_path / "c.toml"
    config.write_text('[security]\nredact_query_params = ["partner", "Shop-Ref"]\n')
    load_config(config, environ={})
    assert is_secret_param("partner") and is_secret_param("shop_ref")
    assert redact_url("https://h/s.xml?partner=p&shop-ref=r&page=2") == (
        "https://h/s.xml?partner=REDACTED&shop-ref=REDACTED&page=2")


def test_errors_redact_their_message_and_keep_the_real_url() -> None:
    url = "https://bob:pw@h.example/s.xml?access_token=t"
    error = DataError("mismatched tag", url=url, line=3, column=7)
    assert str(error) == "https://h.example/s.xml?access_token=REDACTED:3:7: mismatched tag"
    assert error.url == url


def test_rows_written_before_redaction_are_shown_redacted(home: Path) -> None:
    """A store from an older version keeps secrets in import names; no surface shows them."""
    secret = "https://bob:pw0rd@shop.example/s.xml?access_token=t0ken"
    c = crafted(home)
    from ingestctl.models.jobs import JobSpec

    c.run(JobSpec("sitemap", secret), 1, items=3)
    c.run(JobSpec("sitemap", secret), 1,
          error=DataError("bad", url="https://h.example/x.xml?sig=s1g"))
    c.store.close()
    with sqlite3.connect(home / "ingestctl.db") as conn:  # what older versions wrote
        for table, column in (("imports", "key"), ("jobs", "import_key"), ("jobs", "name")):
            conn.execute(f"UPDATE {table} SET {column} = ?", (f"sitemap:{secret}",))
        for table in ("jobs", "attempts", "dead_letters"):
            conn.execute(f"UPDATE {table} SET error_message = 'bad https://h.example/x.xml?"
                         "sig=s1g' WHERE error_message IS NOT NULL")
    outputs = [invoke(*args).stdout for args in (
        ["metrics"], ["health", "--format", "json"], ["health"], ["status", "--json"],
        ["status"], ["jobs", "list"], ["jobs", "list", "--json"], ["jobs", "show", "2"],
        ["dlq", "list"], ["dlq", "show", "1", "--json"])]
    text = "\n".join(outputs)
    assert "pw0rd" not in text and "t0ken" not in text and "s1g" not in text
    assert ('ingestctl_last_success_timestamp_seconds{import="sitemap:https://shop.example/'
            's.xml?access_token=REDACTED"}') in outputs[0]
    assert json.loads(outputs[3])["failures"][0]["error_message"] == (
        "bad https://h.example/x.xml?sig=REDACTED")


@pytest.mark.parametrize("text,shown", [
    ("retry with Bearer abc.def-123", "retry with Bearer [redacted]"),
    ("token ya29.a0AfH6SM rejected", "token [redacted] rejected"),
    ("sitemap shop completed", "sitemap shop completed"),
])
def test_text_without_url_or_assignment_is_still_searched_for_credentials(text: str,
                                                                         shown: str) -> None:
    assert redact_text(text) == shown
