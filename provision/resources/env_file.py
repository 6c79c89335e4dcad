"""Keys of /etc/environment (or another pam_env file), edited the way pam_env reads it.

This tool's line for a key (a ``# managed by provision`` comment above it) is edited in place;
otherwise its lines go right after the line pam_env applies now (pam_env applies the last one), or
at the end: above a continuation left open at the end of the file, or above a line pam_env stops
reading at. Every other line stays byte for byte, so ``state: absent`` gives the file back as it
was. Values pam_env would change (``#``, a newline, a carriage return, a NUL, a line of 8 KiB or
more) or that a shell sourcing the file would read differently (``$``, a backtick, a backslash, a
double quote) are refused, with the rule. ``state: absent`` removes only lines this tool wrote,
and only while they still hold the value given (a line someone changed since is left alone and
reported). The plan notes lines pam_env ignores or stops at, and where Debian 13's pam_env (1.7)
reads the file differently.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision import envdoctor
from provision.cloudconfig import CloudConfig
from provision.errors import NotExportable, ResourceError
from provision.facts import HOST, Fact, Facts, FileContent
from provision.formats import pamenv
from provision.java.checks import java_home_checks
from provision.plan import Change, Outputs, ResourcePlan, unified_diff, world_readable
from provision.resource import ApplyContext, Resource, Spec, absolute_path
from provision.verify.checks import Check, CheckEnv, Probe, env_value, read_file

# The edit as cloud-init's runcmd makes it at first boot (the file's content is not known before):
# for each key, nothing when pam_env already applies exactly our line (the last line setting the
# key), else our marked line is changed in place, else the marker and the line are appended. Other
# lines stay as they are; the file is replaced atomically with its mode and owner. Values were
# checked by pamenv.check_value (no quote, backslash, $, newline), so the line is literal.
_EDIT = r"""set -eu
f=$1; shift
[ -e "$f" ] || { : > "$f"; chmod 0644 "$f"; }
while [ $# -ge 2 ]; do
  k=$1 v=$2; shift 2
  line="$k=\"$v\""
  last=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$k=" "$f" | tail -n 1) || true
  [ "$last" = "$line" ] && continue
  t=$(mktemp "$f.provision.XXXXXX")
  awk -v k="$k" -v line="$line" -v marker='# managed by provision' '
    prev == marker && index($0, k "=") == 1 && !done { print line; done = 1; prev = $0; next }
    { print; prev = $0 }
    END { if (!done) { print marker; print line } }' "$f" > "$t"
  chmod --reference="$f" "$t"; chown --reference="$f" "$t"; mv -f "$t" "$f"
done
"""


class EnvFileSpec(Spec):
    path: str = Field("/etc/environment", description="The file (read by pam_env).")
    set: dict[str, str] = Field({}, max_length=1000, description="KEY: value pairs to set (at most 1000).")
    template: str | None = Field(None, description="A template rendering KEY=\"value\" lines, merged "
                                 "with set (e.g. environment.j2).")
    state: Literal["present", "absent"] = Field("present", description="Set the keys, or remove the "
                                                "lines this tool wrote for them.")
    prune: list[str] = Field([], max_length=100, description="Key patterns (fnmatch, e.g. JAVA_*_HOME): "
                             "lines this tool wrote for a matching key that is no longer set are removed "
                             "(a JDK taken off a list).")

    _abs = field_validator("path")(absolute_path)

    @field_validator("set")
    @classmethod
    def _pam(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            problem = pamenv.check_key(key) or pamenv.check_value(key, value)
            if problem:
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _something(self) -> EnvFileSpec:
        if not self.set and not self.template:
            raise ValueError("give 'set' (KEY: value) or 'template'")
        return self


def _reader_notes(path: str, data: bytes, secret: bool) -> list[str]:
    """What pam_env makes of the lines we do not manage: where it stops, what it ignores, and where
    Debian 13's pam_env (1.7) reads the file differently (without values when the file is secret)."""
    d = pamenv.diagnose(data)
    notes = [f"{path}:{no}: pam_env ignores this line" + ("" if secret else f": {why}") for no, why in d.ignored]
    if d.stop:
        notes.append(f"{path}:{d.stop_line}: pam_env stops reading here ({d.stop}): this line and every "
                     "line after it are ignored")
    if secret and d.differs17:
        keys = ", ".join(diff.split(":", 1)[0] for diff in d.differs17)
        notes.append(f"{path}: pam_env 1.7 (Debian 13) reads {keys} differently")
    elif d.differs17:
        notes += [f"{path}: pam_env 1.7 (Debian 13) reads {diff}" for diff in d.differs17]
    return notes


def _notes(path: str, keys: list[str], wsl: int) -> list[str]:
    if path != "/etc/environment":
        return []
    names = ", ".join(keys)
    notes = [f"new PAM sessions (ssh, console login, su -) see {names}; shells already open do not: "
             "log in again, or run: set -a; . /etc/environment; set +a"]
    if wsl:
        notes.append("WSL terminals do not go through PAM, so /etc/environment alone does not reach "
                     "them: a profile.d script does (login shells: wsl, VS Code, WSLg)")
    return notes


class EnvFile(Resource[EnvFileSpec, bytes]):
    type_name = "env_file"
    examiners = (envdoctor.EXAMINER,)
    spec_type = EnvFileSpec
    summary = "managed KEY=value lines in /etc/environment, following pam_env's rules"
    template_fields = ("template",)
    example = """\
- env_file:
    set:
      JAVA_HOME: "{{ jdk.home }}"
"""

    def label(self) -> str:
        return f"env_file {self.spec.path}"

    def wanted(self) -> dict[str, str]:
        s = self.spec
        wanted = dict(s.set)
        if s.template:
            reading = pamenv.read(self.render(s.template).encode())
            for e in reading.entries:
                if e.kind == "assign" and e.key is not None:
                    wanted[e.key] = e.value or ""
                elif e.kind not in ("blank", "comment"):
                    raise ResourceError(f"template {s.template} line {e.line_no}: not a KEY=\"value\" line"
                                        + (f" ({e.problem})" if e.problem else ""))
            if reading.stop:
                raise ResourceError(f"template {s.template} line {reading.stop_line}: {reading.stop}")
        if len(wanted) > 1000:
            raise ResourceError(f"{s.path}: {len(wanted)} keys; at most 1000 are managed in one file")
        for key, value in wanted.items():
            problem = pamenv.check_key(key) or pamenv.check_value(key, value)
            if problem:
                raise ResourceError(f"{s.path}: {problem}")
        return wanted

    def stale(self, data: bytes, wanted: dict[str, str]) -> list[str]:
        """Keys matching ``prune`` that this tool wrote and that are not wanted now."""
        entries = pamenv.read(data).entries
        return list(dict.fromkeys(
            e.key for i, e in enumerate(entries) if e.kind == "assign" and e.key is not None
            and e.key not in wanted and pamenv.marked(data, entries, i)
            and any(fnmatch.fnmatchcase(e.key, pat) for pat in self.spec.prune)))

    def facts(self, known: Facts) -> Iterable[Fact[object]]:
        return [FileContent(self.spec.path)]

    def plan(self, facts: Facts) -> ResourcePlan[bytes]:
        s = self.spec
        wanted = self.wanted()
        cur = facts.get(FileContent(s.path)).writable()
        before = cur.content if cur.exists else b""
        secret = cur.exists and not world_readable(cur.mode)  # other lines may be secrets: not shown

        def ours(line: bytes) -> bool:
            key = line.lstrip(b" \t").removeprefix(b"export ").split(b"=", 1)[0].decode("latin-1")
            return line.strip() == pamenv.MARKER or key in wanted
        if s.state == "present":
            stale: dict[str, str | None] = {k: None for k in self.stale(before, wanted)}
            pruned, removed, _ = pamenv.unset_keys(before, stale)
            try:
                after, actions = pamenv.set_keys(pruned, wanted)
                actions = removed + actions
            except ValueError as exc:
                raise ResourceError(f"{s.path}: {exc}; nothing was changed") from None
            env = pamenv.effective(after)
            bad = [k for k, v in wanted.items() if env.get(k) != v]
            if bad:  # cannot happen unless the editor is wrong: refuse rather than write
                raise ResourceError(f"internal check failed: {', '.join(bad)} would not read back")
            if after == before:
                where = {e.key: e.line_no for e in pamenv.read(before).entries if e.kind == "assign"}
                reason = "; ".join(f"{k} is already {v} (line {where.get(k)})" for k, v in wanted.items())
                return ResourcePlan([], reason, notes=_reader_notes(s.path, after, secret))
            now = pamenv.effective(before)
            states = [f"{k} is not set now" if k not in now else f"{k} is {now[k]!r} now"
                      for k, v in wanted.items() if now.get(k) != v]
            details = [a for a in actions if a not in {f"added {k}" for k in wanted}]
            title = f"set {', '.join(wanted)} in {s.path}"
            change = Change(title + (f", remove {', '.join(stale)}" if stale else ""), "; ".join(states + details),
                            unified_diff(s.path, cur.content if cur.exists else None, after, secret=secret,
                                         keep=ours),
                            done=title + (f", removed {', '.join(stale)}" if stale else ""))
            notes = _notes(s.path, list(wanted), facts.get(HOST).wsl.version) + \
                _reader_notes(s.path, after, secret)
            return ResourcePlan([change], notes=notes, data=after)
        after, actions, notes = pamenv.unset_keys(before, dict(wanted))
        if after == before:
            return ResourcePlan([], "; ".join(notes) or f"{', '.join(wanted)}: no line written by provision "
                                f"in {s.path}")
        change = Change(f"remove {', '.join(wanted)} from {s.path}", "; ".join(actions),
                        unified_diff(s.path, before, after, secret=secret, keep=ours),
                        done=f"removed {', '.join(wanted)} from {s.path}")
        return ResourcePlan([change], notes=notes, data=after)

    def apply(self, plan: ResourcePlan[bytes], ctx: ApplyContext) -> Outputs:
        cur = ctx.facts.get(FileContent(self.spec.path))
        ctx.write_file(self.spec.path, plan.payload(), mode=cur.mode if cur.exists else 0o644,
                       uid=cur.uid if cur.exists else 0, gid=cur.gid if cur.exists else 0)
        return {}

    def export(self, out: CloudConfig) -> Outputs:
        s = self.spec
        if s.state == "absent":
            raise NotExportable("state: absent (removing lines at first boot is not a first-boot job: "
                                "run provision apply over SSH)")
        wanted = self.wanted()
        out.run(["sh", "-c", _EDIT, "provision-env-file", s.path,
                 *[part for kv in wanted.items() for part in kv]])
        out.summary.append(f"{self.label()}: runcmd: sets {', '.join(f'{k}={v}' for k, v in wanted.items())} "
                           "by an idempotent edit "
                           "(the file's other lines are kept)")
        return {}

    def checks(self, rid: str, outputs: Outputs, env: CheckEnv) -> list[Check]:
        path = self.spec.path
        label = self.label()
        present = self.spec.state == "present"
        checks: list[Check] = []
        for key, value in self.wanted().items():
            def sets(probe: Probe, key: str = key, value: str = value) -> tuple[bool, str]:
                data = read_file(probe, path)
                got = env_value(data, key)
                if data is None:
                    return False, f"{path} does not exist (expected {key}={value})"
                if present:
                    if got is None:
                        return False, f"{key} is not set in {path} (expected {value})"
                    if got != value:
                        return False, f"{key} is {got} in {path}, expected {value}"
                    return True, f"{key}={value}"
                if got == value:
                    return False, f"{path} still sets {key}={value}"
                return True, f"{key} is {'not set' if got is None else got}"

            if not present:
                checks.append(Check(f"{rid}: {path} does not set {key}={value}", label, sets))
                continue
            checks.append(Check(f"{rid}: {path} sets {key}", label, sets))
            if key == "JAVA_HOME":
                checks += java_home_checks(rid, label, path, value, env)
        return checks
