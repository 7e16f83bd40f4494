"""Posting notifications to chat and integration webhooks.

Slack-compatible incoming webhooks get {"text": ...}; Microsoft Teams a MessageCard;
"generic" a JSON document signed with HMAC-SHA256 of the exact body under the webhook's
secret, in X-Signature-256 ("sha256=<hex>"), with the time in X-Timestamp (also signed) so a
receiver can refuse replays.
"""

import hashlib
import hmac
import json
import urllib.request

from flask import current_app

from webapp.clock import utcnow

KINDS = ("slack", "teams", "generic")


def body_for(kind: str, notification, event) -> dict:
    if kind == "slack":
        return {"text": f"*{notification.subject}*\n{notification.body}"}
    if kind == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": notification.subject,
            "title": notification.subject,
            "text": notification.body,
        }
    return {
        "event": event.type,
        "event_id": event.id,
        "service_id": event.service_id,
        "subject": notification.subject,
        "body": notification.body,
        "payload": event.payload,
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def post(webhook, notification, event) -> None:
    """POST the notification; raises OSError (URLError, HTTPError, timeout) on failure."""
    body = json.dumps(body_for(webhook.kind, notification, event), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "msp-dashboard"}
    if webhook.kind == "generic" and webhook.secret:
        timestamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        headers["X-Timestamp"] = timestamp
        headers["X-Signature-256"] = signature(webhook.secret, timestamp, body)
    request = urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")
    timeout = current_app.config["WEBHOOK_TIMEOUT"]
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured by admins)
        response.read(1024)
