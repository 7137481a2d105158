"""Reports by email through `SMTP_URL`: `smtp://[user:password@]host[:port]` (STARTTLS with
`?starttls=1`) or `smtps://...` for TLS from the first byte."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class MailSettingsError(ValueError):
    """Raised when SMTP_URL cannot be used."""


def send_report(
    smtp_url: str, sender: str, recipients: list[str], subject: str, html_path: Path, csv_path: Path
) -> None:
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise MailSettingsError("SMTP_URL must look like smtp://host:port or smtps://user:password@host")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(f"{subject}: the report is attached as HTML and CSV.")
    message.add_alternative(html_path.read_text(encoding="utf-8"), subtype="html")
    message.add_attachment(csv_path.read_bytes(), maintype="text", subtype="csv", filename=csv_path.name)
    client_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    port = url.port or (465 if url.scheme == "smtps" else 25)
    with client_class(url.hostname, port, timeout=30) as client:
        if parse_qs(url.query).get("starttls") == ["1"]:
            client.starttls()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
