"""Where a registry host is: on this machine, on our own network, or on the public internet.

`--insecure` sends images (and any login) over plain HTTP. On a loopback address or the site's
own network that is the operator's call; to an address on the public internet it is almost
always a typo or a wrong registry, so the CLI asks before doing it (cli/insecure.py).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str], list[str]]


def host_name(host: str) -> str:
    """`host[:port]` (IPv6 in brackets) without the port."""
    return urlsplit(f"//{host}").hostname or host


def resolve_addresses(name: str) -> list[str]:
    """The addresses `name` resolves to here ([] when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def public_addresses(host: str, resolve: Resolver = resolve_addresses) -> list[str]:
    """The addresses of `host` that are on the public internet (globally routable); [] for a
    loopback, private, link-local or shared (CGNAT) address, or a name that does not resolve
    (the connection then fails with its own sentence)."""
    name = host_name(host)
    try:
        candidates = [str(ipaddress.ip_address(name))]
    except ValueError:
        if name.lower() == "localhost" or name.lower().endswith(".localhost"):
            return []
        candidates = resolve(name)
    public = []
    for text in candidates:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address.is_global:
            public.append(str(address))
    return public
