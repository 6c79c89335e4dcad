"""The WSL image: the lint from data (tests/unit/data/wslimage.yml), the same lint over real tar
archives built here with bad members, the packer over a small tree with hostile links, and the
wsl.conf the first-start script writes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
import yaml

from provision import imagepack, wslimage
from provision.errors import UsageError
from provision.formats import wslconf
from provision.formats.wslimage import Member, Tree, clean_name, lint, lint_format

DATA = yaml.safe_load((Path(__file__).parent / "data" / "wslimage.yml").read_text())


def member(row: dict) -> Member:
    major, minor = row.get("dev", (0, 0))
    return Member(row["name"], row["kind"], row.get("mode", 0o644), row.get("uid", 0), row.get("gid", 0),
                  row.get("size", 0), row.get("link", ""), major, minor, tuple(row.get("xattrs", ())))


def image(case: dict) -> tuple[list[Member], dict[str, bytes]]:
    drop = set(case.get("drop", ()))
    members = [member(r) for r in DATA["base"]["members"] if r["name"] not in drop]
    members += [member(r) for r in case.get("add", ())]
    files = {k: v.encode("latin-1") for k, v in DATA["base"]["files"].items()}
    for k, v in case.get("files", {}).items():
        if v is None:
            files.pop(k, None)
        else:
            files[k] = v.encode("latin-1")
    return members, files


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_lint(case):
    findings = lint(*image(case))
    got = sorted(f.rule for f in findings if f.level == "error")
    assert got == sorted(case["errors"]), "\n".join(map(str, findings))
    warned = {f.rule for f in findings if f.level == "warning"}
    assert set(case.get("warnings", ())) <= warned, "\n".join(map(str, findings))
    if case["name"] == "base passes":
        assert findings == []


def test_every_rule_has_a_case():
    rules = {r for c in DATA["cases"] for r in [*c["errors"], *c.get("warnings", ())]}
    assert rules >= {"unsafe-name", "duplicate", "under-link", "device-node", "whiteout", "virtual-fs",
                     "hardlink", "overlay-xattr", "distribution-conf", "default-name", "default-uid",
                     "oobe-command", "icon", "wsl-conf", "systemd", "passwd", "shadow", "resolv-conf",
                     "shell", "kernel", "host-key", "unit"}


@pytest.mark.parametrize("name, clean", [("./etc/passwd", "etc/passwd"), ("etc//x/./y", "etc/x/y"),
                                         ("/etc/passwd", None), ("a/../../b", None), ("..", None)])
def test_clean_name(name, clean):
    assert clean_name(name) == clean


def test_links_are_followed_inside_the_archive_only():
    tree = Tree([Member("etc", "dir"), Member("etc/wsl.conf", "symlink", linkname="/etc/shadow"),
                 Member("etc/shadow", "file"), Member("loop", "symlink", linkname="loop"),
                 Member("up", "symlink", linkname="../../../../etc")])
    assert tree.resolve("/etc/wsl.conf") == "etc/shadow"  # the archive's own /etc/shadow
    assert tree.resolve("/loop") is None
    assert tree.resolve("/up/shadow") == "etc/shadow"  # .. stops at the archive's root
    assert tree.resolve("/etc/missing") is None


# --------------------------------------------------------------------------- real archives

def add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = attrs.pop("mode", 0o644)
    for k, v in attrs.items():
        setattr(info, k, v)
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def good_archive(tar: tarfile.TarFile, *, passwd: bool = True, conf: bytes | None = None) -> None:
    files = DATA["base"]["files"]
    for row in DATA["base"]["members"]:
        kind = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "file": tarfile.REGTYPE}[row["kind"]]
        if row["name"] == "etc/passwd" and not passwd:
            continue
        data = files.get(row["name"], "").encode("latin-1")
        if row["name"] == "etc/wsl-distribution.conf" and conf is not None:
            data = conf
        add(tar, row["name"], kind, data, mode=row.get("mode", 0o644), gid=row.get("gid", 0),
            linkname=row.get("link", ""))


def lint_file(path: Path) -> dict[str, list[str]]:
    members, files, head = imagepack.read_archive(str(path))
    out: dict[str, list[str]] = {"error": [], "warning": []}
    for f in lint_format(path.name, head) + lint(members, files):
        out[f.level].append(f.rule)
    return out


def test_a_real_good_archive_passes(tmp_path):
    path = tmp_path / "good.wsl"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        good_archive(tar)
    assert lint_file(path) == {"error": [], "warning": []}


def test_a_real_archive_with_bad_members(tmp_path):
    path = tmp_path / "bad.wsl"
    conf = b"[oobe]\ncommand = /usr/lib/wsl/provision-oobe\ndefaultUid = 1000\ndefaultName = x\n[user]\nicon = a\n"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        good_archive(tar, passwd=False, conf=conf)
        add(tar, "dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
        add(tar, "/etc/cron.d/evil", data=b"* * * * * root sh\n")
        add(tar, "../escape", data=b"x")
        add(tar, "usr/share/old", tarfile.CHRTYPE, mode=0, devmajor=0, devminor=0)
    got = lint_file(path)
    assert sorted(got["error"]) == ["device-node", "distribution-conf", "passwd", "unsafe-name", "unsafe-name",
                                    "virtual-fs", "whiteout"], got


def test_a_link_in_the_archive_is_read_inside_it(tmp_path):
    """/etc/wsl-distribution.conf → /etc/shadow: the lint reads the archive's shadow, never this
    machine's (whose content would make an invalid conf)."""
    path = tmp_path / "link.wsl"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for row in DATA["base"]["members"]:
            if row["name"] == "etc/wsl-distribution.conf":
                add(tar, row["name"], tarfile.SYMTYPE, linkname="/etc/shadow")
                continue
            kind = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "file": tarfile.REGTYPE}[row["kind"]]
            add(tar, row["name"], kind, DATA["base"]["files"].get(row["name"], "").encode("latin-1"),
                mode=row.get("mode", 0o644), linkname=row.get("link", ""))
    members, files, _ = imagepack.read_archive(str(path))
    assert files["etc/wsl-distribution.conf"] == DATA["base"]["files"]["etc/shadow"].encode()


def test_not_gzip(tmp_path):
    path = tmp_path / "plain.wsl"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        good_archive(tar)
    assert lint_file(path)["error"] == ["format"]
    renamed = tmp_path / "plain.tar"
    path.rename(renamed)
    assert lint_file(renamed) == {"error": [], "warning": ["format"]}


def test_not_an_archive(tmp_path):
    path = tmp_path / "junk.wsl"
    path.write_bytes(b"\x1f\x8bnot really")
    with pytest.raises(imagepack.PackError, match="not a tar archive"):
        imagepack.read_archive(str(path))


# --------------------------------------------------------------------------- packing

def test_pack_keeps_links_as_links_and_reads_nothing_outside(tmp_path):
    root = tmp_path / "root"
    for d in ("etc", "proc/1", "dev", "var/cache/apt/archives", "usr/bin"):
        (root / d).mkdir(parents=True)
    (root / "proc/1/status").write_text("not packed")
    (root / "var/cache/apt/archives/x_1_amd64.deb").write_bytes(b"deb")
    (root / "etc/wsl-distribution.conf").symlink_to("/etc/shadow")  # replaced by the export's own
    (root / "etc/resolv.conf").write_text("nameserver 10.0.0.1\n")
    (root / "etc/escape").symlink_to("/etc")  # a directory link: packed as a link, not walked
    (root / "usr/bin/a").write_bytes(b"same inode")
    os.link(root / "usr/bin/a", root / "usr/bin/b")
    os.mkfifo(root / "etc/fifo")
    (root / "etc/setuid").write_bytes(b"x")
    (root / "etc/setuid").chmod(0o4755)
    out = tmp_path / "img.tar.gz"
    packed = imagepack.pack(str(root), str(out), {"etc/wsl-distribution.conf": imagepack.Extra(b"[oobe]\n"),
                                                  "usr/lib/wsl/x": imagepack.Extra(b"#!/bin/sh\n", 0o755)})
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert packed.cached_debs == 1
    with tarfile.open(out) as tar:
        names = {i.name: i for i in tar.getmembers()}
        assert tar.extractfile("etc/wsl-distribution.conf").read() == b"[oobe]\n"
        assert [i.name for i in tar.getmembers()].count("etc/wsl-distribution.conf") == 1
    assert names["etc/escape"].issym() and names["etc/escape"].linkname == "/etc"
    assert not any(n.startswith("etc/escape/") for n in names)
    assert "proc" in names and "proc/1" not in names
    assert "etc/resolv.conf" not in names and "var/cache/apt/archives/x_1_amd64.deb" not in names
    assert names["usr/bin/b"].islnk() and names["usr/bin/b"].linkname == "usr/bin/a"
    assert names["etc/fifo"].isfifo()
    assert names["etc/setuid"].mode == 0o4755
    assert names["usr/lib"].isdir() and names["usr/lib/wsl"].isdir() and names["usr/lib/wsl/x"].mode == 0o755
    assert all(i.uname == "" and i.gname == "" for i in names.values())
    assert not any(n.startswith(("/", "./")) for n in names)


def test_pack_leaves_nothing_when_the_check_fails(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    out = tmp_path / "img.wsl"

    def refuse(path: str) -> None:
        assert Path(path).exists()
        raise UsageError("no")

    with pytest.raises(UsageError):
        imagepack.pack(str(root), str(out), {}, refuse)
    assert list(tmp_path.iterdir()) == [root]


def test_read_in_root_refuses_links(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    assert imagepack.read_in_root(str(root), "etc/wsl.conf") is None
    (root / "etc/wsl.conf").symlink_to("/etc/shadow")
    with pytest.raises(imagepack.PackError, match="symbolic link"):
        imagepack.read_in_root(str(root), "etc/wsl.conf")
    (root / "etc/wsl.conf").unlink()
    (root / "etc/wsl.conf").write_bytes(b"[boot]\nsystemd=true\n")
    assert imagepack.read_in_root(str(root), "etc/wsl.conf") == b"[boot]\nsystemd=true\n"
    (root / "usr").mkdir()
    (root / "usr/lib").symlink_to("/etc")
    with pytest.raises(imagepack.PackError, match="/usr/lib in the root is a symbolic link"):
        imagepack.check_parents(str(root), ["usr/lib/wsl/provision-oobe"])
    imagepack.check_parents(str(root), ["etc/wsl-distribution.conf", "opt/new/file"])


# --------------------------------------------------------------------------- what the export adds

SEED = b"[boot]\nsystemd=true\n\n# mounts\n[automount]\noptions = \"metadata\"\n"


@pytest.mark.parametrize("original", [None, b"", SEED, b"[user]\ndefault = old  # the image's\n[boot]\nsystemd=1\n"],
                         ids=["absent", "empty", "boot-and-automount", "user-set-already"])
def test_wslconf_template_sets_only_the_default_user(original):
    template = wslimage.wslconf_template(original)
    wslimage.check_template(original, template)
    final = wslimage.with_user(template, "alice")
    before = wslconf.read(original or b"").effective()
    assert wslconf.read(final).effective() == {**before, "user.default": "alice"}
    if original == SEED:
        assert final.startswith(SEED)  # every other byte kept


def test_wslconf_template_refuses_the_placeholder():
    with pytest.raises(UsageError, match=wslimage.PLACEHOLDER):
        wslimage.wslconf_template(b"[boot]\ncommand=echo " + wslimage.PLACEHOLDER.encode() + b"\n")


def test_distribution_conf_passes_the_lint_keys():
    members, files = image({"name": "x"})
    files["etc/wsl-distribution.conf"] = wslimage.distribution_conf("java17", icon=True)
    assert [str(f) for f in lint(members, files)] == []
    with pytest.raises(UsageError):
        wslimage.distribution_conf("bad name", icon=False)


@pytest.mark.parametrize("name", ["root$(reboot)", "-o", "Alice", "a b", "a\nb", "x" * 33, "1abc", "", "a/b",
                                  "é"])
def test_hostile_user_names_are_refused(name):
    assert not wslimage.USER_NAME.match(name)
    with pytest.raises(ValueError):
        wslimage.with_user(b"x", name)


def test_oobe_script_has_every_value_filled_in():
    script = wslimage.oobe_script(SEED).decode()
    assert "@" not in script.replace("$@", "")
    assert wslimage.sha256(SEED) in script and wslimage.USER_ENV in script
    assert wslimage.oobe_script(None).decode().count("conf_sha=-") == 1


# --------------------------------------------------------------------------- the command line

def test_lint_only_reports_each_error_and_exits_1(cli, tmp_path):
    path = tmp_path / "bad.wsl"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        good_archive(tar, passwd=False)
        add(tar, "dev/sda", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0)
    r = cli("export", "wsl-image", "--lint-only", str(path))
    assert r.rc == 1, r
    assert "/dev/sda is a device node" in r.stderr and "/etc/passwd is missing" in r.stderr
    assert "3 error(s), 0 warning(s)" in r.stderr
    good = tmp_path / "good.wsl"
    with tarfile.open(good, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        good_archive(tar)
    ok = cli("export", "wsl-image", "--lint-only", str(good))
    assert ok.rc == 0 and "0 error(s), 0 warning(s)" in ok.stderr, ok


@pytest.mark.parametrize("args, message", [
    (["--lint-only", "{good}", "-o", "x.wsl"], "no -H or -o with it"),
    (["-H", "chroot:{root}"], "needs -H chroot:ROOT"),
    (["-H", "web1", "-o", "{tmp}/x.wsl"], "needs -H chroot:ROOT"),
    (["-H", "chroot:{root}", "-o", "{tmp}/x.zip"], "ends in .wsl"),
    (["-H", "chroot:{root}", "-o", "{root}/x.wsl"], "inside the root being packed"),
    (["-H", "chroot:{root}", "-o", "{tmp}/nodir/x.wsl"], "no such directory"),
    (["-H", "chroot:{root}", "-o", "{tmp}/x.wsl", "--name", "a b"], "a WSL distribution name is"),
    (["-H", "chroot:{root}", "-o", "{tmp}/x.wsl", "--icon", "{good}"], "not a Windows .ico file"),
], ids=["lint-with-output", "no-output", "not-chroot", "suffix", "inside-root", "no-dir", "name", "icon"])
def test_usage_errors(cli, tmp_path, args, message):
    root = tmp_path / "root"
    root.mkdir()
    good = tmp_path / "good.wsl"
    good.write_bytes(b"\x1f\x8b")
    argv = [a.format(root=root, tmp=tmp_path, good=good) for a in args]
    r = cli("export", "wsl-image", "java17", *argv)
    assert r.rc == 2 and message in r.stderr, r
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.wsl", "root"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_pack_does_not_cross_into_a_mount_in_the_root(tmp_path):
    """A file system mounted inside the root (a bind mount of this machine's /etc, say) is left
    out, as tar --one-file-system does; done in a private mount namespace."""
    import subprocess
    import sys

    root = tmp_path / "root"
    (root / "mnt/etc").mkdir(parents=True)
    (root / "etc").mkdir()
    out = tmp_path / "img.tar"
    script = ("import sys; from provision import imagepack; p = imagepack.pack(sys.argv[1], sys.argv[2], {}); "
              "print(p.skipped)")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           'mount --bind /etc "$1/mnt/etc" && exec "$2" -c "$3" "$1" "$4"', "sh", str(root),
                           sys.executable, script, str(out)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert "/mnt/etc (another file system is mounted there)" in proc.stdout
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "mnt" in names and not any(n.startswith("mnt/etc") for n in names)
