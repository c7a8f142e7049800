"""Facts about the project's model weights on this host: the cache's complete downloads and the image's baked ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.constants import WEIGHTS_MARKER
from curator_kit.core.pipeline.modelweights import WeightsFacts, baked_in_labels, cache_dir, marker_revision
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    import docker

    from curator_kit.core.project.manifest import Manifest
    from curator_kit.core.run.runplan import HostFacts


def cached_models(manifest: Manifest, cache: Path) -> dict[str, str]:
    """name -> revision of each model whose download in `cache` finished (its marker is written last)."""
    found = {}
    for model in manifest.models:
        try:
            found[model.name] = marker_revision((cache / model.name / WEIGHTS_MARKER).read_text())
        except (OSError, UnicodeDecodeError):
            continue
    return found


def image_baked_models(client: docker.DockerClient | None, image: str) -> dict[str, str] | None:
    """The image's baked models (its label); None when no engine answers or the image is not built."""
    if client is None or not image:
        return None
    from curator_kit.engine.images import image_exists, image_labels

    return baked_in_labels(image_labels(client, image)) if image_exists(client, image) else None


def weights_facts(
    manifest: Manifest, project_dir: Path, host: HostFacts, client: docker.DockerClient | None, image: str
) -> WeightsFacts | None:
    """None for a project without models: its plans mount no cache. Without an image to read (a dry run
    before the first build), the models the manifest bakes count as baked: the build will bake them."""
    if not manifest.models:
        return None
    cache = cache_dir(manifest, project_dir, host.cache_home)
    baked = image_baked_models(client, image)
    if baked is None:
        baked = {model.name: model.revision for model in manifest.models if model.bake}
    return WeightsFacts(cache, baked, cached_models(manifest, cache))


def ensure_model_dirs(paths: list[str]) -> None:
    """The engine would create a missing bind source as root; make them as the user running curator-kit."""
    for path in paths:
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CuratorKitError(
                f"cannot create the model cache directory {path}: {error.strerror}",
                "set [run] model_cache to a directory you can write",
            ) from None
