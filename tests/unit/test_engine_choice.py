"""Which engine a command talks to: `--engine`, CURATOR_KIT_ENGINE, the project's `[run] engine`, in that
order; DOCKER_HOST, when set, is where the chosen engine answers; Podman's own socket otherwise."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from curator_kit.cli import main
from curator_kit.core.constants import ENGINE_ENV
from curator_kit.core.project.loading import load_manifest
from curator_kit.engine.client import DOCKER_SOCKET, chosen_engine, engine_address, podman_socket
from curator_kit.errors import CuratorKitError


@pytest.fixture(autouse=True)
def no_choice(monkeypatch):
    # set, then deleted: monkeypatch restores the variable afterwards, whatever the code under test set
    for name in (ENGINE_ENV, "DOCKER_HOST", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_docker_is_the_default_and_docker_host_wins_for_either_engine(monkeypatch):
    assert chosen_engine() == "docker" and engine_address() == DOCKER_SOCKET
    monkeypatch.setenv(ENGINE_ENV, "podman")
    assert engine_address() == f"unix://{podman_socket()}"
    monkeypatch.setenv("DOCKER_HOST", "unix:///elsewhere.sock")
    assert engine_address() == "unix:///elsewhere.sock"


def test_podmans_own_socket_is_roots_or_the_users(monkeypatch):
    assert podman_socket(0) == "/run/podman/podman.sock"
    assert podman_socket(1001) == "/run/user/1001/podman/podman.sock"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1001")
    assert podman_socket(1001) == "/run/user/1001/podman/podman.sock"


def write_project(tmp_path, engine: str):
    (tmp_path / "curator-kit.toml").write_text(f'[project]\nname = "chooser"\n\n[run]\nengine = "{engine}"\n')
    return tmp_path


def test_the_projects_engine_is_the_choice_unless_one_was_made(monkeypatch, tmp_path):
    load_manifest(write_project(tmp_path, "podman"))
    assert chosen_engine() == "podman"
    monkeypatch.setenv(ENGINE_ENV, "docker")  # --engine or the environment chose first
    load_manifest(tmp_path)
    assert chosen_engine() == "docker"


def test_an_engine_chosen_by_hand_that_names_none_is_refused_not_taken_for_docker(monkeypatch):
    # The manifest's key is refused at load (test_bad_input's table); the variable when it is read.
    monkeypatch.setenv(ENGINE_ENV, "lxc")
    with pytest.raises(CuratorKitError) as refused:
        engine_address()
    assert refused.value.one_line() == (
        "CURATOR_KIT_ENGINE 'lxc' is not an engine: curator-kit drives docker and podman -- use one of docker, podman"
    )


def test_the_engine_option_sets_the_choice_for_the_command(monkeypatch, tmp_path):
    # `dockerfile` needs no engine: the option is taken, the choice is in the environment for what follows.
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["--engine", "podman", "dockerfile"])
    assert os.environ.get(ENGINE_ENV) == "podman"
    assert "curator-kit.toml" in result.output and result.exit_code == 1
    refused = runner.invoke(main, ["--engine", "lxc", "doctor"])
    assert refused.exit_code == 2 and "'lxc' is not one of 'docker', 'podman'" in refused.output


def test_a_podman_that_does_not_answer_says_how_to_start_it(monkeypatch):
    from curator_kit.engine.client import explain_connection_error

    monkeypatch.setenv(ENGINE_ENV, "podman")
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/podman/podman.sock")
    refused = explain_connection_error(ConnectionRefusedError("Connection refused")).one_line()
    assert refused.startswith("Podman's service not reachable at unix:///run/podman/podman.sock")
    assert "podman system service --time=0 unix:///run/podman/podman.sock &" in refused
    denied = explain_connection_error(PermissionError("Permission denied")).one_line()
    assert "Podman's service" in denied and "docker group" not in denied
