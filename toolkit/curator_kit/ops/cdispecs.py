"""Read the CDI spec files of this machine's CDI directories; `core.pipeline.cdi` parses and judges them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from curator_kit.core.pipeline.cdi import SPEC_DIRS, SPEC_SUFFIXES, CdiInventory, read_inventory


def spec_files(dirs: tuple[str, ...]) -> tuple[list[tuple[str, str]], list[str]]:
    """(path, text) of every spec file in `dirs`, lowest priority first, by name within a directory; and the
    files that could not be read ("PATH: why")."""
    found, unreadable = [], []
    for directory in dirs:
        folder = Path(directory)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix not in SPEC_SUFFIXES or not path.is_file():
                continue
            try:
                found.append((str(path), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as error:
                unreadable.append(f"{path}: cannot be read ({getattr(error, 'strerror', None) or error})")
    return found, unreadable


def read_cdi_inventory(dirs: tuple[str, ...] = SPEC_DIRS) -> CdiInventory:
    files, unreadable = spec_files(dirs)
    inventory = read_inventory(files, dirs)
    return replace(inventory, problems=(*unreadable, *inventory.problems))
