"""The playbooks themselves, no target: ``list``, ``show``, ``validate``, ``schema``, ``init`` and
``export cloud-init``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from provision import __version__
from provision.cli.common import DEFAULT_PLAYBOOK, edge, fetch_options, load, playbooks_help
from provision.errors import UsageError
from provision.paths import builtin_playbooks, templates_dir
from provision.sanitise import echo

if TYPE_CHECKING:
    from provision.playbook import Playbook


@click.command("list", help="List the built-in playbooks, one line each.")
@edge
def list_playbooks() -> None:
    from provision import playbook as pbmod

    books = builtin_playbooks()
    width = max((len(n) for n in books), default=0)
    for name in books:
        pb = pbmod.load(name)
        echo(f"{name:<{width}}  {pb.description}", err=False)


@click.command("types", help="List the resource types playbooks can use (built-ins and installed plugins), "
               "one line each; with NAME, that type's documentation (keys, defaults, outputs, an "
               "example). A plugin that claims a built-in type's name is refused here.")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON on stdout.")
@edge
def types(name: str | None, as_json: bool) -> None:
    from provision.docgen import description, section
    from provision.registry import registry

    if name is not None:
        found = registry().get(name)
        if found is None:
            raise UsageError(f"no resource type {name!r}; known: {', '.join(sorted(registry()))}")
        if as_json:
            click.echo(json.dumps({"provision": __version__, "name": name, "module": found.__module__,
                                   "summary": found.summary, "schema": found.spec_type.model_json_schema()},
                                  indent=2))
        else:
            echo(section(found).strip("\n"), err=False)
        return
    rows = [(name, cls.__module__, description(cls).split("\n\n")[0].replace("\n", " "))
            for name, cls in registry().items()]
    if as_json:
        click.echo(json.dumps({"provision": __version__, "types": [
            {"name": n, "module": m, "summary": d} for n, m, d in rows]}, indent=2))
        return
    width = max((len(n) for n, _, _ in rows), default=0)
    for name, module, summary in rows:
        origin = "" if module.startswith("provision.resources.") else f"  [plugin: {module}]"
        echo(f"{name:<{width}}  {summary}{origin}", err=False)


def _show_text(pb: Playbook, ref: str) -> str:
    from provision.playbook.variables import show_value

    lines = [f"{pb.name}: {pb.description}" if pb.description else pb.name, f"  file: {pb.file}", "",
             "variables (-e name=value):"]
    for name, spec in pb.declared.items():
        default = json.dumps(spec.default) if not isinstance(spec.default, bool) else show_value(spec.default)
        lines.append(f"  {name}  ({spec.describe_type()}, default {default})")
        if spec.description:
            lines.append(f"      {spec.description}")
    if not pb.declared:
        lines.append("  (none)")
    lines += ["", "resources:"]
    for d in pb.resources:
        when = f"  when: {d.when}" if d.when is not None else ""
        lines.append(f"  {d.id} ({d.type}){': ' + d.name if d.name else ''}{when}")
    if pb.checks:
        lines += ["", "checks (provision verify):"] + [f"  {c.name}" for c in pb.checks]
    lines += ["", f"plan it: provision plan {ref}   apply it: provision apply {ref}"]
    return "\n".join(lines)


@click.command(help="Show a playbook: its variables (type, default, meaning), resources and checks.\n\n"
                  + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON on stdout.")
@edge
def show(playbook: str, as_json: bool) -> None:
    pb = load(playbook, ())
    if as_json:
        click.echo(json.dumps({"provision": __version__, "name": pb.name, "description": pb.description,
                               "file": pb.file,
                               "vars": {n: {"type": s.type, "default": s.default, "description": s.description,
                                            "choices": list(s.choices)} for n, s in pb.declared.items()},
                               "resources": [{"id": d.id, "type": d.type, "name": d.name, "when": d.when}
                                             for d in pb.resources],
                               "checks": [c.name for c in pb.checks]}, indent=2, default=str))
        return
    echo(_show_text(pb, playbook), err=False)


@click.command(help="Check a playbook completely (YAML, keys, types, variables, templates) without a "
                  "target; exit 0 when valid, 2 with the file:line and key of the first error.\n\n"
                  + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable (KEY=VALUE or @file.yml). Repeatable.")
@edge
def validate(playbook: str, extra: tuple[str, ...]) -> None:
    from provision.registry import registry

    registry()  # every installed type loads: a plugin claiming a built-in type's name is refused here
    pb = load(playbook, extra)
    echo(f"{playbook}: valid ({len(pb.resources)} resources, {len(pb.vars)} variables)")


@click.command(help="Print the JSON Schema of the playbook format (generated from the resource types), "
                  "for editors: see docs/playbooks.md.")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False), help="Write it here.")
@edge
def schema(output: str | None) -> None:
    from provision.playbook.schema import playbook_schema

    text = json.dumps(playbook_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    from provision.localfiles import write_atomically

    write_atomically(output, text.encode())
    echo(f"wrote {output}")


@click.command(help="Write a commented starter playbook.yml and inventory.yml (and the schema for "
                  "editors, provision-schema.json) into DIRECTORY (default: the current one). Files "
                  "that exist are left alone.")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@edge
def init(directory: str) -> None:
    from provision.localfiles import write_atomically
    from provision.playbook.schema import playbook_schema

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    files = {"playbook.yml": (templates_dir() / "init/playbook.yml").read_bytes(),
             "inventory.yml": (templates_dir() / "init/inventory.yml").read_bytes(),
             "provision-schema.json": (json.dumps(playbook_schema(), indent=2) + "\n").encode()}
    for name, data in files.items():
        path = target / name
        if path.exists():
            echo(f"kept {path} (it exists)")
            continue
        write_atomically(str(path), data)
        echo(f"wrote {path}")
    echo(f"next: provision validate {target / 'playbook.yml'}; provision plan {target / 'playbook.yml'}")


@click.group(help="Render a playbook for another engine, for hosts that provision themselves "
                  "(cloud-init), or a provisioned root as a WSL distribution to share (wsl-image).")
def export() -> None:
    pass


@export.command("cloud-init", help="Render PLAYBOOK as cloud-init user data (#cloud-config) for a target "
                "described by --facts (nothing is contacted). Each resource uses cloud-init's own modules "
                "where one fits (packages, write_files) and runcmd where none does; a resource that "
                "cannot be expressed faithfully is refused (exit 2). Check the result with "
                "'cloud-init schema --config-file FILE', prove a booted host with 'provision verify'. "
                "See docs/cloud-init.md.\n\n" + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable. Repeatable.")
@click.option("--facts", "facts_text_", required=True, metavar="os=…,arch=…,wsl=…",
              help="The target: os (debian-12, debian-13, ubuntu-22.04, ubuntu-24.04), arch (default "
                   "amd64), wsl (0, 1 or 2; default 0, or 2 with --wsl-instance).")
@click.option("-o", "--output", metavar="PATH", type=click.Path(),
              help="Write here (a directory with --wsl-instance) instead of stdout.")
@click.option("--wsl-instance", metavar="NAME",
              help="A new WSL instance's name: write NAME.user-data into %USERPROFILE%\\.cloud-init\\ "
                   "(found through WSL interop) or into -o DIR; implies wsl=2.")
@fetch_options
@edge
def export_cloud_init(playbook: str, extra: tuple[str, ...], facts_text_: str, output: str | None,
                      wsl_instance: str | None) -> None:
    from provision import cloudinit, wslfiles
    from provision.localfiles import write_atomically

    facts = cloudinit.parse_facts(facts_text_)
    if wsl_instance is not None:
        wslfiles.prepare_instance(wsl_instance, facts_text_, facts)
    pb = load(playbook, extra)
    text = cloudinit.export(pb, facts, instance=wsl_instance or "")
    dest = wslfiles.user_data_path(wsl_instance, output) if wsl_instance else output
    if dest is None:
        click.echo(text, nl=False)
        return
    # user data is a whole host's configuration: files that are 0600 on the host, passwords in
    # variables; it is written 0600 whatever the umask
    write_atomically(dest, text.encode(), private=True, hint="give a file name, or --wsl-instance NAME")
    echo(f"wrote {dest}")
    if wsl_instance:
        echo(wslfiles.instance_note(wsl_instance))

