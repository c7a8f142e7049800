"""Checks every target shares, as findings: the image reference, and what an export cannot see.

A local target (`run`, `cluster up`, a Ray driver) checks its data paths on this machine
(`datapaths`), its weights in the host's cache (`modelweights`) and its container on the engine
(`preflight`). An export (`export kuberay`, `export slurm`, `submit --slurm`) describes nodes this
machine cannot look at: what it cannot know becomes a refusal with an explicit option that accepts
it, or a requirement written into the file's header, never silence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from curator_kit.core.findings import Code, Finding, note, refuse
from curator_kit.core.parsers import ParseError, parse_image_reference
from curator_kit.core.pipeline.modelweights import unbaked_models
from curator_kit.core.run.datapaths import overlap_findings

if TYPE_CHECKING:
    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest


def image_findings(image: str, option: str = "--image") -> list[Finding]:
    """The image reference a plan names, parsed by the one rule (no newline, no flag can hide in it)."""
    if not image:
        return []
    try:
        parse_image_reference(image)
    except ParseError as error:
        return [refuse(Code.IMAGE_REFERENCE, f"{option} {error.message}", error.fix or "")]
    return []


def export_findings(
    manifest: Manifest,
    spec: PipelineSpec,
    *,
    image: str,
    input_path: str,
    output_path: str,
    image_labels: Mapping[str, str] | None,
    weights_at: str | None,
    accept: str,
) -> list[Finding]:
    """What an export finds before it writes: a bad image reference, input and output that overlap (as
    the cluster's paths are written), weights the image does not bake with nowhere named to find them
    (`weights_at`: the place the user named; `accept`: how to name it), and the requirements the nodes
    must meet, written into the file's header."""
    findings = image_findings(image)
    findings += overlap_findings(input_path, output_path, local=False)
    findings.append(
        note(
            Code.INPUT_ON_NODES,
            f"every node must see the input at {input_path} and may write the output at {output_path}: "
            "the export cannot look at the cluster's storage",
        )
    )
    return findings + weights_on_nodes(manifest, spec, image, image_labels, weights_at, accept)


def weights_on_nodes(
    manifest: Manifest,
    spec: PipelineSpec,
    image: str,
    image_labels: Mapping[str, str] | None,
    weights_at: str | None,
    accept: str,
) -> list[Finding]:
    """Weights the image does not bake, on nodes this machine cannot look at (an export's, an external
    Ray cluster's): refused, unless the user named where the nodes have them (`weights_at`), which
    becomes a written requirement. `accept` says how to name it on this target."""
    models = unbaked_models(manifest, spec, dict(image_labels) if image_labels is not None else None)
    builtins = [weight for _stage, weight in spec.weights_needed if weight not in models]
    needed = [*models, *builtins]
    if not needed:
        return []
    if weights_at:
        return [note(Code.WEIGHTS_ON_NODES, f"model weights {', '.join(needed)} must be in {weights_at} on every node")]
    read = "were not read" if image_labels is None else "bake none of them"
    # Only the project's [[models]] can be baked; Curator's built-ins read theirs from the model directory.
    bake = " or bake them ([[models]] bake = true, then `curator-kit build` and `push`)" if models else ""
    return [
        refuse(
            Code.WEIGHTS_MISSING,
            f"the pipeline loads model weights {', '.join(needed)}, and {image}'s labels {read}: "
            "its nodes would have no weights",
            f"{accept}{';' if bake else ''}{bake}",
        )
    ]
