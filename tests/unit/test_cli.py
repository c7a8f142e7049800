import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from curator_kit import __version__
from curator_kit.cli import LAZY_COMMANDS, main
from curator_kit.core.findings import Code

HEAVY_MODULES = ("docker", "jinja2", "ray", "torch", "av", "requests")


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.strip() == f"curator-kit, version {__version__}"
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("base", "doctor"):
        assert command in result.output


def test_help_imports_no_heavy_module():
    # --help lists every command from LAZY_COMMANDS' summaries: no command module, nor what they import.
    code = (
        "import sys; from curator_kit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('curator_kit.cli.') or m == 'curator_kit.core.parsers'"
        f" or m.partition('.')[0] in {(*HEAVY_MODULES, 'packaging')!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def _first_sentence(help_text: str) -> str:
    # The docstring's first paragraph up to its first full stop that ends a sentence (a lowercase word
    # after it continues the sentence, as after "e.g."): what click lists for a command.
    words = help_text.partition("\n\n")[0].split()
    for index, word in enumerate(words):
        if word.endswith(".") and (index == len(words) - 1 or not words[index + 1][0].islower()):
            return " ".join(words[: index + 1])
    return " ".join(words)


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_lazy_summary_is_the_commands_own_first_sentence(name):
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert not command.hidden and command.short_help is None and not command.deprecated
    assert LAZY_COMMANDS[name].summary == _first_sentence(command.help or "")


@pytest.mark.parametrize("width", [50, 80, 120, 400])
def test_help_lists_what_the_commands_themselves_would(width):
    # click's own listing imports every command and shortens its help; the summaries must list the same.
    context = click.Context(main, info_name="curator-kit", terminal_width=width, max_content_width=width)
    listed, imported = context.make_formatter(), context.make_formatter()
    main.format_commands(context, listed)
    click.Group.format_commands(main, context, imported)
    assert listed.getvalue() == imported.getvalue()
    assert len(listed.getvalue().splitlines()) == len(LAZY_COMMANDS) + 1


def test_unreachable_engine_is_one_line_and_nonzero(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: Docker engine not reachable at unix:///nonexistent/docker.sock -- start the daemon "
        "(scripts/ensure-docker as root, or `sudo systemctl start docker`) or set DOCKER_HOST"
    ]


def test_parameter_types_name_functions_of_core_parsers():
    # cli.params names its parsers as text so that core.parsers loads on first use: each name must be one.
    from curator_kit.cli import params
    from curator_kit.core import parsers

    named = [kind for kind in vars(params).values() if isinstance(kind, params.Parsed) and isinstance(kind._parse, str)]
    assert len(named) > 10
    for kind in named:
        assert callable(getattr(parsers, kind._parse, None)), kind._parse
    coded = [kind.code for kind in vars(params).values() if isinstance(kind, params.Parsed) and kind.code]
    assert coded == ["IMAGE_REFERENCE"] and Code[coded[0]].value == "image-reference"


def test_command_modules_load_without_core_parsers():
    # A command's start-up (and its --help) loads core.parsers only when a value is converted.
    code = (
        "import sys; from curator_kit.cli import main\n"
        "for args in (['new-stage', '--help'], ['run', '--help'], ['cluster', 'up', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('curator_kit.core.parsers', 'curator_kit.core.findings', 'packaging', 'jinja2',"
        " 'docker') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_new_stage_imports_only_what_it_uses_and_compiles_its_templates_once(tmp_path):
    # new-stage's start-up (issue 27): a manifest without built-ins builds no catalogue; nothing of the
    # spec, the engine, the model cache or the findings; its templates compiled once, then kept.
    from curator_kit.core.project.scaffold import plan_init
    from curator_kit.ops.scaffold import write_plan

    write_plan(plan_init(tmp_path / "p", "p", "1.4.0"))
    unused = (
        "curator_kit.core.pipeline.catalogue.table",
        "curator_kit.core.pipeline.spec",
        "curator_kit.core.findings",
        "curator_kit.ops.modelcache",
        "curator_kit.engine",
        "docker",
        "packaging",
        "tomli_w",
    )
    code = (
        "import sys, jinja2\n"
        "compiled = []\n"
        "compile_source = jinja2.Environment.compile\n"
        "jinja2.Environment.compile = lambda self, *a, **k: compiled.append(a[1]) or compile_source(self, *a, **k)\n"
        "from curator_kit.cli import main\n"
        "try:\n    main(['new-stage', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        f"print(compiled, sorted(m for m in {unused!r} if m in sys.modules))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def new_stage(name: str) -> str:
        run = subprocess.run([sys.executable, "-c", code, name], cwd=tmp_path / "p", env=env, capture_output=True)
        return run.stdout.decode().strip().splitlines()[-1]

    assert new_stage("first") == "['stage.py.j2', 'stage_test.py.j2', 'stage_golden_test.py.j2'] []"
    assert new_stage("second") == "[] []"


def test_a_refused_option_still_names_itself_and_its_code():
    result = CliRunner().invoke(main, ["run", "--image", "Bad Image!", "--dry-run"])
    assert result.exit_code == 1
    assert result.output.startswith("error: --image 'Bad Image!' is not an image reference: ")
    assert result.output.rstrip().endswith("[image-reference]")
    result = CliRunner().invoke(main, ["new-stage", "x", "--cpus", "5000"])
    assert (result.exit_code, result.output) == (
        1,
        "error: --cpus '5000' is not a number of CPUs: it is above 1024, the most one stage may ask for "
        "-- use a number from 0 to 1024\n",
    )
