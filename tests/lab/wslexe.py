"""A stand-in for Windows' ``wsl.exe``, over the lab's WSL personas (booted lab hosts, lab.hosts).

``WslExe({"Ubuntu-24.04": host, ...})`` (a context manager, in the test process) puts an
executable ``wsl.exe`` in ``.bin`` and answers its requests on a Unix socket; the executable is
this file run as a script (stdlib only). What it does, as the real one does it:

- ``wsl.exe -l -v``: the table of distros (NAME, STATE Running/Stopped, VERSION), in UTF-16LE
  with CRLF line ends and no BOM, as wsl.exe writes it (it ignores ``WSL_UTF8``, like a wsl.exe
  older than that variable: provision must read UTF-16 either way);
- ``wsl.exe -d NAME [-u root] [--cd DIR] --exec ARGV…`` (or ``-e``): ARGV run in the persona as
  root, through ``nsenter`` into its PID 1 (its mount, UTS and PID namespaces, its root and
  working directory), with WSL's variables (``WSL_DISTRO_NAME``, ``WSL_INTEROP``, a PATH with
  Windows directories appended as ``appendWindowsPath`` does); stdin, stdout,
  stderr and the exit status are the command's. A stopped persona is started first (WSL starts
  a distro for any command): booted the lab's way (``Host.boot(Host.next_init())``: systemd as
  PID 1 of a new PID namespace when its /etc/wsl.conf asks for it, WSL's rule), and the command
  runs as soon as the persona's init runs (systemd may still be starting, as on WSL);
- ``wsl.exe --terminate NAME`` (``-t``): the persona's PID namespace is stopped (PID 1 killed,
  every process of the distro with it), as WSL stops a distro;
- an unknown name: WSL's message "There is no distribution with the supplied name." in UTF-16LE,
  exit status 255 (``0xFFFFFFFF`` on Windows; what interop shows of it).

Every call is appended to ``calls.log`` (one Python list per line) for the test to read.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from pathlib import Path

# WSL appends Windows's PATH to the distro's ([interop] appendWindowsPath, default true): the
# Windows user's own directories among them, which the distro's uid 1000 can write (drvfs).
WINDOWS_PATH = "/mnt/c/Windows/System32:/mnt/c/Users/dev/AppData/Local/Microsoft/WindowsApps"
NSENTER_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + WINDOWS_PATH,
               "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh", "LANG=C.UTF-8", "HOSTTYPE=x86_64",
               "WSL_INTEROP=/run/WSL/1_interop", "WSLENV="]
NO_DISTRO = "There is no distribution with the supplied name.\r\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"
VERSION = "WSL version: 2.3.26.0\r\nKernel version: 5.15.167.4-1\r\n"


def utf16(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-16-le")


# --------------------------------------------------------------------------- the test side

class WslExe:
    """The controller of the stand-in: distro name → lab Host (a WSL persona)."""

    def __init__(self, distros: dict, directory: Path | None = None) -> None:
        import tempfile

        import lab

        self.distros = dict(distros)
        self.dir = Path(directory or tempfile.mkdtemp(prefix="wslexe-", dir=lab.LAB_DIR))
        self.bin = self.dir / "bin"
        self.exe = self.bin / "wsl.exe"
        self.log = self.dir / "calls.log"
        self.socket_path = self.dir / "ctl"
        self._lock = threading.Lock()
        self._boots: dict[str, threading.Thread] = {}
        self._errors: list[BaseException] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WslExe:
        self.bin.mkdir(parents=True, exist_ok=True)
        self.exe.write_text(f"#!/bin/sh\nLAB_WSL_DIR='{self.dir}' exec '{sys.executable}' '{Path(__file__).resolve()}' "
                            '"$@"\n')
        self.exe.chmod(0o755)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.socket_path))
        self._sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        for t in list(self._boots.values()):
            t.join(timeout=120)
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)

    def calls(self) -> list[list[str]]:
        import ast

        if not self.log.exists():
            return []
        return [ast.literal_eval(line) for line in self.log.read_text().splitlines()]

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                try:
                    reply = self._handle(data.decode().strip())
                except Exception as exc:  # the stand-in prints it and fails
                    reply = f"err {type(exc).__name__}: {exc}".replace("\n", " | ")
                conn.sendall(reply.encode() + b"\n")

    def _host(self, name: str):
        for distro, host in self.distros.items():
            if distro.lower() == name.lower():  # WSL's names ignore case
                return distro, host
        return None, None

    def _handle(self, request: str) -> str:
        op, _, name = request.partition(" ")
        with self._lock:
            if op == "list":
                rows = [(d, "Running" if h.pid is not None else "Stopped", h.wsl) for d, h in self.distros.items()]
                return "ok " + ";".join(f"{d},{s},{v}" for d, s, v in rows)
            distro, host = self._host(name)
            if host is None:
                return "none"
            self._join(distro)
            if op == "terminate":
                host.shutdown()
                return "ok"
            if op == "enter":
                if host.pid is None:
                    self._start(distro, host)
                return f"ok {host.pid} {distro}"
        return f"err unknown request {op!r}"

    def _join(self, distro: str) -> None:
        boot = self._boots.get(distro)
        if boot is not None and boot.is_alive():
            boot.join(timeout=180)

    def _start(self, distro: str, host) -> None:
        """Boot the persona the lab's way, and return once its init runs in its root (the lab
        goes on waiting for sshd and systemd in a thread of its own, as WSL's start does not)."""
        init = host.next_init()

        def boot() -> None:
            try:
                host.boot(init)
            except BaseException as exc:
                self._errors.append(exc)

        t = threading.Thread(target=boot, daemon=True)
        self._boots[distro] = t
        t.start()
        root = str(host.root.path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pid = host.pid
            if pid is not None:
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/root") == root:
                        return
            if not t.is_alive():
                raise RuntimeError(f"{distro} did not start: {self._errors[-1] if self._errors else '?'}")
            time.sleep(0.02)
        raise RuntimeError(f"{distro}: no init in its root after 60s")


# --------------------------------------------------------------------------- the executable

def _ask(request: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(os.path.join(os.environ["LAB_WSL_DIR"], "ctl"))
        s.sendall(request.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


def _fail(message: str, rc: int = 255) -> int:
    sys.stdout.flush()
    os.write(2, utf16(message))
    return rc


def main(argv: list[str]) -> int:
    with open(os.path.join(os.environ["LAB_WSL_DIR"], "calls.log"), "a") as log:
        log.write(repr(argv) + "\n")
    if argv[:2] in (["-l", "-v"], ["--list", "--verbose"], ["-l", "--verbose"], ["--list", "-v"]):
        reply = _ask("list")
        rows = [r.split(",") for r in reply[3:].split(";") if r]
        width = max([len("NAME")] + [len(r[0]) for r in rows]) + 4
        text = f"  {'NAME':<{width}}STATE           VERSION\n"
        for i, (name, state, version) in enumerate(rows):
            text += f"{'*' if i == 0 else ' '} {name:<{width}}{state:<16}{version}\n"
        os.write(1, utf16(text))
        return 0
    if argv[:1] == ["--version"]:
        os.write(1, utf16(VERSION))
        return 0
    if argv[:1] in (["--terminate"], ["-t"]) and len(argv) == 2:
        reply = _ask(f"terminate {argv[1]}")
        if reply == "none":
            return _fail(NO_DISTRO)
        if reply != "ok":
            return _fail(reply + "\n", 1)
        os.write(1, utf16("The operation completed successfully.\n"))
        return 0
    distro, user, rest = None, "root", list(argv)
    while rest and rest[0] in ("-d", "--distribution", "-u", "--user", "--cd"):
        if len(rest) < 2:
            return _fail(f"Invalid command line argument: {rest[0]}\n", 1)
        if rest[0] in ("-d", "--distribution"):
            distro = rest[1]
        elif rest[0] in ("-u", "--user"):
            user = rest[1]
        rest = rest[2:]
    if not rest or rest[0] not in ("--exec", "-e") or len(rest) < 2 or distro is None:
        return _fail(f"lab wsl.exe: unsupported: {argv!r}\n", 1)
    if user != "root":
        return _fail(f"lab wsl.exe: only -u root is supported here, not {user!r}\n", 1)
    reply = _ask(f"enter {distro}")
    if reply == "none":
        return _fail(NO_DISTRO)
    if not reply.startswith("ok "):
        return _fail(reply + "\n", 1)
    _, pid, name = reply.split(" ", 2)
    os.execvp("nsenter", ["nsenter", "-t", pid, "-m", "-u", "-p", "-r", "-w", "--", *NSENTER_ENV,
                          f"WSL_DISTRO_NAME={name}", *rest[1:]])
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
