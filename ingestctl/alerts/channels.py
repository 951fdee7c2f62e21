"""Which delivery channels the config turns on."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from ingestctl.alerts.email import EmailChannel
from ingestctl.alerts.outbox import Channel
from ingestctl.alerts.webhook import WebhookChannel
from ingestctl.config import AlertsConfig


def build_channels(
    cfg: AlertsConfig,
    environ: Mapping[str, str],
    *,
    client: httpx.Client | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Channel]:
    """Email when ``alerts.email`` is active; the webhook when its URL variable is set.

    The log channel is not listed: the outbox always records every alert on it.
    """
    channels: list[Channel] = []
    if cfg.email.active:
        channels.append(EmailChannel(cfg.email, environ, ssl_context=ssl_context))
    webhook = WebhookChannel(cfg.webhook, environ, client)
    if webhook.configured:
        channels.append(webhook)
    return channels
