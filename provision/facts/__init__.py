"""Facts: what is known about a host, each a read-only shell command plus a pure parser.

- ``base``: the ``Fact`` type, the per-host store ``Facts``, invalidation topics.
- ``batch``: every fact asked for at once is one script, so one round trip.
- ``host``: OS, architecture, kernel, PID 1 and WSL signals (``facts`` in templates).
- ``packages``, ``files``: dpkg/apt and file facts shared by resource types.

A resource type declares what it reads (``Resource.facts``); facts only it needs live in its
own module.
"""

from __future__ import annotations

from provision.facts.base import APT_LISTS, DPKG, Fact, Facts, Section, to_json
from provision.facts.batch import gather
from provision.facts.files import FileContent, FileState
from provision.facts.host import HOST, Host, HostFacts, OsRelease, WslFacts, version_tuple
from provision.facts.packages import AptLists, Candidate, DpkgAudit, ListsAge, PackageState, PackageStatus, Removal

__all__ = ["APT_LISTS", "DPKG", "HOST", "AptLists", "Candidate", "DpkgAudit", "Fact", "Facts", "FileContent",
           "FileState", "Host", "HostFacts", "ListsAge", "OsRelease", "PackageState", "PackageStatus",
           "Removal", "Section", "WslFacts", "gather", "to_json", "version_tuple"]
