"""curator-kit build on the real engine: a scaffolded project with two stages and an env with
pip and apt packages, built on the cpu base image; labels, `curator-kit test`, the SBOM, push, private
indexes and interrupts. The builder's own behaviour (cache reuse, a failed step) is test_builder.py's, on
both engines."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from functools import partial
from pathlib import Path

import kitcli
import pytest
from buildproject import scaffold_build_project
from privateindex import bridge_gateway, self_signed_certificate

# Every call here must succeed unless it says check=False.
cli = partial(kitcli.cli, check=True)


TAG = "curator-kit-test/build-it:latest"


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    return scaffold_build_project(tmp_path_factory.mktemp("build"), curator_base_image)


@pytest.fixture(scope="module")
def built(project, docker_client) -> str:
    cli("build", "--tag", TAG, cwd=project)
    yield TAG
    docker_client.images.remove(TAG, force=True)


def test_labels_describe_the_stages(built, docker_client, project):
    labels = docker_client.images.get(built).labels
    stages = json.loads(labels["curator-kit.stages"])
    assert [s["name"] for s in stages] == ["brightness", "tagger"]
    assert stages[0]["env"] == "tools" and stages[0]["resources"]["cpus"] == 0.5
    assert json.loads(labels["curator-kit.codec-needs"]) == {"tagger": {"nvdecs": 1, "nvencs": 0}}
    assert labels["curator-kit.curator-version"] == "1.4.0"
    assert labels["curator-kit.project"] == "build-it"
    record = json.loads((project / ".curator-kit" / "last-build.json").read_text())
    assert record["image"] == TAG and record["image_id"] == docker_client.images.get(built).id
    inspected = cli("inspect", cwd=project).stdout
    assert "brightness" in inspected and "tagger" in inspected and "tools" in inspected


def test_image_has_env_packages_and_only_project_files(built, docker_client):
    script = "jq --version && python -c 'import tabulate; print(tabulate.__version__)' && echo $TOOLS_MODE && ls -A"
    out = docker_client.containers.run(built, ["sh", "-c", script], remove=True).decode().split()
    assert out[0].startswith("jq-1.") and out[1] == "0.9.0" and out[2] == "on"
    listing = set(out[3:])
    assert {"curator-kit.toml", "pipeline.py", "stages", "tests"} <= listing
    assert not listing & {"out", ".git", ".curator-kit", ".venv"}


def test_project_tests_pass_inside_the_image(built, project):
    result = cli("test", cwd=project, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_pytest_exit_code_passes_through(built, project):
    result = cli("test", "--", "-k", "nothing_matches_this", cwd=project, check=False)
    assert result.returncode == 5  # pytest's "no tests collected", passed through unchanged


def test_the_images_sbom_is_its_own_and_lists_the_envs_packages(built, project, tmp_path):
    """The facts step writes the project image's own SBOM (named after the project, not inherited from
    the base): the env's pip and apt packages are components; the label summarises it."""
    target = tmp_path / "sbom.cdx.json"
    result = cli("sbom", "-o", str(target), cwd=project)
    assert "warning" not in result.stderr, result.stderr
    bom = json.loads(target.read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["metadata"]["component"]["name"] == "build-it"
    purls = {component.get("purl", "") for component in bom["components"]}
    assert "pkg:pypi/tabulate@0.9.0" in purls and any(purl.startswith("pkg:deb/debian/jq@") for purl in purls)
    assert "sbom             CycloneDX 1.5, " in cli("inspect", cwd=project).stdout


def test_push_to_a_local_registry(built, project, local_registry, docker_client):
    remote = f"{local_registry}/build-it:it"
    result = cli("build", "--tag", remote, "--push", cwd=project)
    assert "Pushed" in result.stderr or "pushed" in result.stderr.lower()
    import urllib.request

    with urllib.request.urlopen(f"http://{local_registry}/v2/build-it/tags/list", timeout=10) as response:
        assert json.loads(response.read())["tags"] == ["it"]
    docker_client.images.remove(remote, force=True)


def test_wheelhouse_with_only_base_image_requirements_builds(curator_base_image, docker_client, tmp_path):
    # Bug: with [build] wheelhouse and `new-env --pip av` (av is in the base image), pip installed nothing
    # into /tmp/deps and the build failed at `COPY --from=project-deps /tmp/deps/`.
    # Also checks on the real builder that a `$` in an ENV value stays literal (it used to expand to "").
    tag = "curator-kit-test/wheelhouse-noop:latest"
    cli("init", "noop", "--base-image", curator_base_image, cwd=tmp_path)
    project_dir = tmp_path / "noop"
    cli("new-env", "media", "--pip", "av", "--env", "LITERAL=$HOME-x", cwd=project_dir)
    (project_dir / "wheels").mkdir()
    manifest = project_dir / "curator-kit.toml"
    manifest.write_text(manifest.read_text().replace('wheelhouse = ""', 'wheelhouse = "wheels"'))
    try:
        cli("build", "--tag", tag, cwd=project_dir)
        # A whole line: the engine's log driver may hold back an unterminated last line.
        script = 'echo "$LITERAL"; python -c "import av"'
        assert docker_client.containers.run(tag, ["sh", "-c", script], remove=True).decode() == "$HOME-x\n"
    finally:
        if docker_client.images.list(name=tag):
            docker_client.images.remove(tag, force=True)


# ---------------------------------------------------------------- credentials and interrupts

# New each run: an image layer holding it cannot be one the engine already had from an earlier run.
SENTINEL = f"ck-SENTINEL-{secrets.token_hex(6)}"
PROBE = "ck-sentinel-probe"


def _probe_wheel(directory: Path) -> Path:
    """A one-module wheel, written by hand: building one with pip would need setuptools from PyPI."""
    name = "ck_sentinel_probe-0.1-py3-none-any.whl"
    files = {
        "ck_sentinel_probe/__init__.py": b'VALUE = "probe-ok"\n',
        "ck_sentinel_probe-0.1.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 0.1\n".encode(),
        "ck_sentinel_probe-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files["ck_sentinel_probe-0.1.dist-info/RECORD"] = (
        "\n".join([*record, "ck_sentinel_probe-0.1.dist-info/RECORD,,"]) + "\n"
    ).encode()
    wheel = directory / "packages" / name
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


@pytest.fixture
def private_index(docker_client, curator_base_image, tmp_path):
    """A PyPI-like simple index holding one wheel, over HTTPS (pip trusts plain HTTP on loopback only,
    which a build step cannot reach) with a self-signed certificate, answering only requests that
    carry the sentinel credential. Yields (index URL, certificate path, Authorization headers seen)."""
    gateway = bridge_gateway(docker_client)
    tls = tmp_path / "tls"  # outside the project: the key must never be in a build context
    self_signed_certificate(docker_client, curator_base_image, gateway, tls)  # openssl from the base image
    root = tmp_path / "index"
    wheel = _probe_wheel(root)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = root / "simple" / PROBE / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<a href="/packages/{wheel.name}#sha256={digest}">{wheel.name}</a>\n')
    expected = "Basic " + base64.b64encode(f"ci-bot:{SENTINEL}".encode()).decode()
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            seen.append(self.headers.get("Authorization", ""))
            if seen[-1] != expected:
                self.send_error(401)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((gateway, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://ci-bot:{SENTINEL}@{gateway}:{server.server_address[1]}/simple/", tls / "cert.pem", seen
    finally:
        server.shutdown()
        server.server_close()


def test_index_credentials_reach_no_printed_line_and_no_part_of_the_image(
    curator_base_image, docker_client, private_index, tmp_path
):
    index_url, certificate, seen = private_index
    tag = "curator-kit-test/credentials:latest"
    cli("init", "creds", "--base-image", curator_base_image, cwd=tmp_path)
    project_dir = tmp_path / "creds"
    cli("new-env", "probe", "--pip", f"{PROBE}==0.1", cwd=project_dir)
    manifest = project_dir / "curator-kit.toml"
    text = manifest.read_text().replace('pip_index_url = ""', f'pip_index_url = "{index_url}"')
    manifest.write_text(text.replace("ca_certs = []", f'ca_certs = ["{certificate}"]'))
    try:
        printed = [cli("dockerfile", cwd=project_dir), cli("build", "--dry-run", cwd=project_dir)]
        build_started = int(time.time()) - 2
        printed.append(cli("build", "--tag", tag, "--no-cache", cwd=project_dir))
        for result in printed:
            assert SENTINEL not in result.stdout + result.stderr
        assert "ci-bot:****@" in printed[1].stdout
        assert seen and all(SENTINEL not in header for header in seen)  # headers are base64: decode to check
        assert base64.b64decode(seen[-1].split()[1]).decode() == f"ci-bot:{SENTINEL}"  # pip used the credential

        image = docker_client.images.get(tag)
        assert SENTINEL not in json.dumps(image.attrs)  # config: labels, ENV, Cmd, ContainerConfig
        assert SENTINEL not in json.dumps(docker_client.api.history(tag))  # `docker history --no-trunc`
        # The image's filesystem: every file of the layers this build made (their files changed status
        # after it started; the base image's did not), a few thousand instead of the base's gigabytes.
        new_files = f"find / -xdev -type f -newerct @{build_started}"
        script = (
            'python -c "import ck_sentinel_probe as p; print(p.VALUE)"; env; echo ==scanned; '
            f"{new_files} -print; echo ==holding; {new_files} -exec grep -lsF {SENTINEL} {{}} +; echo ==end"
        )
        out = docker_client.containers.run(tag, ["sh", "-c", script], network_disabled=True, remove=True).decode()
        head, _, rest = out.partition("==scanned\n")
        scanned, _, rest = rest.partition("==holding\n")
        holding, _, _ = rest.partition("==end")
        assert head.startswith("probe-ok\n")  # installed from the private index, in the throwaway stage
        assert SENTINEL not in head  # the image's environment
        assert "/workspace/curator-kit.toml" in scanned.split() and "ck_sentinel_probe/__init__.py" in scanned
        assert holding.split() == []  # no file of the image holds the sentinel
    finally:
        if docker_client.images.list(name=tag):
            docker_client.images.remove(tag, force=True)


def test_interrupted_build_is_one_line_exit_130_and_leaves_nothing(curator_base_image, docker_client, tmp_path):
    tag = "curator-kit-test/interrupted:latest"
    marker = "ck-interrupt-probe-4d1e"  # an apt package no mirror has: names the step's container
    cli("init", "halt", "--base-image", curator_base_image, cwd=tmp_path)
    project_dir = tmp_path / "halt"
    cli("new-env", "slow", "--apt", marker, cwd=project_dir)

    def step_containers() -> list[dict]:
        return [c for c in docker_client.api.containers(all=True) if marker in c["Command"]]

    process = subprocess.Popen(
        [sys.executable, "-m", "curator_kit", "build", "--tag", tag, "--no-cache"],
        cwd=project_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:  # plain progress: one line per step
        seen.append(line)
        if "RUN apt-get update" in line:
            break
    deadline = time.monotonic() + 60
    while not step_containers() and time.monotonic() < deadline:  # the step's container is running
        time.sleep(0.2)
    assert step_containers(), "".join(seen)
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: build interrupted (SIGINT) -- run the same command")
    assert "Traceback" not in stderr and not stdout
    assert not docker_client.images.list(name=tag)
    deadline = time.monotonic() + 30  # the engine cancels the build once its client has gone
    while step_containers() and time.monotonic() < deadline:
        time.sleep(1)
    assert not step_containers()
