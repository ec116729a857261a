"""Optional outgoing mail (invitation links) through TRAIL_SMTP_URL; without it nothing is ever sent."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from trail.config import Settings

log = logging.getLogger("trail.mail")
TIMEOUT_S = 10


def mail_enabled(settings: Settings) -> bool:
    return bool(settings.smtp_url)


def _send(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        server: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=TIMEOUT_S, context=context)
    else:
        server = smtplib.SMTP(host, parts.port or 587, timeout=TIMEOUT_S)
    with server:
        if parts.scheme == "smtp" and server.has_extn("starttls"):
            server.starttls(context=context)
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(message)


async def send_mail(settings: Settings, to: str, subject: str, body: str, *, default_from: str) -> bool:
    """Send a plain-text mail when SMTP is configured; True when sent. Failures are logged, never raised."""
    if not mail_enabled(settings):
        return False
    message = EmailMessage()
    message["From"] = settings.mail_from or default_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        await asyncio.to_thread(_send, settings.smtp_url, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send mail: %s", exc)
        return False
    return True
