"""How every command talks: progress and notes on stderr, results and tables on stdout."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from curator_kit.core.atomicfile import write_text_atomically
from curator_kit.errors import CuratorKitError

F = TypeVar("F", bound=Callable[..., Any])


def say(message: str, colour: str | None = "cyan") -> None:
    """A line about the work (plans, notes, warnings) on stderr, so stdout stays the command's result."""
    click.secho(message, fg=colour, err=True)


def echo_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows as left-aligned columns, the first row the header; trailing spaces trimmed."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# Where a command finds its project: `--project DIR`, else the nearest directory holding curator-kit.toml.
PROJECT_DIR = click.Path(path_type=Path, file_okay=False)


def project_option(name: str = "project") -> Callable[[F], F]:
    """The `--project` option every project command takes, under the parameter name the command uses."""
    return click.option(
        "--project",
        name,
        type=PROJECT_DIR,
        help="Project directory [default: the one holding curator-kit.toml, from here up].",
    )


def _folder_problem(path: Path) -> CuratorKitError | None:
    folder = path.parent
    if folder.is_dir():
        return None
    why = "is not a folder" if folder.exists() else "does not exist"
    return CuratorKitError(
        f"cannot write {path}: the folder {folder} {why}",
        f"create it first (mkdir -p {folder}) or give -o a file in an existing folder",
    )


class OutputFile(click.Path):
    """`-o FILE` of a command that prints a result (dockerfile, spec, export): refused at once, before any
    work, when FILE's folder is missing; `write_output` writes it."""

    def __init__(self) -> None:
        super().__init__(path_type=Path, dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        if (problem := _folder_problem(Path(path))) is not None:
            raise problem
        return path


OUTPUT_FILE = OutputFile()
OUTPUT_FILE_MODE = 0o644  # what `>` makes under the usual umask 022: a result to read and share
SECRET_FILE_MODE = 0o600  # a result that holds a credential (a generated token): the user's alone


def emit(text: str, output: Path | None, wrote: str = "", mode: int = OUTPUT_FILE_MODE) -> None:
    """A command's result: on stdout, or into `-o FILE` (whole or not at all, with `mode` from its first
    byte), saying so on stderr with `wrote` after the file's name (what it is, how to use it)."""
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text, mode)
    click.echo(f"wrote {output}{f' ({wrote})' if wrote else ''}", err=True)


def write_output(path: Path, text: str, mode: int = OUTPUT_FILE_MODE) -> None:
    """A command's result written to `-o FILE`, whole or not at all (a file renamed over it), or one
    error line: never a traceback, never half a file."""
    if (problem := _folder_problem(path)) is not None:
        raise problem
    try:
        write_text_atomically(path, text, mode)
    except OSError as error:
        raise CuratorKitError(
            f"cannot write {path}: {error.strerror}", "give -o a file in a folder you can write"
        ) from None
