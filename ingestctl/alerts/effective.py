"""Which alert channels are on, in words, without building them (no httpx or smtplib).

``config check`` prints :func:`describe` (``email to ops@example.org via
mail.example.org:587 starttls; webhook off``) and the ``alerts:channels`` health check warns
when :func:`active_channels` is empty: alerts then only reach the log file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ingestctl.config import AlertsConfig

_SECURITY = {"none": "without TLS", "starttls": "starttls", "tls": "tls"}


def active_channels(cfg: AlertsConfig, environ: Mapping[str, str]) -> list[str]:
    """The names of the channels alerts are delivered to, besides the log: email, webhook."""
    names = []
    if cfg.email.active:
        names.append("email")
    if environ.get(cfg.webhook.url_env):
        names.append("webhook")
    return names


def describe(cfg: AlertsConfig, environ: Mapping[str, str]) -> str:
    """Each channel and where it delivers; never the webhook URL (a secret)."""
    email = cfg.email
    if email.active:
        mail = (f"email to {', '.join(email.to)} via {email.smtp_host}:{email.smtp_port} "
                f"{_SECURITY.get(email.security, email.security)}")
    elif email.enabled is False and email.to:
        mail = "email off (enabled = false)"
    else:
        mail = "email off"
    hook = cfg.webhook.url_env
    webhook = f"webhook on (URL from ${hook})" if environ.get(hook) else "webhook off"
    return f"{mail}; {webhook}"


def none_on_hint(cfg: AlertsConfig) -> str:
    """What to do when no channel is on."""
    return (f"alerts only reach the log; set [alerts.email] to = [...] or the environment "
            f"variable {cfg.webhook.url_env}")
