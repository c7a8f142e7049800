"""Typed parsers for what users write: one grammar and one message per kind of value.

The manifest (`core.project.manifest`, at load time) and the command line (`cli.params`, click parameter
types) call the same functions, so `--gpus 2` and `[run] gpus = "2"` mean the same and are refused
with the same words. A parser takes the value as written and returns a typed value, or raises
`ParseError` saying what the value is not, why, and how to write it; the caller adds where the
value came from (`curator-kit.toml:LINE: key =`, or the option's name).

Every value that can reach a Dockerfile, a YAML document or a shell line passes one of these, and
none lets a line break or other control character through: that is what keeps a value from
becoming an instruction of its own.
"""

from __future__ import annotations

import base64
import binascii
import keyword
import math
import re
import shlex
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, NoReturn
from urllib.parse import urlsplit

from curator_kit.core.constants import ENGINES, MAX_GPUS, RESOURCE_LIMITS
from curator_kit.core.pipeline.devices import NO_GPU, GpuRequest
from curator_kit.core.redact import mask_credentials
from curator_kit.errors import CuratorKitError


class ParseError(CuratorKitError):
    """A value that does not fit its grammar; the message starts with the value as repr() shows it."""

    def at(self, source: str) -> CuratorKitError:
        """The same error, said of a value from `source`: an option name, or `curator-kit.toml:LINE: key =`."""
        return CuratorKitError(f"{source} {self.message}", self.fix)


def _refuse(value: object, what: str, why: str, fix: str) -> NoReturn:
    # repr() keeps the message on one line: a newline in the value shows as \n.
    raise ParseError(f"{value!r} is not {what}: {why}", fix)


# Cc: C0/C1 controls (\n, \r, \t, NUL, ESC, NEL...); Zl/Zp: U+2028/U+2029, line breaks to YAML and
# to Python's splitlines().
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def _one_line(text: str, what: str, fix: str) -> str:
    for char in text:
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            _refuse(text, what, f"it contains the control character {char!r}", fix)
    return text


def parse_text(text: str) -> str:
    """Free text that ends up in a generated file (a path, a version): any characters but controls."""
    return _one_line(text, "one line of text", "remove line breaks and other control characters")


def parse_engine(text: str) -> str:
    """The container engine curator-kit drives (`[run] engine`, CURATOR_KIT_ENGINE): one of constants.ENGINES."""
    if text not in ENGINES:
        _refuse(text, "an engine", f"curator-kit drives {' and '.join(ENGINES)}", f"use one of {', '.join(ENGINES)}")
    return text


# A golden's name is a folder below tests/golden/STAGE: no path separators, no leading dot (the
# partial and old copies `replay --save-golden` writes beside it start with one).
_GOLDEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def parse_golden_name(text: str) -> str:
    """`replay --save-golden NAME`, `--compare NAME`: a folder name of letters, digits, `.`, `_`, `-`."""
    if not _GOLDEN_NAME.fullmatch(text):
        _refuse(
            text,
            "a golden's name",
            "it must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'",
            "name it like default, v2 or before-fix",
        )
    return text


# ---------------------------------------------------------------- numbers

_COUNT = re.compile(r"[0-9]{1,9}")


def parse_count(text: str) -> int:
    """A whole number of things to take, at least 1 (`run --limit`, `replay --limit`)."""
    if not _COUNT.fullmatch(text.strip()):
        _refuse(text, "a count", "it is not a whole number", "write a whole number such as 1 or 10")
    count = int(text)
    if count < 1:
        _refuse(text, "a count", "it takes nothing", "write 1 or more")
    return count


def parse_bounded_count(text: str, what: str, limit: int, why: str, minimum: int = 1) -> int:
    """A whole number from `minimum` to `limit` (`--workers`, `--nodes`, a node's CPUs and GPUs); `why`
    says what the limit is.

    Checked as text, before int(): a count is refused at once, whatever its length, and a plan never
    grows with a typo's number."""
    fix = f"use a whole number from {minimum} to {limit}"
    value = text.strip()
    if not _DIGITS.fullmatch(value):
        _refuse(text, what, "it is not a whole number", fix)
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        _refuse(text, what, f"it is above {limit}, {why}", fix)
    if int(digits) < minimum:
        _refuse(text, what, f"it is less than {minimum}", fix)
    return int(digits)


# TOML's integers are signed 64-bit (toml.io: "Arbitrary 64-bit signed integers ... should be accepted
# and handled losslessly"); Python's tomllib and tomli_w take any int, which other readers then refuse.
TOML_INT_MIN, TOML_INT_MAX = -(2**63), 2**63 - 1


def parse_toml_integer(value: int | str, what: str = "a TOML integer", fix: str | None = None) -> int:
    """An integer a manifest may hold: within TOML's signed 64-bit range. The manifest loader, `add --param`
    and `new-stage --batch-size` all meet this rule; a str is a whole number as written (never int() of a
    longer one than the range holds: Python refuses those past 4300 digits)."""
    fix = fix or f"write a whole number from {TOML_INT_MIN} to {TOML_INT_MAX}"
    if isinstance(value, str):
        digits = value.strip().lstrip("+-").lstrip("0")
        if not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            _refuse(value, what, "it is not a whole number", fix)
        if len(digits) > len(str(TOML_INT_MAX)):
            _refuse(value, what, "it is beyond TOML's signed 64-bit integers", fix)
        number = int(value)
    else:
        number = value
    if not TOML_INT_MIN <= number <= TOML_INT_MAX:
        _refuse(value, what, "it is beyond TOML's signed 64-bit integers", fix)
    return number


def integer_beyond_toml(value: object) -> int | None:
    """The first integer in a TOML value (lists and tables walked) that parse_toml_integer refuses."""
    if isinstance(value, dict | list):
        items = value.values() if isinstance(value, dict) else value
        return next((found for item in items if (found := integer_beyond_toml(item)) is not None), None)
    if isinstance(value, int) and not isinstance(value, bool) and not TOML_INT_MIN <= value <= TOML_INT_MAX:
        return value
    return None


def parse_batch_size(text: str) -> int:
    """A stage's tasks per call (`new-stage --batch-size`): 1 or more, and a TOML integer."""
    what, fix = "a batch size", f"write a whole number of tasks per call, from 1 to {TOML_INT_MAX}"
    number = parse_toml_integer(text, what, fix)
    if number < 1:
        _refuse(text, what, "it is less than 1", fix)
    return number


def parse_finite(value: float | int | str, what: str = "a number", fix: str = "write a finite number") -> float:
    """A number that is neither nan nor infinite (TOML has both; so has Python's float())."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            _refuse(value, what, "it is not a number", fix)
    else:
        number = float(value)
    if not math.isfinite(number):
        _refuse(value, what, "nan and infinity are not allowed", fix)
    return number


def parse_tolerance(text: str) -> float:
    """`replay --compare --rtol/--atol`: a finite number, 0 or more."""
    fix = "write 0 or a positive number such as 0.02 or 1e-6"
    number = parse_finite(text, "a tolerance", fix)
    if number < 0:
        _refuse(text, "a tolerance", "it is negative", fix)
    return number


# Each bounded by core.constants.RESOURCE_LIMITS.
_RESOURCE_WORDS = {
    "cpus": "a number of CPUs",
    "gpu_memory_gb": "an amount of GPU memory in GB",
    "gpus": "a number of GPUs",
    "nvdecs": "a number of NVDEC engines",
    "nvencs": "a number of NVENC engines",
}
_WHOLE_RESOURCES = frozenset({"nvdecs", "nvencs"})


def parse_resource(name: str, value: float | int | str) -> float | int:
    """A stage resource (`cpus`, `gpu_memory_gb`, `gpus`, `nvdecs`, `nvencs`): finite, 0 to its limit."""
    limit, what = RESOURCE_LIMITS[name], _RESOURCE_WORDS[name]
    whole = name in _WHOLE_RESOURCES
    fix = f"use {'a whole number' if whole else 'a number'} from 0 to {limit}"
    number = parse_finite(value, what, fix)
    if number < 0:
        _refuse(value, what, "it is negative", fix)
    if number > limit:
        _refuse(value, what, f"it is above {limit}, the most one stage may ask for", fix)
    if whole:
        if not number.is_integer():
            _refuse(value, what, "it is not a whole number", fix)
        return int(number)
    return number


# ---------------------------------------------------------------- GPUs

GPUS_SYNTAX = "all | none | N | count=N | device=ID[,ID...]"
# Indices, GPU-<uuid>, MIG-<uuid> (and the older MIG-GPU-<uuid>/gi/ci), MIG as gpu:instance.
_GPU_ID = re.compile(r"[0-9]{1,2}|[0-9]{1,2}:[0-9]{1,2}|(?:GPU|MIG)-[A-Za-z0-9][A-Za-z0-9/_.:-]*")
_DIGITS = re.compile(r"[0-9]+")


def parse_gpus(text: str) -> GpuRequest:
    """Docker's `--gpus` value; `"device=0,2"` may come quoted (as docker's own CLI needs) or bare."""
    what, fix = "a GPU request", f"use {GPUS_SYNTAX}, e.g. all, 2 or device=0,2"
    value = _one_line(text, what, fix).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    if value in ("", "none"):
        return NO_GPU
    key, has_value, rest = value.partition("=")
    if not has_value or key == "count":
        count = rest if has_value else value
        if count == "all":
            return GpuRequest(count=-1)
        if not _DIGITS.fullmatch(count):
            _refuse(text, what, "a count is `all` or a whole number", fix)
        if int(count) == 0:
            # docker-py's DeviceRequest default is count 0, which silently means "no GPU": say so instead.
            _refuse(text, what, "a count of 0 asks for no GPU; say `none`", fix)
        if int(count) > MAX_GPUS:
            _refuse(text, what, f"a count above {MAX_GPUS} is more GPUs than a machine has", fix)
        return GpuRequest(count=int(count))
    if key == "device":
        ids = tuple(part.strip().strip("\"'") for part in rest.split(","))
        if not all(_GPU_ID.fullmatch(i) for i in ids):
            _refuse(text, what, "device ids are GPU indices or GPU-/MIG- UUIDs separated by commas", fix)
        if len(set(ids)) != len(ids):
            _refuse(text, what, "a device is named twice", fix)
        return GpuRequest(device_ids=ids)
    _refuse(
        text,
        what,
        "one form only; curator-kit always sets driver=nvidia and capabilities gpu,compute,utility,video",
        fix,
    )


def format_gpus(request: GpuRequest) -> str:
    """The text parse_gpus reads back as `request` (the manifest's spelling)."""
    if request.device_ids:
        return f"device={','.join(request.device_ids)}"
    return {0: "none", -1: "all"}.get(request.count, str(request.count))


def parse_gpus_per_worker(text: str) -> GpuRequest:
    """`cluster up --gpus-per-worker`: none (or 0), all (every worker sees every GPU), or N per worker.

    N comes back as a count; clusterplan turns it into distinct device ids per worker."""
    what, fix = "a number of GPUs per worker", f"use none, all or a whole number up to {MAX_GPUS}"
    value = _one_line(text, what, fix).strip()
    if value in ("none", "0"):
        return NO_GPU
    if value == "all":
        return GpuRequest(count=-1)
    if not _DIGITS.fullmatch(value):
        _refuse(text, what, "it is none, all or a whole number", fix)
    if int(value) > MAX_GPUS:
        _refuse(text, what, f"it is above {MAX_GPUS}", fix)
    return GpuRequest(count=int(value))


# ---------------------------------------------------------------- sizes

# Docker's RAMInBytes (go-units): binary units, one optional space, optional i and b: 8g, 8gib, 7.5 GB.
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?(?:([kmgtp])i?)?b?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
MAX_SIZE_BYTES = 2**63 - 1  # what the engine's int64 holds


def parse_size(text: str) -> int:
    """Docker's size syntax (binary units) -> bytes, more than 0: 8g, 512m, 7.62gb, 1t, 8gib, 1073741824."""
    what, fix = "a size", "write it as docker does: 512m, 8g, 7.5gb, 1t (binary units; i and b optional)"
    match = _SIZE.fullmatch(_one_line(text, what, fix).strip())
    if not match:
        _refuse(text, what, "it is a number with an optional unit b, k, m, g, t or p", fix)
    size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    if not math.isfinite(size) or size > MAX_SIZE_BYTES:
        _refuse(text, what, "it is more bytes than the engine can hold", fix)
    if int(size) <= 0:
        _refuse(text, what, "it is 0 bytes", fix)
    return int(size)


def format_size(size: int) -> str:
    """Bytes in the largest binary unit that holds them exactly; parse_size reads it back."""
    for unit in ("p", "t", "g", "m", "k"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return str(size)


# ---------------------------------------------------------------- ulimits


class Ulimit(NamedTuple):
    name: str
    soft: int  # -1 = unlimited
    hard: int


# The names docker's --ulimit knows (go-units ulimit.go).
ULIMIT_NAMES = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
    "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip


# Linux's RLIMIT_* numbers (asm-generic/resource.h), as runc names a limit it could not set:
# "error setting rlimit type 7". The ones docker's --ulimit knows; 9 (address space) it does not.
RLIMIT_NUMBERS: dict[int, str] = {
    0: "cpu", 1: "fsize", 2: "data", 3: "stack", 4: "core", 5: "rss", 6: "nproc", 7: "nofile",
    8: "memlock", 10: "locks", 11: "sigpending", 12: "msgqueue", 13: "nice", 14: "rtprio", 15: "rttime",
}  # fmt: skip


def parse_ulimit(text: str) -> Ulimit:
    """Docker's `--ulimit NAME=SOFT[:HARD]`; -1 (or `unlimited`) is no limit; soft may not exceed hard."""
    what, fix = "a ulimit", "write NAME=SOFT[:HARD], e.g. nofile=1024:65536 or memlock=-1 (-1 = unlimited)"
    name, has_value, values = _one_line(text, what, fix).strip().partition("=")
    if not has_value:
        _refuse(text, what, "it has no '='", fix)
    if name not in ULIMIT_NAMES:
        _refuse(text, what, f"{name!r} is not a limit docker knows ({', '.join(ULIMIT_NAMES)})", fix)
    soft_text, _, hard_text = values.partition(":")
    limits = []
    for part in (soft_text, hard_text or soft_text):
        if part not in ("-1", "unlimited") and not (_DIGITS.fullmatch(part) and int(part) <= MAX_SIZE_BYTES):
            _refuse(text, what, f"{part!r} is not a whole number, -1 or unlimited", fix)
        limits.append(-1 if part in ("-1", "unlimited") else int(part))
    soft, hard = limits
    if hard != -1 and (soft == -1 or soft > hard):
        shown = "unlimited" if soft == -1 else soft
        _refuse(text, what, f"{name}'s soft limit {shown} is above its hard limit {hard}", fix)
    return Ulimit(name, soft, hard)


# ---------------------------------------------------------------- environment variables

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_env_name(text: str) -> str:
    what, fix = "an environment variable name", "use letters, digits and '_', not starting with a digit"
    if not _ENV_NAME.fullmatch(text):
        _refuse(text, what, "it is not [A-Za-z_][A-Za-z0-9_]*", fix)
    return text


def parse_env_value(text: str) -> str:
    return _one_line(text, "an environment variable value", "keep the value on one line, without control characters")


class HostValue(str):
    """An environment value taken from this shell (`--env KEY`): the container gets it, but no printed
    line does (`docker run -e KEY` takes it from the shell again), since that is how tokens are passed."""

    __slots__ = ()


def parse_env_assignment(text: str, host_env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """`KEY=VALUE`; with `host_env`, a bare `KEY` takes the value set there (as `docker run -e KEY` does)."""
    key, has_value, value = text.partition("=")
    parse_env_name(key)
    if not has_value:
        if host_env is None:
            _refuse(text, "KEY=VALUE", "it has no '='", "e.g. OPENCV_LOG_LEVEL=ERROR")
        if key not in host_env:
            _refuse(text, "KEY=VALUE", "this shell does not set it", f"write {key}=VALUE")
        return key, HostValue(parse_env_value(host_env[key]))
    return key, parse_env_value(value)


def parse_param_assignment(text: str) -> tuple[str, object]:
    """A stage parameter, `KEY=VALUE` (`add --param`): VALUE as a TOML value (5, 2.5, true, [27, 48],
    "two words"), else as a bare word (libopenh264), so it means what [stages.params] would; its type is
    checked against the stage's field by the catalogue."""
    _one_line(text, "a parameter", "keep KEY=VALUE on one line, without control characters")
    key, has_value, value = text.partition("=")
    if not has_value or not key.isidentifier():
        _refuse(text, "KEY=VALUE", "KEY must be a parameter name and '=' follow it", "e.g. clip_len_s=5")
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        return key, value
    except ValueError:  # an integer longer than Python converts (4300 digits): far beyond TOML's
        _refuse(text, "a parameter", "its integer is beyond TOML's signed 64-bit integers", "write a smaller number")
    if (beyond := integer_beyond_toml(parsed)) is not None:
        _refuse(
            text,
            "a parameter",
            f"{beyond} is beyond TOML's signed 64-bit integers",
            f"write a whole number from {TOML_INT_MIN} to {TOML_INT_MAX}",
        )
    return key, parsed


# ---------------------------------------------------------------- mounts


@dataclass(frozen=True)
class Mount:
    """A bind mount; `source` is as written in the manifest, or resolved to an absolute path in a plan."""

    source: str
    target: str
    read_only: bool = False

    def mount_flag(self) -> str:
        # --mount, not -v: like the SDK's Mounts it refuses a missing source instead of creating it as root.
        return f"type=bind,source={self.source},target={self.target}" + (",readonly" if self.read_only else "")


def parse_mount(text: str) -> Mount:
    """`HOST:CONTAINER[:ro|rw]`; the caller resolves a relative HOST (the manifest: against the project)."""
    what, fix = "a mount", "write HOST:CONTAINER[:ro|rw] with an absolute CONTAINER path, e.g. models:/opt/models:ro"
    parts = _one_line(text, what, fix).split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        _refuse(text, what, "it is not HOST:CONTAINER[:ro|rw]", fix)
    if not parts[1].startswith("/"):
        _refuse(text, what, f"the container path {parts[1]!r} is not absolute", fix)
    if parts[2:] not in ([], ["ro"], ["rw"]):
        _refuse(text, what, f"{parts[2]!r} is neither ro nor rw", fix)
    if "," in parts[0] or "," in parts[1]:
        _refuse(text, what, "a path with a comma cannot be written in docker's --mount syntax", fix)
    return Mount(parts[0], parts[1], parts[2:] == ["ro"])


def format_mount(mount: Mount) -> str:
    return f"{mount.source}:{mount.target}" + (":ro" if mount.read_only else "")


# ---------------------------------------------------------------- image references

# Docker's reference grammar (distribution/reference): [REGISTRY[:PORT]/]PATH[:TAG][@DIGEST].
_DOMAIN_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_REGISTRY = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?")
_PATH_PART = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
MAX_IMAGE_NAME = 255


@dataclass(frozen=True)
class ImageReference:
    registry: str  # "" = none named (Docker Hub)
    repository: str
    tag: str = ""  # "" = none given (docker reads latest)
    digest: str = ""

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}" if self.registry else self.repository
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_image_reference(text: str) -> ImageReference:
    """A Docker image reference; str() of the result is `text` again. The first path part is a
    registry when it has a dot or a port, is localhost, or has capitals (docker's own rule)."""
    what = "an image reference"
    fix = "write [REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST] with a lowercase repository"
    name, at, digest = _one_line(text, what, fix).partition("@")
    if at and not _DIGEST.fullmatch(digest):
        _refuse(text, what, f"{digest!r} is not a digest such as sha256:<64 hex digits>", fix)
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
        if not IMAGE_TAG.fullmatch(tag):
            _refuse(text, what, f"tag {tag!r} is not up to 128 letters, digits, '_', '.', '-' (not first)", fix)
    first, slash, rest = name.partition("/")
    registry, path = "", name
    if slash and (first == "localhost" or "." in first or ":" in first or first != first.lower()):
        registry, path = first, rest
        if not _REGISTRY.fullmatch(registry):
            _refuse(text, what, f"registry {registry!r} is not HOST[:PORT]", fix)
    bad = next((part for part in path.split("/") if not _PATH_PART.fullmatch(part)), None)
    if bad is not None:
        why = "the repository is empty" if not path else f"{bad!r} is not lowercase letters and digits joined by . _ -"
        _refuse(text, what, why, fix)
    if len(name) > MAX_IMAGE_NAME:
        _refuse(text, what, f"the name is longer than {MAX_IMAGE_NAME} characters", fix)
    return ImageReference(registry, path, tag, digest)


def parse_image_text(text: str) -> str:
    """An image reference kept as the text the engine and templates take."""
    return str(parse_image_reference(text))


# ---------------------------------------------------------------- versions

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-]?[A-Za-z0-9.]+)?")


def parse_version(version: str) -> tuple[int, int, int]:
    """A Curator release as (major, minor, patch): the manifest's `curator_version`, and the catalogue's
    and the spec's key for a release. Here, below both `manifest` and `catalogue`, so both import it."""
    match = _VERSION.fullmatch(version)  # not stripped: a trailing newline would reach the Dockerfile
    if not match:
        raise CuratorKitError(f"curator_version {version!r} is not a version", 'use e.g. "1.4.0"')
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


# ---------------------------------------------------------------- Python names


def parse_module_path(text: str) -> str:
    """A stage's or model's module: dotted Python identifiers, importable from the project root."""
    what, fix = "a module path", "write a dotted import path inside the project, e.g. stages.blur_filter"
    _one_line(text, what, fix)
    if text.startswith("."):
        _refuse(text, what, "a relative import (leading '.') can leave the project", fix)
    for part in text.split("."):
        if not part.isidentifier() or keyword.iskeyword(part):
            _refuse(text, what, f"{part!r} is not a Python identifier", fix)
    return text


def parse_class_name(text: str) -> str:
    what, fix = "a class name", "write one Python identifier, e.g. BlurFilterStage"
    if not _one_line(text, what, fix).isidentifier() or keyword.iskeyword(text):
        _refuse(text, what, "it is not a Python identifier", fix)
    return text


# ---------------------------------------------------------------- packages


def parse_requirement(text: str) -> str:
    """A PEP 508 requirement as pip reads it from a requirements line; options are refused."""
    from packaging.requirements import InvalidRequirement, Requirement

    what = "a pip requirement"
    fix = "write a PEP 508 requirement, e.g. opencv-python-headless>=4.9; index URLs go in [build]"
    _one_line(text, what, fix)
    if not text.strip():
        _refuse(text, what, "it is empty", fix)
    if text.lstrip().startswith("-"):
        _refuse(text, what, "pip options (-r, --index-url, ...) are not requirements", fix)
    try:
        Requirement(text)
    except InvalidRequirement as error:
        _refuse(text, what, str(error).splitlines()[0], fix)
    return text


# PEP 508's name: letters, digits, and . _ - inside.
_PACKAGE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def parse_package_names(text: str) -> tuple[str, ...]:
    """A comma-separated list of Python package (or extra) names; "" is the empty list."""
    what = "a comma-separated list of package names"
    fix = "write names such as vllm,cvcuda-cu12, or '' for none"
    _one_line(text, what, fix)
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if not _PACKAGE_NAME.fullmatch(name):
            _refuse(text, what, f"{name!r} is not a PEP 508 name", fix)
    return names


# Debian policy 5.6.1: lowercase letters, digits, + - . ; two characters at least; starts alphanumeric.
# Optionally :ARCH and =VERSION, as apt-get install takes them.
_APT_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?:=[0-9][A-Za-z0-9.+~:-]*)?")


def parse_apt_package(text: str) -> str:
    what, fix = "a Debian package", "write a package name such as libgl1 (optionally =VERSION)"
    if not _APT_PACKAGE.fullmatch(_one_line(text, what, fix)):
        _refuse(text, what, "a name is 2+ lowercase letters, digits, '+', '-', '.' starting alphanumeric", fix)
    return text


# ---------------------------------------------------------------- Hugging Face

# huggingface_hub's validate_repo_id: word characters, '-', '.'; no '--' or '..'; names up to 96.
_HF_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
MAX_HF_NAME = 96
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
MAX_REVISION = 255


def parse_hf_repo(text: str) -> str:
    what, fix = "a Hugging Face repository id", "write ORG/NAME, e.g. openai/clip-vit-base-patch32"
    parts = _one_line(text, what, fix).split("/")
    if len(parts) != 2:
        _refuse(text, what, "it is not ORG/NAME", fix)
    for part in parts:
        if not _HF_PART.fullmatch(part):
            _refuse(text, what, f"{part!r} is not letters, digits, '_', '-', '.' starting and ending alphanumeric", fix)
    if "--" in text or ".." in text:
        _refuse(text, what, "'--' and '..' are not allowed", fix)
    if len(parts[1]) > MAX_HF_NAME or text.endswith(".git"):
        _refuse(text, what, f"the name is longer than {MAX_HF_NAME} characters or ends in .git", fix)
    return text


def parse_revision(text: str) -> str:
    """A branch, tag or commit of a Hugging Face repository (refs/pr/1 included)."""
    what, fix = "a revision", "use a branch, tag or commit, e.g. main, v1.0 or a 40-hex-digit sha"
    _one_line(text, what, fix)
    if any(char.isspace() for char in text):
        _refuse(text, what, "it contains whitespace", fix)
    if not _REVISION.fullmatch(text) or ".." in text or "//" in text or text.endswith(("/", ".")):
        _refuse(text, what, "a git ref has letters, digits and _ . + / - (no '..', not starting with '-')", fix)
    if len(text) > MAX_REVISION:
        _refuse(text, what, f"it is longer than {MAX_REVISION} characters", fix)
    return text


def parse_hf_file(text: str) -> str:
    """A file of a Hugging Face repository: relative, '/' between folders, never leaving the repository."""
    what, fix = "a repository file", "write a path from the repository root, e.g. model.safetensors"
    _one_line(text, what, fix)
    if not text.strip():
        _refuse(text, what, "it is empty", fix)
    if text.startswith("/") or "\\" in text:
        _refuse(text, what, "it must be relative, with '/' between folders", fix)
    if ".." in text.split("/"):
        _refuse(text, what, "'..' would leave the model's folder", fix)
    return text


# ---------------------------------------------------------------- URLs


def parse_index_url(text: str) -> str:
    """A pip index URL: http(s), with a host, no whitespace. Messages never show its credentials."""
    what, fix = "an index URL", "write an http(s) URL, e.g. https://pypi.example.com/simple"
    shown = mask_credentials(text)
    if any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in text):
        _refuse(shown, what, "it contains a control character", fix)
    if any(char.isspace() for char in text):
        _refuse(shown, what, "it contains whitespace", fix)
    try:
        parts = urlsplit(text)
    except ValueError as error:
        _refuse(shown, what, str(error), fix)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _refuse(shown, what, "it is not an http:// or https:// URL with a host", fix)
    return text


def parse_pod_path(text: str) -> str:
    """Where pods read or write (`export kuberay --input/--output`): an absolute path or a URL. A relative
    path means nothing in a pod: each resolves it against its own working directory."""
    what = "a path in the pods"
    fix = "write an absolute path (e.g. /data/output, on --data-pvc) or a URL (e.g. s3://bucket/output)"
    value = _one_line(text, what, fix)
    if not value.strip():
        _refuse(text, what, "it is empty", fix)
    scheme, has_scheme, rest = value.partition("://")
    if has_scheme and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) and rest:
        return value
    if not value.startswith("/"):
        _refuse(text, what, "pod paths must be absolute; a relative one resolves in each pod's working directory", fix)
    return value


def parse_command(text: str) -> tuple[str, ...]:
    """A command line in shell words (`run --command`), as `sh` would split it; quotes must close."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as error:  # "No closing quotation", "No escaped character"
        _refuse(text, "a command line", str(error).lower(), "close the quotes, e.g. --command 'sh -c \"echo hi\"'")
    if not words:
        _refuse(text, "a command line", "it is empty", "give the program to run, e.g. --command 'nvidia-smi'")
    return words


# ---------------------------------------------------------------- certificates

_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_DER_SEQUENCE = 0x30  # an X.509 certificate is one ASN.1 SEQUENCE


def parse_pem_certificates(data: bytes) -> int:
    """The contents of a CA certificate file: PEM `CERTIFICATE` blocks whose base64 decodes, and
    nothing but text around them (bundles carry comments). Returns how many certificates it holds.

    The message says what the file is not, never what it holds: the caller names the file (`at`)."""
    what = "a PEM certificate file"
    fix = "give only -----BEGIN CERTIFICATE----- blocks (DER converts: openssl x509 -inform der -in F -out F.crt)"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ParseError(f"is not {what}: it is not text (a DER certificate, or another binary file)", fix) from None
    for label in _PEM_BEGIN.findall(text):
        if "PRIVATE KEY" in label:
            raise ParseError(
                f"is not {what}: it holds a private key (-----BEGIN {label}-----), which must never reach an image",
                "list only the CA's certificate, and keep the key out of the project",
            )
        if label != "CERTIFICATE":
            raise ParseError(f"is not {what}: it holds a {label} block, not a certificate", fix)
    blocks = _PEM_BLOCK.findall(text)
    if len(blocks) != text.count("-----BEGIN CERTIFICATE-----"):
        raise ParseError(f"is not {what}: a certificate block has no -----END CERTIFICATE----- line", fix)
    if not blocks:
        raise ParseError(f"is not {what}: it has no -----BEGIN CERTIFICATE----- block", fix)
    for number, body in enumerate(blocks, 1):
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            der = b""
        if not der or der[0] != _DER_SEQUENCE:
            raise ParseError(f"is not {what}: certificate {number} is not base64 of a DER certificate", fix)
    return len(blocks)
