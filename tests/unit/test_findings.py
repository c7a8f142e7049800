"""The one gate (`findings.decide`) and the checks every target shares (`core.checks`), on findings made
here: what is refused, what --force passes, and what each fix tells the user."""

from pathlib import Path

import pytest
from curator_kit.core.checks import weights_on_nodes
from curator_kit.core.findings import Code, decide, note, refuse, warn
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ModelSpec, ProjectInfo, StageResources, StageSpec
from curator_kit.errors import CuratorKitError

GPU = refuse(Code.GPU_STAGE_WITHOUT_GPU, "blur needs a GPU", "pass --gpus all")
WEIGHTS = refuse(Code.WEIGHTS_MISSING, "weights missing for clip", "run `curator-kit models pull clip`")


def test_the_first_refusal_is_raised_with_its_code_and_how_many_more() -> None:
    with pytest.raises(CuratorKitError) as caught:
        decide([note(Code.SHM_DEFAULT, "shm"), GPU, WEIGHTS])
    assert caught.value.code == "gpu-stage-without-gpu"
    assert (
        caught.value.one_line()
        == "blur needs a GPU (and 1 more problem above) -- pass --gpus all [gpu-stage-without-gpu]"
    )
    assert caught.value.details == ("weights missing for clip",)


def test_force_is_offered_only_where_it_would_get_past_every_refusal() -> None:
    with pytest.raises(CuratorKitError) as alone:
        decide([GPU])
    assert alone.value.fix == "pass --gpus all; or --force to run anyway"
    with pytest.raises(CuratorKitError) as blocked:
        decide([GPU, WEIGHTS])  # --force would still stop at the weights: it is not offered
    assert "--force" not in (blocked.value.fix or "")
    with pytest.raises(CuratorKitError) as forced:
        decide([GPU, WEIGHTS], force=True)
    assert forced.value.code == "weights-missing"


def test_forced_refusals_come_back_as_warnings_after_the_warnings() -> None:
    said = decide([warn(Code.IMAGE_STALE, "stale"), GPU], force=True)
    assert [(f.code, f.message) for f in said] == [
        (Code.IMAGE_STALE, "stale"),
        (Code.GPU_STAGE_WITHOUT_GPU, "--force: going on although blur needs a GPU"),
    ]


def _spec_with(tmp_path: Path, *, builtin_weights: bool, model: bool) -> tuple[Manifest, object]:
    stages = [
        StageSpec("embed", "stages.embed", "Embed", model="clip" if model else "", resources=StageResources(cpus=1))
    ]
    models = [ModelSpec("clip", "models.clip", "Clip", hf_repo="org/clip")] if model else []
    manifest = Manifest(ProjectInfo("demo"), stages=stages, models=models)
    spec = resolve_spec(manifest, tmp_path)
    if builtin_weights:  # as a built-in with catalogue weights would need them
        from dataclasses import replace

        spec = replace(spec, stages=(*spec.stages[:-1], replace(spec.stages[-1], weights=("Org/TransNetV2",))))
    return manifest, spec


@pytest.mark.parametrize(("model", "bake_offered"), [(True, True), (False, False)])
def test_weights_on_unseen_nodes_are_refused_with_the_targets_own_way_to_name_them(tmp_path, model, bake_offered):
    manifest, spec = _spec_with(tmp_path, builtin_weights=not model, model=model)
    [found] = weights_on_nodes(manifest, spec, "demo:1", None, None, "pass --model-volume CLAIM")
    assert found.code is Code.WEIGHTS_MISSING and found.refuses
    assert found.fix.startswith("pass --model-volume CLAIM")
    # Only the project's [[models]] can be baked; a built-in's weights are read from the model directory.
    assert ("bake them" in found.fix) is bake_offered
    [stated] = weights_on_nodes(manifest, spec, "demo:1", None, "PersistentVolumeClaim w", "unused")
    assert stated.code is Code.WEIGHTS_ON_NODES and not stated.refuses
