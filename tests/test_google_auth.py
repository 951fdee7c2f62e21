"""Credentials: environment tokens, service-account JWT exchange, caching and refresh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ingestctl.clock import FakeClock
from ingestctl.errors import EXIT_CONFIG, AuthError, ConfigError, TransientError
from ingestctl.sources.google.auth import (
    MERCHANT_SCOPE,
    SEARCH_CONSOLE_SCOPE,
    EnvTokenProvider,
    MemoryTokenCache,
    ServiceAccountTokenProvider,
)
from tests.fakes.google_token import (
    CLIENT_EMAIL,
    FakeTokenServer,
    new_key,
    token_error,
    write_key_file,
)
from tests.httpserver import Response


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(key: rsa.RSAPrivateKey, clock: FakeClock) -> Iterator[FakeTokenServer]:
    server = FakeTokenServer(key, clock, expires_in=3600)
    with server.server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


def provider(path: Path, client: httpx.Client, clock: FakeClock,
             cache: MemoryTokenCache | None = None) -> ServiceAccountTokenProvider:
    return ServiceAccountTokenProvider(path, [MERCHANT_SCOPE], None, client, clock, cache)


def test_env_token_provider_reads_the_named_variable() -> None:
    env = {"GOOGLE_TOKEN": "abc"}
    tokens = EnvTokenProvider("GOOGLE_TOKEN", env)
    assert tokens.token() == "abc"
    tokens.invalidate()
    assert tokens.token() == "abc"


def test_env_token_provider_missing_variable_is_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        EnvTokenProvider("GOOGLE_TOKEN", {})
    assert info.value.exit_code == EXIT_CONFIG
    assert "GOOGLE_TOKEN" in str(info.value)


def test_missing_key_file_is_config_error_naming_the_file(tmp_path: Path, clock: FakeClock,
                                                          client: httpx.Client) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        provider(missing, client, clock)
    assert info.value.exit_code == EXIT_CONFIG
    assert str(missing) in str(info.value) and "not found" in str(info.value)


def test_invalid_key_files_never_echo_their_content(tmp_path: Path, clock: FakeClock,
                                                    client: httpx.Client) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("SECRET-MATERIAL not json")
    with pytest.raises(ConfigError) as info:
        provider(bad_json, client, clock)
    assert "not valid JSON" in str(info.value) and "SECRET" not in str(info.value)
    no_key = tmp_path / "nokey.json"
    no_key.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))
    with pytest.raises(ConfigError, match="lacks private_key"):
        provider(no_key, client, clock)
    bad_key = tmp_path / "badkey.json"
    bad_key.write_text(json.dumps({"type": "service_account", "client_email": "a@b",
                                   "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET\n"}))
    with pytest.raises(ConfigError) as info:
        provider(bad_key, client, clock)
    assert "cannot be loaded" in str(info.value) and "SECRET" not in str(info.value)
    user_creds = tmp_path / "user.json"
    user_creds.write_text(json.dumps({"type": "authorized_user"}))
    with pytest.raises(ConfigError, match="expected service_account"):
        provider(user_creds, client, clock)


def test_exchange_signs_a_jwt_the_server_verifies(tmp_path: Path, key: rsa.RSAPrivateKey,
                                                  clock: FakeClock, tokens: FakeTokenServer,
                                                  client: httpx.Client) -> None:
    path = write_key_file(tmp_path / "sa.json", key, tokens.token_uri)
    sa = ServiceAccountTokenProvider(path, [MERCHANT_SCOPE, SEARCH_CONSOLE_SCOPE], None,
                                     client, clock, None)
    assert sa.token() == "tok-1"
    claims = tokens.claims[0]
    # google-auth's audience, whatever URL the key file names.
    assert claims["iss"] == CLIENT_EMAIL and claims["aud"] == "https://oauth2.googleapis.com/token"
    assert claims["scope"] == f"{MERCHANT_SCOPE} {SEARCH_CONSOLE_SCOPE}"
    assert claims["exp"] == int(clock.now().timestamp()) + 3600


def test_token_cached_and_refreshed_five_minutes_before_expiry(
        tmp_path: Path, key: rsa.RSAPrivateKey, clock: FakeClock, tokens: FakeTokenServer,
        client: httpx.Client) -> None:
    path = write_key_file(tmp_path / "sa.json", key, tokens.token_uri)
    cache = MemoryTokenCache()
    sa = provider(path, client, clock, cache)
    assert sa.token() == "tok-1"
    clock.advance(3600 - 301)
    assert sa.token() == "tok-1"
    assert len(tokens.server.requests) == 1
    clock.advance(1)  # exactly five minutes left: refresh
    assert sa.token() == "tok-2"
    assert len(tokens.server.requests) == 2
    # A second process sharing the cache reuses the token without an exchange.
    other = provider(path, client, clock, cache)
    assert other.token() == "tok-2" and other.exchanges == 0
    assert cache.get(sa.cache_key) == ("tok-2", clock.now() + timedelta(seconds=3600))


def test_invalidate_forces_a_new_exchange(tmp_path: Path, key: rsa.RSAPrivateKey,
                                          clock: FakeClock, tokens: FakeTokenServer,
                                          client: httpx.Client) -> None:
    sa = provider(write_key_file(tmp_path / "sa.json", key, tokens.token_uri), client, clock)
    assert sa.token() == "tok-1"
    sa.invalidate()
    assert sa.token() == "tok-2"
    assert sa.token() == "tok-2"


def test_token_uri_override_wins(tmp_path: Path, key: rsa.RSAPrivateKey, clock: FakeClock,
                                 tokens: FakeTokenServer, client: httpx.Client) -> None:
    path = write_key_file(tmp_path / "sa.json", key, "https://oauth2.invalid/token")
    sa = ServiceAccountTokenProvider(path, [MERCHANT_SCOPE], tokens.token_uri, client, clock)
    assert sa.token() == "tok-1"


def test_wrong_key_is_invalid_grant_auth_error(tmp_path: Path, clock: FakeClock,
                                               tokens: FakeTokenServer,
                                               client: httpx.Client) -> None:
    path = write_key_file(tmp_path / "sa.json", new_key(), tokens.token_uri)
    with pytest.raises(AuthError) as info:
        provider(path, client, clock).token()
    assert "invalid_grant" in str(info.value) and info.value.status_code == 400


@pytest.mark.parametrize("answer", [
    Response(408, b""),
    token_error(400, "temporarily_unavailable"),
    token_error(400, "invalid_request", "server_error"),
    Response(503, b"busy"),
    Response(429, b""),
])
def test_answers_google_auth_retries_are_retried_after_1_then_2_seconds(
        tmp_path: Path, key: rsa.RSAPrivateKey, clock: FakeClock, tokens: FakeTokenServer,
        client: httpx.Client, answer: Response) -> None:
    sa = ServiceAccountTokenProvider(write_key_file(tmp_path / "sa.json", key,
                                                    tokens.token_uri),
                                     [MERCHANT_SCOPE], None, client, clock, rng=lambda: 0.5)
    tokens.answers = [answer, answer]
    assert sa.token() == "tok-1"
    assert clock.sleeps == [1.0, 2.0] and len(tokens.server.requests) == 3
    # Each attempt signs a fresh assertion for its own time.
    assert [c["iat"] for c in tokens.claims] == [int(clock.now().timestamp())]


def test_token_endpoint_outage_is_transient_after_three_attempts(
        tmp_path: Path, key: rsa.RSAPrivateKey, clock: FakeClock, tokens: FakeTokenServer,
        client: httpx.Client) -> None:
    sa = ServiceAccountTokenProvider(write_key_file(tmp_path / "sa.json", key,
                                                    tokens.token_uri),
                                     [MERCHANT_SCOPE], None, client, clock, rng=lambda: 0.0)
    tokens.refuse = token_error(400, "temporarily_unavailable", "try later")
    with pytest.raises(TransientError, match="HTTP 400: temporarily_unavailable: try later"):
        sa.token()
    assert clock.sleeps == [0.9, 1.8] and len(tokens.server.requests) == 3
    tokens.refuse = token_error(400, "invalid_grant", "Bad Request")
    clock.sleeps.clear()
    with pytest.raises(AuthError, match="invalid_grant"):
        sa.token()
    assert clock.sleeps == []  # refused for good: not retried
    dead = write_key_file(tmp_path / "dead.json", key, "http://127.0.0.1:9/token")
    with pytest.raises(TransientError, match="unreachable"):
        provider(dead, client, clock).token()
