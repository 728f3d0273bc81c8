"""Sending one email over the configured SMTP server (email jobs and email alert channels)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from chronos.config import Settings


class MailNotConfigured(RuntimeError):
    """CHRONOS_SMTP_HOST is not set."""


def send_mail(settings: Settings, to: list[str], subject: str, body: str, *, timeout: float = 15.0) -> str:
    """Send a plain-text message; returns the SMTP server's answer to DATA. Raises on any failure."""
    if not settings.chronos_smtp_host:
        raise MailNotConfigured("email is not configured: set CHRONOS_SMTP_HOST (and CHRONOS_SMTP_PORT)")
    msg = EmailMessage()
    msg["From"] = settings.chronos_smtp_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    tls = settings.chronos_smtp_tls.lower()
    host, port = settings.chronos_smtp_host, settings.chronos_smtp_port
    if tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.chronos_smtp_user:
            client.login(settings.chronos_smtp_user, settings.chronos_smtp_password)
        refused = client.send_message(msg)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    return f"sent to {', '.join(to)}"
