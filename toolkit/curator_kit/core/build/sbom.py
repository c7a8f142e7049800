"""An image's SBOM as curator-kit reads it back: the CycloneDX document `base-images/sbom.py` wrote at
`constants.SBOM_IN_IMAGE`, the `curator-kit.sbom` label that summarises it, and the line `inspect` shows.

The summary is the generator's own (`summarize`, loaded from the shipped script, which needs only the
standard library): the label says what the build step printed, computed by one function.
"""

from __future__ import annotations

import json
from functools import cache
from types import ModuleType

from curator_kit.core import constants
from curator_kit.errors import CuratorKitError

REBUILD = "rebuild it: `curator-kit base build` for a base image"


@cache
def generator() -> ModuleType:
    """base-images/sbom.py as a module (its pure functions: summarize, parse_control, python_licences, ...)."""
    import importlib.util

    from curator_kit.resources import sbom_script

    path = sbom_script()
    spec = importlib.util.spec_from_file_location("curator_kit_sbom_generator", path)
    if spec is None or spec.loader is None:  # pragma: no cover -- a shipped file that is not Python
        raise CuratorKitError(f"cannot load the SBOM generator {path}", "reinstall curator-kit")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_sbom(text: str, where: str) -> dict:
    """The CycloneDX document in `text`; one line naming `where` when it is not one."""
    try:
        bom = json.loads(text)
    except ValueError as error:
        raise CuratorKitError(f"{where} is not JSON ({error})", REBUILD) from None
    if not isinstance(bom, dict) or bom.get("bomFormat") != "CycloneDX":
        raise CuratorKitError(f"{where} is not a CycloneDX document", REBUILD)
    return bom


def sbom_summary(text: str, where: str) -> dict:
    """What the `curator-kit.sbom` label records of the document `text` (as read from SBOM_IN_IMAGE)."""
    summary = generator().summarize(parse_sbom(text, where), text)
    summary["path"] = constants.SBOM_IN_IMAGE
    return summary


def sbom_label(text: str, where: str) -> str:
    return generator().summary_line(sbom_summary(text, where))


def summary_from_labels(labels: dict[str, str]) -> dict | None:
    try:
        summary = json.loads(labels[constants.LABEL_SBOM])
    except (KeyError, ValueError, TypeError):
        return None
    return summary if isinstance(summary, dict) else None


def describe_summary(summary: dict) -> str:
    """`CycloneDX 1.5, 271 components (145 python, 124 deb, 2 other), 33 without a known licence;
    nemo-curator 1.4.0, cosmos-xenna 0.2.0, ...`."""
    counts = summary.get("components") or {}
    total = sum(v for v in counts.values() if isinstance(v, int))
    kinds = ", ".join(f"{counts[k]} {k}" for k in ("python", "deb", "other") if k in counts)
    text = f"{summary.get('format', '?')} {summary.get('spec', '?')}, {total} components ({kinds})"
    unknown = summary.get("unknown-licences")
    if unknown:
        text += f", {unknown} without a known licence"
    versions = summary.get("versions") or {}
    named = [f"{name} {versions[name]}" for name in generator().NAMED if name in versions]
    return text + (f"; {', '.join(named)}" if named else "")


def sbom_text(labels: dict[str, str]) -> str | None:
    """The `sbom` line of `inspect`; None when the image records no SBOM."""
    summary = summary_from_labels(labels)
    return describe_summary(summary) if summary else None


def sbom_notes(image: str, labels: dict[str, str], bom: dict, text: str) -> list[str]:
    """What a reader of the document should know that the document does not say: it is not the one the
    image's label describes, or it is a project image's inherited copy of its base image's."""
    import hashlib

    notes = []
    summary = summary_from_labels(labels)
    recorded = (summary or {}).get("sha256")
    if recorded and recorded != hashlib.sha256(text.encode()).hexdigest():
        notes.append(
            f"{image}'s {constants.SBOM_IN_IMAGE} is not the document its {constants.LABEL_SBOM} label summarises "
            "(a later build step replaced one of them)"
        )
    subject = ((bom.get("metadata") or {}).get("component") or {}).get("name")
    if constants.LABEL_PROJECT in labels and subject == constants.BASE_IMAGE_NAME:
        notes.append(
            f"{image} is a project image; this SBOM is its base image's ({subject} "
            f"{bom['metadata']['component'].get('version', '')}".rstrip()
            + "): it lists none of the packages the project's build added"
        )
    return notes
