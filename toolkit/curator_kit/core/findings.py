"""What a plan or a check found, as data: a code, a severity, a message and a fix.

Every target (`run`, `cluster up`, `run --cluster | --ray-address`, `export kuberay`, `export slurm`,
`submit --slurm`) and every `--dry-run` of them reports its findings through this one type, so the
same problem has the same code everywhere. Callers decide on `code` and `severity`, never on the
message: the message is for people and may be reworded freely (a unit test rewrites every message
and checks that no plan changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from curator_kit.errors import CuratorKitError


class Severity(Enum):
    REFUSE = "refuse"  # the real command stops before it creates or writes anything (--force may go on)
    WARN = "warn"  # said in yellow; the command goes on
    NOTE = "note"  # part of the plan's description


class Code(StrEnum):
    """Every finding's code. The value is what the error line shows in brackets and what docs cite."""

    # data: input and output
    DATA_OVERLAP = "data-overlap"
    INPUT_MISSING = "input-missing"
    INPUT_ON_NODES = "input-on-nodes"  # an export cannot see the cluster's paths: a written requirement
    HOST_MOUNT = "host-mount"
    HOST_MOUNT_ALLOWED = "host-mount-allowed"
    # the image
    IMAGE_REFERENCE = "image-reference"
    IMAGE_NOT_BUILT = "image-not-built"
    IMAGE_STALE = "image-stale"
    SPEC_FROM_TREE = "spec-from-tree"
    CODE_MOUNTED = "code-mounted"
    CPU_BASE_ON_GPU_NODES = "cpu-base-on-gpu-nodes"
    RAY_VERSION_ASSUMED = "ray-version-assumed"
    # model weights
    WEIGHTS_MISSING = "weights-missing"
    WEIGHTS_ON_NODES = "weights-on-nodes"  # an export mounts a path it cannot check: a written requirement
    WEIGHTS_UNCHECKED = "weights-unchecked"
    # GPUs and codec engines
    GPU_STAGE_WITHOUT_GPU = "gpu-stage-without-gpu"
    NO_NVIDIA_SUPPORT = "no-nvidia-support"
    CODEC_ENGINES = "codec-engines"
    CODEC_ENGINES_UNCHECKED = "codec-engines-unchecked"
    CODEC_NEEDS_XENNA = "codec-needs-xenna"
    GPUS_BEYOND_HOST = "gpus-beyond-host"
    GPU_SHARE = "gpu-share"
    GPU_MEMORY_GUESSED = "gpu-memory-guessed"
    GPUS_SHARED_BY_WORKERS = "gpus-shared-by-workers"
    RUNTIME_ALL_GPUS = "runtime-all-gpus"
    GPUS_ON_NODES = "gpus-on-nodes"  # an external cluster's GPUs are not known here: a stated requirement
    # CDI (core.pipeline.cdi): GPUs as CDI devices, on Podman and on Docker with CDI
    CDI_DEVICES = "cdi-devices"  # a GPU request the host's CDI specs cannot satisfy
    PODMAN_NETWORK_DNS = "podman-network-dns"  # a Podman network that resolves no container names (cluster up)
    CDI_UNCHECKED = "cdi-unchecked"  # a remote engine's CDI specs cannot be read from here
    CDI_SPEC_INVALID = "cdi-spec-invalid"  # a file in a CDI directory that is not a spec (skipped)
    # what the inputs are encoded with, against what the image decodes
    INPUT_CODECS = "input-codecs"
    INPUT_SKIPPED = "input-skipped"
    INPUT_CODECS_UNCHECKED = "input-codecs-unchecked"
    # placement: CPUs, execution mode
    CPUS_SIZED = "cpus-sized"
    STREAMING_WONT_START = "streaming-wont-start"
    # the container
    SHM_DEFAULT = "shm-default"
    SHM_SMALL = "shm-small"
    SHM_OVER_MEMORY = "shm-over-memory"
    MEMLOCK_CAP = "memlock-cap"
    ROOT_USER = "root-user"
    CPUS_OVERCOMMITTED = "cpus-overcommitted"
    # Ray clusters
    DRIVER_JOINS = "driver-joins"
    PATHS_SHARED = "paths-shared"
    RAY_AUTH = "ray-auth"
    RAY_NO_AUTH = "ray-no-auth"
    RAY_AUTH_UNSUPPORTED = "ray-auth-unsupported"  # token auth asked where the Ray or KubeRay cannot carry it
    RAY_TOKEN_ON_NODES = "ray-token-on-nodes"
    NEWER_BUILD = "newer-build"
    NAME_DERIVED = "name-derived"
    REMOTE_ENGINE = "remote-engine"


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: Severity
    message: str
    fix: str = ""

    def __post_init__(self) -> None:
        """A hook, on purpose: the message-independence test replaces it to reword every message."""

    @property
    def refuses(self) -> bool:
        return self.severity is Severity.REFUSE

    def one_line(self) -> str:
        return f"{self.message} -- {self.fix}" if self.fix else self.message

    def error(self, more: int = 0) -> CuratorKitError:
        suffix = f" (and {more} more problem{'s' if more > 1 else ''} above)" if more else ""
        return CuratorKitError(self.message + suffix, self.fix or None, code=self.code.value)


def refuse(code: Code, message: str, fix: str = "") -> Finding:
    return Finding(code, Severity.REFUSE, message, fix)


def warn(code: Code, message: str, fix: str = "") -> Finding:
    return Finding(code, Severity.WARN, message, fix)


def note(code: Code, message: str, fix: str = "") -> Finding:
    return Finding(code, Severity.NOTE, message, fix)


def refusals(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.REFUSE]


def warnings_of(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.WARN]


def notes_of(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.NOTE]


def codes(findings: Iterable[Finding]) -> list[str]:
    return [f.code.value for f in findings]


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """In order, each finding once: several nodes of a cluster find the same thing (equal findings)."""
    return list(dict.fromkeys(findings))


# What --force may run past: what the engine and host say of GPUs, codecs and Xenna's mode, where the user
# may know better (a GPU the table does not list, a codec Curator skips). Never a destroyed input, a bad
# reference, a missing image or missing weights: those cannot end well.
FORCEABLE = frozenset(
    {
        Code.NO_NVIDIA_SUPPORT,
        Code.CODEC_ENGINES,
        Code.CODEC_NEEDS_XENNA,
        Code.GPU_STAGE_WITHOUT_GPU,
        Code.STREAMING_WONT_START,
        Code.INPUT_CODECS,
        Code.GPUS_BEYOND_HOST,
    }
)


def decide(findings: Iterable[Finding], force: bool = False) -> list[Finding]:
    """The one gate every target passes: raise the first refusal that `force` cannot pass (naming how
    many more there are, listing them above it); else the warnings to say, each forced refusal one."""
    found = list(findings)
    refused = refusals(found)
    blocking = [f for f in refused if not (force and f.code in FORCEABLE)]
    if blocking:
        # In the order found; --force is offered only where it would get past every one of them.
        first, rest = blocking[0], blocking[1:]
        error = first.error(len(rest))
        if all(f.code in FORCEABLE for f in blocking):
            error.fix = f"{first.fix}; or --force to run anyway" if first.fix else "--force to run anyway"
        error.details = tuple(f.message for f in rest)
        raise error
    forced = [warn(f.code, f"--force: going on although {f.message}") for f in refused]
    return [*warnings_of(found), *forced]


def raise_refusals(findings: Iterable[Finding]) -> None:
    """For what no --force can start (an export that would write a broken job): the first refusal."""
    refused = refusals(findings)
    if refused:
        error = refused[0].error(len(refused) - 1)
        error.details = tuple(f.message for f in refused[1:])
        raise error
