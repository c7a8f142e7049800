"""Execute secret steps (`core.build.secretsteps`): build each step's stage up to its last RUN steps, run
those in a throwaway container with the secrets mounted from a private temporary directory, commit
the result, and hand back the Dockerfile that goes on from the results."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.build.buildlog import BuildFailed, BuildSucceeded, StepCached, StepOutput, StepStarted
from curator_kit.core.build.credentials import BuildSecret
from curator_kit.core.build.secretsteps import SecretStep, declared_arg_names, prefix_dockerfile, resolved_dockerfile
from curator_kit.core.constants import LABEL_BUILD_STEP
from curator_kit.core.redact import MASK, printable_line
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.core.build.buildlog import BuildProgress

Log = Callable[[str], None]
TAIL_LINES = 30


def with_dockerfile(context: BuildContext, dockerfile: str) -> BuildContext:
    """The same context with another Dockerfile (the files are shared, not copied)."""
    files = dict(context.files)
    files["Dockerfile"] = dockerfile.encode()
    return BuildContext(files=files, directories=set(context.directories))


def args_for(dockerfile: str, build_args: dict[str, str]) -> dict[str, str]:
    """The build args this Dockerfile declares: the builder warns of every other one."""
    declared = declared_arg_names(dockerfile)
    return {name: value for name, value in build_args.items() if name in declared}


@contextmanager
def secrets_directory(secrets: Sequence[BuildSecret]) -> Iterator[Path]:
    """The secrets as files in a private temporary directory (0700, files 0600), removed afterwards:
    what a step's container gets, read-only. Their contents are written nowhere else."""
    directory = Path(tempfile.mkdtemp(prefix="curator-kit-secrets-"))
    try:
        for secret in secrets:
            path = directory / secret.name
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secret.content)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def secret_words(secrets: Sequence[BuildSecret]) -> list[str]:
    """What of the secrets' contents no output line may show: the passwords (or bare tokens) of the
    URLs they hold, and a secret that holds no URL (a token) whole. Longest first; none shorter than
    4 characters (masking those would garble the output, and hide nothing)."""
    words: set[str] = set()
    for secret in secrets:
        urls = re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"']+", secret.content)
        for url in urls:
            parts = urlsplit(url)
            word = parts.password if parts.password is not None else parts.username
            if word:
                words.update({word, unquote(word)})
        if not urls and secret.content.strip():
            words.add(secret.content.strip())
    return sorted((word for word in words if len(word) >= 4), key=len, reverse=True)


def run_secret_steps(
    client: docker.DockerClient,
    dockerfile: str,
    context: BuildContext,
    build_args: dict[str, str],
    steps: Sequence[SecretStep],
    progress: BuildProgress,
    log: Log,
    nocache: bool = False,
) -> str:
    """Run `steps` in order; the Dockerfile that reads their results (`resolved_dockerfile`).

    Each step: the builder builds its stage without the last RUN steps (untagged; `nocache` for the
    first build only, as the later ones start from its fresh layers); a committed image for the same
    inputs is reused (unless `nocache`), else the container runs. A step with a tag is tagged."""
    from curator_kit.engine.images import build_image, find_step_image, tag_image

    results: dict[str, str] = {}
    for step in steps:
        prefix = prefix_dockerfile(dockerfile, step.stage, results)
        image = build_image(
            client,
            with_dockerfile(context, prefix),
            tag=None,
            progress=progress,
            buildargs=args_for(prefix, build_args),
            nocache=nocache,
            target=step.stage,
        )
        digest = step.digest(image)
        found = None if nocache else find_step_image(client, LABEL_BUILD_STEP, digest, step.comment(digest))
        if found:
            progress.handle(StepStarted(1, 1, _title(step)))
            progress.handle(StepCached(1))
            progress.handle(BuildSucceeded(found))
        else:
            found = _run_step(client, step, image, digest, progress)
        if step.tag:
            tag_image(client, found, step.tag)
        log(f"step      {step.stage}: {found[:19]}{' (' + step.tag + ')' if step.tag else ''}")
        results[step.stage] = found
        nocache = False
    return resolved_dockerfile(dockerfile, results)


def _title(step: SecretStep) -> str:
    return f"{step.stage}: last RUN in a throwaway container, {', '.join(s.name for s in step.secrets)} mounted"


def _run_step(client: docker.DockerClient, step: SecretStep, image: str, digest: str, progress: BuildProgress) -> str:
    from curator_kit.engine.images import run_and_commit
    from curator_kit.ops.dockerd_limits import helper_ulimits

    tail: deque[str] = deque(maxlen=TAIL_LINES)
    started = StepStarted(1, 1, _title(step))
    progress.handle(started)
    hidden = secret_words(step.secrets)

    def output(raw: str) -> None:
        line = printable_line(raw)
        for word in hidden:  # a command that prints a password or token bare: masked all the same
            line = line.replace(word, MASK)
        if line.strip():
            tail.append(line)
            progress.handle(StepOutput(1, line))

    with secrets_directory(step.secrets) as directory:
        status, committed = run_and_commit(
            client,
            image,
            step.command(),
            [(str(directory), step.mount)],
            {LABEL_BUILD_STEP: digest},
            step.comment(digest),
            output,
            helper_ulimits(client),
        )
    if committed is None:
        message = f"exited {status}"
        progress.handle(BuildFailed(started, message, tuple(tail)))
        raise CuratorKitError(
            f"build step {step.stage} (its last RUN, in a throwaway container) failed: {message}",
            "fix that step (its last output lines are above) and build again",
            details=tuple(tail),
        )
    progress.handle(BuildSucceeded(committed))
    return committed
