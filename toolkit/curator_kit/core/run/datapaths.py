"""What a run may see of the host: its input read-only, its output writable, and nothing that opens more.

Every plan that mounts data (`run`, the cluster's nodes, a Ray driver) calls these through
`runplan.plan_run`, so the rules hold for all of them. Paths are compared as the engine will see
them: absolute, with symlinks resolved, so a link cannot hide an overlap.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from curator_kit.core.constants import DOCKER_SOCKETS, INPUT_DIR, OUTPUT_DIR
from curator_kit.core.findings import Code, Finding, note, refuse
from curator_kit.core.parsers import Mount

ALLOW_FLAG = "--allow-host-mount"


def real_path(path: Path | str) -> Path:
    """Absolute, symlinks resolved; a path that does not exist yet (an output) resolves its existing part."""
    return Path(path).expanduser().resolve()


def _nested(inner: PurePosixPath | Path, outer: PurePosixPath | Path) -> bool:
    return inner == outer or inner.is_relative_to(outer)


OVERLAP_FIX = "give --output a directory outside --input that does not contain it either"


def data_dir_findings(input_dir: Path | str, output_dir: Path | str, *, local: bool = True) -> list[Finding]:
    """Input and output that overlap, and an input that is not there.

    `local`: the paths are this machine's (a local engine), so links are resolved and the input must
    exist; otherwise (a cluster's paths, named in an export) they are compared as written, and whether
    the input is there is the cluster's to say (a written requirement, not a finding here)."""
    findings = overlap_findings(input_dir, output_dir, local=local)
    if local and not Path(input_dir).is_dir():
        findings.append(refuse(Code.INPUT_MISSING, f"input directory {input_dir} does not exist", "pass --input DIR"))
    return findings


def overlap_findings(input_dir: Path | str, output_dir: Path | str, *, local: bool = True) -> list[Finding]:
    """Refuse input and output that overlap: the output is mounted writable, so an overlap lets the
    pipeline overwrite or delete input, or a later run read its own clips as new videos.

    This machine's paths are compared with links resolved; a cluster's paths (`local=False`) as
    written, '.', '..' and repeated slashes folded, and URLs (s3://...) by their text."""
    source, target = (real_path(input_dir), real_path(output_dir)) if local else (input_dir, output_dir)
    source_key, target_key = _comparable(source), _comparable(target)
    inside = target_key.startswith(source_key + "/")
    if not (source_key == target_key or inside or source_key.startswith(target_key + "/")):
        return []
    if source_key == target_key:
        problem = f"--input {input_dir} and --output {output_dir} are the same directory"
    elif inside:
        problem = f"--output {output_dir} is inside --input {input_dir}: a later run would read its own clips"
    else:
        problem = f"--input {input_dir} is inside --output {output_dir}: the writable output would expose the input"
    if local and {str(source), str(target)} != {str(input_dir), str(output_dir)}:
        problem += f" ({source} and {target} once links are resolved)"
    return [refuse(Code.DATA_OVERLAP, problem, OVERLAP_FIX)]


def _comparable(path: Path | str) -> str:
    """A path as text to compare by prefix: POSIX paths folded ('.', '..', '//', a trailing '/'), a URL
    (scheme://...) as written without its trailing '/'."""
    text = str(path)
    if "://" in text:
        return text.rstrip("/")
    return posixpath.normpath(text) if text.startswith("/") else text.rstrip("/")


def host_mount_risk(mount: Mount, input_source: str | None) -> str | None:
    """Why an extra bind mount opens the host (or the run's data) to the container; None when it does not.

    `mount.source` is already resolved; `input_source` is the run's resolved input, None without data mounts."""
    source = PurePosixPath(mount.source)
    target = PurePosixPath(mount.target)
    if source == PurePosixPath("/"):
        return "hands the container the host's whole filesystem"
    sockets = {PurePosixPath(path) for path in DOCKER_SOCKETS} | {PurePosixPath(real_path(p)) for p in DOCKER_SOCKETS}
    if any(_nested(socket, source) for socket in sockets):
        return "hands the container the Docker engine's socket, which is root on the host"
    for data in (INPUT_DIR, OUTPUT_DIR):
        if _nested(target, PurePosixPath(data)) or _nested(PurePosixPath(data), target):
            return f"covers the run's {data}"
    if input_source is not None and not mount.read_only:
        data = PurePosixPath(input_source)
        if _nested(source, data) or _nested(data, source):
            return f"makes the input {input_source} writable"
    return None


def judge_extra_mounts(mounts: Iterable[Mount], input_source: str | None, *, allow: bool) -> list[Finding]:
    """Refuse each risky mount unless `allow` (--allow-host-mount); with it, a note per risky mount."""
    findings: list[Finding] = []
    for mount in mounts:
        risk = host_mount_risk(mount, input_source)
        if risk is None:
            continue
        described = f"mount {mount.source} -> {mount.target} {risk}"
        if allow:
            findings.append(note(Code.HOST_MOUNT_ALLOWED, f"{described} (allowed by {ALLOW_FLAG})"))
        else:
            fix = f"remove it from [run] mounts or --mount, or pass {ALLOW_FLAG} if that is what you mean"
            findings.append(refuse(Code.HOST_MOUNT, described, fix))
    return findings
