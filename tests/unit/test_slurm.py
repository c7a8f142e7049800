"""`export slurm` (pure): golden pyxis and apptainer scripts, shellcheck and `bash -n` on every runtime,
the pipeline the image's spec gives, Ray token auth, Slurm's value syntaxes, nothing injectable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.core.constants import LABEL_BASE_VARIANT, LABEL_SPEC
from curator_kit.core.export.slurm import RUNTIMES, SlurmOptions, node_image, render_script
from curator_kit.core.export.slurmsyntax import cluster_path, memory, partition_list, slurm_word, time_limit
from curator_kit.core.parsers import ParseError, Ulimit
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults, StageResources, StageSpec
from curator_kit.errors import CuratorKitError
from pushedproject import pushed_project

GOLDEN = Path(__file__).parent / "golden"
CPU_STAGE = StageSpec("probe", "stages.probe", "ProbeStage", resources=StageResources(cpus=1.0))
GPU_STAGE = StageSpec("embed", "stages.embed", "EmbedStage", resources=StageResources(cpus=1.0, gpu_memory_gb=8))
IMAGE = "registry.example.com:5000/video-pipeline:1"
XENNA = (
    "export RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES=1",
    "export RAY_MAX_LIMIT_FROM_API_SERVER=40000",
    "export RAY_MAX_LIMIT_FROM_DATA_SOURCE=40000",
)


def manifest(stages=None, **run) -> Manifest:
    return Manifest(
        ProjectInfo("video-pipeline"), stages=[CPU_STAGE] if stages is None else stages, run=RunDefaults(**run)
    )


def labels_of(m: Manifest, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {LABEL_SPEC: resolve_spec(m, tmp_path).to_json(), **extra}


def options(**changes) -> SlurmOptions:
    values = {"image": IMAGE, "input_path": "/shared/videos", "output_path": "/shared/out", **changes}
    return SlurmOptions(**values)


def script(tmp_path: Path, m: Manifest | None = None, **changes) -> str:
    m = m or manifest()
    return render_script(m, tmp_path, options(**changes), labels_of(m, tmp_path)).text


def golden_script(runtime: str, tmp_path: Path) -> str:
    """Four GPU nodes, every Slurm option, a model cache and the manifest's env: the full shape."""
    m = manifest([CPU_STAGE, GPU_STAGE], env={"HF_HOME": "/opt/models/hf"})
    chosen = options(
        runtime=runtime,
        nodes=4,
        cpus_per_node=16,
        gpus_per_node=2,
        mem_per_node="128G",
        partition="gpu,gpu-long",
        account="video",
        time="1-12",
        job_name="curate",
        log="logs/%x-%j.log",
        model_cache="/shared/models",
        gpu_memory_gib=24,
    )
    return render_script(m, tmp_path, chosen, labels_of(m, tmp_path, **{LABEL_BASE_VARIANT: "cuda"})).text


def every_variant(tmp_path: Path) -> dict[str, str]:
    variants = {f"golden-{runtime}": golden_script(runtime, tmp_path) for runtime in RUNTIMES}
    for runtime in RUNTIMES:
        variants[f"one-node-{runtime}"] = script(tmp_path, runtime=runtime, cpus_per_node=2)
        variants[f"token-file-{runtime}"] = script(
            tmp_path, runtime=runtime, auth_token_file="/shared/secrets/ray-token", nodes=3, exclusive=False
        )
    variants["docker-ulimit"] = script(tmp_path, runtime="docker", ulimits=(Ulimit("memlock", 8388608, 8388608),))
    variants["image-file-pyxis"] = script(tmp_path, runtime="pyxis", image_file="/shared/images/pipeline.sqsh")
    variants["image-file-apptainer"] = script(tmp_path, runtime="apptainer", image_file="/shared/images/pipeline.sif")
    return variants


# --- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["pyxis", "apptainer"])
def test_matches_golden_byte_for_byte(runtime, tmp_path) -> None:
    golden = GOLDEN / f"slurm-{runtime}.sbatch"
    text = golden_script(runtime, tmp_path)
    if os.environ.get("CURATOR_KIT_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_variant_passes_shellcheck(tmp_path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (scripts/test installs Debian's shellcheck)")
    for name, text in every_variant(tmp_path).items():
        path = tmp_path / f"{name}.sbatch"
        path.write_text(text)
        result = subprocess.run([shellcheck, "--shell=bash", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


def test_every_variant_parses_with_bash(tmp_path) -> None:
    for name, text in every_variant(tmp_path).items():
        result = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stderr}"


# --- what the job runs -----------------------------------------------------------------------


def test_directives_from_every_option(tmp_path) -> None:
    text = golden_script("pyxis", tmp_path)
    for directive in (
        "--job-name=curate",
        "--nodes=4",
        "--ntasks-per-node=1",
        "--cpus-per-task=16",
        "--gres=gpu:2",
        "--mem=128G",
        "--partition=gpu,gpu-long",
        "--account=video",
        "--time=1-12:00:00",
        "--exclusive",
        "--output=logs/%x-%j.log",
    ):
        assert f"\n#SBATCH {directive}\n" in text


def test_xenna_variables_driver_capabilities_and_token_auth_on_every_runtime(tmp_path) -> None:
    for runtime in RUNTIMES:
        text = script(tmp_path, runtime=runtime)
        for line in (*XENNA, "export NVIDIA_DRIVER_CAPABILITIES=compute,utility,video", "export RAY_AUTH_MODE=token"):
            assert f"\n{line}\n" in text, (runtime, line)
        assert "export RAY_AUTH_TOKEN_PATH=$token_file" in text
        # Generated in the job, 0600 from its first byte, removed on exit; never printed.
        assert "(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \\n' >\"$token_file\")" in text
        assert 'rm -f "$token_file"' in text
        assert "RAY_AUTH_TOKEN=" not in text


def test_a_token_file_of_the_users_is_checked_and_kept(tmp_path) -> None:
    text = script(tmp_path, auth_token_file="/shared/secrets/ray-token")
    assert "token_file=/shared/secrets/ray-token" in text
    assert 'case $(stat -c %a "$token_file") in' in text and "chmod 600 it" in text
    assert "/dev/urandom" not in text and 'rm -f "$token_file"' not in text
    with pytest.raises(CuratorKitError, match="--auth-token-file brings one of yours"):
        script(tmp_path, auth_token_file="/shared/t", shared_dir="/shared/dir")


def test_the_pipeline_command_of_run_with_the_mode_for_the_nodes_and_gpu_shares(tmp_path) -> None:
    text = golden_script("pyxis", tmp_path)
    # 4 x int(0.95 x 16) = 60 CPUs for streaming; embed's 8 GB on 24 GiB cards is 0.3 of a GPU.
    assert (
        "python /workspace/pipeline.py --input /data/input --output /data/output --execution-mode streaming "
        "--cpu-allocation-percentage 0.95 --no-ignore-failures --stage-gpus embed=0.3 &"
    ) in text
    small = script(tmp_path, cpus_per_node=2, nodes=1)  # int(0.95 x 2) = 1 CPU cannot stream 2.75 unscaled
    assert "--execution-mode streaming --cpu-allocation-percentage 0.95 --cpu-scale 0.363 " in small
    assert "# Execution streaming: streaming needs every stage at once" in small
    tiny = script(tmp_path, cpus_per_node=1, nodes=1)  # int(0.95 x 1) = 0: nothing can stream
    assert "--execution-mode batch --cpu-allocation-percentage 1 " in tiny


def test_ray_start_on_head_workers_and_driver(tmp_path) -> None:
    text = golden_script("pyxis", tmp_path)
    head = "ray start --head --block --port=6379 --dashboard-host=0.0.0.0 --dashboard-port=8265 --num-cpus=16"
    assert f'launch "$head_host" head 2 {head} --num-gpus=2 --disable-usage-stats &' in text
    worker = 'ray start --block "--address=$ray_address" --num-cpus=16 --num-gpus=2 --disable-usage-stats'
    assert f'launch "$host" worker 2 {worker} &' in text
    # The driver: a node of its own with 1 CPU, no GPU; it waits for 4 nodes + itself.
    assert 'ray start "--address=$RAY_ADDRESS" --num-cpus=1 --num-gpus=0' in text
    assert "os.execvp(sys.argv[3], sys.argv[3:])' 5 900 python /workspace/pipeline.py" in text
    assert 'RAY_ADDRESS=$ray_address launch "$head_host" driver 0 sh -c "$driver" &' in text


def test_one_node_is_head_and_only_worker(tmp_path) -> None:
    text = script(tmp_path, nodes=1, cpus_per_node=4)
    assert "#SBATCH --nodes=1\n" in text
    assert 'for host in "${workers[@]}"; do' in text  # an empty loop on one node
    assert "' 2 900 python /workspace/pipeline.py" in text  # head + driver


def test_mounts_per_runtime(tmp_path) -> None:
    pyxis = script(tmp_path, runtime="pyxis", model_cache="/shared/models")
    assert (
        'mounts="$input_dir:/data/input:ro,$output_dir:/data/output,$model_cache:/opt/models,'
        '$token_dir:$token_dir:ro,$node_tmp:/tmp"'
    ) in pyxis
    assert '--container-image="$image" --container-mounts="$mounts" --container-workdir=/workspace' in pyxis
    assert "image='registry.example.com:5000#video-pipeline:1'\n" in pyxis  # enroot's URI
    apptainer = script(tmp_path, runtime="apptainer", gpus_per_node=1)
    assert "image=docker://registry.example.com:5000/video-pipeline:1\n" in apptainer
    assert 'apptainer exec "${nv[@]}" --no-mount tmp --bind "$binds" --pwd /workspace "$image" "$@"' in apptainer
    docker = script(tmp_path, runtime="docker")
    assert '--mount "type=bind,source=$input_dir,target=/data/input,readonly"' in docker
    assert "--network host --ipc host" in docker  # other nodes reach it; /dev/shm is the node's
    assert "--ulimit memlock=-1:-1" in docker and "--ulimit stack=67108864:67108864" in docker
    assert "docker rm --force" in docker and "export -f in_container" in docker
    # The job's user, whose uid only the node knows: a HOME every uid writes, the image's user name (constants).
    assert '--user "$(id -u):$(id -g)"' in docker and "--env HOME=/tmp --env USER=curator \\\n" in docker


def test_gpus_per_node(tmp_path) -> None:
    gpu = manifest([CPU_STAGE, GPU_STAGE])
    assert "#SBATCH --gres=gpu:1\n" in script(tmp_path, gpu)  # a GPU stage: 1 by default
    assert "--gres=gpu" not in script(tmp_path)
    with pytest.raises(CuratorKitError, match="'embed' needs a GPU but the nodes that run it get none"):
        script(tmp_path, gpu, gpus_per_node=0)
    rendered = render_script(gpu, tmp_path, options(), labels_of(gpu, tmp_path, **{LABEL_BASE_VARIANT: "cpu"}))
    assert any("without --gpu-memory-gib" in w for w in rendered.warnings)
    assert any("cpu base" in w for w in rendered.warnings)


def test_the_image_spec_label_is_the_pipeline(tmp_path) -> None:
    built = manifest([CPU_STAGE])
    edited = manifest([CPU_STAGE, StageSpec("extra", "stages.extra", "ExtraStage")])
    rendered = render_script(edited, tmp_path, options(), labels_of(built, tmp_path))
    assert "extra" not in rendered.text.split("CURATOR_KIT_DRIVER")[1]  # the image's stages: 2.75 CPUs
    assert any(w.startswith("stale image:") for w in rendered.warnings)
    unread = render_script(built, tmp_path, options(), None)
    assert any("pipeline spec was not read" in w for w in unread.warnings)


def test_node_image_per_runtime() -> None:
    assert node_image(options(runtime="docker")) == IMAGE
    assert node_image(options(runtime="pyxis", image="curator/pipe:2")) == "curator/pipe:2"
    assert node_image(options(runtime="pyxis", image_file="/shared/p.sqsh")) == "/shared/p.sqsh"
    digest = "reg.io/pipe@sha256:" + "a" * 64
    with pytest.raises(CuratorKitError, match="by digest"):
        node_image(options(runtime="pyxis", image=digest))
    assert node_image(options(runtime="apptainer", image=digest)) == f"docker://{digest}"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"runtime": "podman"}, "not supported"),
        ({"nodes": 0}, "at least one node"),
        ({"cpus_per_node": 0}, "at least 1 CPU"),
        ({"join_timeout": 1}, "too short"),
        ({"runtime": "docker", "image_file": "/x.sif"}, "--image-file is for pyxis"),
        ({"runtime": "pyxis", "ulimits": (Ulimit("memlock", -1, -1),)}, "--ulimit is for --runtime docker"),
        ({"input_path": "videos"}, "--input 'videos' is not a path the job can mount: it is not absolute"),
        ({"output_path": "/a,b"}, "contains ','"),
        ({"job_name": "two words"}, "--job-name 'two words' is not one word"),
        ({"partition": "gpu\n#SBATCH --uid=0"}, "control character"),
        ({"log": "a#b"}, "contains '#'"),
        ({"time": "25:61:00"}, "out of range"),
        ({"mem_per_node": "lots"}, "memory size"),
    ],
)
def test_refused_options(changes, match, tmp_path) -> None:
    with pytest.raises(CuratorKitError, match=match.replace("(", r"\(").replace("+", r"\+")):
        script(tmp_path, **changes)


def test_no_value_becomes_shell(tmp_path) -> None:
    """Values that parse keep their characters, quoted: `$(...)` and `;` stay text in the script."""
    m = manifest(env={"NOTE": "a $(touch /tmp/pwned); b"})
    text = script(tmp_path, m, input_path="/shared/$(reboot)", job_name="x;y")
    assert "input_dir='/shared/$(reboot)'\n" in text
    assert "export NOTE='a $(touch /tmp/pwned); b'\n" in text
    assert "#SBATCH --job-name=x;y\n" in text  # a comment line to bash; one word to sbatch
    # Run the value section: assignments only, nothing executes.
    values = text.split("# --- Ray token auth")[0].replace("set -euo pipefail", "")
    result = subprocess.run(
        ["bash", "-c", values + '\nprintf "%s\\n" "$input_dir" "$NOTE"'],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "SLURM_JOB_ID": "7"},
    )
    assert result.stdout.splitlines() == ["/shared/$(reboot)", "a $(touch /tmp/pwned); b"], result.stderr


# --- Slurm's syntaxes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", "0-01:30:00"),
        ("30:15", "0-00:30:15"),
        ("36:00:00", "1-12:00:00"),
        ("2-0", "2-00:00:00"),
        ("1-12", "1-12:00:00"),
        ("1-2:30", "1-02:30:00"),
        ("3-04:05:06", "3-04:05:06"),
        ("unlimited", "UNLIMITED"),
        ("INFINITE", "UNLIMITED"),
    ],
)
def test_time_limit_forms(text, expected) -> None:
    assert time_limit(text) == expected


@pytest.mark.parametrize("text", ["", "1:2:3:4", "1-24", "10:60", "1-1:60:00", "0", "0:00", "1h", "-5", "1 -2", "٣"])
def test_time_limit_refusals(text) -> None:
    with pytest.raises(ParseError):
        time_limit(text)


def test_words_partitions_memory_and_paths() -> None:
    assert slurm_word("video-team_1.x") == "video-team_1.x"
    for bad in ("", "a b", "a\tb", "it's", 'a"b', "a\\b", "#x", "a\nb", "a\x1bb"):
        with pytest.raises(ParseError):
            slurm_word(bad)
    assert partition_list("gpu,gpu-long") == "gpu,gpu-long"
    for bad in ("gpu,,cpu", "gpu,", "gpu cpu"):
        with pytest.raises(ParseError):
            partition_list(bad)
    assert memory("64g") == "64G" and memory("0") == "0" and memory("512000") == "512000"
    for bad in ("64GB", "1.5G", "-1", "64 G"):
        with pytest.raises(ParseError):
            memory(bad)
    assert cluster_path("/shared/out/") == "/shared/out"
    for bad in ("relative", "/a b", "/a:b", "/a,b", "/a'b", "/a\nb"):
        with pytest.raises(ParseError):
            cluster_path(bad)


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with a last push, whose image labels come from a stand-in (no engine in unit tests)."""
    root = pushed_project(tmp_path)
    labels = {LABEL_SPEC: resolve_spec(manifest([CPU_STAGE]), root).to_json()}
    monkeypatch.setattr("curator_kit.ops.exportimage.local_image_labels", lambda image, say: labels)
    return root


REQUIRED = ("--input", "/shared/videos", "--output", "/shared/out")


def cli(root: Path, *args: str, command: tuple[str, ...] = ("export", "slurm")):
    from curator_kit.cli import main

    return CliRunner().invoke(main, [*command, "--project", str(root), *args])


def test_cli_writes_the_script(project, tmp_path) -> None:
    out = tmp_path / "job.sbatch"
    result = cli(project, *REQUIRED, "--runtime", "apptainer", "--time", "90", "--nodes", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "image=docker://reg.local/demo:1\n" in text and "#SBATCH --time=0-01:30:00\n" in text
    assert f"wrote {out} (job demo, log %x-%j.log; submit: sbatch {out})" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--time", "1h"), "--time '1h' is not a Slurm time limit"),
        (("--partition", "gpu cpu"), "--partition 'gpu cpu' is not one word for sbatch"),
        (("--input", "videos"), "--input 'videos' is not a path the job can mount"),
        (("--log", "a b.log"), "--log 'a b.log' is not one word for sbatch"),
        (("--mem-per-node", "lots"), "--mem-per-node 'lots' is not a Slurm memory size"),
        (("--ulimit", "memlock=-1"), "--ulimit is for --runtime docker"),
    ],
)
def test_cli_refuses(project, args, message) -> None:
    values = dict(zip(REQUIRED[::2], REQUIRED[1::2], strict=True))
    values.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = cli(project, *(part for pair in values.items() for part in pair))
    assert result.exit_code == 1 and message in result.output, result.output


def test_submit_hands_the_script_to_sbatch(project, tmp_path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text('#!/bin/sh\necho "$@" >"$(dirname "$0")/args"\necho 4242\n')
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    result = cli(project, "--slurm", *REQUIRED, "--log", "logs/%x-%j.log", command=("submit",))
    assert result.exit_code == 0, result.output
    kept = project / ".curator-kit" / "slurm" / "demo.sbatch"
    assert (bin_dir / "args").read_text().split() == ["--parsable", str(kept)]
    assert "#SBATCH --output=logs/%x-%j.log" in kept.read_text()
    assert result.stdout.strip().endswith("4242")
    assert f"submitted job 4242; log: {tmp_path / 'logs' / 'demo-4242.log'}" in result.output


def test_submit_without_sbatch_says_where_to_run(project, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    result = cli(project, "--slurm", *REQUIRED, "--script", str(tmp_path / "job.sbatch"), command=("submit",))
    assert result.exit_code == 1 and "sbatch is not installed here" in result.output, result.output
    assert (tmp_path / "job.sbatch").exists()  # kept, to copy to a login node


def test_stages_too_big_for_the_nodes_are_sized_to_them(tmp_path) -> None:
    from curator_kit.core.project.manifest import ClippingSettings

    m = manifest()
    m.clipping = ClippingSettings(method="fixed-stride", encoder_cpus=6.0)
    result = render_script(m, tmp_path, options(nodes=2, cpus_per_node=4), labels_of(m, tmp_path))
    assert "--stage-cpus ClipTranscodingStage=4" in result.text
    # The placement's note is written into the script's header, on the execution line.
    assert "; CPUs sized to a node (4 cores): ClipTranscodingStage 6 -> 4" in result.text
