"""An image's codecs, as its own probe found them, recorded as the `curator-kit.codecs` label.

A project image's build step wrote the probe's answer into the image (cached until its dependencies
change); an image without that file (a base image, a team's own Dockerfile.j2) runs the probe in a
throwaway container. The label goes on with a label-only build, as `base build` records versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curator_kit.core.constants import CODECS_IN_IMAGE, LABEL_CODECS
from curator_kit.core.pipeline.codecs import ImageCodecs, codecs_from_json
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.ops.progress import Progress


def probe_codecs(client: docker.DockerClient, image: str) -> ImageCodecs:
    from curator_kit.engine.images import read_image_file, run_in_image
    from curator_kit.resources import codec_probe_script

    text = read_image_file(client, image, CODECS_IN_IMAGE)
    if text is None:
        text = run_in_image(client, image, ["python", "-c", codec_probe_script().read_text()])
    codecs = codecs_from_json(text.strip().splitlines()[-1] if text.strip() else "")
    if codecs is None:
        raise CuratorKitError(f"the codec probe gave no answer in {image}", "check that `python` runs in the image")
    return codecs


def codec_labels(client: docker.DockerClient, image: str) -> dict[str, str]:
    """The label to record on `image` (a base build adds it to its versions label's build)."""
    return {LABEL_CODECS: probe_codecs(client, image).to_label()}


def label_codecs(client: docker.DockerClient, image: str, progress: Progress) -> tuple[str, ImageCodecs]:
    """Probe `image` and move its tag to the same image with the label; (new image id, the codecs)."""
    from curator_kit.engine.images import add_labels

    codecs = probe_codecs(client, image)
    return add_labels(client, image, {LABEL_CODECS: codecs.to_label()}, progress), codecs
