"""Email over SMTP (smtplib): TLS and authentication as configured, text and HTML parts."""

import datetime as dt
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app, render_template

from webapp.clock import utcnow


def configured() -> bool:
    return bool(current_app.config["MAIL_SERVER"])


def build(notification) -> EmailMessage:
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = notification.recipient
    message["Subject"] = notification.subject
    message["Date"] = format_datetime(utcnow().replace(tzinfo=dt.UTC))
    # One id per notification: a resend after a crash is recognisable as the same message.
    message["Message-ID"] = make_msgid(
        idstring=f"notification-{notification.id}", domain=cfg["MAIL_DOMAIN"]
    )
    context = {"notification": notification}
    message.set_content(render_template("mail/notification.txt", **context))
    message.add_alternative(render_template("mail/notification.html", **context), subtype="html")
    return message


def send(message: EmailMessage) -> None:
    cfg = current_app.config
    smtp_class = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
    with smtp_class(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=cfg["MAIL_TIMEOUT"]) as smtp:
        if cfg["MAIL_USE_TLS"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        smtp.send_message(message)
