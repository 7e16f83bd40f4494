"""Email over SMTP (smtplib): TLS and authentication as configured, text and HTML parts, and
attachments (an invoice's PDF)."""

import datetime as dt
import re
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from flask import current_app, render_template

from webapp.clock import utcnow
from webapp.text import one_line


def configured() -> bool:
    return bool(current_app.config["MAIL_SERVER"])


def build(notification, attachments=()) -> EmailMessage:
    """The notification's mail; `attachments` (webapp.notifications.invoice_notices.Attachment)
    follow its text and HTML parts."""
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = notification.recipient
    # Names typed before line breaks were refused may still hold one (webapp.text); a header
    # cannot, and the mail would never go.
    message["Subject"] = one_line(notification.subject).strip()
    message["Date"] = format_datetime(utcnow().replace(tzinfo=dt.UTC))
    # One id per notification: a resend after a crash is recognisable as the same message.
    message["Message-ID"] = make_msgid(
        idstring=f"notification-{notification.id}", domain=cfg["MAIL_DOMAIN"]
    )
    context = {"notification": notification}
    message.set_content(render_template("mail/notification.txt", **context))
    message.add_alternative(render_template("mail/notification.html", **context), subtype="html")
    for item in attachments:
        message.add_attachment(
            item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename
        )
    return message


def send(message: EmailMessage, before_data: Callable[[], None] = lambda: None) -> None:
    """Send `message`; `before_data` runs once the server waits for the message itself.

    Until the message's final "." the server keeps nothing, so a sender that dies before
    `before_data` returns has provably sent nothing and may be replaced (see
    webapp.notifications.sending). If `before_data` raises, the connection is dropped mid-DATA,
    which discards the message, and the exception propagates.
    """
    cfg = current_app.config
    smtp_class = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
    with smtp_class(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg["MAIL_TIMEOUT"]) as smtp:
        if cfg["MAIL_USE_TLS"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        _transmit(smtp, message, before_data)


def _transmit(smtp: smtplib.SMTP, message: EmailMessage, before_data) -> None:
    """smtplib's sendmail, with a pause between the envelope and the data."""
    sender = getaddresses([message["From"]])[0][1]
    recipients = [address for _, address in getaddresses(message.get_all("To", []))]
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        raise smtplib.SMTPRecipientsRefused(refused)
    # Ready before the pause: once before_data has marked it transmitting, a sender that dies
    # before the final "." loses the message, so nothing but the send itself comes after.
    body = re.sub(rb"(?m)^\.", b"..", data)  # dot-stuffing (RFC 5321 4.5.2)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    try:
        before_data()
    except BaseException:
        smtp.close()  # without the final "." the server drops what it has
        raise
    smtp.send(body + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
