"""What a project image is made of, as its facts step wrote it into the image (Dockerfile.j2: the codec
probe's answer and the SBOM), read back as the labels `build` records: from one created container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from curator_kit.core.build.sbom import sbom_label
from curator_kit.core.constants import CODECS_IN_IMAGE, LABEL_CODECS, LABEL_SBOM, SBOM_IN_IMAGE
from curator_kit.core.pipeline.codecs import codecs_from_json

if TYPE_CHECKING:
    import docker


def read_image_facts(client: docker.DockerClient, image: str) -> dict[str, str]:
    """The codecs and SBOM labels of `image`. An image without the probe's file (built from a team's
    Dockerfile.j2) runs the probe in a container; one without a document of its own gets no SBOM label."""
    from curator_kit.engine.images import probe_image_files
    from curator_kit.ops.imagecodecs import probe_codecs

    texts, _ = probe_image_files(client, image, read=[CODECS_IN_IMAGE, SBOM_IN_IMAGE], check=[])
    codecs = codecs_from_json(texts[CODECS_IN_IMAGE]) or probe_codecs(client, image)
    labels = {LABEL_CODECS: codecs.to_label()}
    document = texts[SBOM_IN_IMAGE]
    if document is not None:
        labels[LABEL_SBOM] = sbom_label(document, f"{image}'s {SBOM_IN_IMAGE}")
    return labels
