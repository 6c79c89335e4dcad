"""Shared fixtures. Lab fixtures build real Debian roots; under CI=true they never skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import lab
import pytest

pytest_plugins = ["lab.fixtures"]  # fleet_factory, ssh_host, wsl2_host, wsl1_host: booted lab hosts

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def lab_or_skip() -> None:
    missing = lab.requirements_missing()
    if missing:
        if IN_CI:
            pytest.fail(f"lab tests must run in CI, but: {missing}")
        pytest.skip(missing)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("lab") is not None:
        report.outcome = "failed"
        report.longrepr = f"lab test skipped under CI=true (must run): {report.longrepr}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if lab.requirements_missing() is None:
        lab.sweep()


@pytest.fixture(scope="session")
def base_root() -> Path:
    lab_or_skip()
    return lab.ensure_base()


@pytest.fixture(scope="session")
def jdk_root() -> Path:
    lab_or_skip()
    return lab.jdk_base()


@pytest.fixture
def fresh_root(base_root: Path) -> Iterator[lab.Root]:
    with lab.Root(base_root, name="fresh") as root:
        yield root


@pytest.fixture
def converged_root(jdk_root: Path) -> Iterator[lab.Root]:
    with lab.Root(jdk_root, name="jdk") as root:
        yield root


class Result:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"<rc={self.rc}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}>"


def provision(*args: str, input: bytes | None = None, cwd: Path | None = None,
              env: dict[str, str] | None = None, timeout: float = 1800) -> Result:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "provision", *args], input=input,
                          capture_output=True, cwd=cwd or REPO,
                          env={**os.environ, **(env or {})}, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)
    return Result(proc)


def doctor_says(target: str, *extra: str) -> str:
    """doctor's findings for ``target`` (summary | fix), one a line."""
    r = provision("doctor", "-H", target, *extra, "--json")
    return "\n".join(f"{f['summary']} | {f['fix']}" for h in r.json["hosts"] for f in h["findings"])


def provision_on_pty(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> tuple[int, bytes]:
    """The real CLI with its stderr on a pseudo-terminal (TERM=xterm, no NO_COLOR unless ``env``
    says so): (exit code, what the terminal received)."""
    import pty

    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "provision", *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=slave, cwd=REPO,
                                env={**base, "TERM": "xterm", "COLUMNS": "120", **(env or {})})
    finally:
        os.close(slave)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed: the process is done writing
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=timeout), out


@pytest.fixture
def cli():
    return provision


def _pam_harness(tmp_path_factory) -> Path:
    import shutil

    if shutil.which("gcc") is None or not Path("/usr/include/security/pam_appl.h").exists():
        message = "the pam_env harness needs gcc and libpam0g-dev (apt-get install gcc libpam0g-dev)"
        (pytest.fail if IN_CI else pytest.skip)(message)
    harness = tmp_path_factory.mktemp("pamenv-build") / "harness"
    subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(harness), str(REPO / "tests/pamenv/harness.c"),
                    "-lpam"], check=True, capture_output=True)
    return harness


def _pam_reader(harness: Path, work: Path, run, seen: Path | None = None) -> object:
    """envfiles (bytes) → what pam_env gives a session from each; ``run(argv)`` runs the harness
    (here, or inside a root, where the directory ``work`` is at ``seen``)."""
    seen = seen or work
    (work / "empty.conf").write_text("")
    runs = iter(range(1_000_000))

    def read(files: list[bytes]) -> list[dict[str, str]]:
        services = []
        for data in files:
            n = next(runs)
            (work / f"env{n}").write_bytes(data)
            (work / f"s{n}").write_text(f"session required pam_env.so readenv=1 envfile={seen}/env{n} "
                                        f"user_readenv=0 conffile={seen}/empty.conf\n")
            services.append(f"s{n}")
        out = run([str(harness), str(seen), *services])
        results, pos = [], 0
        for _ in services:
            line_end = out.index(b"\n", pos)
            count, pos = int(out[pos:line_end]), line_end + 1
            env: dict[str, str] = {}
            for _ in range(count):
                line_end = out.index(b"\n", pos)
                size, pos = int(out[pos:line_end]), line_end + 1
                name, _, value = out[pos:pos + size].decode("latin-1").partition("=")
                env[name] = value
                pos += size
            results.append(env)
        return results

    return read


@pytest.fixture(scope="session")
def pam_env(tmp_path_factory):
    """A function: envfiles (bytes) → what the system's real pam_env.so (1.5 on Debian 12) gives a
    session from each (tests/pamenv/harness.c, built with gcc against libpam; apt: gcc libpam0g-dev)."""
    harness = _pam_harness(tmp_path_factory)
    work = tmp_path_factory.mktemp("pamenv")
    return _pam_reader(harness, work, lambda argv: subprocess.run(argv, capture_output=True, check=True).stdout)


@pytest.fixture(scope="session")
def pam_env17(tmp_path_factory):
    """The same, through Debian 13's libpam and pam_env.so (1.7), inside a lab Debian 13 root (the
    harness built here runs there against that root's libpam.so.0)."""
    lab_or_skip()
    harness = _pam_harness(tmp_path_factory)
    with lab.Root(lab.trixie_base(), name="pam17") as root:
        work = Path("/pamenv")
        root.file("/pamenv").mkdir()
        (root.file("/pamenv") / "harness").write_bytes(harness.read_bytes())
        (root.file("/pamenv") / "harness").chmod(0o755)
        version = root.out("dpkg-query -W -f='${Version}' libpam-modules")
        assert version.startswith("1.7"), version

        def run(argv: list[str]) -> bytes:
            return root.sh(" ".join(argv)).stdout

        yield _pam_reader(work / "harness", root.file("/pamenv"), run, seen=work)


@pytest.fixture(scope="session")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding provision's wheel and the example plugin of docs/extending.md (pip,
    no --target, no PYTHONPATH), as a user installs them; the libraries both need come from this
    interpreter's environment through a .pth line (no index is needed)."""
    import sysconfig

    def run(*argv: str | Path) -> str:
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (argv, r.stdout[-3000:], r.stderr[-3000:])
        return r.stdout

    top = tmp_path_factory.mktemp("venv")
    wheels = top / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, REPO,
        REPO / "tests/plugins/provision-timezone")
    env = top / "env"
    run(sys.executable, "-m", "venv", env)
    site = Path(run(env / "bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    (site / "zz_libraries.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(env / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", *sorted(wheels.glob("*.whl")))
    return env
