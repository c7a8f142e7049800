"""Where a project's model weights are for a run: baked into the image, in the host's cache, or missing.

Pure: the facts (which models the image bakes, which the cache holds complete) are gathered by
`ops.modelcache`; this module decides what is mounted, what is refused and how that reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.constants import LABEL_BAKED_MODELS, MODEL_DIR_IN_IMAGE
from curator_kit.core.findings import Code, Finding, refuse
from curator_kit.core.parsers import Mount
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest, ModelSpec

CACHE_SUBDIR = ("curator-kit", "models")
PULL_COMMAND = "curator-kit models pull"


@dataclass(frozen=True)
class WeightsFacts:
    """What `ops.modelcache` found: the image's baked models and the cache's complete ones (name -> revision)."""

    cache_dir: Path
    baked: dict[str, str]
    cached: dict[str, str]

    def place(self, model: ModelSpec) -> str:
        """baked | cached | missing: a copy at another revision than the manifest's is not the model."""
        if self.baked.get(model.name) == model.revision:
            return "baked"
        if self.cached.get(model.name) == model.revision:
            return "cached"
        return "missing"


def default_cache_dir(cache_home: Path) -> Path:
    """The user's cache directory ($XDG_CACHE_HOME, else ~/.cache) + curator-kit/models."""
    return cache_home.joinpath(*CACHE_SUBDIR)


def cache_dir(manifest: Manifest, project_dir: Path, cache_home: Path) -> Path:
    """[run] model_cache (relative to the project), else the user's default."""
    configured = manifest.run.model_cache
    if configured:
        return (project_dir / Path(configured).expanduser()).resolve()
    return default_cache_dir(cache_home)


def model_dir_in_image(name: str) -> str:
    """Where a model's weights are in a container: the generated model's default_dir()."""
    return f"{MODEL_DIR_IN_IMAGE}/{name}"


def marker_revision(text: str) -> str:
    """The revision a complete download wrote into its marker (templates/model.py.j2)."""
    return text.strip()


def needed_models(spec: PipelineSpec) -> list[str]:
    """The models the pipeline's stages load, in pipeline order, each once."""
    return list(dict.fromkeys(stage.model for stage in spec.stages if stage.model))


def baked_label(manifest: Manifest) -> str:
    """The image label's value: {name: revision} of the models `build` bakes."""
    baked = {m.name: m.revision for m in manifest.models if m.bake}
    return json.dumps(baked, sort_keys=True, separators=(",", ":"))


def baked_in_labels(labels: dict[str, str]) -> dict[str, str]:
    """The baked models an image's labels list; none for images built before the label existed."""
    try:
        value = json.loads(labels.get(LABEL_BAKED_MODELS) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def cache_mounts(manifest: Manifest, facts: WeightsFacts, *, writable: bool = False) -> list[Mount]:
    """One mount per model the image does not bake: the cache's copy over its directory in the image.

    Per model, not the whole cache over the model directory, so a baked model stays visible."""
    return [
        Mount(str(facts.cache_dir / model.name), model_dir_in_image(model.name), read_only=not writable)
        for model in manifest.models
        if facts.place(model) != "baked"
    ]


def weights_findings(manifest: Manifest, spec: PipelineSpec, facts: WeightsFacts) -> list[Finding]:
    """A run whose stages load weights that are neither baked nor cached is refused before it starts."""
    missing = []
    for name in needed_models(spec):
        model = manifest.model(name)
        if model is None or facts.place(model) == "missing":
            missing.append(name)
    if not missing:
        return []
    names = " ".join(missing)
    return [
        refuse(
            Code.WEIGHTS_MISSING,
            f"weights missing for model{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
            f"neither baked into the image nor in {facts.cache_dir}",
            f"run `{PULL_COMMAND} {names}` (or bake them: [[models]] bake = true, then `curator-kit build`)",
        )
    ]


def unbaked_models(manifest: Manifest, spec: PipelineSpec, image_labels: dict[str, str] | None) -> list[str]:
    """The models the pipeline loads that the image does not bake (at the manifest's revision): an
    export's nodes must find them somewhere."""
    baked = baked_in_labels(image_labels or {})
    return [
        name
        for name in needed_models(spec)
        if (model := manifest.model(name)) is None or baked.get(name) != model.revision
    ]


__all__ = [
    "PULL_COMMAND",
    "WeightsFacts",
    "baked_in_labels",
    "baked_label",
    "cache_dir",
    "cache_mounts",
    "default_cache_dir",
    "marker_revision",
    "model_dir_in_image",
    "needed_models",
    "pull_command",
    "select_models",
    "unbaked_models",
    "weights_findings",
]


# Runs in the project's image: each model's own download_weights_on_node (what a stage's setup_on_node
# calls), and a refused token or a missing repository as one line, not a traceback.
_PULL_SCRIPT = """\
import json, sys
from importlib import import_module
failed = 0
for name, module, cls, target in json.loads(sys.argv[1]):
    try:
        getattr(import_module(module), cls).download_weights_on_node(target)
    except Exception as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        refused = status in (401, 403) or type(error).__name__ in ("GatedRepoError", "RepositoryNotFoundError")
        why = f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")
        hint = (" -- the Hugging Face token is missing or refused for this repository:"
                " set HF_TOKEN or run `huggingface-cli login`, then pull again") if refused else ""
        print(f"error: model {name}: download failed: {why}{hint}", file=sys.stderr)
        failed = 1
    else:
        print(f"pulled {name}")
sys.exit(failed)
"""


def pull_command(models: list[ModelSpec]) -> list[str]:
    """The container command that downloads `models` into their directories in the image."""
    todo = [[m.name, m.module, m.class_name, model_dir_in_image(m.name)] for m in models]
    return ["python", "-c", _PULL_SCRIPT, json.dumps(todo, separators=(",", ":"))]


def select_models(manifest: Manifest, names: tuple[str, ...]) -> list[ModelSpec]:
    """The [[models]] entries `names` asks for, all of them when none; an unknown name is refused."""
    if not names:
        return list(manifest.models)
    unknown = [name for name in names if manifest.model(name) is None]
    if unknown:
        known = ", ".join(m.name for m in manifest.models) or "none ([[models]] is empty)"
        raise CuratorKitError(
            f"no model named {', '.join(unknown)} in curator-kit.toml", f"the project's models: {known}"
        )
    return [model for model in manifest.models if model.name in names]
