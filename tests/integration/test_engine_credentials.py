"""No credential anywhere on the engine. A sentinel goes in through all three paths that carry one:
`build` installing from a private index that wants a password, `build` baking a gated model with an
HF token, and `base build --pip-index-url` with a password. Then every image the engine has (tagged,
untagged, intermediate, base-stages) is searched for it: config, labels, history, and the files of
every layer made since the module began. The steps that used the credential ran (the index and the
hub saw it), and an unchanged or code-only rebuild runs none of them again."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import kitcli
import pytest
from fakehub import FakeHub, FakeRepo
from privateindex import PrivateIndex, bridge_gateway
from wheels import pure_python_wheel

# New each run: a layer holding it cannot be one the engine had from an earlier run.
SENTINEL = f"ck-ENGINE-SENTINEL-{secrets.token_hex(6)}"
TOKEN = f"hf_{SENTINEL}"
USER = "ci-bot"
PROBE = "ck-sentinel-probe"
# Bytes only this run's baked weights hold: the scan must find them where the weights are.
WEIGHTS = f"weights-{secrets.token_hex(8)}".encode()
TAG = "curator-kit-test/engine-credentials:latest"
BASE_TAG = "curator-kit-test/engine-credentials-base:1"
STAND_IN = Path(__file__).parent / "stand_in_base"


@pytest.fixture(scope="module")
def started() -> float:
    return time.time() - 2


@pytest.fixture(scope="module")
def index(started, docker_client, curator_base_image, tmp_path_factory):
    root = tmp_path_factory.mktemp("private-index")
    wheel = pure_python_wheel(root / "wheels", PROBE, "0.1", 'VALUE = "probe-ok"\n')
    with PrivateIndex(docker_client, curator_base_image, root / "index", [wheel], USER, SENTINEL) as running:
        yield running


@pytest.fixture(scope="module")
def hub(started, docker_client):
    with FakeHub(bridge_gateway(docker_client)) as running:
        running.repos["org/gated"] = FakeRepo({"config.json": b"{}", "model.bin": WEIGHTS}, token=TOKEN)
        yield running


def cli(*args: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = kitcli.cli(*args, cwd=cwd, env={"HF_TOKEN": "", **env})
    combined = result.stdout + result.stderr
    assert SENTINEL not in combined, f"curator-kit {' '.join(args)} printed the sentinel:\n{combined}"
    return kitcli.ok(result) if check else result


@pytest.fixture(scope="module")
def project(index, hub, curator_base_image, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engine-credentials")
    cli("init", "creds", "--base-image", curator_base_image, cwd=root)
    project_dir = root / "creds"
    cli("new-env", "probe", "--pip", f"{PROBE}==0.1", cwd=project_dir)
    # The bake step reads HF_ENDPOINT from the image's environment, as a mirror setting would be.
    cli("new-env", "hub", "--env", f"HF_ENDPOINT={hub.endpoint}", cwd=project_dir)
    cli("new-model", "gated", "--hf-repo", "org/gated", "--bake", cwd=project_dir)
    cli("new-stage", "touch", cwd=project_dir)
    manifest = project_dir / "curator-kit.toml"
    text = manifest.read_text().replace('pip_index_url = ""', f'pip_index_url = "{index.url}"')
    manifest.write_text(text.replace("ca_certs = []", f'ca_certs = ["{index.certificate}"]'))
    return project_dir


def step_lines(output: str) -> list[str]:
    """The progress lines of the secret steps (`[1/1] STAGE: last RUN ...`) and what followed each."""
    lines = output.splitlines()
    return [
        f"{line} {lines[i + 1].strip()}"
        for i, line in enumerate(lines[:-1])
        if line.startswith("[1/1] ") and "in a throwaway container" in line
    ]


def test_build_with_an_index_password_and_an_hf_token(project, index, hub, docker_client):
    dry = cli("build", "--dry-run", cwd=project, HF_TOKEN=TOKEN)
    assert f"{USER}:****@" in dry.stdout and "step      project-deps: last RUN in a throwaway container" in dry.stdout
    built = cli("build", "--tag", TAG, cwd=project, HF_TOKEN=TOKEN)
    assert index.granted >= 1 and hub.downloads["org/gated/model.bin"] == 1  # both steps used their credential
    steps = step_lines(built.stderr)
    assert len(steps) == 2 and all("(cached)" not in line for line in steps), built.stderr
    out = docker_client.containers.run(
        TAG,
        [
            "sh",
            "-c",
            'python -c "import ck_sentinel_probe as p; print(p.VALUE)"; cat /opt/models/gated/model.bin; echo',
        ],
        network_disabled=True,
        remove=True,
        stderr=True,
    )
    assert out.decode().splitlines() == ["probe-ok", WEIGHTS.decode()], out.decode()


def test_an_unchanged_or_code_only_rebuild_runs_no_step_again(project, index, hub):
    asked, fetched = len(index.seen), sum(hub.downloads.values())
    again = cli("build", "--tag", TAG, cwd=project, HF_TOKEN=TOKEN)
    stage = project / "stages" / "touch.py"
    stage.write_text(stage.read_text() + "\n# a code-only change\n")
    code_only = cli("build", "--tag", TAG, cwd=project, HF_TOKEN=TOKEN)
    for result in (again, code_only):
        steps = step_lines(result.stderr)
        assert len(steps) == 2 and all(line.endswith("(cached)") for line in steps), result.stderr
    assert len(index.seen) == asked and sum(hub.downloads.values()) == fetched  # no request at all


def test_base_build_with_an_index_password(index, curator_base_image, docker_client, tmp_path):
    recipes = tmp_path / "base-images"
    (recipes / "stand-in").mkdir(parents=True)
    for name in ("Dockerfile", "variant.toml"):
        shutil.copy(STAND_IN / name, recipes / "stand-in" / name)
    shutil.copy(STAND_IN / "check-image.py", recipes / "check-image.py")
    real = Path(__file__).parents[2] / "base-images"
    shutil.copy(real / "probe-codecs.py", recipes / "probe-codecs.py")
    # Shared, and read by `base build` itself: it summarises the image's SBOM (inherited from the cpu base) with it.
    shutil.copy(real / "sbom.py", recipes / "sbom.py")
    for stub in ("build-ffmpeg.sh", "supported-ray.py"):  # shared scripts every context carries
        (recipes / stub).write_text("# not used by the stand-in recipe\n")
    # `base build` itself, its recipes read from the stand-in folder (base-images/ holds only real variants).
    program = (
        "import sys, pathlib, curator_kit.resources as r; folder = pathlib.Path(sys.argv[1]);"
        " r.base_images_dir = lambda: folder; from curator_kit.cli import main; main(sys.argv[2:])"
    )
    argv = ["base", "build", "--variant", "stand-in", "--tag", BASE_TAG, "--from", curator_base_image]
    argv += ["--pip-index-url", index.url, "--ca-cert", str(index.certificate), "--no-host-pip"]
    try:
        granted = index.granted
        result = subprocess.run(
            [sys.executable, "-c", program, str(recipes), *argv], capture_output=True, text=True, timeout=900
        )
        combined = result.stdout + result.stderr
        assert result.returncode == 0, combined
        assert SENTINEL not in combined and f"{USER}:****@" in combined
        assert "arg       PIP_INDEX_URL" not in combined and "secret    pip.conf for stage venv only" in combined
        assert index.granted > granted  # the venv step installed from the index, with the password
        assert json.loads(docker_client.images.get(BASE_TAG).labels["curator-kit.base.versions"]) == {
            "probe": "probe-ok"
        }
        assert docker_client.images.get("curator-kit-test/engine-credentials-base-stages:1-venv")  # the step, tagged
        granted = index.granted
        again = subprocess.run(
            [sys.executable, "-c", program, str(recipes), *argv], capture_output=True, text=True, timeout=900
        )
        assert again.returncode == 0 and SENTINEL not in again.stdout + again.stderr, again.stderr
        assert index.granted == granted and step_lines(again.stderr)[0].endswith("(cached)")  # the step reused
    finally:
        for tag in (BASE_TAG, "curator-kit-test/engine-credentials-base-stages:1-venv"):
            if docker_client.images.list(name=tag):
                docker_client.images.remove(tag, force=True)


def test_no_image_on_the_engine_holds_a_credential(started, docker_client):
    """After the three paths: every image, every history entry, config and label, and every file of
    every layer made since the module began. The sentinel is in none; the probe and the baked weights
    are found (the search reaches the layers that hold what the credentials fetched)."""
    images = docker_client.api.images(all=True)
    layer_dirs: set[str] = set()
    for image in images:
        attrs = docker_client.api.inspect_image(image["Id"])
        assert SENTINEL not in json.dumps(attrs), f"{image['Id']} {image.get('RepoTags')}: config or labels"
        assert SENTINEL not in json.dumps(docker_client.api.history(image["Id"])), f"{image['Id']}: history"
        data = (attrs.get("GraphDriver") or {}).get("Data") or {}
        for key in ("UpperDir", "LowerDir"):
            layer_dirs.update(d for d in (data.get(key) or "").split(":") if d)
    root = docker_client.info()["DockerRootDir"]
    assert layer_dirs and os.access(root, os.R_OK | os.X_OK), f"this test reads the engine's layers under {root}"
    # Layers other tests remove meanwhile are gone; a layer older than the sentinel cannot hold it.
    fresh = sorted(d for d in layer_dirs if os.path.isdir(d) and os.stat(d).st_ctime >= started)
    image_store = os.path.join(root, "image")  # image configs: history, labels, ENV, container configs

    def holding(needle: bytes, places: list[str]) -> list[str]:
        command = ["grep", "-rlsF", "--", needle.decode(), *places]
        found = subprocess.run(command, capture_output=True, text=True)
        return found.stdout.split()

    assert fresh, "no layer was made since the module began"
    assert holding(SENTINEL.encode(), [*fresh, image_store]) == []
    assert holding(b'VALUE = "probe-ok"', fresh) and holding(WEIGHTS, fresh)  # the search reaches them
    leftovers = [c for c in docker_client.api.containers(all=True) if "curator-kit-secrets" in c["Command"]]
    assert leftovers == []  # no step container stays


@pytest.fixture(scope="module", autouse=True)
def remove_the_project_image(docker_client):
    yield
    if docker_client.images.list(name=TAG):
        docker_client.images.remove(TAG, force=True)
