"""Fixtures for tests against a real Docker engine.

No engine: the tests skip with the reason, unless CURATOR_KIT_REQUIRE_ENGINE=1 (set by
scripts/test after it made an engine answer), where a missing engine is a failure.
The curator base image is built once per machine and reused by tag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from engines import DOCKER, PODMAN, PODMAN_HOST, Engine, copy_image, podman_client

BASE_TAG = os.environ.get("CURATOR_KIT_TEST_BASE_IMAGE", "curator-kit/base:1.4.0-cpu")
CUDA_BASE_TAG = os.environ.get("CURATOR_KIT_TEST_CUDA_BASE_IMAGE", "curator-kit/base:1.4.0-cuda")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@contextmanager
def visible_output(config: pytest.Config) -> Iterator[None]:
    """Let long work (image builds) stream its progress through pytest's capture."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


@pytest.fixture(scope="session")
def docker_client():
    from curator_kit.engine.client import connect
    from curator_kit.errors import CuratorKitError

    try:
        client = connect()
    except CuratorKitError as error:
        if os.environ.get("CURATOR_KIT_REQUIRE_ENGINE") == "1":
            pytest.fail(f"a Docker engine is required here: {error.one_line()}")
        pytest.skip(f"no Docker engine: {error.one_line()}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def curator_base_image(docker_client, pytestconfig: pytest.Config) -> str:
    """The cpu base image tag, built through curator-kit itself when absent or stale.

    Reused by tag once per machine, but only when its recipe label matches this checkout's recipe:
    an image from an older Dockerfile.base (say, without libopenh264) under the same tag is rebuilt."""
    from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
    from curator_kit.core.build.pipconfig import read_pip_settings
    from curator_kit.ops.base_build import ensure_base
    from curator_kit.ops.progress import PlainProgress

    plan = plan_base_build(BaseBuildOptions(variant="cpu", tag=BASE_TAG), read_pip_settings())
    with visible_output(pytestconfig):
        return ensure_base(docker_client, plan, PlainProgress(), lambda message: print(message, flush=True))


@pytest.fixture(scope="session")
def cuda_base_image(docker_client, curator_base_image, pytestconfig: pytest.Config) -> str:
    """The cuda base image tag, built like the cpu one (once per machine, reused while its recipe
    matches). After the cpu base: on the same bootstrap root the two share the system and ffmpeg
    layers, so ffmpeg is compiled once."""
    from curator_kit.core.build.baseimage import BaseBuildOptions, plan_base_build
    from curator_kit.core.build.pipconfig import read_pip_settings
    from curator_kit.ops.base_build import ensure_base
    from curator_kit.ops.progress import PlainProgress

    plan = plan_base_build(BaseBuildOptions(variant="cuda", tag=CUDA_BASE_TAG), read_pip_settings())
    with visible_output(pytestconfig):
        return ensure_base(docker_client, plan, PlainProgress(), lambda message: print(message, flush=True))


@pytest.fixture(scope="module", params=[DOCKER, PODMAN])
def engine(request: pytest.FixtureRequest, docker_client, curator_base_image) -> Iterator[Engine]:
    """The engine a module's tests run on: the module runs once on Docker, then once on Podman's
    Docker-compatible service with Docker's cpu base loaded into it (engines.copy_image). Every curator-kit
    the tests start meanwhile finds the engine through DOCKER_HOST, as a user's would."""
    if request.param == DOCKER:
        yield Engine(DOCKER, docker_client)
        return
    client = podman_client(timeout=600)
    with visible_output(request.config):
        print(f"the cpu base {curator_base_image} into Podman when it lacks it", flush=True)
        copy_image(docker_client, client, curator_base_image)
    env = {"DOCKER_HOST": PODMAN_HOST}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", PODMAN_HOST)
        yield Engine(PODMAN, client, env)
    client.close()


@pytest.fixture(scope="session")
def bootstrap_image(docker_client) -> str:
    """A plain Debian image for engine tests that need any local image (nothing can be pulled)."""
    from curator_kit.engine.images import image_exists
    from curator_kit.ops.base_build import bootstrap_image as make_bootstrap
    from curator_kit.ops.bootstrap import plan_bootstrap

    plan = plan_bootstrap("bookworm")
    if not image_exists(docker_client, plan.tag):
        make_bootstrap(docker_client, plan, lambda message: print(message, flush=True))
    return plan.tag


# pytest-docker: our compose file, and whichever compose the machine has (v2 plugin or Debian's v1).
@pytest.fixture(scope="session")
def docker_compose_file(pytestconfig: pytest.Config) -> str:
    return os.path.join(os.path.dirname(__file__), "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    import shutil
    import subprocess

    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return "docker compose"
    if shutil.which("docker-compose"):
        return "docker-compose"
    pytest.fail("neither `docker compose` nor `docker-compose` is installed -- scripts/test installs docker-compose")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up --build -d"]  # v1 compose has no --wait; readiness is polled by the fixtures


@pytest.fixture(scope="session")
def local_registry(bootstrap_image, docker_services, docker_ip) -> str:
    """host:port of a registry on loopback, built from Debian's docker-registry package."""
    import urllib.request

    port = docker_services.port_for("registry", 5000)
    address = f"{docker_ip}:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    docker_services.wait_until_responsive(check=answers, timeout=60, pause=0.5)
    return address


@pytest.fixture(scope="session")
def official_layout_image(docker_client, curator_base_image, pytestconfig: pytest.Config) -> str:
    """A stand-in for NVIDIA's NeMo Curator image layout (official_layout/Dockerfile says what it
    mimics), built from the cpu base once per machine: its tag carries a digest of the recipe and
    of the base image, so a change to either builds it again."""
    import hashlib
    from pathlib import Path

    from curator_kit.core.build.buildcontext import BuildContext
    from curator_kit.engine.images import build_image, image_exists
    from curator_kit.ops.progress import PlainProgress
    from curator_kit.resources import base_images_dir

    recipe = Path(__file__).parent / "official_layout" / "Dockerfile"
    ffmpeg_script = base_images_dir() / "build-ffmpeg.sh"
    base_id = docker_client.images.get(curator_base_image).id
    digest = hashlib.sha256(recipe.read_bytes() + ffmpeg_script.read_bytes() + base_id.encode()).hexdigest()[:12]
    tag = f"curator-kit-test/official-layout:{digest}"
    if not image_exists(docker_client, tag):
        context = BuildContext()
        context.add_file("Dockerfile", recipe)
        context.add_file("build-ffmpeg.sh", ffmpeg_script)
        with visible_output(pytestconfig):
            print(f"building {tag}: a stand-in for NVIDIA's Curator image layout (once per machine)", flush=True)
            build_image(
                docker_client, context, tag=tag, buildargs={"BASE_IMAGE": curator_base_image}, progress=PlainProgress()
            )
    return tag
