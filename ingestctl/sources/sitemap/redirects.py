"""The rules every redirect hop of a sitemap fetch must pass before it is followed.

* The host rule: a file may only be fetched from the hosts its listing allows (its root
  sitemap's host, the hosts a robots.txt cross-submits, any with ``allow_cross_host``).
  The job's own target may redirect to another host (``http://example.com`` to
  ``https://www.example.com``); its children may then live on either.
* The address rule: a hop to a loopback, link-local (cloud metadata at 169.254.169.254),
  private, multicast or otherwise reserved address is refused unless the URL first requested
  was on an address of the same kind (a sitemap served on the intranet may redirect within
  the intranet). Host names are resolved to tell.

A refused hop fails the file with :class:`RedirectRefused` (class ``data``); the hops
followed are kept on the file row (``sitemap_files.redirects``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ingestctl.errors import DataError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RedirectRefused(DataError):
    """A redirect hop that breaks the host or the address rule."""

    def __init__(self, source: str, target: str, reason: str, hint: str) -> None:
        self.target = target
        super().__init__(f"redirect to {target} refused: {reason}", url=source, hint=hint)


def host_of(url: str) -> str:
    """``host[:port]`` in lower case: what "the same host" compares."""
    return urlsplit(url).netloc.lower().rsplit("@", 1)[-1]


def _kind(address: Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private or address.is_reserved or address.is_unspecified:
        return "private"
    return None


def address_kind(url: str) -> tuple[str | None, str]:
    """(kind, address) of the host of ``url``: kind None for a public (or unresolvable) one;
    for a name, the first special address it resolves to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        return _kind(ipaddress.ip_address(host)), host
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None, host  # the request itself will fail and say why
    for *_, sockaddr in infos:
        kind = _kind(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if kind is not None:
            return kind, str(sockaddr[0])
    return None, host


@dataclass
class HopRule:
    """Checks the hops of one file's fetch and records those followed."""

    origin: str                       # the URL first requested
    allowed: frozenset[str] | None    # hosts it may be fetched from; None: any
    hops: list[str] = field(default_factory=list)
    _origin_kind: tuple[str | None, str] | None = None

    def __call__(self, source: str, target: str, status: int) -> None:
        """Refuse (raise) or record one hop; a hop from the origin starts a new chain."""
        if source == self.origin:
            self.hops = []
        hop = f"{status} {target}"
        kind, address = address_kind(target)
        if kind is not None:
            if self._origin_kind is None:
                self._origin_kind = address_kind(self.origin)
            if kind != self._origin_kind[0]:
                self.hops.append(hop + " (refused)")
                raise RedirectRefused(
                    source, target, f"{kind} address {address}",
                    "redirects to loopback, link-local, private or multicast addresses are "
                    "followed only from a sitemap on the same kind of address")
        host = host_of(target)
        if self.allowed is not None and host not in self.allowed:
            self.hops.append(hop + " (refused)")
            raise RedirectRefused(
                source, target, f"{host} is another host than the sitemap's",
                "set allow_cross_host = true, or list the sitemap in the robots.txt of "
                f"{host}")
        self.hops.append(hop)
