"""Model weights in run plans: the cache mounted per model, baked ones left visible, missing ones refused."""

from pathlib import Path

import pytest
from curator_kit.core.build.dockerfile import image_labels
from curator_kit.core.constants import LABEL_BAKED_MODELS, MODEL_DIR_IN_IMAGE
from curator_kit.core.findings import Code, Severity, decide, refusals
from curator_kit.core.pipeline.modelweights import (
    WeightsFacts,
    baked_in_labels,
    cache_dir,
    needed_models,
    weights_findings,
)
from curator_kit.core.pipeline.spec import PipelineSpec, resolve_spec
from curator_kit.core.project.loading import parse_manifest
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run, plan_tests
from curator_kit.errors import CuratorKitError

HOST = HostFacts(cpus=8, memory_bytes=32 * 2**30, uid=1000, gid=1000, cache_home=Path("/home/u/.cache"))
MANIFEST = """
[project]
name = "demo"
[[stages]]
name = "caption"
module = "stages.caption"
class = "CaptionStage"
model = "tiny"
[[models]]
name = "tiny"
module = "models.tiny"
class = "Tiny"
hf_repo = "org/tiny"
revision = "v1"
[[models]]
name = "big"
module = "models.big"
class = "Big"
hf_repo = "org/big"
bake = true
"""


def facts(cache: Path, baked=None, cached=None) -> WeightsFacts:
    return WeightsFacts(cache, baked or {}, cached or {})


def plan(tmp_path: Path, weights: WeightsFacts | None, text: str = MANIFEST, **overrides):
    manifest = parse_manifest(text)
    options = RunOptions(tmp_path / "in", tmp_path / "out", "demo:1", run_id="r1", weights=weights, **overrides)
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, HOST)


def test_spec_names_the_model_each_stage_loads(tmp_path):
    spec = resolve_spec(parse_manifest(MANIFEST), tmp_path)
    assert needed_models(spec) == ["tiny"]
    assert PipelineSpec.from_json(spec.to_json()) == spec  # the field survives the image label


def test_cache_defaults_to_the_users_cache_dir_and_model_cache_overrides_it(tmp_path):
    manifest = parse_manifest(MANIFEST)
    assert cache_dir(manifest, tmp_path, Path("/home/u/.cache")) == Path("/home/u/.cache/curator-kit/models")
    manifest = parse_manifest(MANIFEST.replace('name = "demo"', 'name = "demo"\n[run]\nmodel_cache = "weights"', 1))
    assert cache_dir(manifest, tmp_path, Path("/x")) == tmp_path.resolve() / "weights"


def test_cached_weights_are_mounted_read_only_per_model_and_the_run_goes_offline(tmp_path):
    cache = tmp_path / "cache"
    result = plan(tmp_path, facts(cache, cached={"tiny": "v1"}))
    mounts = {m.target: m for m in result.mounts}
    tiny = mounts[f"{MODEL_DIR_IN_IMAGE}/tiny"]
    assert (tiny.source, tiny.read_only) == (str(cache / "tiny"), True)
    assert result.env["HF_HUB_OFFLINE"] == "1"
    assert str(cache / "tiny") in result.model_dirs


def test_a_baked_model_is_not_hidden_by_the_cache(tmp_path):
    result = plan(tmp_path, facts(tmp_path, baked={"big": "main"}, cached={"tiny": "v1"}))
    targets = [m.target for m in result.mounts]
    assert f"{MODEL_DIR_IN_IMAGE}/big" not in targets
    assert MODEL_DIR_IN_IMAGE not in targets


@pytest.mark.parametrize("cached", [{}, {"tiny": "v0"}], ids=["absent", "other-revision"])
def test_missing_weights_are_refused_naming_the_model_and_the_pull(tmp_path, cached):
    weights = facts(tmp_path / "cache", cached=cached)
    manifest = parse_manifest(MANIFEST)
    (missing,) = weights_findings(manifest, resolve_spec(manifest, tmp_path), weights)
    assert (missing.code, missing.severity) == (Code.WEIGHTS_MISSING, Severity.REFUSE)
    assert "tiny" in missing.message and "big" not in missing.message  # no stage loads big
    assert "curator-kit models pull tiny" in missing.fix
    # The plan carries the refusal; the one gate stops the run before it starts, and --force cannot pass it.
    planned = plan(tmp_path, weights)
    assert missing in refusals(planned.findings)
    with pytest.raises(CuratorKitError) as caught:
        decide([missing], force=True)
    assert caught.value.code == Code.WEIGHTS_MISSING.value
    assert "tiny" in caught.value.message and "curator-kit models pull tiny" in caught.value.fix


def test_baked_weights_satisfy_preflight(tmp_path):
    result = plan(tmp_path, facts(tmp_path, baked={"tiny": "v1"}))
    assert result.env["HF_HUB_OFFLINE"] == "1"
    assert Code.WEIGHTS_MISSING not in {f.code for f in result.findings}


def test_tests_and_commands_are_not_refused_for_missing_weights(tmp_path):
    manifest = parse_manifest(MANIFEST)
    spec = resolve_spec(manifest, tmp_path)
    result = plan_tests(manifest, spec, tmp_path, "demo:1", (), HOST, weights=facts(tmp_path / "c"))
    assert f"{MODEL_DIR_IN_IMAGE}/tiny" in [m.target for m in result.mounts]
    assert "HF_HUB_OFFLINE" not in result.env
    assert Code.WEIGHTS_MISSING not in {f.code for f in result.findings}
    command = plan(tmp_path, facts(tmp_path / "c"), command=("true",))
    assert command.command == ["true"] and Code.WEIGHTS_MISSING not in {f.code for f in command.findings}


def test_a_user_setting_for_offline_wins(tmp_path):
    result = plan(tmp_path, facts(tmp_path, cached={"tiny": "v1"}), env=(("HF_HUB_OFFLINE", "0"),))
    assert result.env["HF_HUB_OFFLINE"] == "0"


def test_the_image_label_lists_baked_models_by_revision(tmp_path):
    manifest = parse_manifest(MANIFEST)
    labels = dict(image_labels(manifest, resolve_spec(manifest, tmp_path)))
    assert baked_in_labels(labels) == {"big": "main"}
    assert baked_in_labels({}) == {} and baked_in_labels({LABEL_BAKED_MODELS: "not json"}) == {}


# ---------------------------------------------------------------- models pull / list

SECRET_TOKEN = "hf_SECRETtoken123"


def project_with_models(tmp_path: Path, monkeypatch) -> Path:
    """A scaffolded project with tiny (org/tiny@v1, cached or not) and big (org/big, baked)."""
    from click.testing import CliRunner
    from curator_kit.cli import main

    monkeypatch.chdir(tmp_path)
    project = tmp_path / "proj"
    commands = [
        ["init", "proj"],
        ["new-model", "tiny", "--hf-repo", "org/tiny", "--revision", "v1", "--project", str(project)],
        ["new-model", "big", "--hf-repo", "org/big", "--bake", "--project", str(project)],
        ["new-stage", "caption", "--model", "tiny", "--project", str(project)],
    ]
    for command in commands:
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, result.output
    return project


def test_pull_runs_each_models_own_download_into_its_image_directory():
    from curator_kit.core.pipeline.modelweights import pull_command, select_models

    manifest = parse_manifest(MANIFEST)
    command = pull_command(select_models(manifest, ("tiny",)))
    assert command[:2] == ["python", "-c"] and "download_weights_on_node" in command[2]
    assert command[3] == '[["tiny","models.tiny","Tiny","/opt/models/tiny"]]'
    assert [m.name for m in select_models(manifest, ())] == ["tiny", "big"]
    with pytest.raises(CuratorKitError, match="no model named nope"):
        select_models(manifest, ("nope",))


def test_a_token_from_the_environment_reaches_a_pull_only_as_a_read_only_file(monkeypatch):
    from curator_kit.core.constants import HF_TOKEN_IN_CONTAINER
    from curator_kit.ops.models import token_mount

    monkeypatch.setenv("HF_TOKEN", SECRET_TOKEN)
    with token_mount(HOST) as mount:
        assert mount is not None and (mount.target, mount.read_only) == (HF_TOKEN_IN_CONTAINER, True)
        path = Path(mount.source)
        assert path.read_text() == SECRET_TOKEN and path.stat().st_mode & 0o077 == 0
    assert not path.exists()  # removed when the pull ends


def test_the_login_token_file_is_mounted_as_it_is(tmp_path, monkeypatch):
    from curator_kit.ops.hftoken import host_hf_token
    from curator_kit.ops.models import token_mount

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    (tmp_path / "token").write_text(SECRET_TOKEN + "\n")
    with token_mount(HOST) as mount:
        assert mount is not None and mount.source == str((tmp_path / "token").resolve())
    assert host_hf_token() == SECRET_TOKEN


def test_models_list_shows_where_each_model_is(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from curator_kit.cli import main

    project = project_with_models(tmp_path, monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tiny = tmp_path / "cache" / "curator-kit" / "models" / "tiny"
    tiny.mkdir(parents=True)
    (tiny / "weights.bin").write_bytes(b"0" * 2048)
    (tiny / ".curator-kit-complete").write_text("v1\n")
    result = CliRunner().invoke(main, ["models", "list", "--project", str(project)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    assert rows["tiny"][1:3] == ["org/tiny@v1", "cached"]
    assert rows["big"][1:3] == ["org/big@main", "baked"]  # no image yet: the build bakes it
    assert "no image to read" in result.output


# ---------------------------------------------------------------- baking with a token


def test_baking_downloads_in_a_throwaway_stage_and_keeps_only_the_weights(tmp_path):
    from curator_kit.core.build.buildstages import final_image_stages, parse_stages
    from curator_kit.core.build.credentials import check_secrets_stay_out
    from curator_kit.core.build.dockerfile import build_secrets, render_dockerfile

    manifest = parse_manifest(MANIFEST)
    secrets = build_secrets(manifest, SECRET_TOKEN)
    assert [s.name for s in secrets] == ["hf-token"] and SECRET_TOKEN not in repr(secrets[0])
    text = render_dockerfile(manifest, resolve_spec(manifest, tmp_path), secrets=secrets)
    assert SECRET_TOKEN not in text
    check_secrets_stay_out(text)
    final = final_image_stages(parse_stages(text))
    assert secrets[0].stages == ("model-weights-big",)
    assert "model-weights-big" not in [stage.name for stage in final]
    assert "HF_TOKEN_PATH=/tmp/curator-kit-secrets/hf-token python -c" in text
    weights = text.index("COPY --from=model-weights-big /opt/models/big/ /opt/models/big/")
    assert weights < text.index("# The project's code, last")
    assert build_secrets(manifest) == []  # no token on the host: an anonymous download


def test_build_dry_run_never_prints_the_token(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from curator_kit.cli import main

    project = project_with_models(tmp_path, monkeypatch)
    monkeypatch.setenv("HF_TOKEN", SECRET_TOKEN)
    result = CliRunner().invoke(main, ["build", "--project", str(project), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "hf-token for stage model-weights-big only: ****" in result.output
    assert "step      model-weights-big: last RUN in a throwaway container, hf-token mounted" in result.output
    assert SECRET_TOKEN not in result.output


def test_every_cluster_node_mounts_the_same_cache(tmp_path):
    from curator_kit.core.cluster.clusterplan import ClusterOptions, plan_cluster

    manifest = parse_manifest(MANIFEST)
    weights = facts(tmp_path / "cache", cached={"tiny": "v1"})
    options = ClusterOptions(tmp_path / "in", tmp_path / "out", "demo:1", workers=2, weights=weights)
    plan = plan_cluster(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, HOST)
    for node in plan.nodes:
        tiny = [m for m in node.mounts if m.target == f"{MODEL_DIR_IN_IMAGE}/tiny"]
        assert [(m.source, m.read_only) for m in tiny] == [(str(tmp_path / "cache" / "tiny"), True)]


def test_before_the_first_build_the_manifests_baked_models_count_as_baked(tmp_path):
    from curator_kit.ops.modelcache import weights_facts

    weights = weights_facts(parse_manifest(MANIFEST), tmp_path, HOST, None, "demo:1")
    assert weights is not None and weights.baked == {"big": "main"} and weights.cached == {}
    assert weights_facts(parse_manifest('[project]\nname = "demo"\n'), tmp_path, HOST, None, "x") is None
