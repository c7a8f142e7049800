import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from curator_kit.core.project import scaffold
from curator_kit.core.project.loading import load_manifest
from curator_kit.core.project.manifest import ClippingSettings
from curator_kit.core.project.scaffold import CuratorTarget, StageOptions
from curator_kit.errors import CuratorKitError
from curator_kit.ops.scaffold import write_plan


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and directory under root."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    write_plan(scaffold.plan_init(root, "demo", "1.4.0"))
    return root


def test_init_lays_out_a_project(project: Path) -> None:
    files = {p for p, content in snapshot(project).items() if content is not None}
    assert files == {
        ".dockerignore",
        ".gitignore",
        "README.md",
        "curator-kit.toml",
        "envs/README.md",
        "models/__init__.py",
        "pipeline.py",
        "pyproject.toml",
        "stages/__init__.py",
        "tests/test_pipeline.py",
    }
    manifest = load_manifest(project)
    assert manifest.project.base_image == "curator-kit/base:1.4.0-cpu"
    assert manifest.project.templates == ""
    # Clips from the start: Curator's splitter and a CPU encoder that fits a 2-core host.
    assert manifest.clipping == ClippingSettings(
        method="fixed-stride",
        clip_len_s=10.0,
        clip_stride_s=10.0,
        min_clip_length_s=2.0,
        encoder="libopenh264",
        encoder_cpus=1.0,
        encoder_threads=1,
        encode_batch_size=16,
    )


def test_init_with_options(tmp_path: Path) -> None:
    team = tmp_path / "team-templates"
    team.mkdir()
    root = tmp_path / "p"
    write_plan(scaffold.plan_init(root, "p", "1.1.0", "registry.local/curator:1.1", team))
    manifest = load_manifest(root)
    assert (manifest.project.curator_version, manifest.project.base_image) == ("1.1.0", "registry.local/curator:1.1")
    assert manifest.project.templates == "../team-templates"


def test_new_stage_adds_files_and_manifest_entry(project: Path) -> None:
    plan = scaffold.plan_new_stage(project, StageOptions("blur", gpu_memory_gb=8, nvdecs=1))
    assert [w.path for w in plan.writes] == [
        "stages/blur.py",
        "tests/test_blur.py",
        "tests/test_blur_golden.py",
        "curator-kit.toml",
    ]
    assert plan.notes == ["pipeline: VideoReader -> clips (fixed-stride, libopenh264) -> blur -> clip writer"]
    write_plan(plan)
    [stage] = load_manifest(project).stages
    assert (stage.module, stage.class_name, stage.resources.gpu_memory_gb, stage.resources.nvdecs) == (
        "stages.blur",
        "BlurStage",
        8.0,
        1,
    )
    source = (project / "stages" / "blur.py").read_text()
    assert "resources = Resources(cpus=1.0, gpu_memory_gb=8.0)\n" in source
    assert "nvdecs=1, nvencs=0" in source  # kept as a comment for nemo-curator >= 1.2
    # Per clip, not on video.source_bytes: ClipTranscodingStage sets those to None.
    assert "if not video.metadata.framerate:" in source
    assert "if clip.buffer:" in source
    assert "video.source_bytes or" not in source


def test_pipeline_order_follows_new_stages(project: Path) -> None:
    for name in ("one", "two", "three"):
        write_plan(scaffold.plan_new_stage(project, StageOptions(name)))
    assert [s.name for s in load_manifest(project).stages] == ["one", "two", "three"]
    assert "Pipeline(" in (project / "pipeline.py").read_text()  # never rewritten: it reads the manifest


def test_manifest_comments_survive_additions(project: Path) -> None:
    before = (project / "curator-kit.toml").read_text()
    write_plan(scaffold.plan_new_env(project, "opencv", pip=("opencv-python-headless",)))
    write_plan(scaffold.plan_new_stage(project, StageOptions("blur", env="opencv")))
    assert (project / "curator-kit.toml").read_text().startswith(before)


@pytest.mark.parametrize(
    ("version", "resources", "codec_comment"),
    [
        ("1.4.0", "Resources(cpus=2.0, gpus=1.0)", True),
        ("1.2.0", "Resources(cpus=2.0, gpus=1.0)", True),
        ("1.1.0", "Resources(cpus=2.0, gpus=1.0, nvdecs=1, nvencs=2)", False),
        ("1.0.0", "Resources(cpus=2.0, gpus=1.0, nvdecs=1, nvencs=2)", False),
    ],
)
def test_resources_render_as_the_target_version_accepts(version: str, resources: str, codec_comment: bool) -> None:
    stage_resources = scaffold.StageResources(cpus=2, gpus=1, nvdecs=1, nvencs=2)
    expr, note = scaffold.resources_source(stage_resources, CuratorTarget.of(version))
    assert expr == resources
    assert bool(note) is codec_comment


def test_task_id_is_passed_only_where_curator_wants_it() -> None:
    assert CuratorTarget.of("1.2.0").task_id_arg and not CuratorTarget.of("1.3.0").task_id_arg


def test_force_overwrites_leftover_files(project: Path) -> None:
    (project / "stages" / "blur.py").write_text("# left over\n")
    plan = scaffold.plan_new_stage(project, StageOptions("blur"))
    with pytest.raises(CuratorKitError, match=r"stages/blur\.py already exists"):
        write_plan(plan)
    write_plan(plan, force=True)
    assert "class BlurStage(" in (project / "stages" / "blur.py").read_text()


def test_a_failure_midway_leaves_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plan(scaffold.plan_new_model(project, "clip", "org/clip"))
    shutil.rmtree(project / "tests")  # the write must create it again, and remove it on failure
    before = snapshot(project)
    plan = scaffold.plan_new_stage(project, StageOptions("blur", model="clip"))
    real_mkstemp = tempfile.mkstemp
    calls = []

    def failing_mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        calls.append(args)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", "tests/.test_blur.py.tmp")
        return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(tempfile, "mkstemp", failing_mkstemp)
    with pytest.raises(CuratorKitError, match="No space left on device"):
        write_plan(plan)
    assert snapshot(project) == before


def test_team_templates_override_by_name(project: Path, tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    (team / "stage.py.j2").write_text('"""{{ stage.class_name }} by the team."""\n')
    write_plan(scaffold.plan_new_stage(project, StageOptions("blur"), templates=team))
    assert (project / "stages" / "blur.py").read_text() == '"""BlurStage by the team."""\n'
    assert "def test_" in (project / "tests" / "test_blur.py").read_text()  # built-in fallback


def test_templates_key_in_the_manifest(project: Path, tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    (team / "model.py.j2").write_text("# {{ model.hf_repo }}\n")
    manifest = project / "curator-kit.toml"
    manifest.write_text(manifest.read_text().replace('templates = ""', 'templates = "../team"'))
    write_plan(scaffold.plan_new_model(project, "clip", "org/clip"))
    assert (project / "models" / "clip.py").read_text() == "# org/clip\n"


def test_template_errors_are_one_line(project: Path, tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    (team / "stage.py.j2").write_text("{{ stage.nme }}\n")
    with pytest.raises(CuratorKitError, match=r"template stage\.py\.j2 uses an undefined variable"):
        scaffold.plan_new_stage(project, StageOptions("blur"), templates=team)
    (team / "stage.py.j2").write_text("{% if %}\n")
    with pytest.raises(CuratorKitError, match=r"stage\.py\.j2:1: "):
        scaffold.plan_new_stage(project, StageOptions("blur"), templates=team)
    with pytest.raises(CuratorKitError, match=r"template directory .* does not exist"):
        scaffold.plan_new_stage(project, StageOptions("blur"), templates=tmp_path / "missing")


def test_new_model_and_env_entries(project: Path) -> None:
    write_plan(scaffold.plan_new_model(project, "clip", "org/clip", "v1", ("a.bin", "b.json"), bake=True))
    write_plan(scaffold.plan_new_env(project, "cv", ("opencv",), ("libgl1",), (("A", "1"), ("B", "x=y"))))
    manifest = load_manifest(project)
    [model] = manifest.models
    assert (model.module, model.class_name, model.revision, model.files, model.bake) == (
        "models.clip",
        "ClipModel",
        "v1",
        ["a.bin", "b.json"],
        True,
    )
    assert manifest.envs["cv"].env == {"A": "1", "B": "x=y"}
    assert 'FILES: tuple[str, ...] = ("a.bin", "b.json")' in (project / "models" / "clip.py").read_text()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        # Called without the CLI, a new entry's values meet the parsers a hand-edited manifest meets.
        (
            lambda root: scaffold.plan_new_model(root, "clip", "clip"),
            "the new models entry 'clip': models.hf_repo = 'clip' is not a Hugging Face repository id",
        ),
        (
            lambda root: scaffold.plan_new_env(root, "cv", env=(("1X", "v"),)),
            "the new envs entry 'cv': envs.env.1X = '1X' is not an environment variable name",
        ),
        (
            lambda root: scaffold.plan_new_env(root, "cv", apt=("Bad Pkg",)),
            "the new envs entry 'cv': envs.apt[0] = 'Bad Pkg' is not a Debian package",
        ),
        (
            lambda root: scaffold.plan_new_stage(root, StageOptions("s", cpus=float("nan"))),
            "the new stages entry 's': stages.resources.cpus = nan is not a number of CPUs",
        ),
        (lambda root: scaffold.plan_new_stage(root, StageOptions("s", input_task="X")), "--input-task 'X' is not"),
    ],
)
def test_more_bad_input(project: Path, call: Callable[[Path], object], message: str) -> None:
    before = snapshot(project)
    with pytest.raises(CuratorKitError) as caught:
        call(project)
    assert caught.value.message.startswith(message)
    assert snapshot(project) == before


def test_stage_table(project: Path) -> None:
    write_plan(scaffold.plan_new_env(project, "cv", pip=("opencv",)))
    write_plan(scaffold.plan_new_model(project, "clip", "org/clip"))
    write_plan(scaffold.plan_new_stage(project, StageOptions("blur", gpus=2, nvdecs=1, env="cv")))
    write_plan(scaffold.plan_new_stage(project, StageOptions("embed", gpu_memory_gb=8, model="clip")))
    lines = scaffold.stage_table(load_manifest(project))
    assert lines[1].split() == ["#", "stage", "class", "cpus", "gpu", "nvdec", "nvenc", "batch", "env", "model"]
    assert lines[2].split() == ["1", "blur", "stages.blur.BlurStage", "1", "2", "1", "-", "1", "cv", "-"]
    assert lines[3].split() == ["2", "embed", "stages.embed.EmbedStage", "1", "8", "GB", "-", "-", "1", "-", "clip"]
    assert lines[4:] == ["model clip: org/clip@main", "env cv: pip opencv"]


def test_a_golden_test_is_planned_where_the_stage_has_none(project: Path) -> None:
    write_plan(scaffold.plan_new_stage(project, StageOptions("blur")))
    assert scaffold.plan_golden_test(project, "blur").writes == []  # new-stage scaffolded it
    (project / "tests" / "test_blur_golden.py").unlink()
    plan = scaffold.plan_golden_test(project, "blur")
    [write] = plan.writes
    assert write.path == "tests/test_blur_golden.py" and 'STAGE = "blur"' in write.content
    assert "BlurStage against its goldens" in write.content
    assert plan.notes == ["tests/test_blur_golden.py compares blur's goldens in `curator-kit test`"]
