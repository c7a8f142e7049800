"""Credentials a build needs and no image may keep: pip index URLs with `user:password@` (and, the
same way, a Hugging Face token), as `BuildSecret`s.

How a secret travels, and why. docker-py drives the classic builder, which has no
`RUN --mount=type=secret` and keeps every stage of a build as an image (untagged, for its cache): a
file COPYed into even a throwaway stage stays readable in that stage's layer, and a build arg stays,
value and all, in the history of every RUN of the stage that declares it (`|1 PIP_INDEX_URL=...`; it
also travels in the build request's URL, which engine errors quote). So the builder never sees a
secret. A secret names the throwaway stages that read it; each of them ends with the RUN steps that
read it, and those run outside the builder (`core.build.secretsteps`): in a throwaway container of the
stage, with the secret in a private temporary directory mounted read-only at SECRETS_IN_STAGE, found
by the consuming command through a variable (pip: PIP_CONFIG_FILE; uv, which reads no pip.conf: a
uv.toml through UV_CONFIG_FILE; huggingface_hub: HF_TOKEN_PATH). The container's changes are
committed (a mount is not one of them) and the build goes on from that image; the final image copies
only the stage's output (installed files, weights). No layer, history entry, label or ENV of any
image, and no line of the Dockerfile, holds the value.

`check_secrets_stay_out` checks the Dockerfile actually built, a team's template included: no stage
reads a secret from the build context (secrets are never in it), and no stage of the final image
declares a secret build arg.

The base image recipe (Dockerfile.base) declares pip's index settings as build args, in its throwaway
`venv` stage only. When they carry credentials, `plan_base_build` makes them a pip.conf secret of the
stages that declare them (`index_secret`), and the builder gets none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from curator_kit.core import parsers
from curator_kit.core.build.buildstages import final_image_stages, parse_stages
from curator_kit.core.constants import STATE_DIR
from curator_kit.core.redact import mask_credentials
from curator_kit.errors import CuratorKitError

# Where a Dockerfile would read secrets from the build context (never: they are not in it; a stage
# that tries is refused), and where the throwaway container of a secret step finds them, mounted.
SECRETS_IN_CONTEXT = f"{STATE_DIR}/secrets"
SECRETS_IN_STAGE = "/tmp/curator-kit-secrets"
# pip's own variables for index settings: a build arg of one of these names carries credentials.
PIP_INDEX_ARGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")


@dataclass(frozen=True)
class BuildSecret:
    """A file the last RUN steps of some throwaway stages read and no image keeps. Rendered nowhere:
    templates see its path and variable, plans print `shown` (masked)."""

    name: str  # the file's name, e.g. pip.conf
    content: str = field(repr=False)
    env: str  # the variable that points the consuming command at the file
    # The throwaway stages whose last RUN steps read it (in a container, `core.build.secretsteps`); never
    # one the final image is made of.
    stages: tuple[str, ...]
    shown: str  # what it holds, masked, for plans

    @property
    def in_stage(self) -> str:
        return f"{SECRETS_IN_STAGE}/{self.name}"

    def describe(self) -> str:
        which = "stage" if len(self.stages) == 1 else "stages"
        return f"{self.name} for {which} {', '.join(self.stages)} only: {self.shown}"


def index_secret(
    installer: str,
    index_url: str,
    extra_index_urls: Sequence[str],
    stages: Sequence[str],
    find_links: Sequence[str] = (),
) -> BuildSecret | None:
    """The index settings as the installer's own configuration file, read only by `stages`; None when
    there are none. pip: a pip.conf (PIP_CONFIG_FILE). uv, which reads no pip.conf: a uv.toml
    (UV_CONFIG_FILE) with the same settings under `[pip]`. `find_links` (remote ones, which may carry
    credentials too) are pip's only.

    Every URL passes the index-URL parser again: a line break in one would add a setting."""
    urls = [parsers.parse_index_url(url) for url in (index_url, *extra_index_urls, *find_links) if url]
    if not urls:
        return None
    if installer == "uv":
        import tomli_w

        settings: dict[str, object] = {"index-url": index_url} if index_url else {}
        if extra_index_urls:
            settings["extra-index-url"] = list(extra_index_urls)
        if find_links:
            settings["find-links"] = list(find_links)
        name, env, content = "uv.toml", "UV_CONFIG_FILE", tomli_w.dumps({"pip": settings})
    else:
        lines = ["[global]"]
        if index_url:
            lines.append(f"index-url = {index_url}")
        if extra_index_urls:
            lines.append(f"extra-index-url = {' '.join(extra_index_urls)}")
        if find_links:
            lines.append(f"find-links = {' '.join(find_links)}")
        name, env, content = "pip.conf", "PIP_CONFIG_FILE", "\n".join(lines) + "\n"
    return BuildSecret(
        name=name,
        content=content,
        env=env,
        stages=tuple(stages),
        shown=" ".join(mask_credentials(url) for url in urls),
    )


def hf_token_secret(token: str, stages: Sequence[str]) -> BuildSecret | None:
    """A Hugging Face token as a file read only by the weight downloads of `stages` (HF_TOKEN_PATH)."""
    token = token.strip()
    if not token or not stages:
        return None
    return BuildSecret(name="hf-token", content=token + "\n", env="HF_TOKEN_PATH", stages=tuple(stages), shown="****")


def check_secrets_stay_out(dockerfile: str, args: Iterable[str] = ()) -> None:
    """Refuse a Dockerfile that would put a secret where an image keeps it: a stage that reads one from
    the build context (secrets are never there: the stages that read one find it mounted), or a stage
    of the final image that declares one of `args` (secret build args)."""
    stages = parse_stages(dockerfile)
    for stage in stages:
        for instruction, sources in stage.context_reads:
            if any(_within(source, SECRETS_IN_CONTEXT) for source in sources):
                raise CuratorKitError(
                    f"the Dockerfile's stage {stage.name or stage.index} copies {SECRETS_IN_CONTEXT} from the build"
                    f" context: {instruction}",
                    "secrets are never in the build context: end a throwaway stage with the RUN that reads the"
                    f" secret, at {SECRETS_IN_STAGE}/NAME (curator-kit runs that RUN in a container with it mounted)",
                )
    fix = "declare secret build args only in a throwaway stage (FROM ... AS deps; COPY --from=deps)"
    for stage in final_image_stages(stages):
        where = f"stage {stage.name or stage.index} (part of the final image)"
        for arg in args:
            if arg in stage.args:
                raise CuratorKitError(
                    f"the Dockerfile's {where} declares ARG {arg}: its value would stay in the image history", fix
                )


def _within(source: str, folder: str) -> bool:
    """Whether a COPY/ADD source names `folder` or something in it (a file, a wildcard)."""
    normal = source.strip().removeprefix("./").lstrip("/")
    return normal.rstrip("/") == folder or normal.startswith(folder + "/")
