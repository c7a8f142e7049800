"""Curator's built-in video stages as data, one table per Curator release (major.minor).

`curator_X_Y.toml` says how each built-in behaves in a pipeline; `curator_X_Y.fields.json` holds the
constructor fields and constants read from that release's installed package
(scripts/catalogue-fields.py). Supporting a new release is a new pair of files and a line in TABLES.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from curator_kit.core.parsers import parse_version
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    # Imported where a catalogue is built (`_load`): a manifest without built-ins needs only their names.
    from curator_kit.core.pipeline.catalogue.table import Catalogue

__all__ = ["TABLES", "catalogue_for", "nearest_catalogue"]

# Curator release (major, minor) -> the table's module name.
TABLES: dict[tuple[int, int], str] = {(1, 4): "curator_1_4"}
# The oldest release curator-kit generates code for (scaffold.CuratorTarget: Resources(nvdecs=) up to 1.1,
# Task(task_id=) up to 1.2); releases without a table of their own take the reader, the writer and
# [clipping] from the nearest one, which kept those classes.
OLDEST_RELEASE = (1, 1)


def _release(version: str) -> tuple[int, int]:
    return parse_version(version)[:2]


@cache
def _load(module_name: str) -> Catalogue:
    from curator_kit.core.pipeline.catalogue.table import load_table

    return load_table(module_name)


def catalogue_for(version: str) -> Catalogue:
    """The catalogue of exactly this Curator release: built-in entries name classes and fields of it."""
    release = _release(version)
    if release not in TABLES:
        known = ", ".join(f"{major}.{minor}" for major, minor in sorted(TABLES))
        raise CuratorKitError(
            f"curator-kit has no catalogue of built-in stages for nemo-curator {version} (it has {known})",
            "target a catalogued release in [project] curator_version, or use [[stages]] modules of your own",
        )
    return _load(TABLES[release])


def nearest_catalogue(version: str) -> Catalogue:
    """The catalogue of this release, else of the nearest one: for the reader, the writer and [clipping],
    which kept their classes and fields across the releases curator-kit targets."""
    release = _release(version)
    nearest = min(TABLES, key=lambda known: (abs(known[0] - release[0]), abs(known[1] - release[1])))
    return _load(TABLES[release if release in TABLES else nearest])


def _shown(release: tuple[int, int]) -> str:
    return f"{release[0]}.{release[1]}"


def check_release(version: str) -> None:
    """A release curator-kit targets: from OLDEST_RELEASE to the newest catalogued one (`init` asks, so a
    project never starts on a release that `add`, `stages --catalogue` and the spec would refuse later)."""
    from curator_kit.core.constants import DEFAULT_CURATOR_VERSION

    release, newest = _release(version), max(TABLES)
    if not OLDEST_RELEASE <= release <= newest:
        catalogued = ", ".join(_shown(known) for known in sorted(TABLES))
        raise CuratorKitError(
            f"nemo-curator {version} is not a release curator-kit supports: it supports {_shown(OLDEST_RELEASE)} "
            f"to {_shown(newest)} (built-in stages: {catalogued})",
            f"pass --curator-version {DEFAULT_CURATOR_VERSION}, or another release of those",
        )


@cache
def builtin_names() -> frozenset[str]:
    """Every built-in's name in every catalogued release: a project's own stage may not take one, or
    `--before transcoding` and the spec's listing would name two stages. (Asked of every stage each time
    a manifest is read: the tables are package data, so the answer is computed once, from the tables'
    keys: a manifest without built-ins never builds a catalogue.)"""
    from curator_kit.core.pipeline.catalogue.files import read_table

    return frozenset(name for module in TABLES.values() for name in read_table(module)["builtins"])
