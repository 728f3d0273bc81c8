"""The guard every outbound request passes (server-side HTTP jobs, batch deliveries, webhooks).

``CHRONOS_OUTBOUND_ALLOW`` is a comma-separated list of host patterns: globs on the host name
(``*.example.com``, ``api.internal``), IP networks (``10.0.0.0/8``) or ``*`` for any host. The default allows
only this machine (``localhost,127.0.0.1,::1``): reaching anything else is a decision the operator writes down.
Link-local addresses (which include the cloud metadata service at 169.254.169.254) and the metadata host
names are refused whatever the list says, checked on every address the name resolves to.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import socket
from urllib.parse import urlsplit

DEFAULT_ALLOW = "localhost,127.0.0.1,::1"
ALWAYS_REFUSED_HOSTS = ("metadata.google.internal", "metadata", "instance-data", "metadata.azure.com")
ALWAYS_REFUSED_NETS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"),
                       ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


class OutboundRefused(ValueError):
    """The target is not allowed by CHRONOS_OUTBOUND_ALLOW, or is a link-local / metadata address."""


def _patterns(allow: str) -> list[str]:
    return [p.strip().lower() for p in (allow or "").split(",") if p.strip()]


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


def _resolve(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    literal = _ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise OutboundRefused(f"cannot resolve {host!r}: {exc}") from None
    return list({ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos})


def check_host(host: str, allow: str = DEFAULT_ALLOW) -> None:
    """Raise OutboundRefused unless ``host`` may be contacted under the ``allow`` list."""
    host = (host or "").strip().lower().rstrip(".")
    if not host:
        raise OutboundRefused("no host")
    if host in ALWAYS_REFUSED_HOSTS:
        raise OutboundRefused(f"{host} is a cloud metadata host and is always refused")
    addresses = _resolve(host)
    for addr in addresses:
        if any(addr in net for net in ALWAYS_REFUSED_NETS):
            raise OutboundRefused(f"{host} resolves to {addr}, a link-local or metadata address (always refused)")
    patterns = _patterns(allow)
    if "*" in patterns:
        return
    for pattern in patterns:
        if "/" in pattern:
            try:
                net = ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                continue
            if addresses and all(addr in net for addr in addresses):
                return
        elif fnmatch.fnmatchcase(host, pattern) or (_ip(pattern) is not None and _ip(pattern) in addresses
                                                      and _ip(host) is not None):
            return
    raise OutboundRefused(f"{host} is not in CHRONOS_OUTBOUND_ALLOW ({allow or 'empty'})")


def check_url(url: str, allow: str = DEFAULT_ALLOW) -> None:
    """Raise OutboundRefused unless ``url`` is http(s) to an allowed host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"only http and https targets are allowed, not {parts.scheme or 'none'!r}")
    check_host(parts.hostname or "", allow)
