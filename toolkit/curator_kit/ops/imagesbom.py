"""An image's SBOM, read from its filesystem (`constants.SBOM_IN_IMAGE`, written by base-images/sbom.py),
for `curator-kit sbom` and for `base build`'s `curator-kit.sbom` label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from curator_kit.core.build.sbom import parse_sbom, sbom_label, sbom_notes
from curator_kit.core.constants import LABEL_SBOM, SBOM_IN_IMAGE
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class ImageSbom:
    text: str  # the document as the image holds it, byte for byte
    bom: dict
    notes: list[str]  # what the document does not say of itself (core.build.sbom.sbom_notes)


def read_image_sbom(client: docker.DockerClient, image: str) -> ImageSbom:
    """The SBOM `image` carries; refused in one line when it has none (built before images had one)."""
    from curator_kit.engine.images import image_labels, read_image_file

    labels = image_labels(client, image)  # a missing image: one line naming the fix
    text = read_image_file(client, image, SBOM_IN_IMAGE)
    if text is None:
        raise CuratorKitError(
            f"{image} has no SBOM ({SBOM_IN_IMAGE} is absent): it was built by a curator-kit without one, "
            "or on a base image that has none",
            "rebuild the base image (`curator-kit base build`), and a project image on it (`curator-kit build`)",
        )
    bom = parse_sbom(text, f"{image}'s {SBOM_IN_IMAGE}")
    return ImageSbom(text, bom, sbom_notes(image, labels, bom, text))


def sbom_labels(client: docker.DockerClient, image: str) -> dict[str, str]:
    """The `curator-kit.sbom` label of a just-built base image, from the document its last step wrote."""
    from curator_kit.engine.images import read_image_file

    text = read_image_file(client, image, SBOM_IN_IMAGE)
    if text is None:
        raise CuratorKitError(
            f"{image} has no {SBOM_IN_IMAGE}: its SBOM step did not run",
            "build it again with `curator-kit base build --no-cache`",
        )
    return {LABEL_SBOM: sbom_label(text, f"{image}'s {SBOM_IN_IMAGE}")}
