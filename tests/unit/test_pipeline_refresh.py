"""pipeline.py is the user's file, generated once: a build refuses one that cannot read the spec it
bakes, and `refresh-pipeline` writes a current one, keeping the old."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.pipeline.spec import SPEC_FORMAT
from curator_kit.core.project.scaffold import check_pipeline_reads_the_spec, plan_init, plan_pipeline_refresh
from curator_kit.errors import CuratorKitError
from curator_kit.ops.scaffold import write_plan

OLD_PIPELINE = 'MANIFEST = PROJECT_DIR / "curator-kit.toml"\n'  # what pipeline.py read before specs


def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    write_plan(plan_init(root, "p", "1.4.0"))
    return root


def test_a_current_pipeline_passes_and_an_old_one_is_refused_with_the_fix(tmp_path):
    root = project(tmp_path)
    check_pipeline_reads_the_spec(root)
    (root / "pipeline.py").write_text(OLD_PIPELINE)
    with pytest.raises(CuratorKitError) as raised:
        check_pipeline_reads_the_spec(root)
    assert "reads curator-kit.toml (made before pipeline specs)" in raised.value.message
    assert f"bakes spec format {SPEC_FORMAT}" in raised.value.message
    assert "curator-kit refresh-pipeline" in raised.value.fix
    (root / "pipeline.py").write_text("SPEC_FORMAT = 1\n")
    with pytest.raises(CuratorKitError, match="reads spec format 1"):
        check_pipeline_reads_the_spec(root)


def test_refresh_keeps_the_old_file_and_is_a_no_op_when_current(tmp_path):
    root = project(tmp_path)
    current = (root / "pipeline.py").read_text()
    assert plan_pipeline_refresh(root).writes == []
    (root / "pipeline.py").write_text(OLD_PIPELINE)
    result = CliRunner().invoke(main, ["refresh-pipeline", "--project", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "pipeline.py").read_text() == current
    assert (root / "pipeline.py.orig").read_text() == OLD_PIPELINE
    check_pipeline_reads_the_spec(root)


def test_build_refuses_before_anything_is_sent(tmp_path, monkeypatch):
    root = project(tmp_path)
    (root / "pipeline.py").write_text(OLD_PIPELINE)
    result = CliRunner().invoke(main, ["build", "--project", str(root), "--dry-run"])
    assert result.exit_code == 1
    assert "error: " in result.output and "refresh-pipeline" in result.output
