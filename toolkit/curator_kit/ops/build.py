"""`curator-kit build` as a plan (Dockerfile, context, tag, args), then its execution."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curator_kit.core.build.baselayout import PIP_LAYOUT, BaseLayout
from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.build.credentials import BuildSecret
from curator_kit.core.build.secretsteps import SecretStep
from curator_kit.core.constants import LABEL_CODECS
from curator_kit.core.project import state
from curator_kit.core.sizes import human_size
from curator_kit.errors import CuratorKitError
from curator_kit.ops.state import write_record

if TYPE_CHECKING:
    import docker

    from curator_kit.core.build.buildlog import StepImages
    from curator_kit.core.pipeline.spec import PipelineSpec
    from curator_kit.core.project.manifest import Manifest
    from curator_kit.ops.progress import Progress


@dataclass
class ProjectBuildPlan:
    project_dir: Path
    manifest: Manifest
    dockerfile: str
    context: BuildContext
    tag: str
    build_args: dict[str, str] = field(default_factory=dict)
    nocache: bool = False
    # Never in the context: mounted into the containers of `steps` only; the plan prints them masked.
    secrets: list[BuildSecret] = field(default_factory=list)
    spec: PipelineSpec | None = None  # the pipeline the image will run (`build` says which codecs it lacks)
    layout: BaseLayout = PIP_LAYOUT  # the base image's, which the install commands follow
    # The stages' last RUN steps that read `secrets`, run in throwaway containers (core.build.secretsteps).
    steps: list[SecretStep] = field(default_factory=list)

    def describe(self) -> list[str]:
        from curator_kit.core.build.dockerfile import base_image_of

        return [
            f"project   {self.manifest.project.name} ({len(self.manifest.stages)} stages)",
            f"from      {base_image_of(self.manifest)}",
            f"base      {self.layout.describe()}",
            f"tag       {self.tag}",
            f"context   {len(self.context.files)} files, {human_size(self.context.size_bytes)}",
            *(f"secret    {secret.describe()}" for secret in self.secrets),
            *(line for step in self.steps for line in step.describe()),
        ]


def git_revision(project_dir: Path) -> str:
    """Short commit of the project, `-dirty` when it has uncommitted changes; `unknown` outside git."""
    try:
        revision = _git(project_dir, "rev-parse", "--short=12", "HEAD")
        dirty = _git(project_dir, "status", "--porcelain", "--untracked-files=no")
    except (subprocess.SubprocessError, OSError):
        return "unknown"
    return f"{revision}-dirty" if dirty else revision


def _git(project_dir: Path, *args: str) -> str:
    command = ["git", "-C", str(project_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout.strip()


def default_image_tag(manifest: Manifest) -> str:
    return f"{manifest.project.name}:latest"


def parse_build_args(pairs: tuple[str, ...]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CuratorKitError(f"--build-arg {pair!r} is not KEY=VALUE", "write it as --build-arg KEY=VALUE")
        args[key] = value
    return args


def plan_project_build(
    project_dir: Path,
    manifest: Manifest,
    tag: str | None = None,
    build_args: tuple[str, ...] = (),
    nocache: bool = False,
    templates: Path | None = None,
    layout: BaseLayout = PIP_LAYOUT,
) -> ProjectBuildPlan:
    """`templates` is `--templates`; with the manifest's `templates` it picks Dockerfile.j2 (`team_template_dir`).
    `layout` is the base image's (`ops.baselayout.read_base_layout`; the default is curator-kit's base)."""
    from curator_kit.core.build.credentials import check_secrets_stay_out
    from curator_kit.core.build.dockerfile import GIT_REVISION_ARG, build_secrets, render_dockerfile
    from curator_kit.core.build.projectcontext import build_project_context
    from curator_kit.core.build.secretsteps import plan_secret_steps
    from curator_kit.core.pipeline.spec import resolve_spec
    from curator_kit.core.project.scaffold import check_pipeline_reads_the_spec
    from curator_kit.core.project.templating import team_template_dir
    from curator_kit.ops.hftoken import host_hf_token
    from curator_kit.ops.templatecache import template_cache

    team_dir = team_template_dir(templates, manifest.project.templates, project_dir)
    check_pipeline_reads_the_spec(project_dir)
    spec = resolve_spec(manifest, project_dir)
    hf_token = host_hf_token() if any(model.bake for model in manifest.models) else ""
    secrets = build_secrets(manifest, hf_token, layout)
    dockerfile = render_dockerfile(manifest, spec, team_dir, secrets, layout, template_cache())
    check_secrets_stay_out(dockerfile)  # a team's Dockerfile.j2 too
    files = project_files(project_dir, manifest.build.wheelhouse)
    context = build_project_context(project_dir, manifest, dockerfile, files, spec.to_json())
    args = {GIT_REVISION_ARG: git_revision(project_dir), **parse_build_args(build_args)}
    steps = plan_secret_steps(dockerfile, secrets, args)  # refuses a team template that would keep a secret
    return ProjectBuildPlan(
        project_dir,
        manifest,
        dockerfile,
        context,
        tag or default_image_tag(manifest),
        args,
        nocache,
        secrets,
        spec,
        layout,
        steps,
    )


def project_files(project_dir: Path, wheelhouse: str = "") -> list[str]:
    """The project's files that belong in the image (`core.build.projectcontext` decides which)."""
    from curator_kit.core.build.projectcontext import excluded_patterns
    from curator_kit.engine.contextfiles import kept_files

    return kept_files(project_dir, *excluded_patterns(project_dir, wheelhouse))


def record_last_build(
    project_dir: Path, tag: str, image_id: str, base_id: str = "", facts: ImageFacts | None = None
) -> Path:
    record = {"image": tag, "image_id": image_id, "built_at": state.utc_timestamp(), "base_id": base_id}
    if facts is not None:
        record |= {"facts_step": facts.step_image, "facts": facts.labels}
    return write_record(project_dir, state.LAST_BUILD, record)


@dataclass(frozen=True)
class ImageFacts:
    """The labels the facts step's files give (codecs, SBOM summary) and the image that step left: the
    same image is the same files (empty when not known)."""

    step_image: str
    labels: dict[str, str]

    @classmethod
    def recorded(cls, record: dict) -> ImageFacts:
        """What the last build recorded; nothing known from a record without it (or from an older one)."""
        labels = record.get("facts")
        if not isinstance(labels, dict):
            return cls("", {})
        return cls(str(record.get("facts_step", "")), {str(k): str(v) for k, v in labels.items()})


def planned_image(project_dir: Path, manifest: Manifest) -> str:
    """The image a command runs when none is named: the last build's, else the tag `build` would
    give (so a plan can be made before the first build; its check says the image is not built)."""
    record = state.read_record(project_dir, state.LAST_BUILD, required=("image",))
    return str(record["image"]) if record is not None else default_image_tag(manifest)


def last_built_image(project_dir: Path) -> str:
    record = state.read_record(project_dir, state.LAST_BUILD, required=("image",))
    if record is None:
        raise CuratorKitError("this project has no image yet", "run `curator-kit build` first, or pass --image IMAGE")
    return str(record["image"])


def execute_project_build(
    client: docker.DockerClient, plan: ProjectBuildPlan, progress: Progress, log: Callable[[str], None]
) -> str:
    from curator_kit.core.build.buildlog import StepImages
    from curator_kit.core.build.dockerfile import base_image_of
    from curator_kit.engine.images import build_image, stop_build_on_signals
    from curator_kit.ops.baselayout import require_base_image

    with stop_build_on_signals():  # Ctrl-C anywhere in here: one line, exit 130
        base_image = base_image_of(plan.manifest)
        base = require_base_image(client, base_image)
        last = state.read_record(plan.project_dir, state.LAST_BUILD) or {}
        if last.get("base_id") and last["base_id"] != base.image_id:
            moved = f"{last['base_id'][:19]} -> {base.image_id[:19]}"
            log(f"note      {base_image} is another image than the last build used ({moved}): every layer rebuilds")
        known = ImageFacts.recorded(last)
        build_args = plan.build_args | label_arguments(base.image_id, base.digest, known)
        log(f"building {plan.tag} (context {len(plan.context.files)} files, {human_size(plan.context.size_bytes)})")
        context, nocache = plan.context, plan.nocache
        if plan.steps:  # the stages that read a secret first, in throwaway containers; then the rest
            from curator_kit.ops.secretsteps import run_secret_steps, with_dockerfile

            resolved = run_secret_steps(
                client, plan.dockerfile, context, build_args, plan.steps, progress, log, nocache
            )
            context, nocache = with_dockerfile(context, resolved), False
        steps = StepImages(progress)
        image_id = build_image(client, context, tag=plan.tag, progress=steps, buildargs=build_args, nocache=nocache)
        image_id, facts = record_facts(client, plan, image_id, known, steps, progress, log)
        record_last_build(plan.project_dir, plan.tag, image_id, base.image_id, facts)
    return image_id


def label_arguments(base_id: str, base_digest: str, known: ImageFacts) -> dict[str, str]:
    """The build arguments the labels read that only the engine knows: the base image's identity and
    the facts labels the last build recorded (checked after the build)."""
    from curator_kit.core.build.dockerfile import BASE_DIGEST_ARG, BASE_ID_ARG, FACTS_LABEL_ARGS

    facts = {arg: known.labels.get(label, "") for label, arg in FACTS_LABEL_ARGS.items()}
    return {BASE_ID_ARG: base_id, BASE_DIGEST_ARG: base_digest, **facts}


def record_facts(
    client: docker.DockerClient,
    plan: ProjectBuildPlan,
    image_id: str,
    known: ImageFacts,
    steps: StepImages,
    progress: Progress,
    log: Callable[[str], None],
) -> tuple[str, ImageFacts]:
    """Make the built image's codecs and SBOM labels right and say what optional codec support it lacks;
    the id of the labelled image and its facts. The labels the build was given are the last build's:
    right when this build's facts step left the same image (a code-only rebuild: no second build);
    otherwise the files the step wrote are read, and a label-only build records them if they moved."""
    from curator_kit.core.build.dockerfile import facts_step
    from curator_kit.core.pipeline.codecs import codecs_from_json, describe_codecs, missing_support
    from curator_kit.engine.images import add_labels, image_labels
    from curator_kit.ops.imagefacts import read_image_facts

    # No such step in a team's Dockerfile.j2 without it: the files are read every time.
    step_image = steps.by_instruction.get(facts_step(plan.manifest.project.name), "")
    labels = known.labels if step_image and step_image == known.step_image else {}
    codecs = codecs_from_json(labels.get(LABEL_CODECS))
    if codecs is None:
        labels = read_image_facts(client, plan.tag)
        codecs = codecs_from_json(labels[LABEL_CODECS])
    # Held against the labels the image has, not those the build was given: Podman's builder (buildah)
    # reuses a cached `LABEL k="${ARG}"` step after the argument changed, keeping an older value.
    carried = image_labels(client, image_id)
    if any(carried.get(key) != value for key, value in labels.items()):
        image_id = add_labels(client, plan.tag, labels, progress)
    for line in describe_codecs(codecs):
        log(f"codecs    {line}")
    for line in missing_support(codecs, plan.spec):
        log(f"note      {line}")
    return image_id, ImageFacts(step_image, labels)
