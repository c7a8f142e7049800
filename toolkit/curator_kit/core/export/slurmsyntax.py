"""Slurm values, parsed by Slurm's own syntaxes (pure): time limits, names, memory, paths on the cluster.

They end up in `#SBATCH` lines, which sbatch splits on whitespace and cuts at quotes and `#`,
and in shell words of the job script (quoted there as well). So a value is refused, with the rule
it breaks, when it has a character either reading could take for syntax; nothing is rewritten
except a time limit, which is written back in one canonical form. Like `core.parsers`, each
parser raises `ParseError`, which the caller says of its option (`error.at("--time")`).
"""

from __future__ import annotations

import re
from typing import NoReturn

from curator_kit.core.parsers import ParseError

# A job's defaults, here (not in `slurm`) so that the CLI's options load without the planner.
RUNTIMES = ("pyxis", "apptainer", "docker")
DEFAULT_LOG = "%x-%j.log"  # sbatch's patterns: job name, job id; relative to where sbatch runs
DEFAULT_CPUS_PER_NODE = 8
DEFAULT_JOIN_TIMEOUT = 900  # seconds: a node's first start may import a multi-GB image
MIN_JOIN_TIMEOUT = 10

# What sbatch or a shell could read as syntax in a `#SBATCH` line: whitespace, quotes, `\` and `#`.
_WORD_FORBIDDEN = re.compile(r"[\s'\"\\#]")
WORD_RULE = "printable characters without whitespace, quotes, '\\' or '#'"

# sbatch --time: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S"; UNLIMITED/INFINITE for no limit.
_TIME_FORMS = (
    re.compile(r"(?P<m>[0-9]+)"),
    re.compile(r"(?P<m>[0-9]+):(?P<s>[0-9]+)"),
    re.compile(r"(?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+)"),
    re.compile(r"(?P<d>[0-9]+)-(?P<h>[0-9]+)"),
    re.compile(r"(?P<d>[0-9]+)-(?P<h>[0-9]+):(?P<m>[0-9]+)"),
    re.compile(r"(?P<d>[0-9]+)-(?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+)"),
)
TIME_RULE = "MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS or DAYS-HOURS[:MINUTES[:SECONDS]]"
UNLIMITED = ("UNLIMITED", "INFINITE")

# sbatch --mem: a whole number with an optional unit (K, M, G, T; M when none); 0 = all of the node's.
_MEMORY = re.compile(r"(?P<n>[0-9]+)(?P<unit>[KMGT]?)", re.IGNORECASE)

# Paths on the cluster go into three mount syntaxes: docker's --mount (comma-separated fields),
# apptainer's --bind and pyxis' --container-mounts (SRC:DST[:FLAGS], comma-separated).
_PATH_FORBIDDEN = re.compile(r"[\s,:'\"\\]")
PATH_RULE = "an absolute path without whitespace, ',', ':', quotes or '\\' (the runtimes' mount syntaxes split on them)"


def _refuse(value: str, what: str, why: str, fix: str) -> NoReturn:
    raise ParseError(f"{value!r} is not {what}: {why}", fix)


def _printable(text: str, what: str, fix: str) -> None:
    bad = next((char for char in text if not char.isprintable()), None)
    if bad is not None:
        _refuse(text, what, f"it contains the control character {bad!r}", fix)


def slurm_word(text: str) -> str:
    """A name or file pattern written into an `#SBATCH` line (job name, account, log path)."""
    what, fix = "one word for sbatch", f"use {WORD_RULE}"
    _printable(text, what, fix)
    if not text:
        _refuse(text, what, "it is empty", fix)
    if found := _WORD_FORBIDDEN.search(text):
        _refuse(text, what, f"it contains {found.group()!r}", fix)
    return text


def partition_list(text: str) -> str:
    """`--partition`: one partition, or several separated by commas (Slurm takes the first that fits)."""
    for name in text.split(","):
        if not name:
            _refuse(text, "a list of partitions", "it has an empty name", "write NAME[,NAME...]")
        slurm_word(name)
    return text


def time_limit(text: str) -> str:
    """`--time` in any of sbatch's forms, written back as DAYS-HH:MM:SS (or UNLIMITED)."""
    what, fix = "a Slurm time limit", f"write {TIME_RULE}, e.g. 90, 4:00:00 or 2-12:00:00"
    value = text.strip()
    if value.upper() in UNLIMITED:
        return "UNLIMITED"
    match = next((m for form in _TIME_FORMS if (m := form.fullmatch(value))), None)
    if match is None:
        _refuse(text, what, "it is none of sbatch's forms", fix)
    parts = {key: int(number) for key, number in match.groupdict().items()}
    # Only the leading field may be large: minutes alone (90), hours:minutes:seconds (36:00:00), days.
    bounds = {"s": 60, "m": 60, "h": 24}
    for key in list(parts)[1:]:
        if parts[key] >= bounds[key]:
            _refuse(text, what, f"{parts[key]} is out of range for its field (under {bounds[key]})", fix)
    seconds = ((parts.get("d", 0) * 24 + parts.get("h", 0)) * 60 + parts.get("m", 0)) * 60 + parts.get("s", 0)
    if seconds == 0:
        _refuse(text, what, "it is zero", f"{fix}; UNLIMITED for none")
    days, rest = divmod(seconds, 86400)
    return f"{days}-{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"


def memory(text: str) -> str:
    """`--mem` per node: a whole number with K, M, G or T (0: all the node's memory)."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        _refuse(text, "a Slurm memory size", "it is not a whole number with K, M, G or T", "e.g. 64G, 512000M or 0")
    return match.group("n") + match.group("unit").upper()


def cluster_path(text: str) -> str:
    """A path on the cluster's shared storage, as every node and every container sees it."""
    what, fix = "a path the job can mount", f"use {PATH_RULE}"
    _printable(text, what, fix)
    if not text.startswith("/"):
        _refuse(text, what, "it is not absolute (the job runs on other machines)", fix)
    if found := _PATH_FORBIDDEN.search(text):
        _refuse(text, what, f"it contains {found.group()!r}", fix)
    return text.rstrip("/") or "/"
