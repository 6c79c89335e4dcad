"""The library's exception tree. The CLI turns these into messages and exit codes at the edge."""

from __future__ import annotations


class ProvisionError(Exception):
    """Base of every error this tool raises on purpose."""


class PlaybookError(ProvisionError):
    """The playbook (or a variable given to it) is invalid. Nothing was changed. Exit code 2."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class ConnectError(ProvisionError):
    """A host could not be reached or entered."""


class BecomeError(ProvisionError):
    """A host was reached but root privileges could not be had (sudo missing, password wrong)."""


class FactError(ProvisionError):
    """Facts could not be gathered or understood."""


class ResourceError(ProvisionError):
    """A resource could not reach its desired state on a host (or refused to, for safety)."""


class NotExportable(ProvisionError):
    """This resource cannot be expressed faithfully as cloud-init user data (``Resource.export``)."""


class UsageError(ProvisionError):
    """Bad command-line input (a target, a variable). Nothing was changed. Exit code 2."""


class Interrupted(ProvisionError):
    """An interrupt (Ctrl-C, SIGTERM) stopped a wait or a render: nothing more was done. Exit code 130."""

    exit_code = 130
