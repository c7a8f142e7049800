"""Build, pull, import and look up images through the Docker SDK."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.build.buildlog import BuildEvent, BuildFailed, BuildLogParser, BuildProgress, BuildSucceeded
from curator_kit.core.redact import mask_credentials
from curator_kit.engine.identity import engine_is_podman
from curator_kit.engine.podman import classic_build_stream, docker_style_name
from curator_kit.engine.stopsignals import stop_signals
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.core.parsers import Ulimit


class BuildInterrupted(CuratorKitError):
    """SIGINT or SIGTERM during a build: uncaught, the CLI exits 128+N with one line, as an interrupted
    run does. The engine cancels a build whose client has gone, and tags only a finished one."""

    def __init__(self, signum: int) -> None:
        super().__init__(
            f"build interrupted ({signal.Signals(signum).name})",
            "run the same command again: the steps that finished come from the build cache",
        )
        self.signum = signum
        self.exit_code = 128 + signum


def _interrupt_build(signum: int, _frame: object) -> None:
    raise BuildInterrupted(signum)


def stop_build_on_signals() -> AbstractContextManager[None]:
    """Inside the block, SIGINT and SIGTERM raise BuildInterrupted (one line, exit 130/143).
    Only the main thread may set handlers: elsewhere (a caller's worker thread) signals stay as they are."""
    if threading.current_thread() is not threading.main_thread():
        return nullcontext()
    return stop_signals(_interrupt_build)


def image_exists(client: docker.DockerClient, reference: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(reference)
    except ImageNotFound:
        return False
    return True


def image_labels(client: docker.DockerClient, reference: str) -> dict[str, str]:
    """The image's labels; a missing image is one line naming the fix."""
    from docker.errors import ImageNotFound

    try:
        return dict(client.images.get(reference).labels or {})
    except ImageNotFound:
        raise CuratorKitError(
            f"image {reference} is not in the Docker engine",
            "run `curator-kit build` (or pass --image with an image the engine has)",
        ) from None


def image_id_of(client: docker.DockerClient, reference: str) -> str | None:
    """The image's id, or None when the engine does not have it."""
    from docker.errors import ImageNotFound

    try:
        return str(client.images.get(reference).id)
    except ImageNotFound:
        return None


@dataclass(frozen=True)
class LocalImage:
    image_id: str
    tags: tuple[str, ...]  # as Docker names them, on Podman too (engine.podman.docker_style_name)
    labels: dict[str, str]
    size: int  # bytes


def local_images(client: docker.DockerClient, repository: str) -> list[LocalImage]:
    """The engine's images of `repository` (e.g. `curator-kit/base`), each with its tags."""
    podman = engine_is_podman(client)
    found = []
    for image in client.images.list(name=repository):
        tags = tuple(image.tags)
        if podman:
            tags = tuple(dict.fromkeys(docker_style_name(tag) for tag in tags))
        found.append(LocalImage(str(image.id), tags, dict(image.labels or {}), int(image.attrs.get("Size") or 0)))
    return found


@dataclass(frozen=True)
class ImageIdentity:
    image_id: str
    digest: str  # the registry digest (`name@sha256:...`) it was pulled by; empty for an image built here


def image_identity(client: docker.DockerClient, reference: str) -> ImageIdentity | None:
    """The image's id and registry digest, or None when the engine does not have it."""
    from docker.errors import ImageNotFound

    try:
        image = client.images.get(reference)
    except ImageNotFound:
        return None
    digests = image.attrs.get("RepoDigests") or []
    return ImageIdentity(str(image.id), str(digests[0]) if digests else "")


def read_image_file(client: docker.DockerClient, reference: str, path: str) -> str | None:
    """A text file from the image's filesystem, read from a created (never started) container;
    None when the image has no such file."""
    texts, _existing = probe_image_files(client, reference, read=[path], check=[])
    return texts[path]


def image_environment(client: docker.DockerClient, reference: str) -> list[str]:
    """The image's ENV entries (`KEY=value`), as its containers start with them."""
    return list(client.images.get(reference).attrs.get("Config", {}).get("Env") or [])


def probe_image_files(
    client: docker.DockerClient, reference: str, read: Sequence[str], check: Sequence[str]
) -> tuple[dict[str, str | None], frozenset[str]]:
    """The text of the files `read` (None: absent) and which paths of `check` exist, from one created
    (never started) container. Existence is asked with HEAD, so a large binary is never copied."""
    import io
    import tarfile

    from docker.errors import NotFound

    container = client.containers.create(reference, command=["true"])
    try:
        texts: dict[str, str | None] = {}
        for path in read:
            try:
                stream, _stat = container.get_archive(path)
                data = b"".join(stream)
            except NotFound:
                texts[path] = None
                continue
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                member = archive.next()
                extracted = archive.extractfile(member) if member else None
                texts[path] = extracted.read().decode() if extracted else None
        url = client.api._url("/containers/{0}/archive", container.id)
        existing = frozenset(path for path in check if client.api.head(url, params={"path": path}).status_code == 200)
    finally:
        container.remove(force=True)
    return texts, existing


def try_pull(client: docker.DockerClient, reference: str) -> str | None:
    """Pull `reference`; None on success, else the engine's reason (e.g. no registry reachable)."""
    from docker.errors import APIError

    repository, _, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    try:
        client.images.pull(repository, tag=tag)
    except APIError as error:
        return str(error.explanation or error)
    return None


def build_image(
    client: docker.DockerClient,
    context: BuildContext,
    *,
    tag: str | None,
    progress: BuildProgress,
    buildargs: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    nocache: bool = False,
    target: str | None = None,
) -> str:
    """Build with the classic builder, streaming events to `progress`; return the image id. `tag`
    None leaves the image untagged (a stage a build step starts from).

    The engine tags only on success and `forcerm` removes intermediate containers, so a
    failed or interrupted build leaves no tagged half-built image behind.
    """
    parser = BuildLogParser()
    with stop_build_on_signals():
        try:
            for event in _build_events(client, context, parser, tag, buildargs, labels, nocache, target):
                progress.handle(event)
                if isinstance(event, BuildFailed):
                    raise build_error(event)
                if isinstance(event, BuildSucceeded):
                    return event.image_id
        except BuildInterrupted:
            progress.handle(BuildFailed(parser.current, "interrupted", tuple(parser.tail)))  # ends a live display
            raise
    raise CuratorKitError("the engine finished the build without reporting an image id", "run again with --no-cache")


def add_labels(client: docker.DockerClient, image: str, labels: dict[str, str], progress: BuildProgress) -> str:
    """A label-only build on top of `image`, tagged as `image`: the tag moves to an image that has the
    labels (what a build's own steps found, recorded after it). Returns the new image id."""
    context = BuildContext()
    context.add_text("Dockerfile", f"FROM {image}\n")
    return build_image(client, context, tag=image, labels=labels, progress=progress)


def _build_events(
    client: docker.DockerClient,
    context: BuildContext,
    parser: BuildLogParser,
    tag: str | None,
    buildargs: dict[str, str] | None,
    labels: dict[str, str] | None,
    nocache: bool,
    target: str | None,
) -> Iterator[BuildEvent]:
    from docker.errors import DockerException
    from requests import RequestException

    try:
        with context.write_tar() as archive:
            stream = client.api.build(
                fileobj=archive,
                custom_context=True,
                tag=tag,
                buildargs=buildargs or {},
                labels=labels or {},
                nocache=nocache,
                rm=True,
                forcerm=True,
                target=target,
                decode=True,
            )
            if engine_is_podman(client):  # buildah's progress lines, as the classic builder's
                stream = classic_build_stream(stream, lambda short: _full_image_id(client, short))
            for chunk in stream:
                yield from parser.feed(chunk)
        yield from parser.finish()
    except (DockerException, RequestException) as error:
        # Their text may quote the request's URL, which carries the build args: never shown.
        explanation = getattr(error, "explanation", None)
        reason = mask_credentials(str(explanation)) if explanation else type(error).__name__
        raise CuratorKitError(
            f"the Docker engine could not build {tag or f'stage {target}'}: {reason}",
            "`curator-kit doctor` checks the engine",
        ) from None


def _full_image_id(client: docker.DockerClient, short: str) -> str | None:
    """The full id (hex digits, no `sha256:`) of the image whose id starts with `short`, or None."""
    from docker.errors import APIError

    try:
        return str(client.images.get(short).id).removeprefix("sha256:")
    except APIError:  # ImageNotFound among them
        return None


def find_step_image(client: docker.DockerClient, label: str, digest: str, comment: str) -> str | None:
    """The id of the image a build step committed for `digest` (its `label`), if the engine still has
    it. The images built on it inherit the label, not the commit's comment: that tells them apart."""
    for image in client.images.list(all=True, filters={"label": f"{label}={digest}"}):
        if image.attrs.get("Comment") == comment:
            return str(image.id)
    return None


def run_and_commit(
    client: docker.DockerClient,
    image: str,
    argv: list[str],
    mounts: list[tuple[str, str]],
    labels: dict[str, str],
    comment: str,
    on_output: Callable[[str], None],
    ulimits: Sequence[Ulimit] = (),
) -> tuple[int, str | None]:
    """Run `argv` in a throwaway container of `image` (its entrypoint set aside, as RUN does) with each
    (host directory, container path) of `mounts` bind-mounted read-only, streaming its output lines
    to `on_output`; on success commit its changes (mounts are not among them) with `labels` and
    `comment`, the image's own entrypoint and command kept. Returns (exit status, committed image id
    or None). `ulimits`: those the engine needs named (`ops.dockerd_limits.helper_ulimits`). The container
    is removed whatever happens, a signal included."""
    from docker.errors import DockerException
    from docker.types import Mount
    from docker.types import Ulimit as DockerUlimit
    from requests import RequestException

    config = client.images.get(image).attrs.get("Config") or {}
    binds = [Mount(target=target, source=source, type="bind", read_only=True) for source, target in mounts]
    container = None
    try:
        with stop_build_on_signals():
            limits = [DockerUlimit(name=name, soft=soft, hard=hard) for name, soft, hard in ulimits]
            container = client.containers.create(
                image, entrypoint=argv[:1], command=argv[1:], mounts=binds, ulimits=limits
            )
            container.start()
            partial = b""
            for chunk in container.logs(stream=True, follow=True):
                partial += chunk
                *lines, partial = partial.split(b"\n")
                for line in lines:
                    on_output(line.decode(errors="replace").rstrip("\r"))
            if partial:
                on_output(partial.decode(errors="replace"))
            status = int(container.wait().get("StatusCode", 1))
            if status != 0:
                return status, None
            kept = {"Labels": labels, "Entrypoint": config.get("Entrypoint") or [], "Cmd": config.get("Cmd") or []}
            committed = container.commit(message=comment, conf=kept)
            return 0, str(committed.id)
    except (DockerException, RequestException) as error:
        explanation = getattr(error, "explanation", None)
        reason = mask_credentials(str(explanation)) if explanation else type(error).__name__
        raise CuratorKitError(
            f"the Docker engine could not run a build step in {image[:19]}: {reason}",
            "`curator-kit doctor` checks the engine",
        ) from None
    finally:
        if container is not None:
            with suppress(Exception):
                container.remove(force=True)


def tag_image(client: docker.DockerClient, image: str, reference: str) -> None:
    repository, _, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    client.images.get(image).tag(repository, tag=tag)


def build_error(event: BuildFailed) -> CuratorKitError:
    where = f"step {event.step.number}/{event.step.total} `{event.step.instruction}`" if event.step else "the build"
    return CuratorKitError(
        f"build failed at {where}: {event.message}",
        "fix that step (its last output lines are above) and build again",
        details=event.tail,
    )


def import_rootfs(client: docker.DockerClient, tar_path: Path, reference: str, changes: list[str]) -> str:
    """`docker import` a root filesystem tarball; returns the new image id."""
    import json

    repository, _, tag = reference.rpartition(":")
    result = client.api.import_image_from_file(str(tar_path), repository=repository, tag=tag, changes=changes)
    # The engine answers with JSON lines; the last carries the id under "status".
    lines = [json.loads(line) for line in str(result).splitlines() if line.strip().startswith("{")]
    for line in reversed(lines):
        if "error" in line:
            raise CuratorKitError(f"docker import failed: {line['error']}", "check the root filesystem tarball")
        if "status" in line:
            return str(line["status"])
    return client.images.get(reference).id


def push_image(client: docker.DockerClient, reference: str, log) -> None:
    """Push with per-layer progress lines; an error in the stream becomes a CuratorKitError."""
    repository, _, tag = reference.rpartition(":") if ":" in reference.split("/")[-1] else (reference, "", "latest")
    last_status: dict[str, str] = {}
    for event in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise CuratorKitError(
                f"push of {reference} failed: {event['error']}",
                "check the registry is reachable and you are logged in (`docker login REGISTRY`)",
            )
        layer, status = event.get("id", ""), event.get("status", "")
        # Layer events repeat "Pushing" with byte counts; report each change of state once.
        if status and last_status.get(layer) != status:
            last_status[layer] = status
            log(f"  {layer + ': ' if layer else ''}{status}")


def run_in_image(
    client: docker.DockerClient, reference: str, command: list[str], ulimits: Sequence[Ulimit] = ()
) -> str:
    """The standard output of `command` run once in a throwaway container of the image (no network);
    a command that fails raises with its last error line. `ulimits`: as for `run_and_commit`."""
    from docker.errors import ContainerError, ImageNotFound
    from docker.types import Ulimit as DockerUlimit

    limits = [DockerUlimit(name=name, soft=soft, hard=hard) for name, soft, hard in ulimits]
    try:
        output = client.containers.run(
            reference, command=command, remove=True, network_disabled=True, stderr=False, ulimits=limits
        )
    except ContainerError as error:
        last = (error.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or [str(error)]
        raise CuratorKitError(f"{' '.join(command[:2])} failed in {reference}: {last[0]}", "") from None
    except ImageNotFound:
        raise CuratorKitError(f"image {reference} is not in the Docker engine", "build it first") from None
    return output.decode(errors="replace")
