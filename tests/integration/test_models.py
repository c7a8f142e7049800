"""Model weights on the real engine, against a Hugging Face stand-in (fakehub.py) on the Docker bridge:
`models pull` fills the cache once, a run without weights is refused, a wrong token is one line, and
a baked model's weights are in the image while the token is nowhere in it."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakehub import FakeHub, FakeRepo

TAG = "curator-kit-test/models:latest"
TOKEN = "hf_goodTOKENsentinel7c1e"  # the gated repositories' token: must reach no printed line or image


def state_dicts(docker_client, image: str, scales: list[float], out: Path) -> list[bytes]:
    """torch.save'd {"weight": 2x2 of scale} each, made by the base image's torch (the host may have none)."""
    script = (
        "import sys, torch\n"
        "for i, scale in enumerate(map(float, sys.argv[1:])):\n"
        "    torch.save({'weight': torch.full((2, 2), scale)}, f'/out/{i}.pt')\n"
    )
    docker_client.containers.run(
        image,
        ["python", "-c", script, *map(str, scales)],
        volumes={str(out): {"bind": "/out", "mode": "rw"}},
        user=f"{os.getuid()}:{os.getgid()}",
        environment={"HOME": "/tmp"},
        network_disabled=True,
        remove=True,
    )
    return [(out / f"{i}.pt").read_bytes() for i in range(len(scales))]


def tiny_repo(scale: float, state_dict: bytes, token: str | None = None) -> FakeRepo:
    config = json.dumps({"model_type": "tiny", "scale": scale}).encode()
    return FakeRepo({"config.json": config, "model.pt": state_dict}, token=token)


def bridge_gateway(docker_client) -> str:
    config = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def cli(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "curator_kit", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    if check and result.returncode != 0:
        raise AssertionError(f"curator-kit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def hub(docker_client, curator_base_image, tmp_path_factory):
    made = tmp_path_factory.mktemp("state-dicts")
    tiny, gated, baked = state_dicts(docker_client, curator_base_image, [3.0, 5.0, 7.0], made)
    with FakeHub(bridge_gateway(docker_client)) as running:
        running.repos["org/tiny"] = tiny_repo(3.0, tiny)
        running.repos["org/gated"] = tiny_repo(5.0, gated, token=TOKEN)
        running.repos["org/baked"] = tiny_repo(7.0, baked, token=TOKEN)
        yield running


@pytest.fixture(scope="module")
def env(hub, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_CACHE"))}
    return {**clean, "HF_ENDPOINT": hub.endpoint, "XDG_CACHE_HOME": str(home / "cache"), "HF_HOME": str(home / "hf")}


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image, env, hub) -> Path:
    root = tmp_path_factory.mktemp("models")
    cli("init", "weights", "--base-image", curator_base_image, cwd=root, env=env)
    project_dir = root / "weights"
    # The bake step reads HF_ENDPOINT from the image's environment, as a mirror setting would be.
    cli("new-env", "hub", "--env", f"HF_ENDPOINT={hub.endpoint}", cwd=project_dir, env=env)
    cli("new-model", "tiny", "--hf-repo", "org/tiny", cwd=project_dir, env=env)
    cli("new-model", "gated", "--hf-repo", "org/gated", cwd=project_dir, env=env)
    cli("new-model", "baked", "--hf-repo", "org/baked", "--bake", cwd=project_dir, env=env)
    cli("new-stage", "caption", "--model", "tiny", cwd=project_dir, env=env)
    return project_dir


@pytest.fixture(scope="module")
def built(project, env, docker_client, hub) -> str:
    started = int(time.time()) - 2
    printed = cli("build", "--tag", TAG, "--no-cache", cwd=project, env={**env, "HF_TOKEN": TOKEN})
    yield TAG, printed, started
    docker_client.images.remove(TAG, force=True)


def test_pull_fills_the_cache_and_a_second_pull_transfers_nothing(built, project, env, hub):
    cache = Path(env["XDG_CACHE_HOME"]) / "curator-kit" / "models"
    cli("models", "pull", "tiny", "--image", TAG, cwd=project, env=env)
    assert (cache / "tiny" / ".curator-kit-complete").read_text().strip() == "main"
    assert (cache / "tiny" / "model.pt").read_bytes() == hub.repos["org/tiny"].files["model.pt"]
    fetched = sum(hub.downloads.values())
    second = cli("models", "pull", "tiny", "--image", TAG, cwd=project, env=env)
    assert "nothing to pull" in second.stderr
    assert sum(hub.downloads.values()) == fetched
    listed = cli("models", "list", "--image", TAG, cwd=project, env=env).stdout
    rows = {
        line.split()[0]: line.split()[2] for line in listed.splitlines()[1:] if line.startswith(("tiny", "ga", "ba"))
    }
    assert rows == {"tiny": "cached", "gated": "missing", "baked": "baked"}


def test_a_wrong_token_is_one_clear_line(built, project, env):
    result = cli(
        "models", "pull", "gated", "--image", TAG, cwd=project, env={**env, "HF_TOKEN": "hf_wrong"}, check=False
    )
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model gated" in errors[0] and "HF_TOKEN" in errors[0], result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    ok = cli("models", "pull", "gated", "--image", TAG, cwd=project, env={**env, "HF_TOKEN": TOKEN})
    assert TOKEN not in ok.stdout + ok.stderr


def test_a_run_with_an_empty_cache_is_refused_with_the_fix(built, project, env, tmp_path, docker_client):
    videos = tmp_path / "in"
    videos.mkdir()
    empty = {**env, "XDG_CACHE_HOME": str(tmp_path / "empty-cache")}
    result = cli(
        "run",
        "--image",
        TAG,
        "--input",
        str(videos),
        "--output",
        str(tmp_path / "out"),
        cwd=project,
        env=empty,
        check=False,
    )
    assert result.returncode == 1
    assert "weights missing for model tiny" in result.stderr and "curator-kit models pull tiny" in result.stderr
    started = docker_client.containers.list(all=True, filters={"label": "curator-kit.project=weights"})
    assert started == []  # refused before any container started


def test_baked_weights_are_in_the_image_and_the_token_nowhere(built, docker_client, hub):
    tag, printed, started = built
    assert TOKEN not in printed.stdout + printed.stderr
    image = docker_client.images.get(tag)
    assert json.loads(image.labels["curator-kit.baked-models"]) == {"baked": "main"}
    assert TOKEN not in json.dumps(image.attrs)
    assert TOKEN not in json.dumps(docker_client.api.history(tag))
    new_files = f"find / -xdev -type f -newerct @{started}"
    holding = f"{new_files} -exec grep -lsF {TOKEN} {{}} +"
    script = f"cat /opt/models/baked/.curator-kit-complete; echo ==holding; {holding}; echo ==end"
    out = docker_client.containers.run(tag, ["sh", "-c", script], network_disabled=True, remove=True).decode()
    head, _, rest = out.partition("==holding\n")
    assert head.strip() == "main"
    assert rest.partition("==end")[0].split() == []
    # Logs are text (json-file): compare a digest, not the bytes.
    argv = ["sha256sum", "/opt/models/baked/model.pt"]
    baked = docker_client.containers.run(tag, argv, network_disabled=True, remove=True).decode().split()[0]
    assert baked == hashlib.sha256(hub.repos["org/baked"].files["model.pt"]).hexdigest()


# The stage's work: record what the loaded weights say, into the run's output (one file per clip).
STAGE_BODY = """
        import pathlib

        scale = float(self._model._model["weight"].mean())
        pathlib.Path("/data/output/weights-seen").mkdir(exist_ok=True)
        pathlib.Path("/data/output/weights-seen", f"{clip.uuid}.txt").write_text(f"{scale:g}")
"""


def test_a_run_loads_the_cached_weights_offline(built, project, env, tmp_path):
    from curator_kit.ops.samples import make_sample_videos

    model = project / "models" / "tiny.py"
    text = model.read_text()
    loader = "# Load them here, e.g. self._model = AutoModel.from_pretrained(self.model_dir)"
    assert text.count(loader) == 1, "the model template changed"
    model.write_text(
        text.replace(loader, 'import torch\n        self._model = torch.load(self.model_dir / "model.pt")')
    )
    stage = project / "stages" / "caption.py"
    stage.write_text(stage.read_text().rstrip("\n") + "\n" + STAGE_BODY)
    manifest = project / "curator-kit.toml"
    manifest.write_text(manifest.read_text().replace("clip_len_s = 10.0", "clip_len_s = 2.0"))
    tag = "curator-kit-test/models-run:latest"
    cli("build", "--tag", tag, cwd=project, env={**env, "HF_TOKEN": TOKEN})
    try:
        cli("models", "pull", "--image", tag, cwd=project, env=env)  # tiny is cached already: nothing to do
        make_sample_videos(tmp_path / "videos", count=1, seconds=4.0, fps=24)
        result = cli(
            "run",
            "--image",
            tag,
            "--input",
            str(tmp_path / "videos"),
            "--output",
            str(tmp_path / "out"),
            cwd=project,
            env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"},  # offline: the hub is not asked
        )
        assert "/opt/models/tiny (read-only)" in result.stderr
        seen = [p.read_text() for p in (tmp_path / "out" / "weights-seen").glob("*.txt")]
        assert seen and set(seen) == {"3"}, result.stderr  # org/tiny's weights are 3.0 everywhere
    finally:
        cli("models", "list", "--image", tag, cwd=project, env=env, check=False)
        import docker

        docker.from_env().images.remove(tag, force=True)
