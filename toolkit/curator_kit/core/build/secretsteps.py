"""Build steps that read a secret run outside the builder, in a throwaway container: the plan.

The classic builder keeps every stage of a build as an image (for its cache, untagged, or under a
tag): a secret COPYed into a stage stays in that stage's layer, a build arg in the history of every
RUN of the stage that declares it. So the stages that read a secret (`core.build.credentials.BuildSecret`
names them: `project-deps`, `model-weights-NAME`, the base recipe's stages that declare pip's index
args) are built in two parts:

1. the builder builds the stage without its last RUN steps (its *prefix*: FROM, COPY, ARG, ENV ...);
2. those RUN steps run in a throwaway container of that image (`SecretStep.command`), the secrets in a
   private temporary directory bind-mounted read-only at SECRETS_IN_STAGE (never a layer, an argument,
   an environment entry or a label); the build args the stage declares are exported by the command,
   as the builder would set them. The container's changes are committed (a mount is not one of them),
   labelled with the digest of the step's inputs, and the container is removed;
3. the build goes on from that image: the stage reads `FROM <committed image> AS NAME`
   (`resolved_dockerfile`), so `COPY --from=NAME` takes the step's result.

A build whose step digest (the prefix image's id, the command, the secrets as masked: an index URL
without its password) finds a committed image reuses it: an unchanged rebuild runs no step again.

Pure: Dockerfile text in, plans and Dockerfile text out; `ops.secretsteps` executes them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from curator_kit.core.build.buildstages import final_image_stages, parse_stages
from curator_kit.core.build.credentials import SECRETS_IN_STAGE, BuildSecret
from curator_kit.core.redact import mask_credentials
from curator_kit.errors import CuratorKitError

# In every digest: a change to how steps run makes the results of earlier ones stale.
STEP_FORMAT = 1
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    arguments: str  # after the keyword, continuation lines joined as the builder joins them
    first: int  # the index of its first line in the Dockerfile
    end: int  # one past its last line


@dataclass(frozen=True)
class StageSpan:
    name: str  # lower case, as the builder compares it; "" when unnamed
    first: int  # the line of its FROM
    end: int  # the line of the next FROM, or the end of the text
    instructions: tuple[Instruction, ...]  # its FROM first


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions with the lines they span: comment and empty lines belong to none;
    a line ending in `\\` continues on the next line that is neither (as the builder reads it)."""
    lines = text.splitlines()
    found: list[Instruction] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        first, parts, line = index, [], lines[index].lstrip()
        while True:
            continued = line.rstrip().endswith("\\")
            parts.append(line.rstrip()[:-1] if continued else line)
            index += 1
            if not continued:
                break
            while index < len(lines) and (not lines[index].strip() or lines[index].lstrip().startswith("#")):
                index += 1
            if index >= len(lines):
                break
            line = lines[index]
        keyword, _, arguments = "".join(parts).strip().partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip(), first, index))
    return found


def stage_spans(text: str) -> list[StageSpan]:
    every = instructions(text)
    starts = [i for i, instruction in enumerate(every) if instruction.keyword == "FROM"]
    total = len(text.splitlines())
    spans = []
    for number, start in enumerate(starts):
        stop = starts[number + 1] if number + 1 < len(starts) else len(every)
        words = [word for word in every[start].arguments.split() if not word.startswith("--")]
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
        end = every[stop].first if stop < len(every) else total
        spans.append(StageSpan(name, every[start].first, end, tuple(every[start:stop])))
    return spans


def trailing_runs(span: StageSpan) -> tuple[Instruction, ...]:
    """The RUN instructions that end the stage: what a secret step runs."""
    runs: list[Instruction] = []
    for instruction in reversed(span.instructions[1:]):
        if instruction.keyword != "RUN":
            break
        runs.insert(0, instruction)
    return tuple(runs)


def _shell_command(arguments: str) -> str:
    """A RUN's command as /bin/sh runs it: shell form as written, exec form (JSON) quoted word by word."""
    if arguments.startswith("["):
        try:
            words = json.loads(arguments)
        except ValueError:
            return arguments
        if isinstance(words, list) and all(isinstance(word, str) for word in words):
            return shlex.join(words)
    return arguments


def _declared_args(span_or_preamble: Sequence[Instruction]) -> list[tuple[str, str | None]]:
    """(name, default or None) of the ARG instructions, in order."""
    declared = []
    for instruction in span_or_preamble:
        if instruction.keyword != "ARG":
            continue
        try:
            words = shlex.split(instruction.arguments)
        except ValueError:
            words = instruction.arguments.split()
        for word in words:
            name, has_default, default = word.partition("=")
            declared.append((name, default if has_default else None))
    return declared


def declared_arg_names(text: str) -> set[str]:
    """Every build arg the Dockerfile declares (before its first FROM or in a stage): a build passes
    only those, so the builder warns of none it did not use."""
    return {name for name, _ in _declared_args(instructions(text))}


@dataclass(frozen=True)
class SecretStep:
    """The last RUN steps of one throwaway stage, run in a container of the stage's prefix with
    `secrets` mounted read-only at SECRETS_IN_STAGE, then committed."""

    stage: str
    runs: tuple[str, ...]  # the shell commands of its trailing RUN instructions, in order
    args: tuple[tuple[str, str], ...]  # the build args the stage declares, with this build's values
    secrets: tuple[BuildSecret, ...]
    tag: str = ""  # the committed image's tag; "" leaves it untagged, as the builder leaves a stage

    @property
    def mount(self) -> str:
        return SECRETS_IN_STAGE

    def script(self) -> str:
        """What the container's /bin/sh runs: the args and the secrets' variables exported (values no
        secret: a variable names a file), then each RUN's command in a shell of its own, as the builder
        runs it; the first that fails ends the step with its status."""
        exports = [f"{name}={shlex.quote(value)}" for name, value in self.args]
        exports += [f"{secret.env}={shlex.quote(secret.in_stage)}" for secret in self.secrets]
        lines = [f"export {' '.join(exports)}"] if exports else []
        lines += [f"/bin/sh -c {shlex.quote(run)} || exit $?" for run in self.runs]
        return "\n".join(lines)

    def command(self) -> list[str]:
        return ["/bin/sh", "-c", self.script()]

    def digest(self, prefix_image_id: str) -> str:
        """What the step's result depends on: the image it starts from, what it runs, and the secrets as
        they are shown (masked: a new password for the same index does not run the step again)."""
        inputs = {
            "format": STEP_FORMAT,
            "image": prefix_image_id,
            "script": self.script(),
            "secrets": [[secret.name, secret.env, secret.shown] for secret in self.secrets],
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def comment(self, digest: str) -> str:
        """The committed image's comment: tells a step's own image from the images built on it (which
        inherit its label, not its comment)."""
        return f"curator-kit build step {self.stage} {digest}"

    def describe(self) -> list[str]:
        what = "last RUN" if len(self.runs) == 1 else f"last {len(self.runs)} RUN steps"
        secrets = ", ".join(secret.name for secret in self.secrets)
        kept = f", tagged {self.tag}" if self.tag else ""
        lines = [
            f"step      {self.stage}: {what} in a throwaway container, {secrets} mounted read-only at {self.mount};"
            f" committed{kept}, reused while its inputs are unchanged"
        ]
        lines += [f"step      {self.stage} exports {name}={value}" for name, value in self.args]
        return [mask_credentials(line) for line in lines]


def plan_secret_steps(
    dockerfile: str,
    secrets: Sequence[BuildSecret],
    build_args: Mapping[str, str] | None = None,
    tag_for: Callable[[str], str] | None = None,
) -> list[SecretStep]:
    """The steps of `dockerfile` that read `secrets`, in the order the builder reaches their stages.

    Refused: a secret's stage the Dockerfile lacks (or does not name), one the final image is made
    of, one that does not end with a RUN (nothing would read the secret)."""
    spans = stage_spans(dockerfile)
    by_name = {span.name: span for span in spans if span.name}
    final = {stage.name for stage in final_image_stages(parse_stages(dockerfile))}
    fix = "read a secret only in the last RUN steps of a throwaway stage (FROM ... AS deps; COPY --from=deps)"
    for secret in secrets:
        for stage in secret.stages:
            if stage.lower() not in by_name:
                raise CuratorKitError(f"the Dockerfile has no stage {stage}, which reads {secret.name}", fix)
    values = dict(build_args or {})
    globals_ = dict(_declared_args(instructions(dockerfile)[: _preamble_length(dockerfile)]))
    steps = []
    for span in spans:
        reading = tuple(secret for secret in secrets if span.name and span.name in {s.lower() for s in secret.stages})
        if not reading:
            continue
        names = ", ".join(secret.name for secret in reading)
        if span.name in final:
            raise CuratorKitError(
                f"the Dockerfile's stage {span.name} reads {names} but is part of the final image", fix
            )
        runs = trailing_runs(span)
        if not runs:
            raise CuratorKitError(f"the Dockerfile's stage {span.name} reads {names} but does not end with a RUN", fix)
        args = []
        for name, default in _declared_args(span.instructions):
            value = values.get(name, default if default is not None else globals_.get(name))
            if value is not None:
                args.append((name, value))
        steps.append(
            SecretStep(
                stage=span.name,
                runs=tuple(_shell_command(run.arguments) for run in runs),
                args=tuple(args),
                secrets=reading,
                tag=tag_for(span.name) if tag_for else "",
            )
        )
    return steps


def _preamble_length(dockerfile: str) -> int:
    """How many instructions come before the first FROM (global ARGs)."""
    every = instructions(dockerfile)
    return next((i for i, instruction in enumerate(every) if instruction.keyword == "FROM"), len(every))


def _assemble(dockerfile: str, results: Mapping[str, str], until: str | None) -> str:
    lines = dockerfile.splitlines(keepends=True)
    spans = stage_spans(dockerfile)
    if not spans:
        return dockerfile
    for ref in results.values():
        if not _IMAGE_ID.fullmatch(ref):  # the engine's answer, checked before it becomes a FROM line
            raise CuratorKitError(f"a build step gave {ref!r}, not an image id", "build again")
    parts = lines[: spans[0].first]
    for span in spans:
        if span.name and span.name in results:
            parts.append(f"FROM {results[span.name]} AS {span.name}\n")
        elif until is not None and span.name == until:
            runs = trailing_runs(span)
            parts += lines[span.first : runs[0].first if runs else span.end]
        else:
            parts += lines[span.first : span.end]
        if until is not None and span.name == until:
            break
    text = "".join(parts)
    return text if text.endswith("\n") else text + "\n"


def prefix_dockerfile(dockerfile: str, stage: str, results: Mapping[str, str]) -> str:
    """The Dockerfile up to `stage`, without its last RUN steps (the step runs them), the stages
    whose steps ran already reading their results. Build it with target `stage`."""
    return _assemble(dockerfile, results, stage)


def resolved_dockerfile(dockerfile: str, results: Mapping[str, str]) -> str:
    """The Dockerfile the builder gets once every step ran: each step's stage `FROM` its result
    (`results`: stage -> image id); every other line as it was, so the cache keys stay the same."""
    return _assemble(dockerfile, results, None)
