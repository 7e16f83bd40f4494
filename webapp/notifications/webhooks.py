"""Posting notifications to chat and integration webhooks.

Slack-compatible incoming webhooks get {"text": ...}; Microsoft Teams a MessageCard;
"generic" a JSON document signed with HMAC-SHA256 of the exact body under the webhook's
secret, in X-Signature-256 ("sha256=<hex>"), with the time in X-Timestamp (also signed) so a
receiver can refuse replays.

Subjects and bodies carry text from outside (service names, Alertmanager summaries): in Slack
and Teams they are escaped so that they read as typed, never as a mention, a link or markup.

Every call goes through destinations (the URL checked again, the address pinned, no
redirect). A failure is a WebhookFailed whose message is one of a few generic phrases: it is
stored on the notification and shown on Operations, so it must not tell an admin what answers
where (a port scan) nor carry the receiver's own text; the detail goes to the log only.
"""

import hashlib
import hmac
import http.client
import json
import logging
import re
import ssl

from flask import current_app

from webapp.clock import utcnow
from webapp.notifications import destinations

log = logging.getLogger(__name__)

KINDS = ("slack", "teams", "generic")

NOT_ALLOWED = "address not allowed"
NO_ANSWER = "no answer: host not found, connection refused or timed out"
TLS_FAILED = "TLS failed: certificate or handshake"


class WebhookFailed(OSError):
    """A webhook call that did not succeed; its message is safe to store and show."""


class AddressNotAllowed(WebhookFailed):
    """The URL is refused when called (its host resolves to an internal address now, or the
    operator's allowed networks changed): nothing was sent, and calling again would be refused
    the same way until someone changes the webhook or the setting."""


def slack_escape(text: str) -> str:
    """Slack's escaping: &, < and > as entities, so <!here> or <url|label> stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# CommonMark's punctuation that can start or end markup, escaped with a backslash.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def teams_escape(text: str) -> str:
    """For a Teams card's markdown: HTML's specials as entities (Teams renders some HTML),
    then markdown's specials backslash-escaped, so [label](url) and **bold** stay text."""
    html_safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html_safe)


def body_for(kind: str, notification, event, facts: dict | None = None) -> dict:
    """`facts`: what a generic webhook gets besides the event, under its own key (an invoice's
    summary: webapp.notifications.invoice_notices)."""
    return payload(
        kind,
        notification.subject,
        notification.body,
        {
            "event": event.type,
            "event_id": event.id,
            "service_id": event.service_id,
            "payload": event.payload,
            **({"invoice": facts} if facts else {}),
        },
    )


def payload(kind: str, subject: str, body: str, event: dict) -> dict:
    if kind == "slack":
        return {"text": f"*{slack_escape(subject)}*\n{slack_escape(body)}"}
    if kind == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            # The summary is shown as plain text (the activity feed, notifications): escaping it
            # would show the backslashes.
            "summary": subject,
            "title": teams_escape(subject),
            "text": teams_escape(body),
        }
    return {**event, "subject": subject, "body": body}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def post(webhook, notification, event, before_send=None, facts: dict | None = None) -> None:
    """POST the notification; raises WebhookFailed (an OSError) on failure. before_send() is
    called once the URL is checked and its address resolved, just before the request goes."""
    deliver(webhook, body_for(webhook.kind, notification, event, facts), before_send)


TEST_SUBJECT = "Test from MSP Dashboard"
TEST_BODY = "This webhook receives the company's notifications."


def send_test(webhook) -> int:
    """POST a test message through the same checks; the status answered (WebhookFailed else)."""
    event = {"event": "WebhookTest", "event_id": None, "service_id": None, "payload": {}}
    return deliver(webhook, payload(webhook.kind, TEST_SUBJECT, TEST_BODY, event))


def deliver(webhook, document: dict, before_send=None) -> int:
    """POST the document to the webhook, signed if generic; the 2xx status it answered.

    The URL is checked (its host resolved) before before_send() and the connection: a sender
    that marks the request as begun there (webapp.notifications.sending) has sent nothing if
    it stops during the look-up, and an address refused now is AddressNotAllowed."""
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "msp-dashboard"}
    if webhook.kind == "generic" and webhook.secret:
        timestamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        headers["X-Timestamp"] = timestamp
        headers["X-Signature-256"] = signature(webhook.secret, timestamp, body)
    try:
        target = destinations.check(webhook.url)
    except destinations.HostNotFound:
        raise _failed(webhook, NO_ANSWER, "its host does not resolve") from None
    except destinations.UrlRefused as refused:
        raise _failed(webhook, NOT_ALLOWED, str(refused), AddressNotAllowed) from None
    if before_send is not None:
        before_send()
    conn = destinations.connection(target, current_app.config["WEBHOOK_TIMEOUT"])
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(1024)
    except ssl.SSLError as exc:
        raise _failed(webhook, TLS_FAILED, exc) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _failed(webhook, NO_ANSWER, exc) from None
    finally:
        conn.close()
    if 300 <= response.status < 400:
        raise _failed(webhook, f"HTTP {response.status}: redirects are not followed", "")
    if not 200 <= response.status < 300:
        raise _failed(webhook, f"HTTP {response.status}", "")
    return response.status


def _failed(webhook, said: str, detail, kind=None) -> WebhookFailed:
    log.info("webhook %s (company %s): %s %s", webhook.id, webhook.company_id, said, detail)
    return (kind or WebhookFailed)(said)
