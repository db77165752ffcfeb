"""The client's address, for the sign-in limit and the audit trail.

``X-Forwarded-For`` is believed only when the connection comes from one of the configured
proxies (``WebConfig.trusted_proxies``, addresses or networks): then the client is the
right-most address of the header that is not itself a trusted proxy. From anybody else
the header is ignored, so a client cannot choose its own address by sending one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The proxy entries as networks (a plain address is a one-address network)."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(request: Request) -> str:
    """The address the request came from, through the trusted proxies only."""
    peer = request.client.host if request.client else "unknown"
    proxies = request.app.state.trusted_proxies
    if not proxies or not _trusted(peer, proxies):
        return peer
    chain = [a.strip() for h in request.headers.getlist("x-forwarded-for") for a in h.split(",") if a.strip()]
    for address in reversed(chain):
        if not _trusted(address, proxies):
            return address
    return chain[0] if chain else peer
