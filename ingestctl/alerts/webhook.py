"""The webhook channel: a JSON POST with a Slack-compatible ``text`` field and the alert.

The URL is read from the environment variable named by ``url_env`` and treated as a secret
(Slack and Teams URLs are bearer credentials): it never appears in an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ingestctl import __version__
from ingestctl.config import WebhookConfig
from ingestctl.errors import DeliveryError
from ingestctl.models.alerts import Alert
from ingestctl.redact import redact_text

_MAX_BODY_IN_REASON = 200


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The JSON document posted for ``alert``."""
    return {
        "text": f"*{alert.subject}*\n{alert.body}",
        "alert": {
            "key": alert.key,
            "kind": str(alert.kind),
            "severity": str(alert.severity),
            "title": alert.title,
            "subject": alert.subject,
            "fields": alert.fields,
            "created_at": alert.to_dict()["created_at"],
        },
    }


class WebhookChannel:
    """Posts alerts to the URL held in the environment variable ``cfg.url_env``."""

    name = "webhook"

    def __init__(
        self,
        cfg: WebhookConfig,
        environ: Mapping[str, str],
        client: httpx.Client | None = None,
    ) -> None:
        self.cfg = cfg
        self._environ = environ
        self._client = client

    @property
    def configured(self) -> bool:
        """True when the URL variable is set, i.e. the channel is in use."""
        return bool(self._environ.get(self.cfg.url_env))

    def send(self, alert: Alert) -> None:
        """POST ``alert``; any non-2xx answer or network error raises DeliveryError."""
        url = self._environ.get(self.cfg.url_env)
        if not url:
            raise DeliveryError(self.name, f"environment variable {self.cfg.url_env} is not set")
        headers = {"User-Agent": f"ingestctl/{__version__}"}
        try:
            if self._client is not None:
                response = self._client.post(url, json=webhook_payload(alert), headers=headers,
                                             timeout=self.cfg.timeout)
            else:
                with httpx.Client(timeout=self.cfg.timeout) as client:
                    response = client.post(url, json=webhook_payload(alert), headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(
                self.name, f"timed out after {self.cfg.timeout:g}s") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise DeliveryError(self.name, _scrub(f"{type(exc).__name__}: {exc}", url)) from None
        if not 200 <= response.status_code < 300:
            snippet = " ".join(response.text[:_MAX_BODY_IN_REASON].split())
            reason = f"the webhook answered HTTP {response.status_code}"
            raise DeliveryError(self.name, _scrub(f"{reason}: {snippet}" if snippet else reason,
                                                  url))


def _scrub(text: str, url: str) -> str:
    """Remove the URL, its path (which may carry the token) and token-like parameters (an
    answer that echoes its query) from ``text``."""
    text = redact_text(text.replace(url, "<webhook URL>"))
    try:
        path = httpx.URL(url).path
    except (httpx.InvalidURL, ValueError, TypeError):
        path = ""
    if len(path) > 1:
        text = text.replace(path, "<path>")
    return " ".join(text.split())
