"""Access tokens for the Google APIs: from an environment variable or a service-account key.

The service-account flow signs a JWT with google-auth's RSA signer and exchanges it at the
key file's ``token_uri`` over the injected ``httpx.Client`` ourselves, so that time comes from
the injected clock and tests can point ``token_uri`` at a fake server on 127.0.0.1. It follows
google-auth (``google.oauth2.service_account`` and ``google.oauth2._client``): the assertion's
audience is always ``https://oauth2.googleapis.com/token``, and an answer with status 408,
429, 500, 503 or 504, or with error ``internal_failure``, ``server_error`` or
``temporarily_unavailable``, is retried: three attempts, waits of 1 s then 2 s, +-10 % jitter.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import tenacity
from google.auth import crypt, jwt

from ingestctl.clock import Clock
from ingestctl.errors import AuthError, ConfigError, TransientError
from ingestctl.redact import redact_credentials

MERCHANT_SCOPE = "https://www.googleapis.com/auth/content"
SEARCH_CONSOLE_SCOPE = "https://www.googleapis.com/auth/webmasters.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600
# Refresh this long before expiry so a token never dies between check and use.
REFRESH_MARGIN = timedelta(minutes=5)
#: The audience google-auth puts in every service-account assertion, whatever ``token_uri``.
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
#: What google-auth retries at the token endpoint (google.auth.transport and oauth2._client).
TOKEN_RETRY_STATUSES = frozenset({408, 429, 500, 503, 504})
TOKEN_RETRY_ERRORS = frozenset({"internal_failure", "server_error", "temporarily_unavailable"})
TOKEN_ATTEMPTS = 3
TOKEN_FIRST_WAIT = 1.0
TOKEN_JITTER = 0.1


class RetryableTokenAnswer(TransientError):
    """An answer of the token endpoint that google-auth would retry."""


def token_wait(rng: Callable[[], float]) -> Callable[[tenacity.RetryCallState], float]:
    """google-auth's backoff: 1 s, 2 s, ... each +-10 %, with ``rng`` in [0, 1)."""
    def wait(state: tenacity.RetryCallState) -> float:
        base = TOKEN_FIRST_WAIT * 2.0 ** (state.attempt_number - 1)
        return float(base * (1 - TOKEN_JITTER + 2 * TOKEN_JITTER * rng()))
    return wait


class TokenProvider(Protocol):
    """Hands out a bearer token; ``invalidate`` after a 401 forces a fresh one."""

    def token(self) -> str:
        """A bearer token valid now."""
        ...

    def invalidate(self) -> None:
        """Forget the current token (the API refused it)."""
        ...


class TokenCache(Protocol):
    """Where access tokens survive between processes; the store implements it in SQLite."""

    def get(self, key: str) -> tuple[str, datetime] | None:
        """The cached token and its expiry, if any."""
        ...

    def put(self, key: str, token: str, expiry: datetime) -> None:
        """Remember a token until ``expiry``."""
        ...


class MemoryTokenCache:
    """A TokenCache in a dict, for tests and one-off runs."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, datetime]] = {}

    def get(self, key: str) -> tuple[str, datetime] | None:
        """The cached token and its expiry, if any."""
        return self.entries.get(key)

    def put(self, key: str, token: str, expiry: datetime) -> None:
        """Remember a token until ``expiry``."""
        self.entries[key] = (token, expiry)


class EnvTokenProvider:
    """A ready access token from the environment variable the config names."""

    def __init__(self, var_name: str, environ: Mapping[str, str]) -> None:
        if not var_name:
            raise ConfigError("no credentials: set service_account_file or access_token_env",
                              key="google")
        self.var_name = var_name
        self.environ = environ
        self.token()

    def token(self) -> str:
        """The variable's value; a missing or empty variable is a config error."""
        value = self.environ.get(self.var_name, "").strip()
        if not value:
            raise ConfigError(f"environment variable {self.var_name} is not set or empty",
                              key="google.access_token_env",
                              hint=f"export {self.var_name}=<access token>")
        return value

    def invalidate(self) -> None:
        """Nothing to refresh: the next 401 surfaces as an auth error."""


def _config_error(path: Path, problem: str) -> ConfigError:
    return ConfigError(problem, path=str(path), key="google.service_account_file",
                       hint="download a JSON key for the service account (docs/guide/google.md)")


def load_service_account(path: Path) -> dict[str, Any]:
    """Read and check a service-account JSON key; errors name the file, never its content."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _config_error(path, "service-account key file not found") from None
    except OSError as exc:
        raise _config_error(path, f"cannot read service-account key file ({exc.strerror})"
                            ) from None
    try:
        info = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _config_error(path, "service-account key file is not valid JSON") from None
    if not isinstance(info, dict):
        raise _config_error(path, "service-account key file is not a JSON object")
    if info.get("type", "service_account") != "service_account":
        raise _config_error(path, f"key type is {info.get('type')!r}, expected service_account")
    missing = [k for k in ("client_email", "private_key") if not isinstance(info.get(k), str)
               or not info.get(k)]
    if missing:
        raise _config_error(path, f"service-account key file lacks {', '.join(missing)}")
    return info


class ServiceAccountTokenProvider:
    """Tokens from a service-account key: signed JWT exchanged at ``token_uri``, cached."""

    def __init__(
        self,
        path: str | Path,
        scopes: Sequence[str],
        token_uri_override: str | None,
        http: httpx.Client,
        clock: Clock,
        cache: TokenCache | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.path = Path(path).expanduser()
        info = load_service_account(self.path)
        self.client_email: str = info["client_email"]
        self.token_uri: str = (token_uri_override or info.get("token_uri")
                               or "https://oauth2.googleapis.com/token")
        try:
            # google-auth ships without full annotations.
            self._signer = crypt.RSASigner.from_service_account_info(  # type: ignore[no-untyped-call]
                info)
        except (ValueError, TypeError):
            raise _config_error(self.path, "private_key cannot be loaded") from None
        self.scopes = tuple(scopes)
        self.http = http
        self.clock = clock
        self.sleep = sleep or clock.sleep
        self.rng = rng
        self.cache: TokenCache = cache if cache is not None else MemoryTokenCache()
        self.cache_key = f"{self.client_email}|{self.token_uri}|{' '.join(sorted(self.scopes))}"
        self.exchanges = 0
        self._force_refresh = False

    def token(self) -> str:
        """A cached token with more than five minutes left, else a freshly exchanged one."""
        now = self.clock.now()
        if not self._force_refresh:
            cached = self.cache.get(self.cache_key)
            if cached is not None and cached[0] and now < cached[1] - REFRESH_MARGIN:
                return cached[0]
        token, expiry = self._exchange()
        self.cache.put(self.cache_key, token, expiry)
        self._force_refresh = False
        return token

    def invalidate(self) -> None:
        """Ignore the cached token next time (the API answered 401)."""
        self._force_refresh = True

    def assertion(self, now: datetime) -> str:
        """The signed JWT bearer assertion (RFC 7523) for ``now``."""
        issued = int(now.timestamp())
        payload = {"iss": self.client_email, "scope": " ".join(self.scopes),
                   "aud": TOKEN_AUDIENCE, "iat": issued, "exp": issued + ASSERTION_LIFETIME}
        signed: bytes = jwt.encode(self._signer, payload)  # type: ignore[no-untyped-call]
        return signed.decode("ascii")

    def _exchange(self) -> tuple[str, datetime]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(TOKEN_ATTEMPTS),
            retry=tenacity.retry_if_exception_type(RetryableTokenAnswer),
            wait=token_wait(self.rng), sleep=self.sleep, reraise=True)
        result: tuple[str, datetime] = retrying(lambda: self._exchange_once(self.clock.now()))
        return result

    def _exchange_once(self, now: datetime) -> tuple[str, datetime]:
        self.exchanges += 1
        data = {"grant_type": JWT_GRANT, "assertion": self.assertion(now)}
        try:
            response = self.http.post(self.token_uri, data=data)
        except httpx.HTTPError as exc:
            raise TransientError(f"token endpoint unreachable: {type(exc).__name__}",
                                 url=self.token_uri) from None
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        what = redact_credentials(": ".join(str(p) for p in (error, detail) if p))
        if status in TOKEN_RETRY_STATUSES or status >= 500 or \
                TOKEN_RETRY_ERRORS.intersection({str(error), str(detail)}):
            raise RetryableTokenAnswer(
                f"token endpoint answered HTTP {status}" + (f": {what}" if what else ""),
                url=self.token_uri, status_code=status)
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError(f"token exchange for {self.client_email} refused "
                            f"(HTTP {status}): {what or 'no access_token'}", url=self.token_uri,
                            status_code=status,
                            hint="check the key is current and the service account enabled")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return str(body["access_token"]), now + timedelta(seconds=lifetime)
