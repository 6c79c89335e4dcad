"""pytest fixtures for booted lab hosts (see lab.hosts). Registered by tests/conftest.py.

- ``fleet_factory(n, **kwargs)``: a booted ``Fleet`` of n hosts of the plain base (``base=`` picks
  another base, e.g. ``jdk_root``); every fleet made in a test is torn down after it.
- ``ssh_host``: one booted plain Debian host.
- ``wsl2_host`` / ``wsl1_host``: one booted WSL2 / WSL1 persona of the plain base (no systemd).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.hosts import Fleet, Host


@pytest.fixture
def fleet_factory(base_root: Path) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(n: int = 1, *, base: Path | None = None, **kwargs) -> Fleet:
        fleet = Fleet(base or base_root, n, **kwargs)
        fleets.append(fleet)  # before start(): a fleet that fails half-way is closed too
        return fleet.start()

    yield make
    errors = []
    for fleet in reversed(fleets):
        try:
            fleet.close()
        except Exception as exc:  # close the others first
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def ssh_host(fleet_factory: Callable[..., Fleet]) -> Host:
    return fleet_factory(1).hosts[0]


@pytest.fixture
def wsl2_host(fleet_factory: Callable[..., Fleet]) -> Host:
    return fleet_factory(1, wsl=2).hosts[0]


@pytest.fixture
def wsl1_host(fleet_factory: Callable[..., Fleet]) -> Host:
    return fleet_factory(1, wsl=1).hosts[0]
