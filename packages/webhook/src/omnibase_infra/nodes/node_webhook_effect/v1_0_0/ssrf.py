"""SSRF protection: resolve once, check every address, connect only to what was checked.

:class:`PinnedResolver` is the aiohttp resolver of the node's connector: it resolves a host
name, refuses it when any address is private, loopback, link-local, multicast, reserved or
unspecified (an IPv6 address that embeds an IPv4 address is checked as that IPv4 address:
see :func:`embedded_ipv4`) unless the address is in an allow-listed network or the host is
allow-listed, and hands aiohttp exactly the addresses it checked. aiohttp connects to
those, so a second (rebinding) DNS answer never reaches a socket. IP literals bypass
aiohttp's resolver; :meth:`SsrfGuard.check_literal` checks them before each request.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # aiohttp is imported where the transport is created (import cost)
    from aiohttp.abc import ResolveResult

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraPermissionError
from omnibase_infra.models.webhook import nat64_prefix

__all__ = ["PinnedResolver", "SsrfGuard", "embedded_ipv4", "is_public_address"]

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 section 2.1
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 section 2.5.5.1, deprecated
_BITS = 128


def _rfc6052_reading(value: int, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address at the place RFC 6052 section 2.2 gives for ``prefix_length``.

    The 32 IPv4 bits start right after the prefix and skip bits 64-71 (the "u" octet); the
    bits after them (the suffix) are not part of the address.
    """
    high = min(max(64 - prefix_length, 0), 32)  # IPv4 bits before the u octet
    low = 32 - high
    before = (value >> (_BITS - prefix_length - high)) & ((1 << high) - 1) if high else 0
    start = max(prefix_length, 72)  # first IPv4 bit after the u octet
    after = (value >> (_BITS - start - low)) & ((1 << low) - 1)
    return ipaddress.IPv4Address((before << low) | after)


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address stands for, or ``()`` when it embeds none.

    * IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16`` (the relay's IPv4),
      the well-known NAT64 prefix ``64:ff9b::/96`` (the last 32 bits, RFC 6052 2.1) and
      IPv4-compatible ``::a.b.c.d`` (``::/96``; ``::`` and ``::1`` read as ``0.0.0.0`` and
      ``0.0.0.1``, which are refused like the originals): one address.
    * Teredo ``2001::/32``: the client (the relay sends to it) and the server.
    * The local-use NAT64 prefix ``64:ff9b:1::/48`` (RFC 8215): a site picks the prefix
      length of its translator inside the /48, and RFC 6052 2.2 puts the IPv4 bits at a
      different place for each length that fits (48, 56, 64 or 96; translators ignore the
      suffix bits). The address cannot say which, so every reading counts: it is allowed
      only when each of the four is.
    """
    mapped = address.ipv4_mapped or address.sixtofour
    if mapped is not None:
        return (mapped,)
    if address.teredo is not None:
        server, client = address.teredo
        return (client, server)
    value = int(address)
    if address in _NAT64_WELL_KNOWN or address in _IPV4_COMPATIBLE:
        return (ipaddress.IPv4Address(value & 0xFFFFFFFF),)
    if address in _NAT64_LOCAL_USE:
        return tuple(_rfc6052_reading(value, length) for length in (48, 56, 64, 96))
    return ()


def is_public_address(address: IPAddress) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified
    addresses; an IPv6 address that embeds an IPv4 address (:func:`embedded_ipv4`) is
    public only when every IPv4 address it may stand for is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner:
            return all(is_public_address(item) for item in inner)
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class SsrfGuard:
    """Decides whether an address may be connected to, given the allow-lists and the
    site's own NAT64 prefixes (``nat64_prefixes``: an address under one of them is read as
    the IPv4 address at the place its length gives, and judged by it)."""

    def __init__(
        self,
        allow_networks: Iterable[str] = (),
        allow_hosts: Iterable[str] = (),
        nat64_prefixes: Iterable[str] = (),
    ) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in allow_networks
        )
        self._hosts = frozenset(host.lower().rstrip(".") for host in allow_hosts)
        # Longest first: a declared /96 inside a declared /48 decides for its addresses.
        self._nat64 = sorted(
            (nat64_prefix(item) for item in nat64_prefixes),
            key=lambda network: network.prefixlen,
            reverse=True,
        )
        self._checked: set[str] = set()

    def host_allowed(self, host: str) -> bool:
        """True when ``host`` is allow-listed by name (its addresses are not checked)."""
        return host.lower().rstrip(".") in self._hosts

    def address_allowed(self, address: IPAddress) -> bool:
        """True when ``address`` is public or in an allow-listed network; an address that
        embeds IPv4 addresses is allowed when it is listed itself or each IPv4 address it
        stands for is public or listed."""
        if self._listed(address):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            inner = self._embedded(address)
            if inner:
                return all(self._listed(item) or is_public_address(item) for item in inner)
        return is_public_address(address)

    def _listed(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)

    def _embedded(self, address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
        for network in self._nat64:
            if address in network:
                return (_rfc6052_reading(int(address), network.prefixlen),)
        return embedded_ipv4(address)

    def refuse(self, host: str, address: IPAddress, operation: str) -> InfraPermissionError:
        """The error for a refused destination (names the host and address, nothing else)."""
        return InfraPermissionError(
            f"destination {host!r} resolves to {address} which is not a public address "
            "(private, loopback, link-local, multicast or reserved) and is not allow-listed",
            transport=EnumTransport.HTTP,
            operation=operation,
            target=host,
            reason="ssrf_blocked",
        )

    def check_literal(self, host: str, operation: str = "send") -> bool:
        """For an IP-literal host: raise if refused. Returns whether ``host`` is a literal."""
        address = _literal(host)
        if address is None:
            return False
        if host not in self._checked:
            if not self.host_allowed(host) and not self.address_allowed(address):
                raise self.refuse(host, address, operation)
            if len(self._checked) >= 4096:
                self._checked.clear()
            self._checked.add(host)  # a literal's verdict never changes
        return True


class PinnedResolver:
    """aiohttp resolver: one ``getaddrinfo``, every address checked, only those returned.

    It has the shape of ``aiohttp.abc.AbstractResolver`` (``resolve`` and ``close``)
    without deriving from it, so that importing the node does not import aiohttp."""

    def __init__(self, guard: SsrfGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, family=family, flags=socket.AI_ADDRCONFIG
            )
        except OSError as exc:
            raise InfraConnectionError(
                f"cannot resolve {host!r}: {type(exc).__name__}",
                transport=EnumTransport.HTTP,
                operation="resolve",
                target=host,
            ) from exc
        allowed_by_name = self._guard.host_allowed(host)
        results: list[ResolveResult] = []
        seen: set[tuple[str, int]] = set()
        for family_, _, proto, _, sockaddr in infos:
            ip = str(sockaddr[0])
            address = ipaddress.ip_address(ip.split("%", 1)[0])
            if not allowed_by_name and not self._guard.address_allowed(address):
                # One bad address refuses the host: a rebinding answer may mix good and bad.
                raise self._guard.refuse(host, address, "resolve")
            key = (ip, int(sockaddr[1]))
            if key in seen:
                continue
            seen.add(key)
            results.append(
                {
                    "hostname": host,
                    "host": ip,
                    "port": int(sockaddr[1]),
                    "family": family_,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                }
            )
        return results

    async def close(self) -> None:
        return None
