"""Where a webhook may post: its URL checked when it is saved and again when it is called.

A company admin types the URL, but the request leaves from inside our network. Unchecked, it
reaches Redis on loopback, the cloud's metadata service or the office LAN, and its failure
("refused", "timed out") maps them. So a webhook URL must:
- be http or https, with a host and no user name or password in it;
- name a host whose every address is public: loopback, private (RFC 1918, ULA), link-local,
  CGNAT, IETF protocol (192.0.0.0/24), multicast, reserved, unspecified and the clouds'
  metadata addresses are refused, also inside IPv6 (IPv4-mapped, 6to4, Teredo, NAT64), unless
  WEBHOOK_ALLOWED_NETWORKS lists them (a metadata address never: nothing there wants our
  notifications). The refusal says neither the address nor whether the name resolved at all
  (the log does), or the form would map our network's names to their addresses.
When it is called, the name is resolved again, checked again, and the connection goes to an
address just checked (pinned), so a name that resolves elsewhere by then (DNS rebinding) gains
nothing. http.client follows no redirect and reads no proxy from the environment; a 3xx is
the caller's failure.

Hand-written on ipaddress and http.client rather than a library: the SSRF filters on PyPI are
either unmaintained and tied to requests/urllib3 1.x (advocate) or young single-author
projects, and the whole rule is this page.
"""

import http.client
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

log = logging.getLogger(__name__)

MAX_LENGTH = 2000  # Webhook.url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services outside the ranges refused anyway (Azure's WireServer is a public
# address), and those inside them, named so that no allowed network lets them through.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure WireServer
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments: Python 3.11's is_global lets 192.0.0.8 and others through.
IETF_PROTOCOL = ipaddress.ip_network("192.0.0.0/24")


class UrlRefused(ValueError):
    """A webhook URL that may not be used; the message says why, for the person who typed it."""


class HostNotFound(UrlRefused):
    """The host name does not resolve (now)."""


def _not_public(host: str) -> str:
    # One answer whether the name resolves to an internal address or not at all, and never the
    # address: otherwise any company admin could map our network's names to its addresses.
    return (
        f"{host} is not a public address that can be reached: webhooks reach public addresses "
        "only, unless the operator lists its network in WEBHOOK_ALLOWED_NETWORKS."
    )


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the addresses checked, in DNS's order) and what to ask."""

    scheme: str
    host: str  # ASCII (a name in its xn-- form): the Host header, and the name TLS checks
    port: int
    path: str  # path and query, what the request line carries
    addresses: tuple[str, ...]


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]  # the client's address
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _internal(address: IPAddress) -> bool:
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (address.version == 4 and (address in CGNAT or address in IETF_PROTOCOL))
        or (address.version == 6 and address.is_site_local)
    )


def allowed(address: IPAddress) -> bool:
    """Whether a webhook may connect to this address."""
    address = ipaddress.ip_address(str(address).split("%")[0])  # no IPv6 zone
    inner = _embedded_ipv4(address)
    if address in METADATA or (inner is not None and inner in METADATA):
        return False
    networks = _allowed_networks()
    if any(address in n for n in networks) or (inner and any(inner in n for n in networks)):
        return True
    return not _internal(address) and (inner is None or not _internal(inner))


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in current_app.config.get("WEBHOOK_ALLOWED_NETWORKS", ()):
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:  # refusing more than meant is the safe side of a typo
            log.warning("WEBHOOK_ALLOWED_NETWORKS: %r is not a network; ignored", entry)
    return networks


def check(url: str) -> Target:
    """The URL's target, its host resolved and every address checked; UrlRefused says why not."""
    url = (url or "").strip()
    if not url:
        raise UrlRefused("Paste the webhook's URL.")
    if len(url) > MAX_LENGTH:
        raise UrlRefused(f"A webhook URL has at most {MAX_LENGTH} characters.")
    if not url.isascii() or any(not ch.isprintable() or ch.isspace() for ch in url):
        raise UrlRefused(
            "Remove spaces and control characters; write other characters percent-encoded "
            "(and a host name in its xn-- form)."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("This is not a URL: check the host and the port.") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise UrlRefused("Use an https:// (or http://) URL.")
    if "@" in parts.netloc:
        raise UrlRefused(
            "Leave the user name and password out of the URL: put a secret in its path, "
            "or use a generic webhook's signing secret."
        )
    host = parts.hostname
    if not host:
        raise UrlRefused("The URL has no host.")
    if port == 0:
        raise UrlRefused("The port must be from 1 to 65535.")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    refused = [a for a in addresses if not allowed(ipaddress.ip_address(a))]
    if refused:
        log.info("webhook URL refused: %s resolves to %s, not allowed", host, refused[0])
        raise UrlRefused(_not_public(host))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, addresses)


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        log.info("webhook URL refused: %s does not resolve (%s)", host, exc)
        raise HostNotFound(_not_public(host)) from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in found:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        log.info("webhook URL refused: %s resolves to no address", host)
        raise HostNotFound(_not_public(host))
    return tuple(addresses)


def connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to the target that connects only to its checked addresses; TLS
    still verifies the certificate against the host name."""
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def pinned(_address, timeout, source_address=None):
        error: OSError | None = None
        for address in target.addresses:
            try:
                return socket.create_connection((address, target.port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError("no address")

    # http.client opens its socket through this attribute (HTTPS wraps the socket it returns,
    # with the host name for SNI and the certificate check): the one place to pin the address.
    conn._create_connection = pinned
    return conn
