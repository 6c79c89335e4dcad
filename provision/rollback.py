"""``provision history`` and ``provision rollback``: the runs recorded on a target, and undoing one.

A rollback reads the run's journal (provision.journal) and the host as it is now, then, under the
target's lock and with a journal of its own:

- gives every file the run wrote back its content from before the run, byte for byte, with its
  mode and owner (the run's backup), or removes it when the run created it; a file changed since
  the run is left alone and reported (``--force`` restores it anyway);
- purges exactly the packages the run installed, dependencies included, as apt's own history log
  recorded them for that run (``-o provision::run=<id>``; for an apt cut short, those of its list
  dpkg's log shows installed before the next apt run), and nothing when that record is missing
  (saying so); the removal is simulated first, and anything else apt would remove is refused
  unless allowed;
- installs again the packages the run removed that are not installed now (a JDK taken off a
  list: the lines and toolchain its files get back name it);
- points the alternatives the run changed back where they were.

It works for an interrupted run too: the journal is written as a run goes.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from provision.connections.base import Connection, display
from provision.errors import ProvisionError, ResourceError, UsageError
from provision.facts import DPKG, HOST, Fact, HostFacts, PackageState, gather
from provision.journal import STATE_DIR, Event, RunStatus, Session, new_run_id
from provision.packaging import apt_get
from provision.plan import Change, Status
from provision.results import HostResult, ResourceResult

_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9]+)?$")  # Debian policy 5.6.1, an :arch

_RUNS = r"""
for f in $(ls -1t @DIR@/runs/*.jsonl 2>/dev/null); do
  echo "run $(basename "$f" .jsonl)"
  sed 's/^/j /' "$f"
done
"""


@dataclass
class Run:
    run_id: str
    entries: list[dict[str, object]]

    def _first(self, event: Event) -> dict[str, object]:
        return next((e for e in self.entries if e.get("event") == event), {})

    @property
    def start(self) -> dict[str, object]:
        return self._first(Event.START)

    @property
    def status(self) -> str:
        """A RunStatus, or what an unknown journal says (shown as it is)."""
        end = [e for e in self.entries if e.get("event") == Event.END and "resource" not in e]
        return str(end[-1].get("status", "?")) if end else str(RunStatus.INTERRUPTED)

    @property
    def rollback_of(self) -> str:
        return str(self.start.get("rollback_of") or "")

    def changes(self) -> list[str]:
        out: list[str] = []
        for e in self.entries:
            if e.get("event") == Event.BEGIN:
                listed = e.get("changes")
                out += [str(c) for c in listed] if isinstance(listed, list) else []
        return out

    def files(self) -> dict[str, FileUndo]:
        """Per path the run touched: its state before the run and what the run left."""
        out: dict[str, FileUndo] = {}
        for e in self.entries:
            path = str(e.get("path", ""))
            if e.get("event") == Event.WRITE:
                undo = out.setdefault(path, FileUndo(path, _text(e.get("backup")), bool(e.get("created"))))
                undo.left = str(e.get("sha256") or "")
                undo.follow = undo.follow or bool(e.get("follow"))
            elif e.get("event") == Event.REMOVE:
                undo = out.setdefault(path, FileUndo(path, _text(e.get("backup")), False))
                undo.left = "absent"
                undo.follow = undo.follow or bool(e.get("follow"))
        return out

    def undo_commands(self) -> list[tuple[list[str], str]]:
        """The commands the run recorded to undo its command-made changes (argv, what), in order."""
        out: list[tuple[list[str], str]] = []
        for e in self.entries:
            argv = e.get("argv")
            if e.get("event") == Event.UNDO and isinstance(argv, list) and argv:
                out.append(([str(a) for a in argv], str(e.get("what") or display(argv))))
        return out

    def removed_packages(self) -> list[str]:
        """The packages the run removed (apt-get remove/purge), in order; a name that is not a
        package name (an option, say) is left out: it never reaches apt's command line."""
        out: list[str] = []
        for e in self.entries:
            listed = e.get("packages")
            if e.get("event") == Event.REMOVE_PACKAGES and isinstance(listed, list):
                out += [n for n in listed if isinstance(n, str) and _PACKAGE.match(n) and n not in out]
        return out

    def alternatives(self) -> dict[str, str]:
        previous: dict[str, str] = {}
        for e in self.entries:
            if e.get("event") == Event.ALTERNATIVES:
                was = e.get("previous")
                for name, link in (was.items() if isinstance(was, dict) else ()):
                    previous.setdefault(str(name), str(link))
        return previous

    def summary(self) -> dict[str, object]:
        s = self.start
        return {"run_id": self.run_id, "time": s.get("time"), "playbook": s.get("playbook"),
                "status": self.status, "rollback_of": self.rollback_of or None, "changes": self.changes()}


@dataclass
class FileUndo:
    path: str
    backup: str | None  # the file before the run (None: it did not exist)
    created: bool
    left: str = ""  # sha256 of what the run wrote, "absent" when it removed the file
    follow: bool = False  # the run wrote through a link (root's): restored through it, the link kept


@dataclass(frozen=True)
class RunJournals(Fact[list[Run]]):
    """Every run recorded on the target, newest first."""

    def command(self) -> str:
        return _RUNS.replace("@DIR@", shlex.quote(STATE_DIR))

    def parse(self, lines: list[str]) -> list[Run]:
        runs: list[Run] = []
        for line in lines:
            if line.startswith("run "):
                runs.append(Run(line[4:].strip(), []))
            elif line.startswith("j ") and runs:
                try:
                    runs[-1].entries.append(json.loads(line[2:]))
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill: the rest of the journal still counts
        return runs

    def describe(self) -> str:
        return "run journals"


# A path the run wrote may be a user's: it is hashed only when it is a regular file, at most its
# first 16 MiB (more than any file a run writes), opened O_NONBLOCK; a FIFO, device, socket or
# dangling link there is "other" (changed since the run), never opened.
_STATE = r"""
run=$1; shift
for p in "$@"; do
  if [ -f "$p" ]; then
    echo "file $(timeout 60 dd if="$p" iflag=nonblock bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1) $p"
  elif [ -e "$p" ] || [ -L "$p" ]; then echo "file other $p"
  else echo "absent - $p"; fi
done
logs() { for f in $(ls "$1".*.gz 2>/dev/null | sort -t. -k3,3nr) "$1.1" "$1"; do zcat -f "$f" 2>/dev/null; done; }
# apt's stanzas tagged with this run; one apt cut short (no End-Date) is followed by the start of
# the next apt run, which bounds what it can have installed
hist=$(logs /var/log/apt/history.log | awk -v tag="provision::run=$run" '
  /^Start-Date:/ { if (keep) { printf "%s", blk; print "Next-Start-Date: " substr($0, 13) } blk = ""; keep = 0 }
  { blk = blk $0 "\n" }
  /^Commandline:/ && (index($0, tag " ") || substr($0, length($0) - length(tag) + 1) == tag) { keep = 1 }
  /^End-Date:/ { if (keep) printf "%s", blk; keep = 0 }
  END { if (keep) printf "%s", blk }')
printf '%s\n' "$hist" | sed '/^$/d; s/^/history /'
from=$(printf '%s\n' "$hist" | sed -n 's/^Start-Date: *//p' | head -n 1 | tr -s ' ')
if [ -n "$from" ]; then  # dpkg's first installs since then, and how far its log goes
  logs /var/log/dpkg.log | awk -v from="$from" '$3 == "install" && ($1 " " $2) >= from' | sed 's/^/dpkg /'
  tail -n 1 /var/log/dpkg.log 2>/dev/null | cut -d' ' -f1,2 | sed 's/^/dpkg-last /'
fi
"""


def _text(value: object) -> str | None:
    """A journal's string value, or None."""
    return value if isinstance(value, str) and value else None


@dataclass
class HostNow:
    files: dict[str, str] = field(default_factory=dict)  # path → sha256, or "absent"
    apt: list[str] = field(default_factory=list)  # the run's stanzas of apt's history log
    dpkg: list[str] = field(default_factory=list)  # dpkg.log's install lines since the first stanza
    dpkg_last: str = ""  # the time of dpkg.log's last line


@dataclass(frozen=True)
class RunState(Fact[HostNow]):
    """The files a run touched, as they are now, and what apt and dpkg logged about it."""

    run_id: str
    paths: tuple[str, ...]

    topics: ClassVar[frozenset[str]] = frozenset({DPKG})

    def command(self) -> str:
        args = " ".join(shlex.quote(a) for a in (self.run_id, *self.paths))
        return f"set -- {args}\n" + _STATE

    def parse(self, lines: list[str]) -> HostNow:
        now = HostNow()
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind in ("file", "absent"):
                sha, _, path = rest.partition(" ")
                now.files[path] = sha if kind == "file" else "absent"
            elif kind == "history":
                now.apt.append(rest)
            elif kind == "dpkg":
                now.dpkg.append(rest)
            elif kind == "dpkg-last":
                now.dpkg_last = rest.strip()
        return now

    def describe(self) -> str:
        return f"state of run {self.run_id}"


@dataclass
class Stanza:
    """One apt run in apt's history log."""

    start: str = ""
    end: str = ""  # End-Date: apt finished (empty: it was cut short)
    next_start: str = ""  # when cut short, the start of the next apt run
    error: bool = False
    install: list[str] = field(default_factory=list)


def _when(text: str) -> str:
    return " ".join(text.split())  # "2026-12-01  22:06:01" (apt) → "2026-12-01 22:06:01" (dpkg)


def stanzas(lines: list[str]) -> list[Stanza]:
    out: list[Stanza] = []
    for line in lines:
        key, _, value = line.partition(": ")
        if key == "Start-Date":
            out.append(Stanza(start=_when(value)))
        elif not out:
            continue
        elif key == "End-Date":
            out[-1].end = _when(value)
        elif key == "Next-Start-Date":
            out[-1].next_start = _when(value)
        elif key == "Error":
            out[-1].error = True
        elif key == "Install":
            out[-1].install += [item.split(":")[0] for item in re.findall(r"([^\s,(]+) \([^)]*\)", value)]
    return out


def installed_by(run: Run, now: HostNow) -> tuple[list[str], str]:
    """The packages the run installed (dependencies included), from its own stanzas of apt's
    history log (``-o provision::run=<id>``), and why they cannot be known (then: none).

    apt writes a stanza's Start-Date, Commandline and Install lines when it starts dpkg, and its
    End-Date when dpkg is done (apt-pkg/deb/dpkgpm.cc, OpenLog and CloseLog). A stanza without an
    End-Date (apt killed), or with an Error, lists what that apt meant to install: of those, the
    run installed the ones dpkg's log shows installed for the first time between the stanza's
    start and its end (else the next apt run's start). Nothing else is guessed: a package the
    admin installed later is never the run's."""
    asked = any(e.get("event") == Event.INSTALL for e in run.entries)
    found = stanzas(now.apt)
    if not found:
        if not asked:
            return [], ""
        return [], (f"cannot tell which packages run {run.run_id} installed: apt's history log has no entry "
                    f"tagged provision::run={run.run_id} (apt stopped before installing anything, or the log "
                    "was removed); no package is purged")
    names: set[str] = set()
    for st in found:
        if st.end and not st.error:
            names.update(st.install)
            continue
        if not now.dpkg_last or now.dpkg_last < st.start:
            return [], (f"cannot tell which packages run {run.run_id} installed: its apt run of {st.start} was "
                        "cut short and dpkg's log does not cover it; no package is purged")
        until = st.end or st.next_start or "9999"
        for line in now.dpkg:  # "2026-12-01 22:06:01 install pkg:amd64 <none> 17.0.21"
            parts = line.split()
            if (len(parts) >= 5 and st.start <= f"{parts[0]} {parts[1]}" <= until and parts[2] == "install"
                    and parts[4] == "<none>" and parts[3].split(":")[0] in st.install):
                names.add(parts[3].split(":")[0])
    return sorted(names), ""


@dataclass
class Step:
    label: str  # what it is about: a path, "packages", "alternatives"
    summary: str  # what it does
    reason: str
    apply: Callable[[], None] | None  # None: nothing to do (a note)
    done: str = ""  # the step as made, for the report


def choose(runs: list[Run], run_id: str | None) -> Run:
    """The run to undo: ``run_id``, else the newest run that changed something and was not undone."""
    if run_id:
        found = next((r for r in runs if r.run_id == run_id), None)
        if found is None:
            known = ", ".join(r.run_id for r in runs[:5]) or "none"
            raise UsageError(f"--run {run_id}: no such run on this target (recent: {known})")
        return found
    undone = {r.rollback_of for r in runs if r.rollback_of}
    for r in runs:  # newest first
        if not r.rollback_of and r.run_id not in undone and r.changes():
            return r
    raise UsageError("no run to roll back on this target (provision history lists them)")


def plan(conn: Connection, session: Session, run: Run, *, force: bool, allow_extra: bool,
         lock_timeout: int) -> list[Step]:
    """The steps that undo ``run`` (pure but for the reads of the host state)."""
    files = run.files()
    now = next(v for v in gather(conn, [RunState(run.run_id, tuple(files))]).values())
    assert isinstance(now, HostNow)
    steps: list[Step] = []
    for path, undo in reversed(list(files.items())):
        current = now.files.get(path, "absent")
        if current != undo.left and not force:
            steps.append(Step(path, f"leave {path}", "it changed since the run (--force restores it anyway)",
                              None))
            continue
        if undo.backup:
            steps.append(Step(path, f"restore {path}", "as it was before the run (from its backup)",
                              _restore(conn, session, path, undo.backup, undo.follow), f"restored {path}"))
        elif undo.created:
            steps.append(Step(path, f"remove {path}", "the run created it",
                              _remove(conn, session, path, undo.follow), f"removed {path}"))
    for argv, what in reversed(run.undo_commands()):
        steps.append(Step("command", what, f"the run recorded it to undo a change: {display(argv)}",
                          _command(conn, session, argv, what), f"{what} (done)"))
    packages, unknown = installed_by(run, now)
    if unknown:
        steps.append(Step("packages", "leave the packages installed", unknown, None))
    if packages:
        states = gather(conn, [PackageState(p) for p in packages])
        present = [p for p in packages if str(getattr(states.get(PackageState(p)), "status", "un"))[:1]
                   in ("i", "h", "r")]
        if present:
            sim = conn.run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "purge", *present], timeout=300)
            removed = re.findall(r"^(?:Purg|Remv) (\S+)", sim.out, re.M)
            extra = sorted(set(removed) - set(present))
            if extra and not allow_extra:
                raise ResourceError(f"purging the {len(present)} package(s) the run installed would also "
                                    f"remove {', '.join(extra)}, which other software needs; nothing was "
                                    "changed (--allow-extra-removals to remove them too)")
            steps.append(Step(f"{len(present)} package(s)", f"purge {' '.join(present)}",
                              f"the run installed them ({len(present)} package(s), dependencies included, "
                              "from apt's history log)",
                              _purge(conn, session, present, lock_timeout), f"purged {' '.join(present)}"))
    removed = run.removed_packages()
    if removed:  # put back what the run removed (a JDK taken off a list): its files were restored
        states = gather(conn, [PackageState(p) for p in removed])
        gone = [p for p in removed if str(getattr(states.get(PackageState(p)), "status", "un"))[:1] not in ("i", "h")]
        if gone:
            steps.append(Step("packages", f"install {' '.join(gone)}", "the run removed them",
                              _install(conn, session, gone, lock_timeout), f"installed {' '.join(gone)}"))
    previous = {k: v for k, v in run.alternatives().items() if v}
    if previous:
        back = ", ".join(f"{k} → {v}" for k, v in previous.items())
        steps.append(Step("alternatives", f"point the alternatives back: {back}", "the run changed them",
                          _alternatives(conn, session, previous), f"pointed the alternatives back: {back}"))
    return steps


def _restore(conn: Connection, session: Session, path: str, backup: str, follow: bool) -> Callable[[], None]:
    def do() -> None:  # the apply's write primitive: no link followed but the run's own, no fixed names
        session.record({"event": Event.RESTORE, "path": path, "backup": backup})
        conn.restore_file(path, backup, follow=follow)
    return do


def _remove(conn: Connection, session: Session, path: str, follow: bool) -> Callable[[], None]:
    def do() -> None:
        session.record({"event": Event.REMOVE, "path": path, "backup": None})
        conn.remove_file(path, follow=follow)
    return do


def _command(conn: Connection, session: Session, argv: list[str], what: str) -> Callable[[], None]:
    def do() -> None:
        session.record({"event": Event.UNDONE, "argv": argv, "what": what})
        conn.check(argv, what=what, timeout=600)
    return do


def _purge(conn: Connection, session: Session, packages: list[str], lock_timeout: int) -> Callable[[], None]:
    def do() -> None:
        session.record({"event": Event.REMOVE_PACKAGES, "packages": packages, "purge": True})
        conn.check(apt_get("purge", *packages, lock_timeout=lock_timeout, run_id=session.run_id),
                   what="apt-get purge", timeout=lock_timeout + 900)
    return do


def _install(conn: Connection, session: Session, packages: list[str], lock_timeout: int) -> Callable[[], None]:
    def do() -> None:
        session.record({"event": Event.INSTALL, "packages": packages, "apt_tag": f"provision::run={session.run_id}"})
        conn.check(apt_get("install", "--no-install-recommends", *packages, lock_timeout=lock_timeout,
                           run_id=session.run_id), what="apt-get install", timeout=lock_timeout + 1800)
    return do


def _alternatives(conn: Connection, session: Session, previous: dict[str, str]) -> Callable[[], None]:
    def do() -> None:
        script = "\n".join(f"[ -e {shlex.quote(v)} ] && update-alternatives --set {shlex.quote(k)} "
                           f"{shlex.quote(v)} >/dev/null" for k, v in previous.items())
        conn.run(["sh", "-c", script + "\ntrue"])
    return do


@dataclass
class UndoOptions:
    run_id: str | None = None
    check: bool = False
    force: bool = False
    allow_extra_removals: bool = False
    lock_timeout: float = 300.0
    command: str = "provision rollback"
    stop: threading.Event | None = None  # set (an interrupt): the wait for the target's lock ends


def undo(conn: Connection, host: str, options: UndoOptions, progress: Callable[[str], None]) -> HostResult:
    """Roll back one run on a connected target; the result reads like an apply's."""
    started = time.monotonic()
    result = HostResult(host)
    runs = next(v for v in gather(conn, [RunJournals()]).values())
    assert isinstance(runs, list)
    run = choose(runs, options.run_id)
    session, values = Session.open(conn, new_run_id(), [HOST], command=options.command, progress=progress,
                                   lock_timeout=options.lock_timeout, prune=not options.check,
                                   protect=run.run_id, stop=options.stop)
    facts_host = values.get(HOST)
    result.facts = facts_host.summary() if isinstance(facts_host, HostFacts) else {}
    session.header = {"rollback_of": run.run_id, "playbook": run.start.get("playbook"), "host": host}
    status = RunStatus.FAILED
    try:
        steps = plan(conn, session, run, force=options.force, allow_extra=options.allow_extra_removals,
                     lock_timeout=int(options.lock_timeout))
        if not steps:
            result.resources.append(ResourceResult("rollback", "rollback", f"rollback of {run.run_id}",
                                                   Status.OK, "nothing of that run is left to undo"))
        for step in steps:
            res = ResourceResult("rollback", "rollback", step.label, Status.CHANGED, step.reason,
                                 [Change(step.summary, step.reason, done=step.done)])
            result.resources.append(res)
            if step.apply is None:
                res.status, res.changes = Status.SKIPPED, []
                continue
            if options.check:
                continue
            session.record({"event": Event.BEGIN, "resource": "rollback", "label": step.label,
                            "changes": [step.summary]})
            try:
                step.apply()
            except ProvisionError as exc:
                res.status, res.reason = Status.FAILED, str(exc)
                result.failed, result.error = True, f"{step.summary}: {exc}"
                session.record({"event": Event.END, "resource": "rollback", "status": Status.FAILED})
                break
            session.record({"event": Event.END, "resource": "rollback", "status": Status.CHANGED})
        status = RunStatus.FAILED if result.failed else RunStatus.COMPLETE
    finally:
        session.close(status)
        if session.started:
            result.run_id = session.run_id
        result.duration = time.monotonic() - started
    return result
