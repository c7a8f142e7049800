"""Credentials a build needs and no image may keep: pip index URLs with `user:password@` (and, the
same way, a Hugging Face token), as `BuildSecret`s.

How a secret travels, and why. docker-py drives the classic builder, which has no
`RUN --mount=type=secret`. A build arg would be recorded, with the value, in the history entry of
every RUN of the stage that declares it (`|1 PIP_INDEX_URL=...`), and it travels in the build
request's URL, which engine errors quote. So a secret is a file in the build context,
`.curator-kit/secrets/NAME` (assembled in memory, never written into the project), copied only
into a throwaway stage, where the one command that reads it finds it through a variable set on
that command alone (pip: PIP_CONFIG_FILE; uv, which reads no pip.conf: a uv.toml through
UV_CONFIG_FILE; huggingface_hub reads HF_TOKEN_PATH the same way). Only
that stage's output (installed files) is copied into the final image, so no layer, history entry,
label or ENV of the final image, and no line of the Dockerfile, holds the value.
`check_secrets_stay_out` verifies that on the Dockerfile actually built, a team's template included.

What this does not hide: the throwaway stage's layers stay in the engine's build cache, readable by
whoever may use the engine (as the manifest is); `docker builder prune` removes them.

The base image recipe (Dockerfile.base) takes its index settings as build args, declared only in
its throwaway `venv` stage: the same guarantee for the final image, checked the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from curator_kit.core import parsers
from curator_kit.core.buildstages import final_image_stages, parse_stages, reads_context_path
from curator_kit.core.constants import STATE_DIR
from curator_kit.core.redact import mask_credentials
from curator_kit.errors import CuratorKitError

# Where secret files sit in a build context, and where a throwaway stage copies them.
SECRETS_IN_CONTEXT = f"{STATE_DIR}/secrets"
SECRETS_IN_STAGE = "/tmp/curator-kit-secrets"
# pip's own variables for index settings: a build arg of one of these names carries credentials.
PIP_INDEX_ARGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")


@dataclass(frozen=True)
class BuildSecret:
    """A file one build command reads and no image keeps. Rendered nowhere: templates see its paths
    and variable, plans print `shown` (masked)."""

    name: str  # the file's name, e.g. pip.conf
    content: str = field(repr=False)
    env: str  # the variable that points the consuming command at the file
    stage: str  # the throwaway stage that copies it in; never one the final image is made of
    shown: str  # what it holds, masked, for plans

    @property
    def in_context(self) -> str:
        return f"{SECRETS_IN_CONTEXT}/{self.name}"

    @property
    def in_stage(self) -> str:
        return f"{SECRETS_IN_STAGE}/{self.name}"

    def describe(self) -> str:
        return f"{self.name} for stage {self.stage} only: {self.shown}"


def index_secret(installer: str, index_url: str, extra_index_urls: Sequence[str], stage: str) -> BuildSecret | None:
    """The index settings as the installer's own configuration file, read only in `stage`; None when
    there are none. pip: a pip.conf (PIP_CONFIG_FILE). uv, which reads no pip.conf: a uv.toml
    (UV_CONFIG_FILE) with the same settings under `[pip]`.

    Every URL passes the index-URL parser again: a line break in one would add a setting."""
    urls = [parsers.parse_index_url(url) for url in (index_url, *extra_index_urls) if url]
    if not urls:
        return None
    if installer == "uv":
        import tomli_w

        settings: dict[str, object] = {"index-url": index_url} if index_url else {}
        if extra_index_urls:
            settings["extra-index-url"] = list(extra_index_urls)
        name, env, content = "uv.toml", "UV_CONFIG_FILE", tomli_w.dumps({"pip": settings})
    else:
        lines = ["[global]"]
        if index_url:
            lines.append(f"index-url = {index_url}")
        if extra_index_urls:
            lines.append(f"extra-index-url = {' '.join(extra_index_urls)}")
        name, env, content = "pip.conf", "PIP_CONFIG_FILE", "\n".join(lines) + "\n"
    return BuildSecret(
        name=name, content=content, env=env, stage=stage, shown=" ".join(mask_credentials(url) for url in urls)
    )


def hf_token_secret(token: str, stage: str) -> BuildSecret | None:
    """A Hugging Face token as a file read only by the weight downloads in `stage` (HF_TOKEN_PATH)."""
    token = token.strip()
    if not token:
        return None
    return BuildSecret(name="hf-token", content=token + "\n", env="HF_TOKEN_PATH", stage=stage, shown="****")


def check_secrets_stay_out(dockerfile: str, secrets: Iterable[BuildSecret] = (), args: Iterable[str] = ()) -> None:
    """Refuse a Dockerfile whose final image would keep a secret: a stage the final image is made
    of copies a secret file from the context (or a folder holding it), or declares a secret build arg."""
    final = final_image_stages(parse_stages(dockerfile))
    fix = "copy secrets and declare secret build args only in a throwaway stage (FROM ... AS deps; COPY --from=deps)"
    for stage in final:
        where = f"stage {stage.name or stage.index} (part of the final image)"
        for secret in secrets:
            for instruction, sources in stage.context_reads:
                if reads_context_path(sources, secret.in_context):
                    problem = f"the Dockerfile's {where} would copy {secret.in_context}: {instruction}"
                    raise CuratorKitError(problem, fix)
        for arg in args:
            if arg in stage.args:
                raise CuratorKitError(
                    f"the Dockerfile's {where} declares ARG {arg}: its value would stay in the image history", fix
                )
