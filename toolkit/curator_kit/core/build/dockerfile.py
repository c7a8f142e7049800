"""Manifest -> Dockerfile text and image labels. Pure: same manifest, same bytes (golden-tested).

`template_context` hands the template plain values; the template passes every one of them through
the filter for its place (`core.build.dockerescape`), so no manifest value can add an instruction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit import __version__
from curator_kit.core import constants
from curator_kit.core.build.baselayout import PIP_LAYOUT, BaseLayout, require_installer
from curator_kit.core.build.credentials import SECRETS_IN_STAGE, BuildSecret, hf_token_secret, index_secret
from curator_kit.core.build.dockerescape import BuildArg, shell_quote
from curator_kit.core.build.projectcontext import (
    CA_CERTS_IN_CONTEXT,
    CODEC_PROBE_IN_CONTEXT,
    PROJECT_IN_CONTEXT,
    SBOM_SCRIPT_IN_CONTEXT,
    SPEC_IN_CONTEXT,
    WHEELHOUSE_IN_CONTEXT,
)
from curator_kit.core.pipeline.modelweights import baked_label
from curator_kit.core.project import templating
from curator_kit.core.project.templating import DOCKERFILE_TEMPLATE

if TYPE_CHECKING:
    import jinja2

    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest

__all__ = [
    "BASE_DIGEST_ARG",
    "BASE_ID_ARG",
    "CODECS_ARG",
    "DOCKERFILE_TEMPLATE",
    "FACTS_LABEL_ARGS",
    "GIT_REVISION_ARG",
    "SBOM_ARG",
    "base_image_of",
    "build_secrets",
    "facts_step",
    "image_labels",
    "render_dockerfile",
    "template_context",
]

# The build arguments `build` fills for the labels, which read them as ${NAME}: the project's commit;
# the base image the build starts from (its id, and its registry digest when it was pulled); the codecs
# and SBOM summary the last build's facts step found (`ops.build` relabels when this build's facts step
# is not that one).
GIT_REVISION_ARG = "GIT_REVISION"
BASE_ID_ARG = "BASE_IMAGE_ID"
BASE_DIGEST_ARG = "BASE_IMAGE_DIGEST"
CODECS_ARG = "IMAGE_CODECS"
SBOM_ARG = "IMAGE_SBOM"
LABEL_ARGS = (
    (GIT_REVISION_ARG, "unknown"),
    (BASE_ID_ARG, ""),
    (BASE_DIGEST_ARG, ""),
    (CODECS_ARG, ""),
    (SBOM_ARG, ""),
)
# The labels the facts step's files give, each filled from its build argument.
FACTS_LABEL_ARGS = {constants.LABEL_CODECS: CODECS_ARG, constants.LABEL_SBOM: SBOM_ARG}
# The throwaway stage the installer (pip or uv, `core.build.baselayout`) runs in when it needs a wheelhouse
# or index settings (which may carry credentials): only what it installs, under `--prefix`, is copied
# into the image.
DEPS_STAGE = "project-deps"
DEPS_PREFIX = "/tmp/deps"
BAKE_DIR_IN_IMAGE = "/opt/curator-kit/bake"
# Baked weights download in a throwaway stage per model, BAKE_STAGE-NAME (it may read a token); the final
# image copies only the weights.
BAKE_STAGE = "model-weights"
# The final image's stage, named when the bake stage has to return to it.
FINAL_STAGE = "project-final"


@dataclass(frozen=True)
class BakedModel:
    name: str
    module: str
    class_name: str
    hf_repo: str
    revision: str
    stage: str  # the throwaway stage that downloads its weights (`bake_stage`)

    @property
    def path(self) -> str:
        return self.module.replace(".", "/") + ".py"


def stage_records(manifest: Manifest) -> list[dict]:
    """What the image's `curator-kit.stages` label carries, in pipeline order."""
    return [
        {
            "name": stage.name,
            "class": stage.class_path,  # module.Class, or builtin:KEY (its classes are in the spec label)
            "resources": {}  # a built-in's own, from its parameters (the spec label has them)
            if stage.resources is None
            else {
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


def codec_needs(spec: PipelineSpec) -> dict[str, dict[str, int]]:
    """NVDEC/NVENC needs by stage, in pipeline order ([clipping] with a GPU encoder first)."""
    return {need.label or need.stage: {"nvdecs": need.nvdecs, "nvencs": need.nvencs} for need in spec.codec_needs}


def base_image_of(manifest: Manifest) -> str:
    """The image the project builds FROM; a manifest without `base_image` means the default for its
    Curator version (`init` writes that default, so only hand-written manifests omit it)."""
    project = manifest.project
    return project.base_image or constants.base_image_tag(project.curator_version)


def _compact_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def image_labels(manifest: Manifest, spec: PipelineSpec) -> list[tuple[str, str | BuildArg]]:
    """The LABEL instruction's (key, value) pairs, in order: a new label is one line here."""
    project = manifest.project
    revision = BuildArg(GIT_REVISION_ARG)
    return [
        (constants.LABEL_OCI_TITLE, project.name),
        (constants.LABEL_OCI_REVISION, revision),
        (constants.LABEL_OCI_BASE_NAME, base_image_of(manifest)),
        (constants.LABEL_PROJECT, project.name),
        (constants.LABEL_CURATOR_VERSION, project.curator_version),
        (constants.LABEL_TOOLKIT_VERSION, __version__),
        (constants.LABEL_GIT_REVISION, revision),
        (constants.LABEL_STAGES, _compact_json(stage_records(manifest))),
        (constants.LABEL_BUILD_INPUTS, _compact_json(build_inputs(manifest))),
        (constants.LABEL_CODEC_NEEDS, _compact_json(codec_needs(spec))),
        (constants.LABEL_SPEC, spec.to_json()),
        (constants.LABEL_BAKED_MODELS, baked_label(manifest)),
        (constants.LABEL_BASE_ID, BuildArg(BASE_ID_ARG)),
        (constants.LABEL_OCI_BASE_DIGEST, BuildArg(BASE_DIGEST_ARG)),
        *((label, BuildArg(arg)) for label, arg in FACTS_LABEL_ARGS.items()),
    ]


def facts_step(project_name: str) -> str:
    """The step that writes what the image is made of, as Dockerfile.j2 renders it and the builder echoes
    it: its codecs (CODECS_IN_IMAGE) and its SBOM (SBOM_IN_IMAGE). `build` reads which image this step left
    to know whether either can have changed (a unit test holds the template to this line)."""
    probe = f"python {shell_quote(constants.CODEC_PROBE_IN_IMAGE)} --write {shell_quote(constants.CODECS_IN_IMAGE)}"
    sbom = f"python {shell_quote(constants.SBOM_SCRIPT_IN_IMAGE)} --write {shell_quote(constants.SBOM_IN_IMAGE)}"
    return f"RUN {probe} && {sbom} --name {shell_quote(project_name)}"


def build_inputs(manifest: Manifest) -> dict[str, str]:
    """What the image's layers below the code were made from, one short digest a part (the build
    settings may hold index credentials: a digest keeps them out of the label)."""

    def digest(value: object) -> str:
        text = json.dumps(value, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    envs = {name: dataclasses.asdict(env) for name, env in manifest.envs.items()}
    return {
        "base_image": base_image_of(manifest),
        "envs": digest(envs),
        "models": digest([dataclasses.asdict(model) for model in manifest.models]),
        "build": digest(dataclasses.asdict(manifest.build)),
    }


def bake_stage(model_name: str, position: int) -> str:
    """The throwaway stage that downloads one baked model's weights: named after the model when its
    name can name a stage (lower case), else after its place among the baked models."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", model_name):
        return f"{BAKE_STAGE}-{model_name}"
    return f"{BAKE_STAGE}-{position}"


def baked_models(manifest: Manifest) -> list[BakedModel]:
    baked = [model for model in manifest.models if model.bake]
    return [
        BakedModel(m.name, m.module, m.class_name, m.hf_repo, m.revision, bake_stage(m.name, position))
        for position, m in enumerate(baked, start=1)
    ]


def pip_requirements(manifest: Manifest) -> list[str]:
    return sorted({req for env in manifest.envs.values() for req in env.pip})


def build_secrets(manifest: Manifest, hf_token: str = "", layout: BaseLayout = PIP_LAYOUT) -> list[BuildSecret]:
    """What the build needs and no image may keep: the index settings, in the form the base image's
    installer reads (`layout`), when requirements are installed, and the host's Hugging Face token
    (`hf_token`), when weights are baked.

    The Dockerfile names only their paths; their contents reach only the throwaway containers that run
    the stages' last steps (`core.build.secretsteps`), never the build context."""
    secrets = []
    if pip_requirements(manifest):
        build = manifest.build
        installer = layout.installer or "pip"  # none: refused when the Dockerfile is rendered
        secrets.append(index_secret(installer, build.pip_index_url, build.pip_extra_index_urls, (DEPS_STAGE,)))
    baked = baked_models(manifest)
    if baked:
        secrets.append(hf_token_secret(hf_token, [model.stage for model in baked]))
    return [secret for secret in secrets if secret is not None]


def template_context(
    manifest: Manifest,
    spec: PipelineSpec,
    secrets: list[BuildSecret] | None = None,
    layout: BaseLayout = PIP_LAYOUT,
) -> dict:
    """`secrets`: build_secrets' (with the token, if any); None: those the manifest alone gives.
    `layout`: the base image's (`ops.baselayout.read_base_layout`); the install commands follow it."""
    env_vars: dict[str, str] = {}
    for name in sorted(manifest.envs):
        env_vars.update(manifest.envs[name].env)
    secrets = build_secrets(manifest, layout=layout) if secrets is None else secrets
    requirements = pip_requirements(manifest)
    installer = require_installer(layout, base_image_of(manifest)) if requirements else layout.installer
    pip_secrets = [secret for secret in secrets if DEPS_STAGE in secret.stages]
    deps_stage = DEPS_STAGE if (manifest.build.wheelhouse or pip_secrets) else ""
    baked = baked_models(manifest)
    bake_stages = {model.stage for model in baked}
    return {
        "toolkit_version": __version__,
        "project_name": manifest.project.name,
        "curator_version": manifest.project.curator_version,
        "base_image": base_image_of(manifest),
        "ca_certs": list(manifest.build.ca_certs),
        "wheelhouse": manifest.build.wheelhouse,
        "env_names": sorted(manifest.envs),
        "apt_packages": sorted({pkg for env in manifest.envs.values() for pkg in env.apt}),
        "pip_requirements": requirements,
        "installer": installer or "",
        # Index settings never reach the Dockerfile: pip reads them from a secret file (core.build.credentials),
        # mounted into the container that runs the stage's last step (core.build.secretsteps).
        "pip_secrets": pip_secrets,
        "deps_stage": deps_stage,
        "bake_stage": BAKE_STAGE if baked else "",
        "bake_secrets": [secret for secret in secrets if bake_stages & set(secret.stages)],
        "secret_mount": SECRETS_IN_STAGE,
        # The stage the bake stage starts from and the final image returns to.
        "final_stage": FINAL_STAGE if deps_stage and requirements else "project-base",
        "env_vars": sorted(env_vars.items()),
        "toolkit_env": [
            ("NVIDIA_DRIVER_CAPABILITIES", constants.DRIVER_CAPABILITIES),
            ("CURATOR_KIT_PROJECT_DIR", constants.PROJECT_DIR_IN_IMAGE),
            ("CURATOR_KIT_MODEL_DIR", constants.MODEL_DIR_IN_IMAGE),
        ],
        "baked_models": baked,
        "label_args": LABEL_ARGS,
        # The user every image has, made here only when the base image lacks it (templates/nonroot-user.j2).
        "nonroot_user": layout.nonroot_user,
        "NONROOT_USER": constants.NONROOT_USER,
        "NONROOT_UID": str(constants.NONROOT_UID),
        "NONROOT_GID": str(constants.NONROOT_GID),
        "NONROOT_HOME": constants.NONROOT_HOME,
        "labels": image_labels(manifest, spec),
        "command": ["python", constants.PIPELINE_IN_IMAGE, "--help"],
        "paths": {
            "ca_certs": CA_CERTS_IN_CONTEXT,
            "wheelhouse": WHEELHOUSE_IN_CONTEXT,
            "project": PROJECT_IN_CONTEXT,
            "deps": DEPS_PREFIX,
            "venv": layout.venv,
            "venv_python": layout.venv_python,
            # Where update-ca-certificates writes the bundle ([build] ca_certs): uv reads it through SSL_CERT_FILE.
            "ca_bundle": constants.CA_BUNDLE_IN_IMAGE,
            "workspace": constants.PROJECT_DIR_IN_IMAGE,
            "models": constants.MODEL_DIR_IN_IMAGE,
            "bake": BAKE_DIR_IN_IMAGE,
            "spec_in_context": SPEC_IN_CONTEXT,
            "spec": constants.SPEC_IN_IMAGE,
            "codec_probe_in_context": CODEC_PROBE_IN_CONTEXT,
            "codec_probe": constants.CODEC_PROBE_IN_IMAGE,
            "codecs": constants.CODECS_IN_IMAGE,
            "sbom_script_in_context": SBOM_SCRIPT_IN_CONTEXT,
            "sbom_script": constants.SBOM_SCRIPT_IN_IMAGE,
            "sbom": constants.SBOM_IN_IMAGE,
        },
    }


def render_dockerfile(
    manifest: Manifest,
    spec: PipelineSpec,
    team_dir: Path | None = None,
    secrets: list[BuildSecret] | None = None,
    layout: BaseLayout = PIP_LAYOUT,
    bytecode_cache: jinja2.BytecodeCache | None = None,
) -> str:
    """The project's Dockerfile for the pipeline `spec` (`core.pipeline.spec.resolve_spec` of the manifest)
    on a base image of `layout`; `team_dir` (from `templating.team_template_dir`) may override
    Dockerfile.j2. `secrets` decide only which paths and variables it names, never what it holds.
    `bytecode_cache` (ops/templatecache) spares a rebuild compiling the template again."""
    environment = templating.make_environment(team_dir, bytecode_cache)
    context = template_context(manifest, spec, secrets, layout)
    return templating.render(environment, DOCKERFILE_TEMPLATE, **context)
