"""Build Facts from compact YAML/dict data, for planner tests."""

from __future__ import annotations

from typing import Any

from provision.facts import (AltEntry, AptFacts, Facts, FileFact, JdkFact, OsRelease, PackageFact,
                             WslFacts)

NOW = 1_800_000_000


def facts_from(d: dict[str, Any]) -> Facts:
    f = Facts(now=NOW, arch=d.get("arch", "amd64"), kernel=d.get("kernel", "6.1.0-28-amd64"),
              pid1=d.get("pid1", "systemd"))
    f.os = OsRelease(**{"id": "debian", "version_id": "12", "codename": "bookworm", **d.get("os", {})})
    for name, (status, version) in d.get("packages", {}).items():
        f.packages[name] = PackageFact(name, status, version)
    apt = d.get("apt", {})
    age = apt.get("lists_age", 3600)
    f.apt = AptFacts(lists_mtime=None if age is None else NOW - age,
                     candidates=dict(apt.get("candidates", {})),
                     available_jdks=list(apt.get("available_jdks", [])),
                     removals={tuple(k.split(",")): v for k, v in apt.get("removals", {}).items()})
    for v, j in d.get("jdks", {}).items():
        alts = [AltEntry(kind=a[0], name=a[1], path=a[2], registered=a[3], current=a[4])
                for a in j.get("alternatives", [])]
        f.jdks[int(v)] = JdkFact(int(v), home=j.get("home", ""), has_java=j.get("java", False),
                                 has_javac=j.get("javac", False), release=j.get("release", ""),
                                 alternatives=alts)
    for path, content in d.get("files", {}).items():
        if content is None:
            f.files[path] = FileFact(path, exists=False)
        else:
            f.files[path] = FileFact(path, exists=True, content=content.encode())
    wsl = d.get("wsl", 0)
    f.wsl = WslFacts(**wsl) if isinstance(wsl, dict) else WslFacts(version=wsl)
    return f
