"""Fetching an image from a public http(s) URL, when the server allows it, within size and time limits."""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urlsplit, urlunsplit

import httpx

from chatedit.agent.server.settings import ServerSettings
from chatedit.tools.errors import InputError, TooLargeError

EMBEDDED_IPV4 = [
    ipaddress.ip_network(block)
    for block in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
]
"""IPv6 ranges that carry an IPv4 address inside (IPv4-compatible, IPv4-mapped, NAT64, 6to4, Teredo):
refused whatever they carry, since the host they reach is the IPv4 one."""


def is_public(address: str) -> bool:
    """Gives back whether an address is a public one that embeds no IPv4 address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6 and any(ip in block for block in EMBEDDED_IPV4):
        return False
    return ip.is_global


def public_addresses(host: str, port: int) -> list[str]:
    """Gives back the addresses `host` resolves to, or raises InputError when one of them is not public."""
    try:
        addresses = sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except OSError:
        raise InputError(f"Cannot resolve {host}; attach the image instead.") from None
    if not addresses or not all(is_public(a) for a in addresses):
        raise InputError("Image URLs must point to a public address; attach the image instead.")
    return addresses


def fetch_remote(url: str, settings: ServerSettings) -> bytes:
    """Gives back the bytes at a public http(s) URL, within the size and time limits, or raises InputError."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise InputError("An image URL must be http(s) or a data: URL.")
    address = public_addresses(parts.hostname, port)[0]
    # Connect to the address just checked: a second lookup could be answered with a private one.
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    # httpx's timeout bounds each read, not the whole transfer, which a slow sender can stretch.
    deadline = time.monotonic() + settings.remote_timeout_s
    data = bytearray()
    try:
        with (
            httpx.Client(timeout=settings.remote_timeout_s, follow_redirects=False) as client,
            client.stream("GET", pinned, headers={"Host": host}, extensions={"sni_hostname": parts.hostname}) as reply,
        ):
            if reply.status_code != 200:
                raise InputError(f"The image URL answered HTTP {reply.status_code}; attach the image instead.")
            for chunk in reply.iter_bytes():
                data += chunk
                if len(data) > settings.max_image_bytes:
                    raise TooLargeError("The image at that URL is over the size limit; send a smaller image.")
                if time.monotonic() > deadline:
                    raise InputError(
                        f"The image URL took over {settings.remote_timeout_s:g} s to send; attach the image instead."
                    )
    except httpx.HTTPError as exc:
        raise InputError(f"Could not fetch the image URL ({type(exc).__name__}); attach the image instead.") from None
    return bytes(data)
