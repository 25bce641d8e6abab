"""Send an email with the standard library (smtplib + email.message.EmailMessage).

Configured by `smtp.*` in app.yaml, the password from OUTCOMES_SMTP_PASSWORD.
Exactly once: see `bot.summary_job` (an SMTP server that accepted a message
cannot be asked whether it did, so a send interrupted mid-way is never retried
on its own: the admins are told instead).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from bot.config import Settings
from messages.email import EmailContent

SMTP_TIMEOUT_SECONDS = 30

SmtpFactory = Callable[..., smtplib.SMTP]


class EmailError(Exception):
    """The email could not be sent; the message says why (never contains the password)."""


def email_configured(settings: Settings) -> bool:
    smtp = settings.smtp
    return bool(smtp.host and smtp.sender and smtp.recipients)


def build_email(settings: Settings, content: EmailContent, *, key: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML second."""
    msg = EmailMessage()
    msg["Subject"] = content.subject
    msg["From"] = settings.smtp.sender
    msg["To"] = ", ".join(settings.smtp.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=key.replace(":", "."), domain="outcomes.local")
    msg["X-Outcomes-Delivery"] = key
    msg.set_content(content.text)
    msg.add_alternative(content.html, subtype="html")
    return msg


def send_email(settings: Settings, msg: EmailMessage, *,
               smtp_factory: SmtpFactory = smtplib.SMTP) -> list[str]:
    """Hand `msg` to the configured SMTP server; the recipients it refused (the rest got it).

    Raises EmailError when nobody got it.
    """
    smtp = settings.smtp
    if not email_configured(settings):
        raise EmailError("email is not configured: set smtp.host, smtp.sender and smtp.recipients")
    password = settings.secrets.smtp_password
    try:
        with smtp_factory(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            if smtp.username:
                if password is None:
                    raise EmailError("smtp.username is set but OUTCOMES_SMTP_PASSWORD is not")
                server.login(smtp.username, password.get_secret_value())
            refused = server.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from exc
    return sorted(refused)
