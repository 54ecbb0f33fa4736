"""SSRF protection: resolve once, check every address, connect only to what was checked.

:class:`PinnedResolver` is the aiohttp resolver of the node's connector: it resolves a host
name, refuses it when any address is private, loopback, link-local, multicast, reserved or
unspecified (IPv4-mapped IPv6 addresses are checked as the IPv4 they carry) unless the
address is in an allow-listed network or the host is allow-listed, and hands aiohttp exactly
the addresses it checked. aiohttp connects to those, so a second (rebinding) DNS answer
never reaches a socket. IP literals bypass aiohttp's resolver; :meth:`SsrfGuard.check_literal`
checks them before each request.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConnectionError, InfraPermissionError

__all__ = ["PinnedResolver", "SsrfGuard", "is_public_address"]

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_public_address(address: IPAddress) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified
    addresses (IPv4-mapped and 6to4/Teredo-wrapped IPv4 checked as that IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return is_public_address(inner)
        if address.teredo is not None:
            return is_public_address(address.teredo[1])
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
    """Decides whether an address may be connected to, given the allow-lists."""

    def __init__(self, allow_networks: Iterable[str] = (), allow_hosts: Iterable[str] = ()) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in allow_networks
        )
        self._hosts = frozenset(host.lower().rstrip(".") for host in allow_hosts)
        self._checked: set[str] = set()

    def host_allowed(self, host: str) -> bool:
        """True when ``host`` is allow-listed by name (its addresses are not checked)."""
        return host.lower().rstrip(".") in self._hosts

    def address_allowed(self, address: IPAddress) -> bool:
        """True when ``address`` is public or in an allow-listed network."""
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        candidates: list[IPAddress] = [address] if mapped is None else [address, mapped]
        for candidate in candidates:
            if any(candidate in network for network in self._networks):
                return True
        return is_public_address(address)

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


class PinnedResolver(AbstractResolver):
    """aiohttp resolver: one ``getaddrinfo``, every address checked, only those returned."""

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
                ResolveResult(
                    hostname=host,
                    host=ip,
                    port=int(sockaddr[1]),
                    family=family_,
                    proto=proto,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        return results

    async def close(self) -> None:
        return None
