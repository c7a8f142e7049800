"""Manifest -> Dockerfile text and image labels. Pure: same manifest, same bytes (golden-tested)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit import __version__

if TYPE_CHECKING:
    from curator_kit.core.manifest import Manifest

DOCKERFILE_TEMPLATE = "Dockerfile.j2"


@dataclass(frozen=True)
class BakedModel:
    name: str
    module: str
    class_name: str
    hf_repo: str
    revision: str

    @property
    def path(self) -> str:
        return self.module.replace(".", "/") + ".py"


def stage_records(manifest: Manifest) -> list[dict]:
    """What the image's `curator-kit.stages` label carries, in pipeline order."""
    return [
        {
            "name": stage.name,
            "class": f"{stage.module}.{stage.class_name}",
            "resources": {
                "cpus": stage.resources.cpus,
                "gpu_memory_gb": stage.resources.gpu_memory_gb,
                "gpus": stage.resources.gpus,
                "nvdecs": stage.resources.nvdecs,
                "nvencs": stage.resources.nvencs,
            },
            "env": stage.env or None,
            "model": stage.model or None,
        }
        for stage in manifest.stages
    ]


def codec_needs(manifest: Manifest) -> dict[str, dict[str, int]]:
    """NVDEC/NVENC needs by stage; [clipping] with a GPU encoder first (NVENC, and NVDEC to decode)."""
    clipping = manifest.clipping
    needs = {f"clipping ({clipping.encoder})": {"nvdecs": 1, "nvencs": 1}} if clipping.uses_gpu else {}
    return needs | {
        s.name: {"nvdecs": s.resources.nvdecs, "nvencs": s.resources.nvencs}
        for s in manifest.stages
        if s.resources.nvdecs or s.resources.nvencs
    }


def _compact_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _docker_string(value: object) -> str:
    """A double-quoted Dockerfile string (LABEL/ENV values): JSON escaping is what Docker parses."""
    return json.dumps(str(value), ensure_ascii=False)


def template_context(manifest: Manifest) -> dict:
    apt_packages = sorted({pkg for env in manifest.envs.values() for pkg in env.apt})
    pip_requirements = sorted({req for env in manifest.envs.values() for req in env.pip})
    env_vars: dict[str, str] = {}
    for name in sorted(manifest.envs):
        env_vars.update(manifest.envs[name].env)
    pip_options = ""
    if manifest.build.pip_index_url:
        pip_options += f" --index-url {shlex.quote(manifest.build.pip_index_url)}"
    for url in manifest.build.pip_extra_index_urls:
        pip_options += f" --extra-index-url {shlex.quote(url)}"
    baked = [BakedModel(m.name, m.module, m.class_name, m.hf_repo, m.revision) for m in manifest.models if m.bake]
    return {
        "toolkit_version": __version__,
        "project_name": manifest.project.name,
        "curator_version": manifest.project.curator_version,
        "base_image": manifest.project.base_image,
        "ca_certs": list(manifest.build.ca_certs),
        "wheelhouse": manifest.build.wheelhouse,
        "env_names": sorted(manifest.envs),
        "apt_packages": apt_packages,
        "pip_requirements": pip_requirements,
        "pip_options": pip_options,
        "env_vars": sorted(env_vars.items()),
        "baked_models": baked,
        "stages_json": _compact_json(stage_records(manifest)),
        "codec_json": _compact_json(codec_needs(manifest)),
    }


def render_dockerfile(manifest: Manifest, template_dirs: tuple[Path, ...] = ()) -> str:
    """The project's Dockerfile; a directory in `template_dirs` holding Dockerfile.j2 overrides ours."""
    import jinja2

    from curator_kit.resources import templates_dir

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*map(str, template_dirs), str(templates_dir())]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["shell_quote"] = shlex.quote
    environment.filters["docker_string"] = _docker_string
    return environment.get_template(DOCKERFILE_TEMPLATE).render(template_context(manifest))
