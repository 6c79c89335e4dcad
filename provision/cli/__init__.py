"""The command line: the ``provision`` group, its global options, and ``main``.

One module per command group: ``run`` (plan, apply), ``state`` (rollback, history), ``inspect``
(facts, doctor, verify) and ``catalog`` (list, show, validate, schema, init, export); what they
share (the target options, errors as exit codes) is in ``common``. Library errors become
one-line messages and exit codes there, and only there.
"""

from __future__ import annotations

import atexit
import io
import os
import signal
import sys

import click

from provision import __version__, colour
from provision.cli import catalog, image, inspect, run, state
from provision.cli.common import DEFAULT_PLAYBOOK, BadInput, Failure, Targets, edge, parse_assume, recorded_command
from provision.cli.inspect import facts_text
from provision.sanitise import echo

__all__ = ["DEFAULT_PLAYBOOK", "BadInput", "Failure", "Targets", "cli", "edge", "facts_text",
           "hoist_global_options", "main", "parse_assume", "recorded_command"]


@click.group(help="Turn this machine, a root file system or many hosts into a ready Java development "
                  "host, from declarative YAML playbooks, and prove the result.\n\n"
                  "Quick start: 'provision plan' shows what the default playbook would change on this "
                  "machine; 'provision apply' does it.")
@click.version_option(__version__, prog_name="provision")
@click.option("--debug", is_flag=True, help="Show a traceback on internal errors (also after the command).")
@click.option("--color", "--colour", "color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colour on a terminal only, never with NO_COLOR or TERM=dumb (auto); "
                                      "always; never. Also after the command.")
def cli(debug: bool, color: str) -> None:
    colour.set_mode(color)


for command in (run.plan, run.apply, state.rollback, state.history, inspect.doctor, inspect.verify,
                inspect.facts, catalog.list_playbooks, catalog.types, catalog.show, catalog.validate, catalog.schema,
                catalog.init, catalog.export):
    cli.add_command(command)
catalog.export.add_command(image.export_wsl_image)

GLOBAL_FLAGS = ("--debug",)
GLOBAL_VALUED = ("--color", "--colour")


def hoist_global_options(argv: list[str]) -> list[str]:
    """``provision apply --debug`` means ``provision --debug apply``: the global options are
    accepted after the command too (never after ``--``)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_FLAGS or arg.split("=", 1)[0] in GLOBAL_VALUED and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    # pydantic looks for its plugins among every installed package's entry points when the first
    # model is built: a fifth of a run's start-up, for plugins a command-line tool does not use.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # SIGTERM stops a command as Ctrl-C does (exit 130): at once, wherever it is, except in a run,
    # where provision.interrupts takes both signals over (after the current step).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        rv = cli.main(args=hoist_global_options(sys.argv[1:]), prog_name="provision", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.ClickException as exc:
        show_click_error(exc)
        code = exc.exit_code
    except click.Abort:
        echo("Aborted!")
        code = 1
    except SystemExit as exc:
        if isinstance(exc.code, str):
            echo(exc.code)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    _leave(code)


def show_click_error(exc: click.ClickException) -> None:
    """A usage error as click words it (the usage line, the hint, the error), escaped like every
    other line: it may quote an argument, a file name or a value taken from a playbook."""
    buffer = _Terminal()
    exc.show(file=buffer)
    text = buffer.getvalue().rstrip("\n")
    if text:
        echo(text)


class _Terminal(io.StringIO):
    """Text bound for the terminal: click leaves what it writes here as it is (it strips CSI
    sequences from other files), so that they are shown escaped rather than dropped."""

    def isatty(self) -> bool:
        return True


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown (freeing every object of a process that is about
    to end takes tens of milliseconds): the exit handlers run and the output is flushed first."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)

