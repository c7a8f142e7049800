"""Validating a parsed manifest as a whole: names, resources, built-in stages against Curator's catalogue,
clipping, execution mode. Every rule refuses with the key's line."""

from __future__ import annotations

import typing

from curator_kit.core.constants import EXECUTION_MODES, MANIFEST_NAME
from curator_kit.core.parsers import parse_version
from curator_kit.core.project.manifest import CLIP_ENCODERS, CLIPPING_METHODS, ClippingSettings, Manifest, StageSpec
from curator_kit.core.project.names import check_not_builtin_name, check_project_name
from curator_kit.errors import CuratorKitError


def validate(manifest: Manifest, source: str = MANIFEST_NAME) -> None:
    """Cross-field rules (each value was parsed at load); raises the first problem as one line."""

    def fail(message: str, fix: str) -> typing.NoReturn:
        raise CuratorKitError(f"{source}: {message}", fix)

    project = manifest.project
    try:
        check_project_name(project.name)  # `init`'s rule: the name becomes a directory and an image name
    except CuratorKitError as error:
        fail(error.message, error.fix)
    parse_version(project.curator_version)
    seen: set[str] = set()
    for stage in manifest.stages:
        at = f"{source}:{stage.line}" if stage.line else source

        def refuse(message: str, fix: str, at: str = at) -> typing.NoReturn:
            raise CuratorKitError(f"{at}: {message}", fix)

        if not stage.name.isidentifier():
            refuse(f"stage name {stage.name!r} is not a Python identifier", "rename it, e.g. blur_filter")
        if stage.name in seen:
            refuse(f"stage {stage.name!r} is listed twice", "remove or rename one [[stages]] entry")
        seen.add(stage.name)
        try:
            check_not_builtin_name(stage.name, builtin=stage.builtin)
        except CuratorKitError as error:
            refuse(error.message, error.fix or "rename the stage")
        if stage.env and stage.env not in manifest.envs:
            refuse(f"stage {stage.name!r} uses unknown env {stage.env!r}", _known("envs", manifest.envs))
        if stage.model and manifest.model(stage.model) is None:
            refuse(
                f"stage {stage.name!r} uses unknown model {stage.model!r}",
                _known("models", [m.name for m in manifest.models]),
            )
        if stage.batch_size is not None and stage.batch_size < 1:
            refuse(f"stage {stage.name!r}: batch_size must be at least 1", "set batch_size = 1 or more")
        if stage.builtin:
            _validate_builtin_entry(stage, project.curator_version, refuse)
        res = stage.resources
        if res is None:
            continue
        if res.cpus == 0 and res.gpus == 0 and res.gpu_memory_gb == 0:
            refuse(f"stage {stage.name!r} asks for no CPU and no GPU", "give it cpus > 0 (Xenna needs a nonzero share)")
        if res.gpus > 0 and res.gpu_memory_gb > 0:
            refuse(
                f"stage {stage.name!r} sets both gpus and gpu_memory_gb",
                "use gpu_memory_gb for a single-GPU stage or gpus for a multi-GPU stage, not both",
            )
    builtin_clipping = [s.name for s in manifest.stages if _family(s, project.curator_version) == "clipping"]
    if manifest.clipping.enabled and builtin_clipping:
        fail(
            f"[clipping] and the [[stages]] entries {', '.join(builtin_clipping)} both cut and transcode clips",
            "remove the [clipping] table (the [[stages]] entries say the same, in their place)",
        )
    model_names: set[str] = set()
    for model in manifest.models:
        if model.name in model_names:
            fail(f"model {model.name!r} is listed twice", "remove or rename one [[models]] entry")
        model_names.add(model.name)
        if not model.name.isidentifier():
            fail(f"model name {model.name!r} is not a Python identifier", "rename it, e.g. clip_model")
        if not model.hf_repo:
            fail(f"model {model.name!r} has no hf_repo", 'add hf_repo = "ORG/NAME"')
    run = manifest.run
    if run.execution_mode not in EXECUTION_MODES:
        fail(f"[run] execution_mode = {run.execution_mode!r} is unknown", f"use one of {', '.join(EXECUTION_MODES)}")
    _validate_clipping(manifest.clipping, fail)


def _family(stage: StageSpec, curator_version: str) -> str:
    from curator_kit.core.pipeline.catalogue import catalogue_for

    builtin = catalogue_for(curator_version).builtin(stage.builtin) if stage.builtin else None
    return builtin.family if builtin is not None else ""


def _validate_builtin_entry(
    stage: StageSpec, curator_version: str, refuse: typing.Callable[[str, str], typing.NoReturn]
) -> None:
    """A built-in names a catalogue entry (its parameters were checked at load), not code of the project."""
    from curator_kit.core.pipeline.catalogue import catalogue_for

    extra = [key for key, value in (("module", stage.module), ("class", stage.class_name)) if value]
    extra += [key for key in ("env", "model") if getattr(stage, key)]
    if extra:
        refuse(
            f"stage {stage.name!r} is the built-in {stage.builtin!r} and also sets {', '.join(extra)}",
            "a built-in runs Curator's own class in the base image's environment: remove " + ", ".join(extra),
        )
    builtin = catalogue_for(curator_version).builtin(stage.builtin)
    if builtin is None:
        refuse(f"stage {stage.name!r}: {stage.builtin!r} is not a built-in stage", "`curator-kit stages --catalogue`")
    if len(builtin.parts) > 1 and (stage.resources is not None or stage.batch_size):
        refuse(
            f"stage {stage.name!r}: the built-in {stage.builtin} is {len(builtin.parts)} Curator stages "
            f"({', '.join(builtin.classes)}): one [stages.resources] or batch_size cannot say which",
            "size its parts with their own parameters in [stages.params] (e.g. num_cpus_per_worker, gpu_memory_gb)",
        )


def _validate_clipping(clipping: ClippingSettings, fail: typing.Callable[[str, str], typing.NoReturn]) -> None:
    if clipping.method not in CLIPPING_METHODS:
        fail(f"[clipping] method = {clipping.method!r} is unknown", f"use one of {', '.join(CLIPPING_METHODS)}")
    if clipping.encoder not in CLIP_ENCODERS:
        fail(f"[clipping] encoder = {clipping.encoder!r} is unknown", f"use one of {', '.join(CLIP_ENCODERS)}")
    for key in ("clip_len_s", "clip_stride_s", "encoder_cpus"):
        if getattr(clipping, key) <= 0:
            fail(f"[clipping] {key} must be greater than 0", f"e.g. {key} = {getattr(ClippingSettings, key)}")
    if not 0 <= clipping.min_clip_length_s <= clipping.clip_len_s:
        fail(
            f"[clipping] min_clip_length_s = {clipping.min_clip_length_s:g} is not between 0 and "
            f"clip_len_s = {clipping.clip_len_s:g}",
            "FixedStrideExtractorStage would make no clip; lower min_clip_length_s",
        )
    for key in ("encoder_threads", "encode_batch_size"):
        if getattr(clipping, key) < 1:
            fail(f"[clipping] {key} must be at least 1", f"set {key} = 1 or more")


def _known(kind: str, names: typing.Iterable[str]) -> str:
    names = sorted(names)
    return f"known {kind}: {', '.join(names)}" if names else f"the project has no {kind} yet"


# ---------------------------------------------------------------- saving
