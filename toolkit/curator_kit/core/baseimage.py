"""`curator-kit base build` as a plan: variant + options + host pip settings -> build context
and build args (pure data, unit-tested), executed by `engine.images`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from curator_kit import __version__
from curator_kit.core.buildcontext import BuildContext
from curator_kit.core.constants import DEFAULT_CURATOR_VERSION, base_image_tag
from curator_kit.errors import CuratorKitError
from curator_kit.ops.pipconfig import PipSettings, local_path
from curator_kit.resources import base_images_dir, dockerfile_base

WHEELHOUSE_SUFFIXES = (".whl", ".tar.gz", ".zip")
# torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl -> version, python tag
TORCH_WHEEL_RE = re.compile(r"^torch-(?P<version>[^-]+)-(?P<python>cp\d+)-")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    base_image: str
    python: str
    curator_extras: str
    torch_spec: str
    torch_index_url: str
    bootstrap_suite: str

    @property
    def python_tag(self) -> str:
        return "cp" + self.python.replace(".", "")


def available_variants() -> list[str]:
    return sorted(p.parent.name for p in base_images_dir().glob("*/variant.toml"))


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
    use_host_pip: bool = True


@dataclass
class BaseBuildPlan:
    variant: Variant
    tag: str
    from_image: str
    build_args: dict[str, str]
    context: BuildContext
    notes: list[str] = field(default_factory=list)
    wheel_count: int = 0

    def describe(self) -> list[str]:
        lines = [
            f"variant   {self.variant.name}: {self.variant.description}",
            f"from      {self.from_image}",
            f"tag       {self.tag}",
            f"context   {len(self.context.files)} files, {self.context.size_bytes / 2**20:.1f} MB"
            f" ({self.wheel_count} wheelhouse files)",
        ]
        lines += [f"arg       {k}={v}" for k, v in sorted(self.build_args.items())]
        lines += [f"note      {n}" for n in self.notes]
        return lines


def plan_base_build(options: BaseBuildOptions, host_pip: PipSettings | None = None) -> BaseBuildPlan:
    variant = load_variant(options.variant)
    host = host_pip if (options.use_host_pip and host_pip) else PipSettings()
    notes: list[str] = []
    context = BuildContext()
    context.add_file("Dockerfile", dockerfile_base())
    context.add_directory("ca-certificates")
    context.add_directory("wheelhouse")

    # Wheelhouses: explicit ones plus the host's local find-links directories.
    remote_find_links: list[str] = []
    wheel_dirs = list(options.wheelhouses)
    for location in host.find_links:
        path = local_path(location)
        if path is None:
            remote_find_links.append(location)
        elif path.is_dir():
            wheel_dirs.append(path)
            notes.append(f"forwarded host pip find-links {path} as a wheelhouse")
    wheel_count = 0
    for directory in wheel_dirs:
        if not directory.is_dir():
            raise CuratorKitError(f"wheelhouse {directory} is not a directory", "pass an existing directory of wheels")
        for wheel in sorted(directory.iterdir()):
            if wheel.is_file() and wheel.name.endswith(WHEELHOUSE_SUFFIXES):
                context.add_file(f"wheelhouse/{wheel.name}", wheel)
                wheel_count += 1

    # CA certificates: explicit ones plus the host pip's `cert` bundle.
    certs = list(options.ca_certs)
    if host.cert and Path(host.cert).is_file():
        certs.append(Path(host.cert))
        notes.append(f"forwarded host pip cert {host.cert} into the image trust store")
    for index, cert in enumerate(certs):
        if not cert.is_file():
            raise CuratorKitError(f"CA certificate {cert} not found", "pass an existing PEM file to --ca-cert")
        context.add_file(f"ca-certificates/{index:02d}-{cert.stem}.crt", cert)

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

    torch_spec = options.torch_spec or variant.torch_spec
    wheelhouse_torch = _torch_in_wheelhouse(context, variant.python_tag)
    if options.torch_spec is None and wheelhouse_torch:
        torch_spec = f"torch=={wheelhouse_torch}"
        notes.append(f"torch {wheelhouse_torch} from the wheelhouse (skipping the variant's torch index)")
    elif variant.torch_index_url:
        extra_urls.append(variant.torch_index_url)

    build_args = {
        "BASE_IMAGE": options.from_image or variant.base_image,
        "CURATOR_VERSION": options.curator_version,
        "CURATOR_EXTRAS": variant.curator_extras,
        "TORCH_SPEC": torch_spec,
        "VARIANT": variant.name,
        "TOOLKIT_VERSION": __version__,
    }
    if index_url:
        build_args["PIP_INDEX_URL"] = index_url
    if extra_urls:
        build_args["PIP_EXTRA_INDEX_URL"] = " ".join(dict.fromkeys(extra_urls))
    if remote_find_links:
        build_args["PIP_FIND_LINKS"] = " ".join(remote_find_links)
    return BaseBuildPlan(
        variant=variant,
        tag=options.tag or base_image_tag(options.curator_version, variant.name),
        from_image=build_args["BASE_IMAGE"],
        build_args=build_args,
        context=context,
        notes=notes,
        wheel_count=wheel_count,
    )


def _torch_in_wheelhouse(context: BuildContext, python_tag: str) -> str | None:
    versions = []
    for name in context.files:
        match = TORCH_WHEEL_RE.match(name.removeprefix("wheelhouse/"))
        if name.startswith("wheelhouse/") and match and match["python"] == python_tag:
            versions.append(match["version"])
    return max(versions, key=_version_key) if versions else None


def _version_key(version: str) -> tuple[int, ...]:
    public = version.split("+")[0]
    return tuple(int(part) if part.isdigit() else -1 for part in public.split("."))
