"""The email channel: one text/plain message per alert through smtplib.

Security is ``none`` (plain SMTP), ``starttls`` (upgrade, refused if the server does not offer
it) or ``tls`` (implicit TLS, usually port 465). Login is optional; the password comes from the
environment variable named by ``password_env``. Every failure becomes one
:class:`~ingestctl.errors.DeliveryError` with a one-line reason that never holds the password.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ingestctl.config import EmailConfig
from ingestctl.errors import DeliveryError
from ingestctl.models.alerts import Alert

_MAX_REASON = 300


class EmailChannel:
    """Sends alerts by SMTP as configured in ``[alerts.email]``."""

    name = "email"

    def __init__(
        self,
        cfg: EmailConfig,
        environ: Mapping[str, str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.cfg = cfg
        self._environ = environ
        # Tests pass a context trusting their own CA; production uses the system store.
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname or socket.gethostname()

    def build_message(self, alert: Alert) -> EmailMessage:
        """The MIME message for ``alert``: text/plain UTF-8 with Date, Message-ID and threading."""
        msg = EmailMessage()
        msg["From"] = self.cfg.from_addr
        msg["To"] = ", ".join(self.cfg.to)
        msg["Subject"] = alert.subject
        msg["Date"] = format_datetime(alert.created_at)
        msg["Message-ID"] = make_msgid(domain=self._local_hostname)
        # Mail clients thread the firing and resolved notices of one key together.
        thread = hashlib.sha256(alert.key.encode()).hexdigest()[:24]
        msg["References"] = f"<{thread}@ingestctl>"
        msg["X-Ingestctl-Alert-Key"] = alert.key
        msg["X-Ingestctl-Severity"] = str(alert.severity)
        msg.set_content(alert.body, charset="utf-8")
        return msg

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` to every recipient, or raise DeliveryError."""
        if not self.cfg.to:
            raise DeliveryError(self.name, "no recipients configured (alerts.email.to)")
        password = self._password()
        message = self.build_message(alert)
        try:
            self._deliver(message, password)
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(self.name, self._reason(exc, password)) from None

    def _password(self) -> str | None:
        if not self.cfg.username:
            return None
        password = self._environ.get(self.cfg.password_env)
        if not password:
            raise DeliveryError(
                self.name,
                f"environment variable {self.cfg.password_env} (the SMTP password of "
                f"{self.cfg.username}) is not set",
            )
        return password

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        if not self.cfg.ca_file:
            return ssl.create_default_context()
        # A private CA (ca_file) is trusted on top of the system store.
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=self.cfg.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(self.name, f"cannot load alerts.email.ca_file "
                                f"{self.cfg.ca_file}: {getattr(exc, 'strerror', None) or exc}"
                                ) from None
        return context

    def _deliver(self, message: EmailMessage, password: str | None) -> None:
        cfg = self.cfg
        smtp: smtplib.SMTP
        if cfg.security == "tls":
            smtp = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, self._local_hostname,
                                    timeout=cfg.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, self._local_hostname,
                                timeout=cfg.timeout)
        with smtp:
            smtp.ehlo()
            if cfg.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        self.name, f"{self._where()} does not offer STARTTLS (security=starttls)")
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if password is not None:
                smtp.login(cfg.username, password)
            smtp.send_message(message)

    def _where(self) -> str:
        return f"{self.cfg.smtp_host}:{self.cfg.smtp_port}"

    def _reason(self, exc: BaseException, password: str | None) -> str:
        where = self._where()
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            reason = f"{where} refused the login of {self.cfg.username}: " + _reply(exc)
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            reason = f"{where} refused the recipients {', '.join(sorted(exc.recipients))}"
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            reason = f"{where} refused the sender {self.cfg.from_addr}: " + _reply(exc)
        elif isinstance(exc, smtplib.SMTPNotSupportedError):
            reason = f"{where} does not support the command: {exc}"
        elif isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            # smtplib turns a read timeout into SMTPServerDisconnected; say what happened.
            reason = f"timed out after {self.cfg.timeout:g}s talking to {where}"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            reason = f"{where} closed the connection unexpectedly"
        elif isinstance(exc, smtplib.SMTPResponseException):
            reason = f"{where} answered " + _reply(exc)
        elif isinstance(exc, smtplib.SMTPException):
            reason = f"SMTP error with {where}: {exc}"
        elif isinstance(exc, ssl.SSLError):
            reason = f"TLS with {where} failed: {exc.reason or exc}"
        elif isinstance(exc, ConnectionRefusedError):
            reason = f"cannot connect to {where}: connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = f"cannot resolve {self.cfg.smtp_host}: {exc.strerror or exc}"
        elif isinstance(exc, OSError):
            reason = f"cannot talk to {where}: {exc.strerror or exc}"
        else:  # pragma: no cover - send() only catches the two families above
            reason = f"{type(exc).__name__} with {where}"
        return _clean(reason, password)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{exc.smtp_code} {message}"


def _clean(reason: str, secret: str | None) -> str:
    """One line, bounded, and never the password even if a server echoes it."""
    if secret:
        reason = reason.replace(secret, "REDACTED")
    reason = " ".join(reason.split())
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 3] + "..."
