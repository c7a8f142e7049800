"""An image's codecs, as its own probe found them, recorded as the `curator-kit.codecs` label.

A project image's build step wrote the probe's answer into the image (cached until its dependencies
change); an image without that file (a base image, a team's own Dockerfile.j2) runs the probe in a
throwaway container. `build` gives the label as a build argument (`ops.build.record_facts`); `base
build` adds it with a label-only build, beside the versions it records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curator_kit.core.constants import CODECS_IN_IMAGE, LABEL_CODECS
from curator_kit.core.pipeline.codecs import ImageCodecs, codecs_from_json
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker


def probe_codecs(client: docker.DockerClient, image: str) -> ImageCodecs:
    from curator_kit.engine.images import read_image_file, run_in_image
    from curator_kit.ops.dockerd_limits import helper_ulimits
    from curator_kit.resources import codec_probe_script

    text = read_image_file(client, image, CODECS_IN_IMAGE)
    if text is None:
        probe = ["python", "-c", codec_probe_script().read_text()]
        text = run_in_image(client, image, probe, helper_ulimits(client))
    codecs = codecs_from_json(text.strip().splitlines()[-1] if text.strip() else "")
    if codecs is None:
        raise CuratorKitError(f"the codec probe gave no answer in {image}", "check that `python` runs in the image")
    return codecs


def codec_labels(client: docker.DockerClient, image: str) -> dict[str, str]:
    """The label to record on `image` (a base build adds it to its versions label's build)."""
    return {LABEL_CODECS: probe_codecs(client, image).to_label()}
