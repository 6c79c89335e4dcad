"""The proxy in a ``gradle.properties``: the ``systemProp.*`` entries Gradle turns into the build
JVM's system properties (its own dependency downloads read them, the login included).

``systemProp.http(s).proxyHost``/``proxyPort``, ``systemProp.http(s).nonProxyHosts`` (when no_proxy
gives any) and, when the URL has credentials, ``systemProp.http(s).proxyUser``/``proxyPassword``
(percent-decoded). Each is this tool's entry below its marker comment (provision/formats/javaprops.py),
so every other line of the file stays byte for byte and ``absent`` removes exactly these.
"""

from __future__ import annotations

from provision.formats import javaprops
from provision.formats.proxy import ProxyUrl

SUFFIXES = ("proxyHost", "proxyPort", "nonProxyHosts", "proxyUser", "proxyPassword")


def marker(name: str) -> bytes:
    return f"# managed by provision: the proxy ({name}), changed or removed with the playbook".encode()


def wanted(url: ProxyUrl, non_proxy_hosts: str) -> dict[str, str | None]:
    """Every key this tool may write, with its value (None: not written, removed if it was)."""
    user, password = url.login()
    values: dict[str, str | None] = {"proxyHost": url.host, "proxyPort": str(url.port),
                                     "nonProxyHosts": non_proxy_hosts or None,
                                     "proxyUser": user or None, "proxyPassword": password or None}
    return {f"systemProp.{scheme}.{k}": values[k] for scheme in ("http", "https") for k in SUFFIXES}


def edit(data: bytes | None, name: str, values: dict[str, str | None]) -> bytes | None:
    """The file with this tool's entries set to ``values`` (None: removed); None back: no file is
    needed. Raises javaprops.PropertiesError."""
    out = data
    for key, value in values.items():
        out = javaprops.set_key(out, key, value, marker(name))
    return out


def absent(url: ProxyUrl) -> dict[str, str | None]:
    return dict.fromkeys(wanted(url, ""), None)


def secrets(url: ProxyUrl) -> list[str]:
    """The password as this file holds it (escaped), beside the URL's own forms."""
    password = url.login()[1]
    if not password:
        return []
    try:
        return [javaprops.escape_value(password)]
    except javaprops.PropertiesError:
        return []


def matches(data: bytes, name: str, values: dict[str, str | None]) -> bool:
    """Whether the file says what ``values`` say, each by this tool's entry (the one that counts)."""
    for key, value in values.items():
        got, mine = javaprops.value_of(data, key, marker(name))
        if value is None and mine:
            return False
        if value is not None and (got != value or not mine):
            return False
    return True
