"""Built-ins from the command line and in run plans: `init --preset`, `add`, `new-stage --after/--before`,
`stages --catalogue`; the plan sizes CPUs to the host and passes them on; preflight's weights rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.constants import MODEL_DIR_IN_IMAGE
from curator_kit.core.findings import Code, Severity, decide, refusals
from curator_kit.core.parsers import Mount
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.loading import load_manifest
from curator_kit.core.project.manifest import Manifest, ProjectInfo, StageSpec
from curator_kit.core.run.preflight import EngineFacts, judge
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run
from curator_kit.errors import CuratorKitError

GIB = 2**30
SMALL_HOST = HostFacts(cpus=2, memory_bytes=24 * GIB, uid=1000, gid=1000)
ENGINE = EngineFacts(runtimes=("runc",))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def stage_names(root: Path) -> list[str]:
    return [stage.name for stage in load_manifest(root).stages]


@pytest.fixture
def at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Make a project with a preset and work inside it."""

    def make(preset: str = "clips") -> Path:
        monkeypatch.chdir(tmp_path)
        code, output = run("init", "demo", "--preset", preset)
        assert code == 0, output
        monkeypatch.chdir(tmp_path / "demo")
        return tmp_path / "demo"

    return make


def test_split_preset_is_curators_pipeline_with_a_slot(at):
    root = at("split")
    assert stage_names(root) == [
        "fixed_stride",
        "transcoding",
        "motion_filter",
        "clip_frames",
        "aesthetic_filter",
        "cosmos_embed1",
        "captioning",
        "previews",
    ]
    code, output = run("new-stage", "my_filter", "--after", "motion_filter")
    assert code == 0, output
    assert stage_names(root)[3] == "my_filter"
    text = (root / "curator-kit.toml").read_text()
    assert text.index("# Your stages:") < text.index('name = "my_filter"') < text.index('name = "clip_frames"')
    spec = resolve_spec(load_manifest(root), root)
    assert spec.writer.params["generate_previews"] and spec.writer.params["caption_models"] == ["qwen2.5"]


def test_new_stage_before_transcoding_turns_clipping_into_stages(at):
    root = at()
    code, output = run("new-stage", "spans", "--before", "transcoding")
    assert code == 0, output
    assert "[clipping] became the [[stages]] entries fixed_stride and transcoding" in output
    assert "pipeline: VideoReader -> fixed_stride -> spans -> transcoding -> clip writer" in output
    manifest = load_manifest(root)
    assert not manifest.clipping.enabled
    assert manifest.stages[2].params["encoder"] == "libopenh264"


def test_add_builtins_with_params_and_positions(at):
    root = at("bare")
    assert run("new-stage", "spans")[0] == 0
    code, output = run("add", "transcoding", "--param", "encoder=libopenh264", "--param", "num_cpus_per_worker=1")
    assert code == 0, output
    code, output = run("add", "motion_filter", "--param", "score_only=true", "--after", "transcoding")
    assert code == 0, output
    code, output = run("add", "clip_frames")
    assert code == 0, output
    code, output = run("add", "cosmos_embed1", "--name", "embed", "--param", "variant=224p")
    assert code == 0, output
    assert "embed runs on a GPU" in output and "nvidia/Cosmos-Embed1-224p" in output
    manifest = load_manifest(root)
    assert manifest.stages[1].params == {"num_cpus_per_worker": 1.0, "encoder": "libopenh264"}
    assert manifest.stages[2].params == {"score_only": True}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "motion"), "'motion' is not a built-in stage of nemo-curator 1.4"),
        (("add", "motion_filter", "--param", "threads=2"), "--param threads: 'threads' is not one of the parameters"),
        (("add", "motion_filter", "--param", "score_only=maybe"), "--param score_only = 'maybe' is not true or false"),
        (("add", "motion_filter", "--param", "=1"), "--param '=1' is not KEY=VALUE"),
        (("add", "fixed_stride", "--name", "again"), "both cut and transcode clips"),
        (("add", "fixed_stride", "--before", "transcoding"), "stage 'fixed_stride' is listed twice"),
        (("add", "previews", "--after", "nope"), "no [[stages]] entry is named 'nope'"),
        (("new-stage", "mine", "--after", "a", "--before", "b"), "--after and --before cannot both be given"),
    ],
)
def test_mistakes_are_one_line_and_nothing_is_written(at, args, message):
    root = at()
    before = (root / "curator-kit.toml").read_text()
    code, output = run(*args)
    assert code == 1 and message in output, output
    assert (root / "curator-kit.toml").read_text() == before


def test_stages_catalogue_inside_and_outside_a_project(at, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = run("stages", "--catalogue")
    assert code == 0 and output.startswith("built-in stages of nemo-curator 1.4")
    at("split")
    code, output = run("stages")
    assert code == 0
    assert "builtin:motion_filter (MotionVectorDecodeStage + MotionFilterStage)" in output
    assert "writer: generate_embeddings=True, generate_previews=True" in output


def plan_of(manifest: Manifest, tmp_path: Path, mounts: tuple[Mount, ...] = ()):
    spec = resolve_spec(manifest, tmp_path)
    options = RunOptions(input_dir=tmp_path / "in", output_dir=tmp_path / "out", image="demo:latest", mounts=mounts)
    return plan_run(manifest, spec, tmp_path, options, SMALL_HOST)


def builtin(name: str, **params) -> StageSpec:
    return StageSpec(name, builtin=name, resources=None, params=params)


def test_the_plan_sizes_curators_cpus_to_the_host_and_says_so(tmp_path):
    manifest = Manifest(
        ProjectInfo("demo"),
        stages=[builtin("fixed_stride"), builtin("transcoding", encoder="libopenh264"), builtin("motion_filter")],
    )
    plan = plan_of(manifest, tmp_path)
    command = plan.command
    assert command[command.index("--stage-cpus") :] == [
        "--stage-cpus",
        "ClipTranscodingStage=2",
        "--stage-cpus",
        "MotionVectorDecodeStage=2",
    ]
    sized = [f for f in plan.findings if f.code is Code.CPUS_SIZED]
    assert all(f.severity is Severity.NOTE for f in sized)
    assert any(f.message.startswith("CPUs sized to this host (2 cores): ClipTranscodingStage 6 -> 2") for f in sized)
    assert plan.execution.mode == "streaming"
    assert "ClipTranscodingStage 2 + MotionVectorDecodeStage 2" in plan.execution.reason


def test_preflight_refuses_builtins_whose_weights_are_absent(tmp_path):
    manifest = Manifest(
        ProjectInfo("demo"),
        stages=[
            builtin("fixed_stride"),
            builtin("transcoding", encoder="libopenh264"),
            builtin("clip_frames"),
            builtin("aesthetic_filter", num_gpus_per_worker=0.0),
        ],
    )
    found = judge(plan_of(manifest, tmp_path), ENGINE, [])
    assert [(f.code, f.severity, f.message, f.fix) for f in refusals(found)] == [
        (
            Code.WEIGHTS_MISSING,
            Severity.REFUSE,
            "aesthetic_filter (aesthetic_filter) needs model weights openai/clip-vit-large-patch14, "
            f"ttj/sac-logos-ava1-l14-linearMSE, absent from {MODEL_DIR_IN_IMAGE} (nothing mounted)",
            f"mount a directory holding them: --mount DIR:{MODEL_DIR_IN_IMAGE}:ro, "
            "with DIR/openai/clip-vit-large-patch14 and so on",
        )
    ]
    models = tmp_path / "models"
    (models / "openai" / "clip-vit-large-patch14").mkdir(parents=True)
    mount = (Mount(str(models), MODEL_DIR_IN_IMAGE, read_only=True),)
    with pytest.raises(CuratorKitError, match=f"ttj/sac-logos-ava1-l14-linearMSE, absent from {models}") as raised:
        decide(judge(plan_of(manifest, tmp_path, mount), ENGINE, []), force=True)  # missing weights: no --force
    assert raised.value.code == Code.WEIGHTS_MISSING.value
    (models / "ttj" / "sac-logos-ava1-l14-linearMSE").mkdir(parents=True)
    assert refusals(judge(plan_of(manifest, tmp_path, mount), ENGINE, [])) == []
    # One mount per model directory counts too (a cache may mount each model on its own).
    per_model = tuple(
        Mount(str(models / weight), f"{MODEL_DIR_IN_IMAGE}/{weight}", read_only=True)
        for weight in ("openai/clip-vit-large-patch14", "ttj/sac-logos-ava1-l14-linearMSE")
    )
    assert refusals(judge(plan_of(manifest, tmp_path, per_model), ENGINE, [])) == []
