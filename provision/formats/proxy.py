"""A proxy spec (``http://[user:pass@]host:port`` and a ``no_proxy`` list) in the forms each
consumer reads: apt's ``Acquire::http(s)::Proxy`` drop-in and its ``auth.conf.d`` login entry,
the ``http_proxy``/``no_proxy`` environment, the JVM's ``http.nonProxyHosts``. Pure functions.

Credentials are secrets: no error message here quotes the URL or any part of it that may hold
them, and ``mask`` takes every written form of the password out of text before it is shown.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from xml.sax.saxutils import escape

MASK = "********"
# what a user or password may hold as written in the URL: RFC 3986 unreserved characters,
# percent-escapes and the sub-delimiters no consumer here reads specially
_USERINFO = re.compile(r"[A-Za-z0-9._~%!*+,;=-]+")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class ProxyUrl:
    host: str  # a DNS name, an IPv4 address, or an IPv6 address without brackets
    port: int
    user: str = ""  # as written in the URL (percent-escapes kept)
    password: str = ""

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def public(self) -> str:
        """The URL without credentials (what may be shown and written world-readable)."""
        return f"http://{self.netloc}"

    @property
    def has_credentials(self) -> bool:
        return bool(self.user or self.password)

    def login(self) -> tuple[str, str]:
        """(user, password), percent-decoded."""
        return urllib.parse.unquote(self.user), urllib.parse.unquote(self.password)

    def secrets(self) -> list[str]:
        """Every form of the password that a file or message here may hold."""
        if not self.password:
            return []
        plain = self.login()[1]
        return sorted({self.password, plain, escape(plain), urllib.parse.quote(plain, safe="")},
                      key=len, reverse=True)


def parse_url(text: str) -> ProxyUrl:
    """``http://[user:pass@]host:port[/]``; ValueError (never quoting the credentials) otherwise."""
    if any(ord(c) < 0x21 or ord(c) >= 0x7f for c in text):
        raise ValueError("the proxy URL must be ASCII without blanks or control characters "
                         "(percent-encode them)")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() != "http":
        raise ValueError("the proxy URL must start with http:// (an HTTP proxy; it also carries "
                         "https through CONNECT)")
    rest = rest[:-1] if rest.endswith("/") else rest
    if any(c in rest for c in "/?#"):
        raise ValueError("the proxy URL is http://[user:password@]host:port, with no path, query or fragment")
    userinfo, at, hostport = rest.rpartition("@")
    user = password = ""
    if at:
        user, colon, password = userinfo.partition(":")
        if not colon or not user or not password:
            raise ValueError("credentials in the proxy URL are user:password@ (both given)")
        for part, what in ((user, "user"), (password, "password")):
            if not _USERINFO.fullmatch(part) or _PCT.search(part):
                raise ValueError(f"the proxy {what} may hold letters, digits and ._~!*+,;=- only, "
                                 "other characters percent-encoded (%XX)")
            plain = urllib.parse.unquote(part)
            if any(ord(c) < 0x21 or c in "\"'\\" for c in plain):
                raise ValueError(f"the proxy {what} must not decode to blanks, control characters, "
                                 "quotes or a backslash")
    if hostport.startswith("["):
        host, bracket, port_text = hostport[1:].partition("]")
        if not bracket or not port_text.startswith(":"):
            raise ValueError("the proxy URL needs host:port (an IPv6 address as [address]:port)")
        port_text = port_text[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("the proxy host in [ ] is not an IPv6 address") from None
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            raise ValueError("the proxy URL needs a port: http://host:port")
        problem = check_host(host)
        if problem:
            raise ValueError(f"the proxy host {problem}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("the proxy port must be a number from 1 to 65535")
    return ProxyUrl(host.lower(), int(port_text), user, password)


def check_host(host: str) -> str | None:
    """What is wrong with ``host`` as a DNS name or IPv4 address, or None."""
    try:
        ipaddress.IPv4Address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "must be a DNS name or an IPv4 address"
    return None


# --------------------------------------------------------------------------- no_proxy

@dataclass(frozen=True)
class NoProxy:
    """One no_proxy entry, as curl reads it: ``*`` (everything), a domain suffix (``.corp``),
    a host name (itself and its subdomains), an IP address, or a CIDR block."""

    text: str
    kind: str  # all | suffix | host | ip | cidr
    value: str  # the name without the leading dot; the address; the network


def parse_no_proxy(entry: str) -> NoProxy:
    e = entry.strip().lower()
    if e == "*":
        return NoProxy(e, "all", e)
    if "/" in e:
        try:
            net = ipaddress.ip_network(e, strict=False)
        except ValueError:
            raise ValueError(f"no_proxy entry {entry!r} is not a CIDR block (e.g. 10.0.0.0/8)") from None
        return NoProxy(e, "cidr", str(net))
    bare = e.strip("[]")
    try:
        return NoProxy(e, "ip", str(ipaddress.ip_address(bare)))
    except ValueError:
        pass
    name = e[2:] if e.startswith("*.") else e[1:] if e.startswith(".") else e
    if check_host(name) or ":" in name:
        raise ValueError(f"no_proxy entry {entry!r} is not *, a host name, .domain, an IP address or a CIDR block")
    return NoProxy(e, "suffix" if name != e else "host", name.rstrip("."))


def env_no_proxy(entries: list[NoProxy]) -> str:
    """The ``no_proxy`` value (comma-separated, as curl, wget, pip, Go and apt's tools read it)."""
    return ",".join(e.text for e in entries)


def java_non_proxy_hosts(entries: list[NoProxy]) -> tuple[str, list[str]]:
    """``http.nonProxyHosts`` (``|``-separated patterns with ``*`` at either end) and notes on
    what Java cannot express. ``.example.com`` → ``*.example.com``; a host name also stands for
    its subdomains (as curl reads it); a CIDR block only on octet boundaries (``10.*``)."""
    out: list[str] = []
    notes: list[str] = []
    for e in entries:
        if e.kind == "all":
            out.append("*")
        elif e.kind == "suffix":
            out.append(f"*.{e.value}")
        elif e.kind == "host":
            out += [e.value, f"*.{e.value}"]
        elif e.kind == "ip":
            out.append(f"[{e.value}]" if ":" in e.value else e.value)
        else:
            net = ipaddress.ip_network(e.value)
            if net.version == 4 and net.prefixlen % 8 == 0:
                octets = str(net.network_address).split(".")[:net.prefixlen // 8]
                out.append(".".join(octets + ["*"]) if octets else "*")
            else:
                notes.append(f"no_proxy {e.text}: Java's http.nonProxyHosts has no CIDR blocks other than "
                             "whole IPv4 octets (10.0.0.0/8 → 10.*): not passed to the JVM or Maven")
    return "|".join(dict.fromkeys(out)), notes


def apt_direct_hosts(entries: list[NoProxy]) -> tuple[list[str], list[str]]:
    """Hosts apt reaches without the proxy (``Acquire::http::Proxy::<host> "DIRECT"`` matches one
    host name exactly) and notes on the entries apt cannot express."""
    hosts: list[str] = []
    notes: list[str] = []
    for e in entries:
        if e.kind in ("host", "ip"):
            hosts.append(e.value)
        else:
            notes.append(f"no_proxy {e.text}: apt takes no_proxy exceptions per host name only: apt "
                         "uses the proxy for it")
    return list(dict.fromkeys(hosts)), notes


# --------------------------------------------------------------------------- apt

def apt_conf(url: ProxyUrl, direct: list[str], header: str) -> bytes:
    """The apt.conf.d drop-in: the proxy for http and https (credentials are not here: they go to
    apt's auth.conf.d, which apt reads for proxies too and which may be root's only)."""
    lines = [f"// {header}", f'Acquire::http::Proxy "{url.public}/";', f'Acquire::https::Proxy "{url.public}/";']
    for host in direct:
        lines += [f'Acquire::http::Proxy::{host} "DIRECT";', f'Acquire::https::Proxy::{host} "DIRECT";']
    return ("\n".join(lines) + "\n").encode()


def apt_auth(url: ProxyUrl, header: str) -> bytes | None:
    """The auth.conf.d entry (netrc-like) for the proxy's login, or None without credentials. The
    machine is named with its scheme: apt matches an entry without one to https only."""
    if not url.has_credentials:
        return None
    user, password = url.login()
    return (f"# {header}\nmachine http://{url.netloc}\nlogin {user}\npassword {password}\n").encode()


def mask(data: bytes, url: ProxyUrl) -> bytes:
    """``data`` with every form of the URL's password replaced by ********."""
    for s in url.secrets():
        data = data.replace(s.encode(), MASK.encode())
    return data


_LOGIN = re.compile(r"(://[^/@:\s\"']+:)[^@/\s\"']+@")


def hide_logins(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ********
    (for values shown or recorded whose meaning is not known: a playbook's variables)."""
    return _LOGIN.sub(lambda m: m.group(1) + MASK + "@", text)


def mask_text(text: str, url: ProxyUrl) -> str:
    for s in url.secrets():
        text = text.replace(s, MASK)
    return text
