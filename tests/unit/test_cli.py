import subprocess
import sys

from click.testing import CliRunner
from curator_kit import __version__
from curator_kit.cli import main

HEAVY_MODULES = ("docker", "jinja2", "ray", "torch", "av", "requests")


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.strip() == f"curator-kit, version {__version__}"
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("base", "doctor"):
        assert command in result.output


def test_help_imports_no_heavy_module():
    # --help lists every command, which imports every command module: they must stay light.
    code = (
        "import sys; from curator_kit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_unreachable_engine_is_one_line_and_nonzero(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: Docker engine not reachable at unix:///nonexistent/docker.sock -- start the daemon "
        "(scripts/ensure-docker as root, or `sudo systemctl start docker`) or set DOCKER_HOST"
    ]
