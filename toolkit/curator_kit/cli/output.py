"""How every command talks: progress and notes on stderr, results and tables on stdout."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

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
