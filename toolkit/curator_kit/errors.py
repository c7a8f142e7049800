"""The one error type the CLI turns into a single line and a non-zero exit."""

from __future__ import annotations


class CuratorKitError(Exception):
    """A problem the user can fix: `message` names it, `fix` says how."""

    exit_code = 1

    def __init__(
        self, message: str, fix: str | None = None, details: tuple[str, ...] = (), code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        # Context printed above the one-line error, e.g. the tail of a failed build step.
        self.details = details
        # A refusal from a check (core.findings.Code): the same problem has the same code on every target.
        self.code = code

    def one_line(self) -> str:
        line = f"{self.message} -- {self.fix}" if self.fix else self.message
        return f"{line} [{self.code}]" if self.code else line
