"""The one small interface every target is reached through: run a command, write a file, close."""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provision.errors import ConnectError, ResourceError

Stream = Callable[[str], None]


@dataclass
class CommandResult:
    command: str  # for messages (never carries a secret: secrets travel on stdin)
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def tail(self, lines: int = 8) -> str:
        """The last lines of stderr (else stdout), for one-line error messages."""
        text = (self.err.strip() or self.out.strip()).splitlines()
        return " | ".join(line.strip() for line in text[-lines:] if line.strip())


# The path walk every write, removal, restore and file fact goes through (POSIX sh, coreutils).
#
# A local user may turn any part of a managed path into a symbolic link, or swap a directory for
# one, at any moment. So no command here is ever given a path that passes through a directory a
# non-root user can change: ``pv_walk`` enters the path one component at a time from ``/``, and
# for each directory it checks that the name is no link, ``cd -P``s into it and compares the
# shell's real working directory (getcwd(2)) with the path walked so far. A link swapped in
# between the two lands the shell somewhere else, the paths differ, and the walk stops. (No
# command runs per directory: one stat at the end reads the last directory and the file.)
# Once the shell's working directory *is* that directory
# (a reference to it, whatever happens to its name later), the file is handled by its bare name
# in it; the new content is made in a private directory (``mktemp -d``: mode 0700, created
# exclusively, an unpredictable name) that the shell enters the same way, so nobody but root can
# touch the new file or its name before ``mv -T`` renames it over the old one from there
# (``../name``: a non-root user cannot move root's 0700 directory to another parent, as that
# needs write permission on it). rename(2) never follows a link at its destination, and owner
# and mode are set on the new file before the rename, never on a path after it.
#
# pv_walk PATH FOLLOW MKDIR STRICT: leaves the shell in the directory of PATH's last component and
# sets pv_name to that component (pv_link to its target when it is a link that was not followed).
#   FOLLOW: 0 = refuse a link among the parents (the last component is reported in pv_link);
#           1 = follow links, last component included, but only a link root owns in a
#               directory no non-root user can write; p = the same for the parents only.
#   MKDIR: the mode of missing directories to create ("" = return 2 when one is missing).
#   STRICT: 1 = every directory on the way must be closed to non-root users (the state dir).
# Returns 0, 1 (refused: the reason in pv_err) or 2 (a directory is missing).
# root_only PATH: PATH (links resolved) and every directory above it are root's and writable by
# no one else: the test before root runs a binary or trusts a file another user may have placed.
ROOT_ONLY = r"""
root_only() {  # $1 and every directory above it: root's, writable by no one else
  p=$1
  while :; do
    set -- $(stat -L -c '%u %g %a' -- "$p" 2>/dev/null) || return 1
    [ "$1" = 0 ] && [ $((0$3 & 02)) = 0 ] && { [ "$2" = 0 ] || [ $((0$3 & 020)) = 0 ]; } || return 1
    [ "$p" = / ] && return 0
    p=$(dirname -- "$p")
  done
}
"""

WALK = r"""
unset CDPATH
pv_nl='
'
pv_opened() {  # can a non-root user write a directory of owner $1, group $2, mode $3?
  [ "$1" != 0 ] || { [ "$2" != 0 ] && [ $((0$3 & 020)) != 0 ]; } || [ $((0$3 & 02)) != 0 ]
}
pv_fields() {  # split a pv_look line: pv_d pv_i pv_u pv_g pv_a pv_h pv_s pv_U pv_G pv_F
  pv_ifs=$IFS; IFS=:; set -f; set -- $1; set +f; IFS=$pv_ifs
  [ $# -ge 10 ] || { pv_d= pv_i= pv_F=; return 1; }
  pv_d=$1 pv_i=$2 pv_u=$3 pv_g=$4 pv_a=$5 pv_h=$6 pv_s=$7 pv_U=$8 pv_G=$9 pv_F=${10}
}
# One stat of "." and ./$1 together. pv_dir: "."'s owner, group and mode; pv_st: ./$1's
# device:inode:uid:gid:mode:links:size:owner:group:type ("" when there is none).
pv_look() {
  pv_st=$(stat -c '%d:%i:%u:%g:%a:%h:%s:%U:%G:%F' -- . "./$1" 2>/dev/null) || :
  case $pv_st in
    *"$pv_nl"*) pv_dot=${pv_st%%"$pv_nl"*} pv_st=${pv_st#*"$pv_nl"} ;;
    *) pv_dot=$pv_st pv_st= ;;
  esac
  pv_fields "$pv_dot" || { pv_err="cannot read ${pv_at:-/}"; return 1; }
  pv_dir="$pv_u $pv_g $pv_a"
}
# STRICT: every directory entered (pv_dirs, one per line from /) closed to non-root users, read
# by one stat. Sound although it reads them by name: the first open one on the way has a parent
# only root can change, so its name cannot be pointed anywhere else.
pv_closed() {
  pv_ifs=$IFS; IFS=$pv_nl; set -f; set -- $pv_dirs; set +f; IFS=$pv_ifs
  pv_m=$(stat -c '%u %g %a' -- "$@" 2>/dev/null) || { pv_err="cannot read the directories of $pv_at"; return 1; }
  for pv_x in $pv_m; do  # three words per directory
    case ${pv_y:-u} in
      u) pv_y=g pv_mu=$pv_x ;;
      g) pv_y=a pv_mg=$pv_x ;;
      a) pv_y=u
         if pv_opened "$pv_mu" "$pv_mg" "$pv_x"; then pv_err="$1 is writable by a non-root user"; return 1; fi
         shift ;;
    esac
  done
}
# A directory is entered with cd -P, and then the shell's own idea of where it is ($PWD: getcwd(2)
# after cd -P, no command run) must be the link-free path walked so far: a link swapped in
# before the cd lands the shell somewhere whose real path differs, and the walk stops.
# pv_walk PATH FOLLOW(0|1|p) MKDIR-MODE STRICT(0|1) [r: a read, a missing last name is not stat'ed;
#   n: the last name (a link there still is one) is not stat'ed, the caller stats it]
pv_walk() {
  pv_rest=${1#/} pv_at= pv_n=0 pv_err= pv_name= pv_link= pv_st= pv_dir= pv_dirs=/ pv_y=
  cd / || { pv_err="cannot enter /"; return 1; }
  while [ -n "$pv_rest" ]; do
    case $pv_rest in
      */*) pv_c=${pv_rest%%/*} pv_rest=${pv_rest#*/} pv_last= ;;
      *) pv_c=$pv_rest pv_rest= pv_last=1 ;;
    esac
    case $pv_c in ''|.) continue ;; esac
    if [ -L "./$pv_c" ]; then
      pv_t=$(readlink -- "./$pv_c") || pv_t=
      pv_look "$pv_c" || return 1
      if [ "$2" = 0 ] || { [ "$2" = p ] && [ -n "$pv_last" ]; }; then
        if [ -n "$pv_last" ] && [ "$4" != 1 ]; then pv_name=$pv_c pv_link=$pv_t; return 0; fi
        pv_err="$pv_at/$pv_c is a symbolic link (to $pv_t)"; return 1
      fi
      pv_fields "$pv_st" || pv_u=
      if [ "$pv_u" != 0 ]; then
        pv_err="$pv_at/$pv_c is a symbolic link (to $pv_t) that a non-root user owns: not followed"
        return 1
      fi
      if pv_opened $pv_dir; then
        pv_err="$pv_at/$pv_c is a symbolic link (to $pv_t) in a directory a non-root user can write: not followed"
        return 1
      fi
      pv_n=$((pv_n + 1))
      if [ "$pv_n" -gt 40 ] || [ -z "$pv_t" ]; then pv_err="$pv_at/$pv_c: too many links"; return 1; fi
      case $pv_t in /*) cd / || return 1; pv_at= ;; esac
      pv_rest=${pv_t#/}${pv_rest:+/$pv_rest}
      continue
    fi
    if [ -n "$pv_last" ]; then
      # a read ($5 = r) of a name that is not there (nor a link: above) needs no stat: pv_st ""
      if [ "$5" = r ] && [ ! -e "./$pv_c" ]; then pv_name=$pv_c; return 0; fi
      # n: the caller stats it itself, with what else it reads (the journal's lock): pv_st ""
      if [ "$5" = n ] && [ "$4" != 1 ]; then pv_name=$pv_c; return 0; fi
      pv_look "$pv_c" || return 1
      if [ "$4" = 1 ]; then pv_closed || return 1; fi
      pv_name=$pv_c; return 0
    fi
    if [ ! -e "./$pv_c" ]; then
      [ -n "$3" ] || return 2
      mkdir -m "$3" -- "./$pv_c" 2>/dev/null || [ -d "./$pv_c" ] || { pv_err="cannot create $pv_at/$pv_c"; return 1; }
    fi
    if [ ! -d "./$pv_c" ]; then
      pv_look "$pv_c" || return 1; pv_fields "$pv_st" || pv_F=
      pv_err="$pv_at/$pv_c is not a directory ($pv_F)"; return 1
    fi
    cd -P "./$pv_c" 2>/dev/null || { pv_err="cannot enter $pv_at/$pv_c"; return 1; }
    if [ "$pv_c" = .. ]; then pv_at=${pv_at%/*}; else pv_at=$pv_at/$pv_c; fi
    if [ "$PWD" != "${pv_at:-/}" ]; then
      pv_err="$pv_at was replaced while it was entered (a symbolic link swapped in?)"; return 1
    fi
    pv_dirs=$pv_dirs$pv_nl${pv_at:-/}
  done
  pv_err="$1: no file name"; return 1
}
"""

# Replace a file (content on stdin, or a copy of SOURCE: rollback's restore, which keeps the
# backup's mode, owner and link-ness), through pv_walk. Refused: a link anywhere on the path
# (unless FOLLOW, and then only root's links in root-only directories), something not a regular
# file, a file with more than one hard link in a directory a non-root user can write (a link to
# a file elsewhere), content not the sha256 EXPECT ("-": no file), a state dir a non-root user can
# change. The old file is copied (cp -P: never through a link) into the private directory once;
# that copy is what is hashed and what goes to BACKUP. A temp directory a killed run left behind
# is removed only when root owns it (writes happen under the target's lock).
# Arguments: path mode owner:group backup-or-empty expect-or-empty follow(0/1) source-or-empty.
WRITE_SCRIPT = WALK + r"""
set -e
p=$1 mode=$2 owner=$3 backup=$4 expect=$5 follow=$6 source=$7
fail() { printf '%s\n' "$*" >&2; exit 4; }
umask 077
if [ -n "$source" ]; then
  pv_walk "$source" 0 "" 1 || fail "backup $source: ${pv_err:-it is missing}"
  source=$(pwd -P)/$pv_name
  [ -e "$source" ] || [ -L "$source" ] || fail "backup $source is missing"
fi
if [ -n "$backup" ]; then
  pv_walk "$backup" 0 700 1 || fail "backup $backup: $pv_err"
  backup=$(pwd -P)/$pv_name
fi
pv_walk "$p" "$follow" 755 0 || fail "$pv_err: $p not written"
b=$pv_name
[ -z "$pv_link" ] || fail "$p is a symbolic link (to $pv_link): not written" \
  "(follow: true writes through a link root owns in a directory only root can change)"
had=
if [ -n "$pv_st" ]; then  # the walk's lstat of it
  had=1
  pv_fields "$pv_st" || fail "cannot read $p"
  case $pv_F in
    "regular file"|"regular empty file") ;;
    *) fail "$p is a $pv_F, not a regular file: not written" ;;
  esac
  if [ "$pv_h" -gt 1 ] && pv_opened $pv_dir; then
    fail "$p has $pv_h hard links and a non-root user can write its directory" \
      "(a link to a file elsewhere?): not written"
  fi
fi
[ "$expect" != "-" ] || [ -z "$had" ] || fail "$p appeared since it was read: not overwritten"
for old in ./.*.provision-??????; do  # left by a killed run (root's own only)
  case $old in "./.$b.provision-"??????) ;; *) continue ;; esac
  if [ ! -L "$old" ] && [ "$(stat -c %u -- "$old")" = 0 ]; then rm -rf -- "$old"; fi
done
t=$(mktemp -d "./.$b.provision-XXXXXX")
id=$(stat -c '%d:%i:%u' -- "$t")
rc=0
(
  cd -P "$t" && [ "$(stat -c '%d:%i:%u' .)" = "$id" ] && [ "${id##*:}" = 0 ] || fail "cannot enter $t"
  if [ -n "$had" ]; then
    cp -pP -- "../$b" old
    if [ -n "$expect" ] && [ "$expect" != "-" ]; then
      [ -f old ] && [ ! -L old ] && [ "$(sha256sum < old | cut -d' ' -f1)" = "$expect" ] ||
        fail "$p changed since it was read: not overwritten"
    fi
    [ -z "$backup" ] || cp -pP -- old "$backup"
  elif [ -n "$expect" ] && [ "$expect" != "-" ]; then
    fail "$p changed since it was read (it is gone): not overwritten"
  fi
  if [ -n "$source" ]; then
    cp -pP -- "$source" new
  else
    cat > new
    chown "$owner" new
    chmod "$mode" new
  fi
  sync new 2>/dev/null || sync
  mv -f -T -- new "../$b"
  sync .. 2>/dev/null || true
) || rc=$?
rm -rf -- "$t"
exit $rc
"""

# Remove a file (a link: the link itself), through pv_walk (links among the parents only with
# FOLLOW, as above); the backup is a copy (cp -P: a link stays a link).
# Arguments: path backup-or-empty follow(0/1).
REMOVE_SCRIPT = WALK + r"""
set -e
p=$1 backup=$2 follow=$3
fail() { printf '%s\n' "$*" >&2; exit 4; }
umask 077
if [ -n "$backup" ]; then
  pv_walk "$backup" 0 700 1 || fail "backup $backup: $pv_err"
  backup=$(pwd -P)/$pv_name
fi
[ "$follow" = 1 ] && follow=p
rc=0; pv_walk "$p" "$follow" "" 0 || rc=$?
[ "$rc" != 2 ] || exit 0
[ "$rc" = 0 ] || fail "$pv_err: $p not removed"
b=$pv_name
[ -e "./$b" ] || [ -L "./$b" ] || exit 0
if [ -d "./$b" ] && [ ! -L "./$b" ]; then fail "$p is a directory: not removed"; fi
[ -z "$backup" ] || cp -pP -- "./$b" "$backup"
rm -f -- "./$b"
sync . 2>/dev/null || true
"""


class Process(ABC):
    """A command that keeps running while the caller talks to it (stdin, stdout): what holds a
    target's lock and takes its run journal for the length of a run."""

    @abstractmethod
    def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Its output up to and including ``marker``; raises ConnectError when it ends first or
        ``timeout`` passes."""

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Write to its stdin (raises ConnectError when it is gone)."""

    @abstractmethod
    def finish(self, timeout: float) -> int:
        """Close its stdin and wait for it to exit; its exit status (-1 when it did not exit)."""

    @abstractmethod
    def stderr(self) -> str:
        """What it wrote on stderr so far."""


class Connection(ABC):
    """A host. Subclasses implement ``_exec`` and ``_start``; everything else is built on them."""

    kind: str = "?"

    def __init__(self, label: str) -> None:
        self.label = label

    @abstractmethod
    def _exec(self, argv: Sequence[str], *, input: bytes | None, timeout: float | None,
              stream: Stream | None) -> CommandResult:
        """Run argv on the host with root privileges; stdin is ``input`` or empty (never a terminal)."""

    def _start(self, argv: Sequence[str]) -> Process:
        """Start argv on the host with root privileges, its stdin and stdout kept open."""
        raise ConnectError(f"{self.label}: this kind of connection cannot keep a command running")

    def run(self, argv: Sequence[str], *, input: bytes | None = None, timeout: float | None = None,
            stream: Stream | None = None) -> CommandResult:
        return self._exec(list(argv), input=input, timeout=timeout, stream=stream)

    def start(self, argv: Sequence[str]) -> Process:
        return self._start(list(argv))

    def check(self, argv: Sequence[str], *, what: str, input: bytes | None = None,
              timeout: float | None = None, stream: Stream | None = None) -> CommandResult:
        """Run and raise ResourceError with the command's last output lines when it fails."""
        result = self.run(argv, input=input, timeout=timeout, stream=stream)
        if not result.ok:
            raise ResourceError(f"{what} failed (exit {result.rc}): {result.tail() or 'no output'}")
        return result

    def write_file(self, path: str, data: bytes, *, mode: int = 0o644, owner: str = "0:0",
                   backup: str | None = None, expect: str | None = None, follow: bool = False) -> None:
        """Atomically replace ``path`` (owner as "user:group", names or ids), keeping a backup copy;
        refused through a link unless ``follow`` (and then only a link root owns in a directory
        only root can change).

        ``expect``: sha256 hex of the content the caller planned against ("-" = file absent); the
        write is refused if the file is different now.
        """
        self.check(["sh", "-c", WRITE_SCRIPT, "sh", path, f"{mode:o}", owner, backup or "", expect or "",
                    "1" if follow else "0", ""], what=f"writing {path}", input=data)

    def restore_file(self, path: str, source: str, *, follow: bool = False) -> None:
        """Replace ``path`` with a copy of the backup ``source`` (its mode and owner; a link comes
        back as a link), with the safety of write_file."""
        self.check(["sh", "-c", WRITE_SCRIPT, "sh", path, "", "", "", "", "1" if follow else "0", source],
                   what=f"restoring {path}")

    def remove_file(self, path: str, *, backup: str | None = None, follow: bool = False) -> None:
        """Remove ``path`` (a link: the link itself), keeping a backup copy; links among its parent
        directories are refused unless ``follow``, as for write_file."""
        self.check(["sh", "-c", REMOVE_SCRIPT, "sh", path, backup or "", "1" if follow else "0"],
                   what=f"removing {path}")

    def close(self) -> None:  # noqa: B027 - most connections have nothing to close
        pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def display(argv: Sequence[str]) -> str:
    """A readable one-line form of a command (long inline scripts are abbreviated)."""
    parts = []
    for a in argv:
        if "\n" in a:
            a = a.strip().splitlines()[0][:40] + " …"
        parts.append(a)
    return shlex.join(parts)
