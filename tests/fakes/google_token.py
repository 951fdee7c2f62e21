"""A fake OAuth token endpoint that checks JWT bearer assertions against a test RSA key.

It behaves as Google's endpoint does for google-auth's service-account flow: the assertion's
``aud`` must be ``https://oauth2.googleapis.com/token`` whatever URL it is posted to, and
answers queued in ``answers`` (a 408, ``temporarily_unavailable``, a 503) come first.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ingestctl.clock import Clock
from tests.httpserver import LocalServer, Request, Response

CLIENT_EMAIL = "ingest@test-project.iam.gserviceaccount.com"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for one test module."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key_file(path: Path, key: rsa.RSAPrivateKey, token_uri: str) -> Path:
    """A service-account JSON key file holding ``key`` with ``token_uri``."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "test-project", "private_key_id": "k1",
        "private_key": pem, "client_email": CLIENT_EMAIL, "client_id": "1",
        "token_uri": token_uri}))
    return path


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeTokenServer:
    """Issues ``tok-N`` tokens valid for ``expires_in`` seconds of the shared fake clock."""

    def __init__(self, key: rsa.RSAPrivateKey, clock: Clock, expires_in: int = 3600) -> None:
        self.public_key = key.public_key()
        self.clock = clock
        self.expires_in = expires_in
        self.issued: dict[str, tuple[datetime, frozenset[str]]] = {}
        self.claims: list[dict[str, object]] = []
        self.refuse: Response | None = None
        self.answers: list[Response] = []
        self.server = LocalServer(self.handle)

    @property
    def token_uri(self) -> str:
        """Where the key file points."""
        return self.server.url("/token")

    def valid(self, token: str) -> bool:
        """True while ``token`` was issued here and has not expired on the fake clock."""
        return self.scopes(token) is not None

    def scopes(self, token: str) -> frozenset[str] | None:
        """The scopes of a valid ``token``, None when it was not issued here or expired."""
        found = self.issued.get(token)
        return found[1] if found is not None and self.clock.now() < found[0] else None

    def revoke_all(self) -> None:
        """Expire every token (a revoked or rotated key)."""
        self.issued = {t: (self.clock.now(), s) for t, (_, s) in self.issued.items()}

    def handle(self, req: Request) -> Response:
        """Check the assertion's signature and audience, then issue a token."""
        if self.answers:
            return self.answers.pop(0)
        if self.refuse is not None:
            return self.refuse
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _error(400, "unsupported_grant_type")
        try:
            header, payload, signature = form["assertion"].split(".")
            self.public_key.verify(_b64(signature), f"{header}.{payload}".encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_b64(payload))
        except (KeyError, ValueError, InvalidSignature):
            return _error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or claims.get("iss") != CLIENT_EMAIL:
            return _error(400, "invalid_grant", "Invalid audience or issuer.")
        self.claims.append(claims)
        token = f"tok-{len(self.issued) + 1}"
        scopes = frozenset(str(claims.get("scope", "")).split())
        self.issued[token] = (self.clock.now() + timedelta(seconds=self.expires_in), scopes)
        body = {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        return Response(200, json.dumps(body).encode(),
                        {"Content-Type": "application/json"})


def token_error(status: int, error: str, description: str = "") -> Response:
    """An OAuth error answer (RFC 6749 section 5.2)."""
    return _error(status, error, description)


def _error(status: int, error: str, description: str = "") -> Response:
    body = {"error": error, "error_description": description}
    return Response(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
