"""``export wsl-image``: a root file system provisioned for WSL2 (the engine's apply, as
``provision apply PLAYBOOK -H chroot:ROOT --assume wsl=2`` runs it), given WSL's distribution
configuration and a first-start script (provision.wslimage), packed as WSL imports it
(provision.imagepack) and checked against Microsoft's checklist (provision.formats.wslimage);
``--lint-only FILE`` checks an existing image."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from provision.cli.common import DEFAULT_PLAYBOOK, Failure, Targets, edge, playbooks_help, prepared, recorded_command
from provision.errors import UsageError
from provision.sanitise import echo

SUFFIXES = (".wsl", ".tar.gz", ".tgz", ".tar")


def lint_file(path: str, label: str | None = None) -> int:
    """Print the findings for the image at ``path`` (shown as ``label``); the number of errors."""
    from provision.formats.wslimage import errors, lint, lint_format
    from provision.imagepack import read_archive

    members, files, head = read_archive(path)
    findings = lint_format(path, head) + lint(members, files)
    shown = label or path
    for f in findings:
        echo(f"{shown}: {f}")
    bad = len(errors(findings))
    warnings = len(findings) - bad
    echo(f"{shown}: {len(members)} members, {bad} error(s), {warnings} warning(s)")
    return bad


def _output(output: str, root: str) -> str:
    if not output.endswith(SUFFIXES):
        raise UsageError(f"-o {output}: the image's name ends in .wsl (wsl --install --from-file), or "
                         ".tar.gz / .tar (wsl --import)")
    out = Path(output)
    parent = out.parent.resolve()
    if not parent.is_dir():
        raise UsageError(f"-o {output}: no such directory {out.parent}")
    real_root = Path(root).resolve()
    if parent == real_root or real_root in parent.parents:
        raise UsageError(f"-o {output}: inside the root being packed")
    return str(parent / out.name)


def _icon(path: str | None) -> bytes | None:
    from provision.formats.wslimage import ICO_MAGIC, ICON_MAX

    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(ICON_MAX + 1)
    except OSError as exc:
        raise UsageError(f"--icon {path}: {exc.strerror}") from None
    if len(data) > ICON_MAX or not data.startswith(ICO_MAGIC):
        raise UsageError(f"--icon {path}: not a Windows .ico file of at most {ICON_MAX} bytes")
    return data


@click.command("wsl-image", help="Provision a root file system for WSL2 and pack it as a WSL distribution: "
               "PLAYBOOK applied to -H chroot:ROOT as 'provision apply PLAYBOOK -H chroot:ROOT --assume wsl=2' "
               "does, then /etc/wsl-distribution.conf and a first-start script that creates the default "
               "user (uid 1000, in sudo, [user] default in wsl.conf), packed as a gzip'd tar with numeric "
               "owners and no device nodes, and checked against Microsoft's checklist. -o NAME.wsl installs "
               "with 'wsl --install --from-file NAME.wsl' (WSL 2.4.4+); NAME.tar.gz with 'wsl --import'. "
               "With --lint-only FILE, only check an image. See docs/wsl.md.\n\n" + playbooks_help())
@click.argument("playbook", required=False, default=DEFAULT_PLAYBOOK)
@click.option("-H", "--host", "host", metavar="chroot:ROOT", help="The root file system to provision and pack.")
@click.option("-o", "--output", metavar="NAME.wsl", help="The image to write (.wsl, .tar.gz or .tar).")
@click.option("--name", "default_name", metavar="NAME",
              help="The distribution's default name ([oobe] defaultName; default: the output's name).")
@click.option("--icon", metavar="FILE.ico", type=click.Path(dir_okay=False),
              help="The Start menu icon ([shortcut] icon), a .ico file of at most 10 MB.")
@click.option("-e", "--extra-var", "extra", multiple=True, metavar="KEY=VALUE",
              help="Set a playbook variable. Repeatable.")
@click.option("-v", "--verbose", count=True, help="Show the output of long commands (apt).")
@click.option("-q", "--quiet", is_flag=True, help="Only print failures and the summary.")
@click.option("--lint-only", metavar="FILE", type=click.Path(dir_okay=False, exists=True),
              help="Only check the image FILE against the checklist (exit 1 on an error).")
@edge
def export_wsl_image(playbook: str, host: str | None, output: str | None, default_name: str | None,
                     icon: str | None, extra: tuple[str, ...], verbose: int, quiet: bool,
                     lint_only: str | None) -> None:
    if lint_only is not None:
        if host or output:
            raise UsageError("--lint-only checks an image: no -H or -o with it")
        if lint_file(lint_only):
            sys.exit(1)
        return
    if not host or not host.startswith("chroot:") or not output:
        raise UsageError("export wsl-image needs -H chroot:ROOT (a root file system) and -o NAME.wsl")
    root = str(Path(host[len("chroot:"):]).resolve())  # the root the admin named, links resolved once
    dest = _output(output, root)
    name = default_name or Path(dest).name.split(".")[0]
    from provision import wslimage

    wslimage.check_default_name(name)
    icon_data = _icon(icon)
    _apply(playbook, host, extra, verbose, quiet)
    _pack(root, dest, name, icon_data)


def _apply(playbook: str, host: str, extra: tuple[str, ...], verbose: int, quiet: bool) -> None:
    """The playbook applied to the root as a WSL2 distro, by the engine (as apply does)."""
    targets = Targets(hosts=(host,), inventory=None, limit=None, forks=1, ssh_config=None, known_hosts=None,
                      accept_new_host_keys=False, ask_become_pass=False, connect_timeout=15.0)
    with prepared(playbook, extra, targets) as (pb, hosts, connect):
        if len(hosts) != 1 or hosts[0].kind != "chroot":
            raise UsageError(f"-H {host}: export wsl-image packs one root file system (chroot:ROOT)")
        from provision import engine, interrupts
        from provision.plan import Mode
        from provision.report import ConsoleReporter

        options = engine.RunOptions(command=recorded_command(sys.argv[1:], extra), assume={"wsl": "2"})
        # the image starts with systemd once installed: no "restart required" (its install line follows)
        reporter = ConsoleReporter(hosts=1, diff=False, verbose=verbose, quiet=quiet, restarts=False)
        with interrupts.handled(options.stop, echo, reporter.running):
            try:
                results = engine.run(pb, hosts, Mode.APPLY, reporter, forks=1, connect=connect, options=options)
            finally:
                reporter.finish()
    if options.stop.is_set():
        echo("provision: interrupted: no image written")
        sys.exit(interrupts.EXIT_CODE)
    if any(r.failed for r in results):
        raise Failure(f"{pb.name} failed on {host}: no image written")


def _pack(root: str, dest: str, name: str, icon: bytes | None) -> None:
    from provision import imagepack, wslimage

    original = imagepack.read_in_root(root, "etc/wsl.conf")
    template = wslimage.wslconf_template(original)
    wslimage.check_template(original, template)
    extra = {wslimage.CONF_PATH.lstrip("/"): imagepack.Extra(wslimage.distribution_conf(name, icon=icon is not None)),
             wslimage.OOBE_PATH.lstrip("/"): imagepack.Extra(wslimage.oobe_script(original), 0o755),
             wslimage.WSLCONF_TEMPLATE_PATH.lstrip("/"): imagepack.Extra(template)}
    if icon is not None:
        extra[wslimage.ICON_PATH.lstrip("/")] = imagepack.Extra(icon)

    imagepack.check_parents(root, list(extra))

    def check(tmp: str) -> None:
        if lint_file(tmp, dest):
            raise Failure(f"the image breaks Microsoft's checklist (errors above): {dest} not written")

    packed = imagepack.pack(root, dest, extra, check)
    for what in packed.skipped or []:
        echo(f"left out: {what}")
    if packed.cached_debs:
        echo(f"left out: {packed.cached_debs} downloaded .deb files of /{imagepack.APT_CACHE} (as apt-get clean)")
    echo(f"wrote {dest} ({packed.members} members, {os.path.getsize(dest)} bytes, mode 0600: it holds the "
         "root's private files)")
    if dest.endswith(".wsl"):
        echo(f"install it on Windows (WSL 2.4.4+): wsl --install --from-file {Path(dest).name}  (or double-click it)")
    else:
        echo(f"import it on Windows: wsl --import {name} C:\\WSL\\{name} {Path(dest).name}; then, once, "
             f"wsl -d {name} -u root {wslimage.OOBE_PATH}  (wsl --import does not run the first-start setup "
             "on every WSL release)")
