"""Per-project state under .curator-kit/: one store, atomic writes, private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from curator_kit.core.build.registry import last_push
from curator_kit.core.project import state
from curator_kit.errors import CuratorKitError
from curator_kit.ops.build import last_built_image, record_last_build
from curator_kit.ops.publish import record_push
from curator_kit.ops.state import write_record


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_records_round_trip_and_bad_ones_read_as_absent(tmp_path: Path) -> None:
    assert state.read_record(tmp_path, "x.json") is None
    path = write_record(tmp_path, "x.json", {"image": "a:1", "n": 2})
    assert path == tmp_path / ".curator-kit" / "x.json"
    assert state.read_record(tmp_path, "x.json", required=("image",)) == {"image": "a:1", "n": 2}
    assert state.read_record(tmp_path, "x.json", required=("token",)) is None
    for broken in ("[]", "{", ""):
        path.write_text(broken)
        assert state.read_record(tmp_path, "x.json") is None


def test_build_and_push_records_are_private_to_the_user(tmp_path: Path) -> None:
    # Cluster tokens will live here too: every record is 0600 in a 0700 directory, whoever writes it.
    record_last_build(tmp_path, "p:latest", "sha256:1")
    record_push(tmp_path, "reg.local/p:1", "p:latest", "sha256:1", None)
    assert mode_of(tmp_path / ".curator-kit") == 0o700
    for name in (state.LAST_BUILD, state.LAST_PUSH):
        assert mode_of(tmp_path / ".curator-kit" / name) == 0o600
    assert last_built_image(tmp_path) == "p:latest"
    assert last_push(tmp_path)["image"] == "reg.local/p:1"
    assert sorted(p.name for p in (tmp_path / ".curator-kit").iterdir()) == [state.LAST_BUILD, state.LAST_PUSH]


def test_a_failed_write_keeps_the_old_record_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_last_build(tmp_path, "p:1", "sha256:1")

    def failing_replace(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(CuratorKitError, match=r"could not write .*last-build\.json: No space left on device"):
        record_last_build(tmp_path, "p:2", "sha256:2")
    monkeypatch.undo()
    assert last_built_image(tmp_path) == "p:1"
    assert [p.name for p in (tmp_path / ".curator-kit").iterdir()] == [state.LAST_BUILD]


def test_no_build_yet_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(CuratorKitError, match="this project has no image yet"):
        last_built_image(tmp_path)


def test_a_remembered_capture_is_what_replay_reads_without_output(tmp_path: Path) -> None:
    from curator_kit.core.pipeline.capture import capture_dir, replay_output
    from curator_kit.ops.capture import remember_capture

    elsewhere = tmp_path / "elsewhere"
    capture_dir(elsewhere, "blur").mkdir(parents=True)
    remember_capture(tmp_path, elsewhere, "blur")
    assert mode_of(tmp_path / ".curator-kit" / state.LAST_CAPTURE) == 0o600
    said = f"no --output: replaying the last capture, in {elsewhere}"
    assert replay_output(tmp_path, None, "blur") == (elsewhere, said)
