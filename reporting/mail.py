"""Reports by email through `SMTP_URL`: `smtp://[user:password@]host[:port]` (STARTTLS with
`?starttls=1`) or `smtps://...` for TLS from the first byte.

The URL stays a `SecretStr` until the moment smtplib logs in; a failure is raised afresh from
here (`MailDeliveryError`, without smtplib's traceback, whose frames hold the password), so no
stack frame a report's failure carries to Sentry or a log holds the URL or its password.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import SecretStr

from errors import Misconfigured, ServiceUnavailable


class MailSettingsError(Misconfigured, ValueError):
    """Raised when SMTP_URL cannot be used."""


class MailDeliveryError(ServiceUnavailable, OSError):
    """Raised when the SMTP server cannot be reached or refuses the login or the message (worth a retry)."""


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: SMTP_URL taken apart, the password still secret."""

    tls: bool
    starttls: bool
    host: str
    port: int
    username: str | None
    password: SecretStr


def parse_smtp_url(smtp_url: SecretStr) -> SmtpServer:
    url = urlsplit(smtp_url.get_secret_value())
    try:
        port = url.port
    except ValueError:
        port = -1
    if url.scheme not in ("smtp", "smtps") or not url.hostname or port == -1:
        raise MailSettingsError("SMTP_URL must look like smtp://host:port or smtps://user:password@host")
    tls = url.scheme == "smtps"
    return SmtpServer(
        tls=tls,
        starttls=parse_qs(url.query).get("starttls") == ["1"],
        host=url.hostname,
        port=port or (465 if tls else 25),
        username=unquote(url.username) if url.username else None,
        password=SecretStr(unquote(url.password or "")),
    )


def send_report(
    smtp_url: SecretStr, sender: str, recipients: list[str], subject: str, html_path: Path, csv_path: Path
) -> None:
    server = parse_smtp_url(smtp_url)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(f"{subject}: the report is attached as HTML and CSV.")
    message.add_alternative(html_path.read_text(encoding="utf-8"), subtype="html")
    message.add_attachment(csv_path.read_bytes(), maintype="text", subtype="csv", filename=csv_path.name)
    try:
        _deliver(server, message)
    except OSError as error:  # smtplib's errors are OSErrors
        raise MailDeliveryError(f"{server.host}:{server.port}: {_describe(error)}") from None


def _deliver(server: SmtpServer, message: EmailMessage) -> None:
    client_class = smtplib.SMTP_SSL if server.tls else smtplib.SMTP
    with client_class(server.host, server.port, timeout=30) as client:
        if server.starttls:
            client.starttls()
        if server.username:
            client.login(server.username, server.password.get_secret_value())
        client.send_message(message)


def _describe(error: OSError) -> str:
    """The error without anything smtplib's arguments might carry besides the server's reply."""
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{type(error).__name__}: {error.smtp_code} {reply}"
    return f"{type(error).__name__}: {error.strerror or error}"
