"""`curator-kit base build` as a plan: variant + options + host pip settings -> build context
and build args (pure data, unit-tested), executed by `engine.images`."""

from __future__ import annotations

import hashlib
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from curator_kit import __version__
from curator_kit.core.build.buildcontext import BuildContext
from curator_kit.core.build.buildstages import StageBuild, final_image_stages, parse_stages, stage_builds
from curator_kit.core.build.credentials import PIP_INDEX_ARGS, BuildSecret, check_secrets_stay_out, index_secret
from curator_kit.core.build.pipconfig import PipSettings, local_path
from curator_kit.core.build.secretsteps import SecretStep, plan_secret_steps
from curator_kit.core.constants import (
    DEFAULT_CURATOR_VERSION,
    LABEL_BASE_RECIPE,
    LABEL_BASE_VARIANT,
    LABEL_CURATOR_VERSION,
    LABEL_OCI_DESCRIPTION,
    LABEL_OCI_LICENSES,
    LABEL_OCI_TITLE,
    LABEL_OCI_VERSION,
    LABEL_TOOLKIT_VERSION,
    NONROOT_GID,
    NONROOT_HOME,
    NONROOT_UID,
    NONROOT_USER,
    SBOM_SCRIPT,
    base_image_tag,
    bootstrap_image_tag,
)
from curator_kit.core.parsers import ParseError, parse_package_names
from curator_kit.core.redact import mask_credentials
from curator_kit.core.sizes import human_size
from curator_kit.errors import CuratorKitError
from curator_kit.resources import available_variants, base_images_dir, dockerfile_base

# Shipped beside Dockerfile.base in base-images/ and sent in every base build context.
RECIPE_SCRIPTS = ("build-ffmpeg.sh", "supported-ray.py", "check-image.py", SBOM_SCRIPT)
# The names a recipe's Dockerfile spells as `{{ NAME }}` (its LABEL keys and its non-root user), rendered in
# by `render_recipe`.
RECIPE_NAMES: dict[str, str] = {
    "LABEL_OCI_TITLE": LABEL_OCI_TITLE,
    "LABEL_OCI_DESCRIPTION": LABEL_OCI_DESCRIPTION,
    "LABEL_OCI_VERSION": LABEL_OCI_VERSION,
    "LABEL_OCI_LICENSES": LABEL_OCI_LICENSES,
    "LABEL_BASE_VARIANT": LABEL_BASE_VARIANT,
    "LABEL_BASE_RECIPE": LABEL_BASE_RECIPE,
    "LABEL_CURATOR_VERSION": LABEL_CURATOR_VERSION,
    "LABEL_TOOLKIT_VERSION": LABEL_TOOLKIT_VERSION,
    "NONROOT_USER": NONROOT_USER,
    "NONROOT_UID": str(NONROOT_UID),
    "NONROOT_GID": str(NONROOT_GID),
    "NONROOT_HOME": NONROOT_HOME,
}


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    base_image: str
    python: str
    curator_extras: str
    torch_spec: str
    torchvision_spec: str
    torch_index_url: str
    bootstrap_suite: str
    # CUDA wheels installed with torch, in the layer below nemo-curator (cuda only).
    cuda_packages: str = ""
    # Nested extras of Curator's left out, with why (cuda: vllm, whose pinned build PyPI cannot serve).
    leave_out: str = ""
    leave_out_reason: str = ""

    @property
    def python_tag(self) -> str:
        return "cp" + self.python.replace(".", "")


def load_variant(name: str) -> Variant:
    path = base_images_dir() / name / "variant.toml"
    if not path.is_file():
        raise CuratorKitError(
            f"unknown base-image variant {name!r}", f"choose one of: {', '.join(available_variants())}"
        )
    data = tomllib.loads(path.read_text())
    return Variant(name=name, **data)


@dataclass(frozen=True)
class BaseBuildOptions:
    variant: str = "cpu"
    tag: str | None = None
    curator_version: str = DEFAULT_CURATOR_VERSION
    from_image: str | None = None
    wheelhouses: tuple[Path, ...] = ()
    ca_certs: tuple[Path, ...] = ()
    pip_index_url: str | None = None
    pip_extra_index_urls: tuple[str, ...] = ()
    torch_spec: str | None = None
    torchvision_spec: str | None = None
    use_host_pip: bool = True
    # Curator extras to leave out, comma-separated ("" for none); None: the variant's `leave_out`.
    leave_out: str | None = None


@dataclass
class BaseBuildPlan:
    variant: Variant
    tag: str
    from_image: str
    build_args: dict[str, str]
    context: BuildContext
    notes: list[str] = field(default_factory=list)
    wheel_count: int = 0
    recipe: str = ""
    # The variant's torch index, when the plan uses it: `base build` drops it if it does not answer
    # (pip would retry an unreachable index for every package).
    torch_index_url: str | None = None
    # Throwaway stages (reached only through COPY --from), built and tagged before the image: an
    # untagged stage is a dangling image, which `docker image prune` may delete mid-build (the final
    # stage's COPY --from then fails) and which a later rebuild would have to compile again.
    kept_stages: tuple[str, ...] = ()
    # pip's index settings (`with_index`): build args when they carry no credentials; else a pip.conf
    # secret of the stages that declare them, whose last RUN steps run in throwaway containers.
    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    secrets: list[BuildSecret] = field(default_factory=list)
    steps: list[SecretStep] = field(default_factory=list)

    @property
    def dockerfile(self) -> str:
        """The recipe as the engine gets it (rendered)."""
        text = self.context.files["Dockerfile"]
        return text.decode() if isinstance(text, bytes) else text.read_text()

    def with_index(self, index_url: str, extra_index_urls: Sequence[str], find_links: Sequence[str]) -> BaseBuildPlan:
        """The plan with these index settings. Without credentials they are the build args
        PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and PIP_FIND_LINKS, declared only in throwaway stages. With
        one (any URL pip would print masked), the builder gets none of them: they become a pip.conf
        that only the containers running the last RUN steps of those stages get, mounted
        (core.build.secretsteps), so no image's history keeps a build arg's value."""
        extra, links = tuple(dict.fromkeys(extra_index_urls)), tuple(find_links)
        args = {key: value for key, value in self.build_args.items() if key not in PIP_INDEX_ARGS}
        urls = [url for url in (index_url, *extra, *links) if url]
        dockerfile = self.dockerfile
        secrets: list[BuildSecret] = []
        steps: list[SecretStep] = []
        if any(mask_credentials(url) != url for url in urls):
            readers = [
                stage.name for stage in parse_stages(dockerfile) if stage.name and set(PIP_INDEX_ARGS) & set(stage.args)
            ]
            secret = index_secret("pip", index_url, extra, readers, links)
            secrets = [secret] if secret is not None and readers else []
            steps = plan_secret_steps(dockerfile, secrets, args, self.stage_tag)
        else:
            settings = {
                "PIP_INDEX_URL": index_url,
                "PIP_EXTRA_INDEX_URL": " ".join(extra),
                "PIP_FIND_LINKS": " ".join(links),
            }
            args |= {key: value for key, value in settings.items() if value}
        # Index settings may carry credentials: the recipe may declare them only in a throwaway stage.
        check_secrets_stay_out(dockerfile, args=PIP_INDEX_ARGS)
        return replace(
            self,
            build_args=args,
            index_url=index_url,
            extra_index_urls=extra,
            find_links=links,
            secrets=secrets,
            steps=steps,
        )

    def stage_builds(self) -> list[StageBuild]:
        """The throwaway stages the builder makes (those no secret step makes), each as soon as the stages
        it needs are made: side by side where they need nothing of each other."""
        stepped = {step.stage for step in self.steps}
        return stage_builds(self.dockerfile, [stage for stage in self.kept_stages if stage not in stepped])

    def stage_tag(self, stage: str) -> str:
        """`curator-kit/base:1.4.0-cuda` -> `curator-kit/base-stages:1.4.0-cuda-ffmpeg` (another
        repository: `doctor` lists the base repository's tags as base images)."""
        repository, _, tag = self.tag.rpartition(":")
        return f"{repository}-stages:{tag}-{stage}"

    def without_torch_index(self, reason: str) -> BaseBuildPlan:
        """The plan with the variant's torch index dropped: torch and torchvision then come from PyPI."""
        extra = [url for url in self.extra_index_urls if url != self.torch_index_url]
        note = f"{self.torch_index_url} {reason}: {self.build_args['TORCH_SPEC']} and its torchvision come from PyPI"
        plan = self.with_index(self.index_url, extra, self.find_links)
        return replace(plan, torch_index_url=None, notes=[*self.notes, note])

    def describe(self) -> list[str]:
        lines = [
            f"variant   {self.variant.name}: {self.variant.description}",
            f"from      {self.from_image}",
            f"tag       {self.tag}",
            f"context   {len(self.context.files)} files, {human_size(self.context.size_bytes)}"
            f" ({self.wheel_count} wheelhouse files)",
        ]
        lines += [f"arg       {k}={v}" for k, v in sorted(self.build_args.items())]
        lines += [f"secret    {secret.describe()}" for secret in self.secrets]
        lines += [line for step in self.steps for line in step.describe()]
        lines += [f"stage     {build.stage}{_after(build.after)}" for build in self.stage_builds()]
        lines += [f"note      {n}" for n in self.notes]
        return [mask_credentials(line) for line in lines]  # index URLs may carry user:password@


def _after(stages: tuple[str, ...]) -> str:
    return f" (after {', '.join(stages)})" if stages else ""


def plan_base_build(options: BaseBuildOptions, host_pip: PipSettings | None = None) -> BaseBuildPlan:
    variant = load_variant(options.variant)
    host = host_pip if (options.use_host_pip and host_pip) else PipSettings()
    notes: list[str] = []
    context = BuildContext()
    recipe = recipe_files(variant.name)
    for archive_name, path in recipe[1:]:
        context.add_file(archive_name, path)
    dockerfile = render_recipe(recipe[0][1])
    context.add_text(recipe[0][0], dockerfile)

    # Wheelhouses: explicit ones plus the host's local find-links directories.
    remote_find_links: list[str] = []
    wheel_dirs = [(path, "--wheelhouse") for path in options.wheelhouses]
    for location in host.find_links:
        path = local_path(location)
        if path is None:
            remote_find_links.append(location)
        elif path.is_dir():
            wheel_dirs.append((path, "pip find-links"))
            notes.append(f"forwarded host pip find-links {path} as a wheelhouse")
    context.add_directory("wheelhouse")  # Dockerfile.base copies it, wheels or none
    wheel_count = sum(context.add_wheelhouse("wheelhouse", path, origin) for path, origin in wheel_dirs)

    # CA certificates: explicit ones plus the host pip's `cert` bundle.
    certs = [(path, "--ca-cert") for path in options.ca_certs]
    if host.cert and Path(host.cert).is_file():
        certs.append((Path(host.cert), "pip cert"))
        notes.append(f"forwarded host pip cert {host.cert} into the image trust store")
    context.add_ca_certificates("ca-certificates", certs)

    # Constraints: the host's constraint files, concatenated; an empty file keeps the COPY valid.
    constraint_text = ""
    for constraint in host.constraints:
        path = local_path(constraint)
        if path and path.is_file():
            constraint_text += f"# from {path}\n{path.read_text()}\n"
            notes.append(f"forwarded host pip constraints {path}")
    context.add_text("pip-constraints.txt", constraint_text)

    # Indexes: command line first, else the host's; local file:// indexes cannot be seen in a build.
    index_url = options.pip_index_url or host.index_url
    extra_urls = list(options.pip_extra_index_urls or host.extra_index_urls)
    for url in [index_url, *extra_urls]:
        if url and local_path(url) is not None:
            notes.append(f"skipped local index {url}: not reachable from inside a build")
    extra_urls = [u for u in extra_urls if local_path(u) is None]
    if index_url and local_path(index_url) is not None:
        index_url = None

    # torch and torchvision from one build: given on the command line, else a pair the wheelhouse
    # holds, else the variant's pair (from its torch index, or PyPI).
    torch_index_url = None
    pair = _torch_pair_in_wheelhouse(context, variant.python_tag)
    if options.torch_spec is None and pair:
        torch_spec, torchvision_spec = f"torch=={pair[0]}", f"torchvision=={pair[1]}"
        notes.append(f"torch {pair[0]} and torchvision {pair[1]} from the wheelhouse (one build)")
    else:
        if options.torch_spec:
            torch_spec, torchvision_spec = options.torch_spec, options.torchvision_spec or "torchvision"
        else:
            torch_spec, torchvision_spec = variant.torch_spec, options.torchvision_spec or variant.torchvision_spec
            lone = _wheel_versions(context, "torch", variant.python_tag)
            if lone:
                notes.append(
                    f"wheelhouse torch {max(lone)} has no torchvision of its build there: "
                    f"using the variant's pair {torch_spec}, {torchvision_spec}"
                )
        if variant.torch_index_url:
            torch_index_url = variant.torch_index_url
            extra_urls.append(torch_index_url)
    # Wheelhouse torch/torchvision wheels the specs rule out would only weigh down the context.
    for name, spec in (("torch", torch_spec), ("torchvision", torchvision_spec)):
        unused = _wheels_ruled_out(context, name, spec)
        for archive_name in unused:
            del context.files[archive_name]
        if unused:
            wheel_count -= len(unused)
            notes.append(f"left {len(unused)} {name} wheel(s) of the wheelhouse out: {spec} rules them out")

    build_args = {
        "BASE_IMAGE": options.from_image or variant.base_image,
        "CURATOR_VERSION": options.curator_version,
        "CURATOR_EXTRAS": variant.curator_extras,
        "TORCH_SPEC": torch_spec,
        "TORCHVISION_SPEC": torchvision_spec,
        "VARIANT": variant.name,
        "TOOLKIT_VERSION": __version__,
        "RECIPE": recipe_digest(variant.name, options.curator_version),
    }
    # Only a variant with a recipe of its own declares these (the cpu recipe would warn of unused args).
    if variant.cuda_packages:
        build_args["CUDA_PACKAGES"] = variant.cuda_packages
    if options.leave_out is None:
        leave_out = parse_package_names(variant.leave_out)
    else:
        try:
            leave_out = parse_package_names(options.leave_out)
        except ParseError as error:
            raise error.at("--leave-out") from None
    if variant.leave_out or options.leave_out is not None:
        build_args["LEAVE_OUT"] = ",".join(leave_out)
        if leave_out:
            reason = f": {variant.leave_out_reason}" if variant.leave_out_reason else ""
            notes.append(f"left out of nemo-curator[{variant.curator_extras}]: {', '.join(leave_out)}{reason}")
    final = {stage.name for stage in final_image_stages(parse_stages(dockerfile))}
    plan = BaseBuildPlan(
        variant=variant,
        tag=options.tag or base_image_tag(options.curator_version, variant.name),
        from_image=build_args["BASE_IMAGE"],
        build_args=build_args,
        context=context,
        notes=notes,
        wheel_count=wheel_count,
        recipe=build_args["RECIPE"],
        torch_index_url=torch_index_url,
        kept_stages=tuple(s.name for s in parse_stages(dockerfile) if s.name and s.name not in final),
    )
    return plan.with_index(index_url or "", extra_urls, remote_find_links)


def from_image_path(variant: Variant, from_image: str, explicit: bool) -> str:
    """One line saying which path a build took: the variant's own FROM, --from, or the registry-free
    bootstrap root (and, for a CUDA variant, that its CUDA user space comes from wheels either way)."""
    if explicit:
        line = f"FROM {from_image}, as --from asked"
    elif variant.bootstrap_suite and from_image == bootstrap_image_tag(variant.bootstrap_suite):
        line = (
            f"FROM {from_image}: {variant.base_image} cannot be had, so the registry-free path, a debootstrapped"
            f" Debian {variant.bootstrap_suite} root with its own Python"
        )
    else:
        line = f"FROM {from_image}, the variant's image (Python {variant.python})"
    if variant.cuda_packages:
        line += "; CUDA user space from wheels (torch's nvidia-* wheels, cupy, cvcuda), the driver injected at run time"
    return line


def recipe_files(variant: str) -> list[tuple[str, Path]]:
    """(name in the build context, file) of a variant's recipe, its Dockerfile first: Dockerfile.base
    and its scripts, or the variant's own Dockerfile with those scripts and the variant's own
    (base-images/cuda/ has one: its stages differ, its shared stages are Dockerfile.base's)."""
    shared = [(script, base_images_dir() / script) for script in RECIPE_SCRIPTS]
    own = base_images_dir() / variant / "Dockerfile"
    if not own.is_file():
        return [("Dockerfile", dockerfile_base()), *shared]
    scripts = sorted(p for p in own.parent.iterdir() if p.suffix in (".py", ".sh"))
    return [("Dockerfile", own), *shared, *((p.name, p) for p in scripts)]


def render_recipe(path: Path) -> str:
    """A recipe's Dockerfile as the engine gets it: its `{{ NAME }}`s (RECIPE_NAMES) rendered in through
    the one Jinja environment; its Jinja comments render to nothing. The constants as they are give the
    text the recipe spelled out before, so base images built from it keep their recipe digest and cache."""
    import jinja2

    from curator_kit.core.project.templating import make_environment

    try:
        return make_environment().from_string(path.read_text(encoding="utf-8")).render(**RECIPE_NAMES)
    except jinja2.TemplateError as error:
        line = getattr(error, "lineno", None)
        raise CuratorKitError(
            f"base recipe {path}{f':{line}' if line else ''}: {error.message}", "fix the recipe"
        ) from None


def recipe_digest(variant: str, curator_version: str) -> str:
    """What a base image is built from, as 12 hex digits: its Dockerfile (as rendered), the scripts, the
    variant's settings and the Curator version. Host inputs (wheelhouse, certificates, indexes) are left out."""
    digest = hashlib.sha256(curator_version.encode())
    (_name, dockerfile), *scripts = recipe_files(variant)
    digest.update(render_recipe(dockerfile).encode())
    for _name, path in scripts:
        digest.update(path.read_bytes())
    digest.update((base_images_dir() / variant / "variant.toml").read_bytes())
    return digest.hexdigest()[:12]


def stale_reason(labels: dict[str, str], recipe: str) -> str | None:
    """Why an image under the base tag must be rebuilt rather than reused; None when it is current."""
    built = labels.get(LABEL_BASE_RECIPE)
    if built == recipe:
        return None
    if not built:
        return "it records no recipe (built by an older curator-kit)"
    return f"it was built from recipe {built}, this curator-kit's is {recipe}"


def _wheels(context: BuildContext, name: str, python_tag: str) -> dict[Version, Path | bytes]:
    """Wheelhouse wheels of distribution `name` for the variant's Python: version -> file."""
    found = {}
    for archive_name, source in context.files.items():
        if not archive_name.startswith("wheelhouse/") or not archive_name.endswith(".whl"):
            continue
        try:
            wheel_name, version, _build, tags = parse_wheel_filename(archive_name.removeprefix("wheelhouse/"))
        except InvalidWheelFilename:
            continue
        if wheel_name == name and any(tag.interpreter == python_tag for tag in tags):
            found[version] = source
    return found


def _wheels_ruled_out(context: BuildContext, name: str, spec: str) -> list[str]:
    """Archive names of wheelhouse wheels of `name` that `spec` (a requirement) cannot install."""
    try:
        requirement = Requirement(spec)
    except InvalidRequirement:
        return []
    ruled_out = []
    for archive_name in list(context.files):
        if not archive_name.startswith("wheelhouse/") or not archive_name.endswith(".whl"):
            continue
        try:
            wheel_name, version, _build, _tags = parse_wheel_filename(archive_name.removeprefix("wheelhouse/"))
        except InvalidWheelFilename:
            continue
        if wheel_name == name == requirement.name and not requirement.specifier.contains(version, prereleases=True):
            ruled_out.append(archive_name)
    return ruled_out


def _wheel_versions(context: BuildContext, name: str, python_tag: str) -> list[Version]:
    return sorted(_wheels(context, name, python_tag))


def _torch_requirement(wheel: Path | bytes) -> Requirement | None:
    """The `torch` requirement in a torchvision wheel's METADATA (torchvision pins its torch exactly)."""
    if not isinstance(wheel, Path):
        return None
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
            text = archive.read(name).decode() if name else ""
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    for line in HeaderParser().parsestr(text).get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name == "torch" and requirement.marker is None:
            return requirement
    return None


def _torch_pair_in_wheelhouse(context: BuildContext, python_tag: str) -> tuple[str, str] | None:
    """The newest (torch, torchvision) versions from one build: torchvision's METADATA asks for exactly
    this torch, and both carry the same local label (`+cpu`). None when the wheelhouse has no such pair."""
    vision = _wheels(context, "torchvision", python_tag)
    for torch_version in sorted(_wheels(context, "torch", python_tag), reverse=True):
        for vision_version, wheel in sorted(vision.items(), reverse=True):
            requirement = _torch_requirement(wheel)
            if (
                requirement is not None
                and vision_version.local == torch_version.local
                and requirement.specifier.contains(torch_version, prereleases=True)
            ):
                return str(torch_version), str(vision_version)
    return None
