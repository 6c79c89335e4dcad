"""A root file system on this machine packed as WSL imports it, and an archive read back for the lint.

Packing (``pack``): a gzip'd PAX tar whose names are relative to the root ("etc/passwd"), with
numeric owners only, permission bits as they are (setuid kept), hard links as links, symbolic
links as links (never followed: a link in the root pointing at this machine's /etc/shadow is
packed as that link, and nothing outside the root is read), file capabilities, ACLs and user.*
attributes kept (``SCHILY.xattr.*``, as GNU tar and bsdtar write them), nothing below /proc, /sys
and /dev, no device node, socket or overlayfs whiteout anywhere, no overlayfs attribute, and no
/etc/resolv.conf (WSL writes its own), nothing of another file system mounted in the root (as
``tar --one-file-system``), and no downloaded .deb in /var/cache/apt/archives (as
``apt-get clean``). The walk opens every directory and file relative to its
parent's descriptor with O_NOFOLLOW and checks it is still what lstat saw, so a link swapped in
during the walk is not followed either. ``extra`` members (the files the export adds) replace
whatever the root has under those names. The archive is written to a new temporary file beside
the output (created exclusively, 0600: it holds the root's private files) and renamed into place.

Reading (``read_archive``): the member list and the content of the few files the lint needs,
links followed inside the archive only, each at most 1 MiB.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import re
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from provision.errors import ProvisionError
from provision.formats.wslconf import read
from provision.formats.wslimage import WANTED, Member, Tree, clean_name, kept_xattr

READ_LIMIT = 1 << 20
SKIPPED_CONTENT = ("proc", "sys", "dev")  # the directories are packed, empty
LEFT_OUT = ("etc/resolv.conf",)
APT_CACHE = "var/cache/apt/archives"  # downloaded .deb files: left out, as apt-get clean would


class PackError(ProvisionError):
    """The root cannot be packed (it changed under the walk, or a file cannot be read)."""


@dataclass
class Extra:
    data: bytes
    mode: int = 0o644


@dataclass
class Packed:
    members: int = 0
    cached_debs: int = 0  # left out of var/cache/apt/archives
    skipped: list[str] | None = None  # what was left out, with why

    def skip(self, what: str) -> None:
        if self.skipped is None:
            self.skipped = []
        self.skipped.append(what)


_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _xattrs(fd: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(fd)
    except OSError:
        return out
    for name in names:
        if not kept_xattr(name):
            continue
        try:
            value = os.getxattr(fd, name)
        except OSError:
            continue
        out[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return out


def _info(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""  # numeric owners only
    info.mtime = int(st.st_mtime)
    return info


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, stat.S_IFMT(a.st_mode)) == (b.st_dev, b.st_ino, stat.S_IFMT(b.st_mode))


class _Walker:
    def __init__(self, tar: tarfile.TarFile, extra: dict[str, Extra], packed: Packed, device: int,
                 mounts: set[str]) -> None:
        self.tar, self.extra, self.packed, self.device, self.mounts = tar, extra, packed, device, mounts
        self.inodes: dict[tuple[int, int], str] = {}
        self.dirs: set[str] = set()

    def directory(self, fd: int, rel: str) -> None:
        for name in sorted(os.listdir(fd)):
            path = f"{rel}/{name}" if rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since listed
            self.entry(fd, name, path, st)

    def entry(self, fd: int, name: str, path: str, st: os.stat_result) -> None:
        if path in self.extra or path in LEFT_OUT:
            self.packed.skip(f"/{path} (replaced by the export)" if path in self.extra else f"/{path}")
            return
        if path.startswith(APT_CACHE + "/") and path.endswith(".deb") and "/" not in path[len(APT_CACHE) + 1:]:
            self.packed.cached_debs += 1
            return
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            info = _info(path, st, tarfile.SYMTYPE)
            info.linkname = os.readlink(name, dir_fd=fd)
            self.add(info)
        elif stat.S_ISDIR(mode) and (st.st_dev != self.device or path in self.mounts):
            self.packed.skip(f"/{path} (another file system is mounted there)")
        elif stat.S_ISDIR(mode):
            sub = self.open(fd, name, st, os.O_DIRECTORY)
            try:
                info = _info(path, st, tarfile.DIRTYPE)
                info.pax_headers = _xattrs(sub)
                self.add(info)
                self.dirs.add(path)
                if path in SKIPPED_CONTENT:
                    return
                self.directory(sub, path)
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.inodes:
                info = _info(path, st, tarfile.LNKTYPE)
                info.linkname = self.inodes[key]
                self.add(info)
                return
            sub = self.open(fd, name, st, 0)
            with os.fdopen(sub, "rb") as fh:
                info = _info(path, st, tarfile.REGTYPE)
                info.size = os.fstat(sub).st_size
                info.pax_headers = _xattrs(sub)
                self.add(info, fh)
            if st.st_nlink > 1:
                self.inodes[key] = path
        elif stat.S_ISFIFO(mode):
            self.add(_info(path, st, tarfile.FIFOTYPE))
        else:  # device nodes (overlayfs whiteouts among them), sockets
            self.packed.skip(f"/{path} (a {'device node' if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else 'socket'})")

    def open(self, fd: int, name: str, st: os.stat_result, flags: int) -> int:
        return self.open_checked(fd, name, st, flags)

    @staticmethod
    def open_checked(fd: int, name: str, st: os.stat_result, flags: int) -> int:
        try:
            sub = os.open(name, _NOFOLLOW | flags, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise PackError(f"{name}: replaced by a symbolic link while the root was packed") from None
            raise PackError(f"{name}: {exc.strerror}") from None
        if not _same(os.fstat(sub), st):
            os.close(sub)
            raise PackError(f"{name}: replaced while the root was packed; run the export again")
        return sub

    def add(self, info: tarfile.TarInfo, fh: io.BufferedReader | None = None) -> None:
        if fh is not None:
            # exactly the size recorded: a file that grows or shrinks under the walk cannot make
            # the archive inconsistent
            data = fh.read(info.size)
            if len(data) != info.size:
                raise PackError(f"/{info.name} changed size while the root was packed; run the export again")
            self.tar.addfile(info, io.BytesIO(data))
        else:
            self.tar.addfile(info)
        self.packed.members += 1


def _unescape(field: str) -> str:
    """A mountinfo path: space, tab, newline and backslash are written \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_below(root: str) -> set[str]:
    """The mount points inside ``root`` (relative paths), from /proc/self/mountinfo: a bind mount
    of the same file system has the same st_dev, so the device alone does not show it."""
    real = os.path.realpath(root).rstrip("/")
    found: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                fields = line.split(" ")
                if len(fields) > 4:
                    point = _unescape(fields[4])
                    if point.startswith(real + "/"):
                        found.add(point[len(real) + 1:])
    except OSError:
        pass
    return found


def read_in_root(root: str, path: str) -> bytes | None:
    """A regular file of the root (``etc/wsl.conf``), each component opened with O_NOFOLLOW from
    its parent: None when it is absent; PackError when a component is a link or not what it
    should be (nothing outside the root is read)."""
    parts = [p for p in path.split("/") if p]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            where = "/" + "/".join(parts[:i + 1])
            if stat.S_ISLNK(st.st_mode):
                raise PackError(f"{where} in the root is a symbolic link (to {os.readlink(part, dir_fd=fd)!r}): "
                                "not followed; make it a regular file")
            if not (stat.S_ISREG(st.st_mode) if last else stat.S_ISDIR(st.st_mode)):
                raise PackError(f"{where} in the root is not a {'regular file' if last else 'directory'}")
            sub = _Walker.open_checked(fd, part, st, 0 if last else os.O_DIRECTORY)
            os.close(fd)
            fd = sub
        if st.st_size > READ_LIMIT:
            raise PackError(f"/{path} in the root is larger than {READ_LIMIT} bytes")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(READ_LIMIT)
    finally:
        os.close(fd)


def check_parents(root: str, paths: list[str]) -> None:
    """Every existing parent directory of ``paths`` (names the export adds) is a real directory in
    the root, not a symbolic link: the archive would otherwise hold members below a link, which
    unpack wherever it points. Raises PackError."""
    for path in paths:
        parts = [p for p in path.split("/") if p][:-1]
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            for i, part in enumerate(parts):
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    break
                where = "/" + "/".join(parts[:i + 1])
                if stat.S_ISLNK(st.st_mode):
                    raise PackError(f"{where} in the root is a symbolic link (to {os.readlink(part, dir_fd=fd)!r}): "
                                    f"/{path} cannot be added below it")
                if not stat.S_ISDIR(st.st_mode):
                    raise PackError(f"{where} in the root is not a directory: /{path} cannot be added")
                sub = _Walker.open_checked(fd, part, st, os.O_DIRECTORY)
                os.close(fd)
                fd = sub
        finally:
            os.close(fd)


def pack(root: str, output: str, extra: dict[str, Extra],
         check: Callable[[str], None] | None = None) -> Packed:
    """Pack ``root`` into ``output`` (gzip'd unless it ends in ``.tar``), atomically: ``check``
    (the lint) is called with the temporary file's path first, and when it raises, nothing is
    left behind."""
    out = Path(output)
    tmp = out.parent / f".{out.name}.provision-{os.getpid()}"
    packed = Packed()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise PackError(f"{tmp}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as raw:
            gz = None if output.endswith(".tar") else gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                                     mtime=0)
            stream: BinaryIO = raw if gz is None else gz  # type: ignore[assignment]
            with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    walker = _Walker(tar, extra, packed, os.fstat(top).st_dev, mounts_below(root))
                    walker.directory(top, "")
                finally:
                    os.close(top)
                for name, item in sorted(extra.items()):
                    _add_extra(tar, name, item, walker)
            if gz is not None:
                gz.close()  # the gzip trailer (raw stays open)
            raw.flush()
            os.fsync(raw.fileno())
        if check is not None:
            check(str(tmp))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return packed


def _add_extra(tar: tarfile.TarFile, name: str, item: Extra, walker: _Walker) -> None:
    """A file the export adds, after any parent directory the root lacks (root's, 0755)."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent not in walker.dirs:
            info = tarfile.TarInfo(parent)
            info.type, info.mode, info.uname, info.gname = tarfile.DIRTYPE, 0o755, "", ""
            tar.addfile(info)
            walker.dirs.add(parent)
            walker.packed.members += 1
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    info.mode, info.uid, info.gid, info.uname, info.gname = item.mode, 0, 0, "", ""
    info.size = len(item.data)
    tar.addfile(info, io.BytesIO(item.data))
    walker.packed.members += 1


def _member(info: tarfile.TarInfo) -> Member:
    kind = ("file" if info.isreg() else "dir" if info.isdir() else "symlink" if info.issym()
            else "hardlink" if info.islnk() else "chardev" if info.ischr() else "blockdev" if info.isblk()
            else "fifo" if info.isfifo() else "other")
    xattrs = tuple(k[len("SCHILY.xattr."):] for k in info.pax_headers if k.startswith("SCHILY.xattr."))
    return Member(info.name, kind, info.mode, info.uid, info.gid, info.size, info.linkname,
                  info.devmajor, info.devminor, xattrs)


def read_archive(path: str, icon_paths: tuple[str, ...] = ()) -> tuple[list[Member], dict[str, bytes], bytes]:
    """(members, the WANTED files' content by clean name, the archive's first bytes). Raises
    PackError when it is not a tar archive."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
        with tarfile.open(path, mode="r:*") as tar:
            infos = tar.getmembers()
            members = [_member(i) for i in infos]
            tree = Tree(members)
            files: dict[str, bytes] = {}
            wanted = list(WANTED)
            conf = _content(tar, infos, tree, "etc/wsl-distribution.conf")
            if conf is not None:
                wanted += _icon_paths(conf)
            wanted += list(icon_paths)
            for name in wanted:
                data = _content(tar, infos, tree, name)
                if data is not None:
                    files[name.lstrip("/")] = data
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackError(f"{path}: not a tar archive WSL can read ({exc})") from None
    return members, files, head


def _icon_paths(conf: bytes) -> list[str]:
    return [ln.value for ln in read(conf).lines if ln.key == "shortcut.icon" and ln.value]


def _content(tar: tarfile.TarFile, infos: list[tarfile.TarInfo], tree: Tree, path: str) -> bytes | None:
    name = tree.resolve(path)
    if name is None:
        return None
    for info in infos:
        if clean_name(info.name) == name and info.isreg():
            fh = tar.extractfile(info)
            return fh.read(READ_LIMIT) if fh is not None else None
    return None
